// Times every analysis phase on one capture of a live process, repeated: enumerate (glibc walker),
// analyzeHeap's phases and leaks.json writing to /dev/null, with CPU time next to wall time.
//
// Usage: node_modules/.bin/deno run -A bench/analyze_run.ts PID [--reps R] [--phase enumerate|all]
// The target is captured once (one pause); the reps reuse that snapshot, so the machine's load,
// not the target, is the noise. Prints one line per rep.

import process from "node:process";
import { parseArgs } from "node:util";
import { analyzeHeap, enumerateHeap } from "../analysis/mod.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { leaksJsonChunks } from "../report/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { reps: { type: "string" }, phase: { type: "string" } },
  allowPositionals: true,
});
const pid = Number(positionals[0]);
const reps = Number(values.reps ?? 3);
const snapshot = await captureSnapshot(pid, { timeoutMs: 60_000 });
const copied = snapshot.memory.reduce((s, m) => s + m.bytes.length, 0);
const gc = (globalThis as { gc?: () => void }).gc;
const mb = () => {
  let m = Deno.memoryUsage();
  const before = `rss ${(m.rss / 1e6).toFixed(0)} / `;
  if (gc === undefined) return before.slice(0, -3);
  gc();
  m = Deno.memoryUsage();
  return before +
    `after gc: rss ${(m.rss / 1e6).toFixed(0)} heap ${(m.heapUsed / 1e6).toFixed(0)} ext ${
      (m.external / 1e6).toFixed(0)
    } MB`;
};
console.log(
  `pid ${pid}: copied ${(copied / 1e6).toFixed(0)} MB, pause ${
    snapshot.pauseMs.toFixed(0)
  } ms [${mb()}]`,
);

const timed = <T>(f: () => T): [T, number, number] => {
  const t0 = performance.now(), c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  return [r, performance.now() - t0, (c.user + c.system) / 1000];
};

for (let r = 0; r < reps; r++) {
  const [heap, enumMs, enumCpu] = timed(() => enumerateHeap(snapshot));
  let line = `rep ${r}: enumerate ${enumMs.toFixed(0)} ms (cpu ${enumCpu.toFixed(0)}) ` +
    `allocations ${heap.allocations.length} [${mb()}]`;
  if (values.phase !== "enumerate") {
    const [a, , anaCpu] = timed(() => analyzeHeap(snapshot, heap));
    line += " " + Object.entries(a.phaseMs).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(" ") +
      ` (cpu ${anaCpu.toFixed(0)}) [${mb()}]`;
    const [bytes, jsonMs, jsonCpu] = timed(() => {
      let n = 0;
      for (const chunk of leaksJsonChunks(a)) n += chunk.length;
      return n;
    });
    line += ` json ${jsonMs.toFixed(0)} ms (cpu ${jsonCpu.toFixed(0)}) ${
      (bytes / 1e6).toFixed(0)
    } MB [${mb()}]`;
  }
  console.log(
    line + ` load ${Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")}`,
  );
}
