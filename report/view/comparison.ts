// The Comparison section's payload: a LeaksDiff (report/leaks_diff.ts) and, for `watch`, its series
// of captures, as the viewer shows them: which files, totals before → after, new leaks and leaks
// gone (each tied to the same block in the file the report draws), growth tables, survivors, notes
// and the points of the growth chart.
//
// The numbers are the diff's, untouched: the page says what `heapscope diff` prints. The report
// draws the newest file, the last one the diff compares. O(rows + nodes of the drawn file).

import { stackLine } from "../frame_names.ts";
import type { DiffLeak, GrowthRow, LeakChange, LeaksDiff } from "../leaks_diff.ts";
import type { LeaksFile, LeaksNode } from "../schema.ts";
import type {
  ComparisonDiffView,
  ComparisonFileView,
  ComparisonGrowth,
  ComparisonLeakRow,
  ComparisonLeaks,
  ComparisonPayload,
  ComparisonTotal,
  SeriesPayload,
  SeriesPoint,
} from "./payload.ts";

/** One capture of a watch series (cli/watch.ts's WatchInterval, a line of watch.json, is one). */
export interface WatchCapture {
  index: number;
  capturedAt: string;
  pauseMs: number;
  allocations: number;
  bytes: number;
  /** Leaked blocks and bytes that no --suppressions rule suppresses. */
  leaked: number;
  leakedBytes: number;
  /** Leaked blocks and bytes a rule suppressed (with --suppressions). */
  suppressed?: { count: number; bytes: number };
  /** Growth since the previous snapshot: the biggest growers by site, type or zone. */
  growers?: { label: string; bytes: number; count: number }[];
}

/** What a report compares: a diff (diff --html, watch from the second capture) and/or a series. */
export interface ComparisonInput {
  diff?: LeaksDiff;
  series?: readonly WatchCapture[];
}

export interface ComparisonOptions {
  /** Most direct-leak rows per list (default 5,000). */
  maxLeakRows?: number;
  /** Most rows per growth table (default 2,000). */
  maxGrowthRows?: number;
  /** Most captures in the chart (default 2,000). */
  maxPoints?: number;
}

/**
 * Rows per list and table: a growth table of a big C++ program has a row per type, thousands of
 * them, and the page is rewritten after every watch interval; 5,000 leak rows and 2,000 growth
 * rows keep the embedded JSON near 1 MiB while every row the text summary prints (its top 10) is
 * there. The JSON of the diff has them all.
 */
const MAX_LEAK_ROWS = 5000;
const MAX_GROWTH_ROWS = 2000;
/** Captures drawn: 2,000 one-minute intervals are 33 hours, and a path of 2,000 points draws in a
 * few milliseconds. Older ones are left out, and watch.json keeps every one. */
const MAX_POINTS = 2000;

/**
 * The payload of the Comparison section of the report of `shown`: the newest file of `input.diff`
 * (its last file) or of the series (its last capture).
 */
export function selectComparison(
  input: ComparisonInput,
  shown: LeaksFile,
  options: ComparisonOptions = {},
): ComparisonPayload {
  const d = input.diff;
  const series = input.series && input.series.length > 0
    ? selectSeries(input.series, options.maxPoints ?? MAX_POINTS)
    : null;
  const watch = input.series !== undefined;
  const name = (i: number, n: number) => {
    const k = watch ? watchIndex(input.series!, i, n) : i;
    return watch ? { label: `snapshot ${k}`, short: `#${k}` } : ORDINAL[i]!;
  };
  const files: ComparisonFileView[] = d
    ? d.files.map((f, i) => ({
      ...name(i, d.files.length),
      pid: f.pid,
      command: f.command,
      capturedAt: f.capturedAt,
      shown: i === d.files.length - 1,
    }))
    : [{
      ...name(0, 1),
      pid: shown.target.pid,
      command: shown.target.command,
      capturedAt: shown.capturedAt,
      shown: true,
    }];
  return {
    kind: watch ? "watch" : "diff",
    files,
    diff: d ? selectDiffView(d, shown, options) : null,
    notes: d ? d.notes.slice() : [],
    series,
  };
}

const ORDINAL = [
  { label: "first", short: "1st" },
  { label: "second", short: "2nd" },
  { label: "third", short: "3rd" },
];

/** A watch diff compares the first capture with the last (one capture: the last is the first). */
function watchIndex(series: readonly WatchCapture[], i: number, n: number): number {
  return (i === n - 1 ? series.at(-1)?.index : series[0]?.index) ?? i + 1;
}

function selectDiffView(
  d: LeaksDiff,
  shown: LeaksFile,
  options: ComparisonOptions,
): ComparisonDiffView {
  const find = blockFinder(shown);
  const maxRows = options.maxGrowthRows ?? MAX_GROWTH_ROWS;
  const leakRows = options.maxLeakRows ?? MAX_LEAK_ROWS;
  const growth: ComparisonGrowth[] = [];
  const tables: [ComparisonGrowth["id"], string, string, GrowthRow[] | undefined][] = [
    ["type", "Growth by type", "type", d.byType],
    ["site", "Growth by allocation site", "allocation site", d.bySite],
    ["retainer", "Growth by retainer", "retainer", d.byRetainer],
    ["zone", "Growth by zone", "zone", d.byZone],
  ];
  for (const [id, title, what, rows] of tables) {
    if (rows) growth.push(growthTable(id, title, what, rows, maxRows));
  }
  const s = d.survivors;
  return {
    totals: totals(d),
    newLeaks: leakList(d.newLeaks, find, leakRows),
    goneLeaks: leakList(d.goneLeaks, find, leakRows),
    growth,
    survivors: s
      ? {
        count: s.count,
        bytes: s.bytes,
        tables: [
          growthTable(
            "survivor-site",
            "Survivors by allocation site",
            "allocation site",
            s.bySite,
            maxRows,
          ),
          growthTable("survivor-type", "Survivors by type", "type", s.byType, maxRows),
        ].filter((t) => t.total > 0),
      }
      : null,
  };
}

