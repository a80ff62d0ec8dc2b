// heapscope's attach path with every phase timed, including the two the CLI cannot put in leaks.json
// (write-json, write-html happen after it is written). Used by bench/big_heap.sh next to the CLI run.
//
// Usage: node_modules/.bin/deno run -A bench/phases_run.ts PID --output F [--graph all|leaked]
//        [--html H]
// Prints one JSON line: pauseMs, copiedBytes, heapBytes, allocations, phases (ms), leaked counts.

import { parseArgs } from "node:util";
import { analyze, LEAK_DIRECT, STATUS_CYCLE, STATUS_REACHABLE } from "../analysis/mod.ts";
import { captureSnapshot, scanKernel } from "../ffi/mod.ts";
import { leaksJsonChunks, toLeaksFile, writeHtmlReport } from "../report/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { output: { type: "string" }, graph: { type: "string" }, html: { type: "string" } },
  allowPositionals: true,
});
const pid = Number(positionals[0]);
const graph = values.graph === "leaked" ? "leaked" : "all";
const phases: Record<string, number> = {};
const t0 = performance.now();
const snapshot = await captureSnapshot(pid, { timeoutMs: 60_000 });
phases["capture"] = performance.now() - t0;
// The same scan kernel as the CLI (C when the shim has it; HEAPSCOPE_SCAN=ts|c forces one).
const a = analyze(snapshot, { kernel: scanKernel() });
Object.assign(phases, a.phaseMs);

const t1 = performance.now();
const file = await Deno.open(values.output ?? "/dev/null", {
  write: true,
  create: true,
  truncate: true,
});
let jsonBytes = 0;
for (const b of leaksJsonChunks(a, { graph })) {
  jsonBytes += b.length;
  let off = 0;
  while (off < b.length) off += await file.write(b.subarray(off));
}
file.close();
phases["write-json"] = performance.now() - t1;
if (values.html) {
  const t2 = performance.now();
  await writeHtmlReport(toLeaksFile(a, { graph }), values.html);
  phases["write-html"] = performance.now() - t2;
}
let leaked = 0, direct = 0, cycleNodes = 0, heapBytes = 0;
for (let i = 0; i < a.status.length; i++) {
  if (a.status[i] !== STATUS_REACHABLE) leaked++;
  if (a.leak[i] === LEAK_DIRECT) direct++;
  if (a.status[i] === STATUS_CYCLE) cycleNodes++;
}
for (const size of a.heap.allocations.sizes) heapBytes += size;
console.log(JSON.stringify({
  pauseMs: snapshot.pauseMs,
  copiedBytes: snapshot.memory.reduce((s, m) => s + m.bytes.length, 0),
  heapBytes,
  scannedBytes: heapBytes,
  allocations: a.heap.allocations.length,
  leaked,
  direct,
  cycleNodes,
  cycles: a.cycles.length,
  jsonBytes,
  phases,
}));
