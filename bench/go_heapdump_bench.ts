// Benchmark: parse a Go heap dump of a few hundred MB (written by victim/go/bigheap.go), build its
// HeapGraph and classify it; prints time per phase and the process's peak RSS (VmHWM).
//
//   flock /tmp/heapscope-heavy.lock node_modules/.bin/deno run -A bench/go_heapdump_bench.ts [MB]
//
// MB (default 300) is the dump size asked of bigheap; the dump is kept in build/go/ between runs.
// Peak RSS includes Deno itself (~40 MB); the dump is read through a 4 MiB window, never whole.

import { buildGoGraph } from "../analysis/go/go_graph.ts";
import { classifyGoHeap } from "../analysis/go/go_liveness.ts";
import { parseHeapDump } from "../analysis/go/parse_heapdump.ts";
import { openRangeFile } from "../cli/heapdump_file.ts";

const root = new URL("../", import.meta.url).pathname;
const mb = Number(Deno.args[0] ?? 300);
const dumpPath = `${root}build/go/bigheap-${mb}.dump`;
const bigheap = `${root}build/go/bigheap`;

function exists(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

if (!exists(dumpPath)) {
  if (!exists(bigheap)) throw new Error(`${bigheap} is missing\nHint: make victim`);
  const t0 = performance.now();
  const out = new Deno.Command(bigheap, { args: [dumpPath, String(mb)] }).outputSync();
  if (!out.success) throw new Error(`bigheap failed: ${new TextDecoder().decode(out.stderr)}`);
  console.log(`wrote ${dumpPath} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const vmHwm = () =>
  Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;
const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const rssBefore = vmHwm();
using file = openRangeFile(dumpPath, "Go heap dump");
const t0 = performance.now();
const dump = parseHeapDump(file, { name: dumpPath });
const t1 = performance.now();
const g = buildGoGraph(dump);
const t2 = performance.now();
const l = classifyGoHeap(g);
const t3 = performance.now();
const peak = vmHwm();
console.log(
  `dump          ${mib(file.size)} (${file.size} bytes), ${dump.objects.count} objects, ` +
    `${dump.objects.fieldOffset.length} non-nil pointer fields, ${g.edges.target.length} edges`,
);
console.log(
  `parse         ${(t1 - t0).toFixed(0)} ms (${
    (file.size / 2 ** 20 / ((t1 - t0) / 1000)).toFixed(0)
  } MiB/s)`,
);
console.log(`graph         ${(t2 - t1).toFixed(0)} ms`);
console.log(
  `classify      ${(t3 - t2).toFixed(0)} ms (anchored ${l.count[0]}, garbage ${l.count[4]})`,
);
console.log(
  `peak RSS      ${mib(peak)} (${(peak / file.size).toFixed(2)}× the dump; ${
    mib(rssBefore)
  } before parsing)`,
);