function totals(d: LeaksDiff): ComparisonTotal[] {
  const { before: b, after: a } = d.totals;
  const row = (
    key: ComparisonTotal["key"],
    label: string,
    unit: ComparisonTotal["unit"],
  ): ComparisonTotal => ({
    key,
    label,
    unit,
    before: b[key],
    after: a[key],
    change: a[key] - b[key],
  });
  return [
    row("allocations", "allocations", "count"),
    row("bytes", "bytes", "bytes"),
    row("leaked", "leaked blocks", "count"),
    row("leakedBytes", "leaked bytes", "bytes"),
    row("suppressed", "suppressed blocks", "count"),
    row("suppressedBytes", "suppressed bytes", "bytes"),
  ];
}

/**
 * The rows in the diff's order, those that changed first (what the text summary lists), then the
 * unchanged ones, at most `max`.
 */
function growthTable(
  id: ComparisonGrowth["id"],
  title: string,
  what: string,
  rows: GrowthRow[],
  max: number,
): ComparisonGrowth {
  const changed = rows.filter((r) => r.count !== 0 || r.bytes !== 0);
  const same = rows.filter((r) => r.count === 0 && r.bytes === 0);
  const kept = changed.concat(same).slice(0, max);
  return {
    id,
    title,
    what,
    rows: kept,
    changed: changed.length,
    total: rows.length,
    omitted: rows.length - kept.length,
  };
}

function leakList(
  c: LeakChange,
  find: (l: DiffLeak) => { block: number; node: LeaksNode } | undefined,
  max: number,
): ComparisonLeaks {
  const rows = c.direct.slice(0, max).map((l): ComparisonLeakRow => {
    const row: ComparisonLeakRow = {
      address: l.address,
      size: l.size,
      heldBlocks: l.held?.blocks ?? 1,
      heldBytes: l.held?.bytes ?? l.size,
    };
    if (l.type !== undefined) row.type = l.type;
    if (l.site !== undefined) row.site = l.site;
    const at = find(l);
    if (at) {
      row.block = at.block;
      row.now = at.node.status;
    }
    return row;
  });
  return {
    count: c.count,
    bytes: c.bytes,
    suppressed: { ...c.suppressed },
    direct: c.direct.length,
    rows,
    omitted: c.direct.length - rows.length,
  };
}

/**
 * The same block in the shown file: same address and size, and the same allocation site where
 * both know it (the diff's rule; a site is compared by its label, the one the diff gives).
 */
function blockFinder(
  shown: LeaksFile,
): (l: DiffLeak) => { block: number; node: LeaksNode } | undefined {
  const at = new Map<string, number>();
  shown.nodes.forEach((n, i) => at.set(`${n.address} ${n.size}`, i));
  const labels = new Map<number, string>();
  const siteLabel = (site: number) => {
    let l = labels.get(site);
    if (l === undefined) {
      l = stackLine(shown.stacks?.[site] ?? []) || "(unknown stack)";
      labels.set(site, l);
    }
    return l;
  };
  return (l) => {
    const i = at.get(`${l.address} ${l.size}`);
    if (i === undefined) return undefined;
    const node = shown.nodes[i]!;
    if (l.site !== undefined && node.site !== undefined && shown.stacks) {
      if (siteLabel(node.site) !== l.site) return undefined;
    }
    return { block: i, node };
  };
}

/** The chart's points: the last `max` captures, times from the first of them. O(captures). */
function selectSeries(series: readonly WatchCapture[], max: number): SeriesPayload {
  const kept = series.slice(-max);
  const t0 = Date.parse(kept[0]!.capturedAt);
  let peakBytes = 0, peakLeakedBytes = 0;
  const points = kept.map((c, i): SeriesPoint => {
    peakBytes = Math.max(peakBytes, c.bytes);
    peakLeakedBytes = Math.max(peakLeakedBytes, c.leakedBytes);
    const ms = Date.parse(c.capturedAt) - t0;
    const p: SeriesPoint = {
      index: c.index,
      capturedAt: c.capturedAt,
      ms: Number.isFinite(ms) ? ms : 0,
      pauseMs: c.pauseMs,
      allocations: c.allocations,
      bytes: c.bytes,
      leaked: c.leaked,
      leakedBytes: c.leakedBytes,
    };
    if (c.suppressed) p.suppressed = { ...c.suppressed };
    const prev = i > 0 ? kept[i - 1] : series[series.length - kept.length - 1];
    if (prev) {
      p.change = { bytes: c.bytes - prev.bytes, leakedBytes: c.leakedBytes - prev.leakedBytes };
    }
    const top = c.growers?.find((g) => g.bytes > 0);
    if (top) p.top = { label: top.label, bytes: top.bytes };
    return p;
  });
  return { points, omitted: series.length - kept.length, peakBytes, peakLeakedBytes };
}

/**
 * A label with each absolute file path cut to its last component ("g_cache in …/grow"): growth
 * tables have seven columns to fit, and where the program lives is in the cell's title and export.
 */
export function shortPaths(label: string): string {
  return label.replace(/(?<![\w.])\/(?:[^\s/()]+\/)+([^\s/()]+)/g, "…/$1");
}
