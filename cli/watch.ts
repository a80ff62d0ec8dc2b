// `heapscope watch <pid> --every 60s --count 10 --out series/ [--keep N]`: a snapshot every
// interval, each paused only for its own capture and analysed through the one pipeline; one line per
// interval (live bytes, leaked bytes, top growers since the previous one); leaks.<k>.json per
// interval in the folder, only the last --keep kept; watch.json there rewritten after each interval
// (so that it is whole whenever the command stops), and a final report of the growth over time.
// With --html, the HTML report of the latest snapshot is rewritten (atomically) after each interval,
// its Comparison section showing the growth over time and from the first snapshot to the last.
//
// SIGUSR1 takes the next snapshot at once (scripts and tests decide when). SIGINT/SIGTERM between
// snapshots stop cleanly with the final report; during a capture the capture's own handler resumes
// the target first (ffi/on_interrupt.ts), so the target is never left stopped.

import { EXIT, type ExitStatus } from "../analysis/mod.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { formatBytes } from "../report/format.ts";
import { formatDiff } from "../report/diff_text.ts";
import { writeHtmlReport } from "../report/html.ts";
import { diffLeaks, type GrowthRow, type LeaksDiff } from "../report/leaks_diff.ts";
import type { WatchCapture } from "../report/view/comparison.ts";
import { readLeaksFile } from "../report/read_leaks.ts";
import type { LeaksFile } from "../report/schema.ts";
import { writeAtomic } from "../report/write_atomic.ts";
import {
  helpText,
  type OptionTable,
  parseOptions,
  pidArgument,
  positiveInt,
  readSuppressions,
  SUPPRESSION_OPTIONS,
  UsageError,
} from "./options.ts";
import { analyseAndWrite } from "./pipeline.ts";
import { progressLine } from "./progress.ts";

export const WATCH_OPTIONS = {
  ...SUPPRESSION_OPTIONS,
  every: {
    type: "string",
    default: "60s",
    arg: "TIME",
    help: "time between snapshots (500ms, 60s, 5m, 1h)",
  },
  count: { type: "string", arg: "N", help: "stop after N snapshots (default: until Ctrl-C)" },
  out: { type: "string", arg: "DIR", help: "folder for leaks.<k>.json and watch.json (created)" },
  keep: {
    type: "string",
    default: "10",
    arg: "N",
    help: "leaks.<k>.json files kept: older ones are removed (disk use stays bounded)",
  },
  html: {
    type: "string",
    arg: "FILE",
    help: "the HTML report of the latest snapshot with the growth over time, rewritten after " +
      "each interval",
  },
  redact: {
    type: "boolean",
    default: false,
    help: "leave every byte of the process's memory out of leaks.<k>.json and the HTML report",
  },
  top: { type: "string", default: "3", arg: "N", help: "growers per interval line" },
  timeout: {
    type: "string",
    default: "30",
    arg: "SECONDS",
    help: "longest time the target may stay stopped per snapshot",
  },
} as const satisfies OptionTable;

const USAGE = "heapscope watch <pid> --every 60s --count 10 --out series/ [--keep N] [--html FILE]";
export const WATCH_FORMAT = "heapscope-watch";

export function watchHelp(): string {
  return helpText([USAGE], WATCH_OPTIONS, [
    "kill -USR1 <heapscope's pid> takes the next snapshot at once. Ctrl-C stops with the report.",
    "Exit status: 0 no leaks in the last snapshot, 1 leaks (that no --suppressions rule",
    "suppresses), 2 usage error, 3 not analysable.",
  ]);
}

/**
 * One interval's line of watch.json: a capture of the series (report/view/comparison.ts), its
 * file, and its growers (always there, [] for the first).
 */
export interface WatchInterval extends WatchCapture {
  /** leaks.<k>.json, until --keep removes it. */
  file: string;
  growers: NonNullable<WatchCapture["growers"]>;
}

/** "500ms", "60s", "5m", "1h" (a bare number is seconds) → ms. */
export function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]! : NaN;
  if (!(ms > 0)) {
    throw new UsageError(`Invalid value for --every: "${text}"`, [
      "Give a time such as 500ms, 60s, 5m or 1h",
    ]);
  }
  return ms;
}

