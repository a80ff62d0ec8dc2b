// Times enumerateGlibc() against the frozen baseline walker on the same real snapshot; checks equality.
//
// Usage (as root; run it under the shared lock: flock /tmp/heapscope-heavy.lock …):
//   node_modules/.bin/deno run -A bench/enumerate_bench.ts [--workload N | --pid PID | --load F]
//       [--save F] [--runs R]
// --workload N (default 1000000) starts build/bench/workload N (`make bench-build`), waits for its
// READY line, captures it once and kills it; --pid captures a running process; --save writes the
// snapshot to F (F.json + F.bin) and --load reads one back, so both walkers can be timed again on
// exactly the same bytes. First each walker runs once in a fresh Deno process on the saved snapshot
// ("cold": JIT and page faults included, as in one `heapscope <pid>` run); then both run R times
// (default 5) alternately in this process ("warm": median and best). The new walker's phases are
// printed for its cold run and its best warm run. Exit status 1 when the two walkers' outputs
// differ (the difference is printed). --only new|baseline: time that walker once and print
// `cold <ms> <phases JSON>` (what the cold runs use).

import { parseArgs } from "node:util";
import type { HeapEnumeration, MemoryChunk, Snapshot } from "../analysis/types.ts";
import { enumerateGlibc } from "../analysis/glibc/enumerate_glibc.ts";
import { enumerateGlibc as baselineEnumerate } from "../analysis/glibc/testdata/baseline/enumerate_glibc.ts";
import { captureSnapshot } from "../ffi/capture.ts";
import { sameEnumeration } from "../analysis/glibc/testdata/same_enumeration.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    workload: { type: "string" },
    pid: { type: "string" },
    load: { type: "string" },
    save: { type: "string" },
    runs: { type: "string", default: "5" },
    only: { type: "string" },
  },
});
const ROOT = new URL("..", import.meta.url).pathname;

/** Starts the benchmark workload with `n` blocks and resolves with its pid once it prints READY. */
async function startWorkload(n: number): Promise<Deno.ChildProcess> {
  const exe = `${ROOT}build/bench/workload`;
  try {
    Deno.statSync(exe);
  } catch {
    throw new Error(`Missing ${exe}\nHint: run 'make bench-build' first`);
  }
  const child = new Deno.Command(exe, { args: [String(n)], stdout: "piped", stderr: "inherit" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/^READY$/m.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`workload ${n} exited before READY: ${text}`);
    text += value;
  }
  reader.releaseLock();
  return child;
}

/** Writes a snapshot as F.json (everything but the bytes) and F.bin (the memory chunks back to back). */
async function save(s: Snapshot, file: string): Promise<void> {
  const meta = { ...s, memory: s.memory.map((m) => ({ start: m.start, length: m.bytes.length })) };
  await Deno.writeTextFile(`${file}.json`, JSON.stringify(meta));
  const f = await Deno.open(`${file}.bin`, { write: true, create: true, truncate: true });
  for (const m of s.memory) {
    let off = 0;
    while (off < m.bytes.length) off += await f.write(m.bytes.subarray(off));
  }
  f.close();
}

async function load(file: string): Promise<Snapshot> {
  const meta = JSON.parse(await Deno.readTextFile(`${file}.json`));
  const bin = await Deno.readFile(`${file}.bin`);
  let off = 0;
  const memory: MemoryChunk[] = meta.memory.map((m: { start: number; length: number }) => {
    const bytes = bin.subarray(off, off + m.length);
    off += m.length;
    return { start: m.start, bytes };
  });
  return { ...meta, memory };
}

let snapshot: Snapshot;
if (values.load !== undefined) {
  snapshot = await load(values.load);
} else if (values.pid !== undefined) {
  snapshot = await captureSnapshot(Number(values.pid), { timeoutMs: 60_000 });
} else {
  const n = Number(values.workload ?? "1000000");
  const child = await startWorkload(n);
  try {
    snapshot = await captureSnapshot(child.pid, { timeoutMs: 60_000 });
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}
if (values.only !== undefined) {
  const phases: Record<string, number> = {};
  const t = performance.now();
  if (values.only === "baseline") baselineEnumerate(snapshot);
  else enumerateGlibc(snapshot, { phaseMs: phases });
  console.log(`cold ${performance.now() - t} ${JSON.stringify(phases)}`);
  Deno.exit(0);
}
const saved = values.load ?? values.save ?? await Deno.makeTempFile({ prefix: "enumerate-bench-" });
if (values.load === undefined) await save(snapshot, saved);

/** One run of `walker` in a fresh Deno process on the saved snapshot: its time and phases. */
async function coldRun(walker: "new" | "baseline"): Promise<{ ms: number; phases: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--load", saved, "--only", walker],
    stderr: "inherit",
  }).output();
  const m = new TextDecoder().decode(out.stdout).match(/^cold (\S+) (.*)$/m);
  if (!out.success || m === null) throw new Error(`cold ${walker} run failed`);
  return { ms: Number(m[1]), phases: m[2]! };
}
const coldNew = await coldRun("new"), coldBaseline = await coldRun("baseline");
if (values.load === undefined && values.save === undefined) {
  await Deno.remove(`${saved}.json`).catch(() => {});
  await Deno.remove(`${saved}.bin`).catch(() => {});
  await Deno.remove(saved).catch(() => {});
}

const runs = Math.max(1, Number(values.runs));
const times: Record<"new" | "baseline", number[]> = { new: [], baseline: [] };
let ours: HeapEnumeration | undefined, theirs: HeapEnumeration | undefined;
let bestPhases: Record<string, number> = {};
for (let r = 0; r < runs; r++) {
  let t = performance.now();
  theirs = baselineEnumerate(snapshot);
  times.baseline.push(performance.now() - t);
  const phases: Record<string, number> = {};
  t = performance.now();
  ours = enumerateGlibc(snapshot, { phaseMs: phases });
  const ms = performance.now() - t;
  if (ms <= Math.min(...times.new)) bestPhases = phases;
  times.new.push(ms);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms, best ${Math.min(...xs).toFixed(0)} ms`;
console.log(
  `snapshot: pid ${snapshot.pid}, ${ours!.allocations.length} allocations, ` +
    `${(snapshot.memory.reduce((s, m) => s + m.bytes.length, 0) / 1e6).toFixed(0)} MB copied`,
);
const phaseText = (p: Record<string, number>) =>
  Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(", ");
console.log(
  `cold, one run in a fresh process: new ${coldNew.ms.toFixed(0)} ms, baseline ` +
    `${coldBaseline.ms.toFixed(0)} ms`,
);
console.log(`warm, new walker:      ${fmt(times.new)}  (${runs} runs)`);
console.log(`warm, baseline walker: ${fmt(times.baseline)}`);
console.log(`new walker phases, cold: ${phaseText(JSON.parse(coldNew.phases))}`);
console.log(`new walker phases, best warm run: ${phaseText(bestPhases)}`);
const diff = sameEnumeration(ours!, theirs!);
if (diff !== undefined) {
  console.log(`OUTPUTS DIFFER: ${diff}`);
  Deno.exit(1);
}
console.log("outputs identical (allocations, excluded ranges, heap ranges, warnings)");
