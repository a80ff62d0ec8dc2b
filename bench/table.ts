// Formats bench/big_heap.sh's results.jsonl as the markdown table of bench/RESULTS.md, with targets.
//
// Usage: node_modules/.bin/deno run -A bench/table.ts build/bench/out/results.jsonl

// deno-lint-ignore no-explicit-any
type Row = any;

const rows: Row[] = Deno.readTextFileSync(Deno.args[0] ?? "build/bench/out/results.jsonl")
  .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

const ms = (v: number | null | undefined) => v == null ? "—" : `${Math.round(v)} ms`;
const mb = (v: number | null | undefined) => v == null ? "—" : `${(v / 1e6).toFixed(0)} MB`;
const x = (v: number | null | undefined, d = 2) =>
  v == null || !isFinite(v) ? "—" : `${v.toFixed(d)}×`;
const gbps = (bytes: number, t: number) => `${(bytes / t / 1e6).toFixed(2)} GB/s`;
const mark = (ok: boolean | null) => ok == null ? "" : ok ? " ✅" : " ❌";

const ANALYSIS = ["enumerate", "index", "roots", "scan", "scan-roots", "flood-fill", "classify"];

interface Line {
  label: string;
  cell: (r: Row) => string;
}

const derived = (r: Row) => {
  const p = r.cli.phases as Record<string, number>;
  const copied = r.all.copiedBytes as number;
  const warmRate = r.sweepBytes / r.sweepWarmMs; // bytes per ms
  const coldRate = r.sweepBytes / r.sweepColdMs;
  const analysis = ANALYSIS.reduce((s, k) => s + (p[k] ?? 0), 0);
  return {
    p,
    copied,
    sweepWarmCopied: copied / warmRate,
    sweepColdCopied: copied / coldRate,
    analysis,
    scanRate: r.all.heapBytes / (p.scan ?? NaN),
    scanBest: Math.min(p.scan ?? Infinity, r.all.phases.scan, r.leaked.phases.scan),
    // Issue 15's budget: the copy, plus 64 bytes per live block.
    rssBudget: copied + 64 * r.cli.summary.allocations,
    // The three attaches of one N (CLI, --graph all, --graph leaked): the machine is shared.
    pauseBest: Math.min(r.cli.pauseMs, r.all.pauseMs ?? Infinity, r.leaked.pauseMs ?? Infinity),
    // captureSnapshot() outside the pause: maps, ELF files, destination buffers faulted in.
    beforeStop: r.all.phases.capture - r.all.pauseMs,
  };
};