export async function watch(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("watch", WATCH_OPTIONS, argv);
  if (o.help) {
    console.log(watchHelp());
    return EXIT.clean;
  }
  const pid = pidArgument(positionals[0], USAGE);
  if (!o.out) throw new UsageError("Missing --out DIR: where the series goes", [`Usage: ${USAGE}`]);
  const every = parseInterval(o.every);
  const count = o.count === undefined ? Infinity : positiveInt("count", o.count);
  const keep = positiveInt("keep", o.keep);
  const top = positiveInt("top", o.top);
  const timeoutMs = positiveInt("timeout", o.timeout) * 1000;
  const suppressions = await readSuppressions(o.suppressions);
  const out = o.out.replace(/\/$/, "");
  await Deno.mkdir(out, { recursive: true });

  // Wake-ups: the timer, SIGUSR1 (snapshot now), SIGINT/SIGTERM (stop). A SIGUSR1 that arrives
  // while a snapshot is taken or written is kept for the next wait, never lost.
  let wake: (() => void) | undefined;
  let stopping = false;
  let early = false;
  const now = () => {
    if (wake) wake();
    else early = true;
  };
  const stop = () => {
    stopping = true;
    wake?.();
  };
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGUSR1", now],
    ["SIGINT", stop],
    ["SIGTERM", stop],
  ];
  for (const [s, f] of listeners) Deno.addSignalListener(s, f);
  const intervals: WatchInterval[] = [];
  let first: LeaksFile | undefined, previous: LeaksFile | undefined;
  let status: ExitStatus = EXIT.clean;
  try {
    for (let k = 1; k <= count && !stopping; k++) {
      if (k > 1 && early) early = false;
      else if (k > 1) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, every);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (stopping) break;
      }
      const snapshot = await captureSnapshot(pid, { timeoutMs });
      const file = `${out}/leaks.${k}.json`;
      const outcome = await analyseAndWrite(snapshot, {
        output: file,
        graph: "auto",
        top: 10,
        sort: "size",
        quiet: true,
        color: false,
        progress: progressLine(false),
        suppressions,
        redact: o.redact,
      });
      status = outcome.status;
      const leaks = await readLeaksFile(file);
      first ??= leaks;
      const growers = previous ? topGrowers(diffLeaks(previous, leaks), top) : [];
      previous = leaks;
      const s = leaks.summary;
      intervals.push({
        index: k,
        capturedAt: leaks.capturedAt,
        pauseMs: leaks.pauseMs,
        allocations: s.allocations,
        bytes: s.bytes,
        leaked: s.leaked - (s.suppressed ?? 0),
        leakedBytes: s.leakedBytes - (s.suppressedBytes ?? 0),
        ...(s.suppressed !== undefined
          ? { suppressed: { count: s.suppressed, bytes: s.suppressedBytes ?? 0 } }
          : {}),
        file,
        growers,
      });
      const old = intervals[intervals.length - 1 - keep];
      if (old) await Deno.remove(old.file).catch(() => {});
      // The interval's line comes once its files are whole: a script that reads them on the line
      // reads this interval's.
      const sinceFirst = diffLeaks(first, leaks);
      await writeAtomic(
        `${out}/watch.json`,
        watchJson(pid, intervals, first, leaks, sinceFirst) + "\n",
      );
      if (o.html) {
        await writeHtmlReport(leaks, o.html, {
          comparison: { series: intervals, ...(intervals.length > 1 ? { diff: sinceFirst } : {}) },
        });
      }
      if (!o.quiet) console.log(intervalLine(intervals));
    }
  } finally {
    for (const [s, f] of listeners) Deno.removeSignalListener(s, f);
  }
  if (!o.quiet && first && previous && intervals.length > 1) {
    console.log(
      `\ngrowth over ${intervals.length} snapshots (${intervals[0]!.capturedAt} → ${
        intervals.at(-1)!.capturedAt
      }):`,
    );
    console.log(formatDiff(diffLeaks(first, previous), { top: 10 }));
  }
  if (!o.quiet && o.html && intervals.length) console.log(`html          ${o.html}`);
  if (!o.quiet) console.log(`series        ${out}/watch.json`);
  return status;
}

/** "#3 12:00:05  live 1.2 MiB (+80 KiB)  leaked 2.3 KiB (+0 B)  paused 4.1 ms  top: …". */
function intervalLine(intervals: WatchInterval[]): string {
  const cur = intervals.at(-1)!, prev = intervals.at(-2);
  const delta = (a: number, b: number | undefined) =>
    b === undefined ? "" : ` (${a - b >= 0 ? "+" : "-"}${formatBytes(Math.abs(a - b))})`;
  const time = cur.capturedAt.slice(11, 19);
  const growers = cur.growers.filter((g) => g.bytes > 0)
    .map((g) => `${g.label} +${formatBytes(g.bytes)}`).join("; ");
  return `#${cur.index} ${time}  live ${formatBytes(cur.bytes)}${delta(cur.bytes, prev?.bytes)}  ` +
    `leaked ${formatBytes(cur.leakedBytes)}${delta(cur.leakedBytes, prev?.leakedBytes)}${
      cur.suppressed?.count ? ` (${formatBytes(cur.suppressed.bytes)} suppressed)` : ""
    }  ` +
    `paused ${cur.pauseMs.toFixed(1)} ms${growers ? `  top: ${growers}` : ""}`;
}

/** The biggest growers: allocation sites when recorded, else types, else zones. */
function topGrowers(d: ReturnType<typeof diffLeaks>, top: number): WatchInterval["growers"] {
  const rows: GrowthRow[] = d.bySite ?? d.byType ?? d.byZone;
  return rows.slice(0, top).map((r) => ({ label: r.label, bytes: r.bytes, count: r.count }));
}

/** Leaked bytes that no --suppressions rule suppresses. */
function unsuppressedBytes(f: LeaksFile): number {
  return f.summary.leakedBytes - (f.summary.suppressedBytes ?? 0);
}

function watchJson(
  pid: number,
  intervals: WatchInterval[],
  first: LeaksFile,
  last: LeaksFile,
  d: LeaksDiff,
): string {
  return JSON.stringify(
    {
      format: WATCH_FORMAT,
      version: 1,
      pid,
      intervals,
      growth: {
        bytes: last.summary.bytes - first.summary.bytes,
        leakedBytes: unsuppressedBytes(last) - unsuppressedBytes(first),
        bySite: d.bySite?.slice(0, 20),
        byType: d.byType?.slice(0, 20),
        byRetainer: d.byRetainer?.slice(0, 20),
        byZone: d.byZone.slice(0, 20),
      },
    },
    null,
    1,
  );
}