const lines: Line[] = [
  {
    label: "machine load average (1/5/15 min) at the heapscope run",
    cell: (r) => r.loadavg ?? "—",
  },
  { label: "allocations (live, from leaks.json)", cell: (r) => `${r.cli.summary.allocations}` },
  {
    label: "leaked: blocks / direct / cycles (expected: N/1000·3 / N/1000·2 / N/1000)",
    cell: (r) => `${r.cli.summary.leaked} / ${r.cli.summary.direct} / ${r.cli.summary.cycles}`,
  },
  {
    label: "heap bytes (usable) / heapscope copied bytes",
    cell: (r) => `${mb(r.all.heapBytes)} / ${mb(r.all.copiedBytes)}`,
  },
  {
    label: "workload setup / RSS",
    cell: (r) => `${ms(r.setupMs)} / ${mb(r.workloadRssKb * 1024)}`,
  },
  {
    label: "raw sweep, fresh buffer (cold): all rw bytes, time",
    cell: (r) => `${mb(r.sweepBytes)}, ${ms(r.sweepColdMs)} (${gbps(r.sweepBytes, r.sweepColdMs)})`,
  },
  {
    label: "raw sweep, pre-faulted buffer (warm)",
    cell: (r) => `${ms(r.sweepWarmMs)} (${gbps(r.sweepBytes, r.sweepWarmMs)})`,
  },
  {
    label: "raw sweep of heapscope's copied bytes: warm / cold",
    cell: (r) => `${ms(derived(r).sweepWarmCopied)} / ${ms(derived(r).sweepColdCopied)}`,
  },
  { label: "**heapscope pause** (leaks.json pauseMs = copy)", cell: (r) => ms(r.cli.pauseMs) },
  {
    label: "heapscope pause, best of the 3 attaches (CLI, all, leaked)",
    cell: (r) => ms(derived(r).pauseBest),
  },
  {
    label: "capture work outside the pause (maps, ELF, buffers faulted in)",
    cell: (r) => ms(derived(r).beforeStop),
  },
  ...ANALYSIS.map((k) => ({ label: `phase ${k}`, cell: (r: Row) => ms(r.cli.phases[k]) })),
  {
    label: "phase scan, best of the 3 attaches (CLI, all, leaked)",
    cell: (r) => `${ms(derived(r).scanBest)} (${gbps(r.all.heapBytes, derived(r).scanBest)})`,
  },
  {
    label: "phase write-json: --graph all (size) / --graph leaked (size)",
    cell: (r) =>
      `${ms(r.all.phases["write-json"])} (${mb(r.all.jsonBytes)}) / ${
        ms(r.leaked.phases["write-json"])
      } (${(r.leaked.jsonBytes / 1e3).toFixed(0)} kB)`,
  },
  {
    label: "phase write-html: --graph all / --graph leaked",
    cell: (r) => `${ms(r.all.phases["write-html"])} / ${ms(r.leaked.phases["write-html"])}`,
  },
  { label: "**heapscope total wall** (`./heapscope PID --output F`)", cell: (r) => ms(r.totalMs) },
  { label: "heapscope peak RSS", cell: (r) => mb(r.peakRssKb * 1024) },
  { label: "gcore time / core size", cell: (r) => `${ms(r.gcoreMs)} / ${mb(r.coreBytes)}` },
  { label: "**LeakSanitizer** check (in-process, at exit)", cell: (r) => ms(r.lsanMs) },
  {
    label: "**valgrind** `vgdb leak_check full` (setup under valgrind)",
    cell: (r) => r.valgrindMs == null ? "skipped" : `${ms(r.valgrindMs)} (${r.valgrindSetupS} s)`,
  },
  {
    label: "ratio pause / raw sweep (warm; cold)",
    cell: (r) => {
      const d = derived(r);
      return `${x(r.cli.pauseMs / d.sweepWarmCopied)}; ${x(r.cli.pauseMs / d.sweepColdCopied)}`;
    },
  },
  { label: "ratio heapscope total / LSan check", cell: (r) => x(r.totalMs / r.lsanMs) },
  {
    label: "ratio valgrind check / heapscope total",
    cell: (r) => r.valgrindMs == null ? "—" : x(r.valgrindMs / r.totalMs),
  },
  { label: "", cell: () => "" },
  {
    label: "target: pause ≤ 1.5 × raw sweep (warm): CLI run; best of 3",
    cell: (r) => {
      const v = r.cli.pauseMs / derived(r).sweepWarmCopied;
      const best = derived(r).pauseBest / derived(r).sweepWarmCopied;
      return `${x(v)}${mark(v <= 1.5)}; ${x(best)}${mark(best <= 1.5)}`;
    },
  },
  {
    label: "target: scan ≥ 1 GB/s of heap bytes",
    cell: (r) =>
      `${(derived(r).scanRate / 1e6).toFixed(2)} GB/s${mark(derived(r).scanRate >= 1e6)}`,
  },
  {
    label: "target: enumerate+scan+SCC < 2 s (10^6)",
    cell: (r) => `${ms(derived(r).analysis)}${r.n === 1e6 ? mark(derived(r).analysis < 2000) : ""}`,
  },
  {
    label: "target: total ≤ 2 × LSan (10^6); ≤ 15 s (10^7)",
    cell: (r) =>
      r.n >= 1e7
        ? `${ms(r.totalMs)}${mark(r.totalMs <= 15_000)}`
        : `${x(r.totalMs / r.lsanMs)}${mark(r.totalMs <= 2 * r.lsanMs)}`,
  },
  {
    label: "target: enumerate ≤ 300 ms (10^6)",
    cell: (r) =>
      `${ms(r.cli.phases["enumerate"])}${
        r.n === 1e6 ? mark(r.cli.phases["enumerate"]! <= 300) : ""
      }`,
  },
  {
    label: "target: ≥ 20 × faster than valgrind",
    cell: (r) =>
      r.valgrindMs == null
        ? "—"
        : `${x(r.valgrindMs / r.totalMs)}${mark(r.valgrindMs >= 20 * r.totalMs)}`,
  },
  {
    label: "target: peak RSS ≤ copied + 64 B per block",
    cell: (r) => {
      const b = derived(r).rssBudget;
      return `${mb(r.peakRssKb * 1024)} vs ${mb(b)}${mark(r.peakRssKb * 1024 <= b)}`;
    },
  },
  {
    label: "target: leaks.json written < 2 s (--graph all)",
    cell: (r) => `${ms(r.all.phases["write-json"])}${mark(r.all.phases["write-json"] < 2000)}`,
  },
];

// Two workloads share each N (bench/big_heap.sh): each column says which.
const head = [
  "metric",
  ...rows.map((r) =>
    `${r.workload ? `${r.workload} ` : ""}N = ${r.n.toExponential(0).replace("e+", "e")}`
  ),
];
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const l of lines) console.log(`| ${l.label} | ${rows.map((r) => l.cell(r)).join(" | ")} |`);
