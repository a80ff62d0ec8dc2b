// Allocation sites: per-stack summaries (live/peak/total, age, leaked), top-N, folded stacks.
//
// Pure. Input: the recorder's table (stacks with their counters, live blocks with stack id, thread
// and time; see shim/recorder_linux.c) and, optionally, an Analysis whose leaked nodes are matched
// to recorded blocks by address. O(blocks + nodes + stacks · depth).
//
// Also the leaks.json version 2 additions (the lead merges them into report/schema.ts): `stacks`
// (symbolized frames per site), `site` on each node, `sites` (the per-site rows) and `timeline`.

import { type Analysis, isLeaked, LEAK_DIRECT } from "./types.ts";

/** One deduplicated call stack as the recorder keeps it. */
export interface RecordedStack {
  id: number;
  /** Return addresses, innermost first (symbolize at pc - 1). */
  pcs: number[];
  liveCount: number;
  liveBytes: number;
  peakCount: number;
  peakBytes: number;
  /** Every allocation ever made from this stack. */
  totalCount: number;
  totalBytes: number;
}

/** One live block the recorder saw allocated and not freed. */
export interface RecordedBlock {
  address: number;
  /** Requested size. */
  size: number;
  /** Stack id; 0 = unknown (recorder re-entered or its stack table full). */
  stack: number;
  tid: number;
  /** CLOCK_MONOTONIC ns when it was allocated. */
  timeNs: number;
}

export interface TimelineSample {
  /** ns since the recorder started. */
  timeNs: number;
  liveBytes: number;
  liveCount: number;
}

/** Everything read from a recorded process (memory or dump file). */
export interface RecorderTable {
  pid: number;
  depth: number;
  unwinder: "dwarf" | "fp" | "libunwind";
  /** CLOCK_MONOTONIC ns at recorder start and at the snapshot (or latest known time). */
  startNs: number;
  nowNs: number;
  /** By id. */
  stacks: Map<number, RecordedStack>;
  blocks: RecordedBlock[];
  timeline: TimelineSample[];
  /** Where the table came from, for messages. */
  source: string;
}

/** leaks.json v2: one symbolized frame. Inlined functions give several frames with the same pc. */
export interface StackFrame {
  /** "0x…" return address (the call is at pc - 1). */
  pc: string;
  function?: string;
  file?: string;
  line?: number;
  /** Source column, when the symbolizer gives it (llvm-symbolizer does, addr2line does not). */
  column?: number;
  /** Bytes from the start of `function` to `pc` (the return address), when known. */
  offset?: number;
  /** Path of the image (executable or library) the pc is in. */
  image?: string;
}

/** Symbolizer output: return address → frames, innermost first. */
export type FrameMap = Map<number, StackFrame[]>;

/**
 * leaks.json v2: one allocation site (one recorded stack). Site ids are indexes into the file's
 * `stacks`: dense, and renumbered per file (the listed sites first, in sort order), not the
 * recorder's stack ids.
 */
export interface SiteRow {
  site: number;
  /** Live blocks and requested bytes now, and their peaks over the run. */
  count: number;
  bytes: number;
  peakCount: number;
  peakBytes: number;
  /** Every allocation ever made here. */
  totalCount: number;
  totalBytes: number;
  /** Live blocks from here that the analysis found leaked (direct + indirect), and their bytes. */
  leakedCount: number;
  leakedBytes: number;
  /** Direct leaks allocated here, and the bytes of the structures they hold (themselves and every
   * leaked block counted under them; requested sizes where the recorder knows them). */
  direct: number;
  directBytes: number;
  /** Age of the oldest live block, and the mean age, in ms at the snapshot. */
  oldestMs: number;
  meanAgeMs: number;
  /** Threads that allocated the live blocks (at most 16 listed). */
  threads: number[];
}

export type SiteSort = "size" | "count";

/** What leaks.json version 2 adds. */
export interface LeaksSites {
  /**
   * stacks[site] = frames, innermost first. Only the kept sites: those listed in `sites` and those
   * some written node refers to (`site`); a site id is an index into this array.
   */
  stacks: StackFrame[][];
  /** Per node id (allocation index): site, or -1 when the recorder did not see the block. */
  site: Int32Array;
  /** Per-node thread id that allocated it, 0 when unknown. */
  thread: Uint32Array;
  /** Per-node age in ms, -1 when unknown. */
  ageMs: Float64Array;
  /** Sorted, top N (see SitesOptions). */
  sites: SiteRow[];
  /**
   * Recorded sites with no row in `sites` (left out by top N); their stacks are dropped too unless
   * a written node refers to them.
   */
  omittedSites: number;
  timeline: TimelineSample[];
  /** Recorded live blocks that the heap walker did not list (should be 0). */
  unmatchedBlocks: number;
}

export interface SitesOptions {
  sort?: SiteSort;
  /** Rows kept in `sites` (default all). */
  top?: number;
  /**
   * Nodes written to leaks.json (1 = written), default every node: their sites keep their stacks,
   * whether listed in `sites` or not.
   */
  written?: Uint8Array;
}

/** The sites kept for leaks.json, renumbered densely, before symbolization. */
export interface SiteSelection extends Omit<LeaksSites, "stacks"> {
  /** recorded[site] = the recorder's stack of kept site `site` (undefined: unknown stack). */
  recorded: (RecordedStack | undefined)[];
  /** Every kept site's row, sorted (`sites` is its first N): the flame graph's input. */
  keptRows: SiteRow[];
}

const hex = (n: number) => "0x" + n.toString(16);

/** Frames of a recorded stack: symbolized when known, else bare pcs. */
export function framesOf(stack: RecordedStack, symbols: FrameMap): StackFrame[] {
  const out: StackFrame[] = [];
  for (const pc of stack.pcs) {
    const f = symbols.get(pc);
    if (f && f.length > 0) out.push(...f);
    else out.push({ pc: hex(pc) });
  }
  return out;
}

/**
 * Compare rows for `sort`: the sites whose direct leaks hold the most first (the allocation a
 * developer fixes: a library's internals leak only because something above them did), then all
 * leaked, then live, then peak; ties by site.
 */
export function compareSites(sort: SiteSort): (a: SiteRow, b: SiteRow) => number {
  return sort === "count"
    ? (a, b) =>
      b.direct - a.direct || b.leakedCount - a.leakedCount || b.count - a.count ||
      b.totalCount - a.totalCount || a.site - b.site
    : (a, b) =>
      b.directBytes - a.directBytes || b.leakedBytes - a.leakedBytes || b.bytes - a.bytes ||
      b.peakBytes - a.peakBytes || a.site - b.site;
}

/**
 * Per-site rows for a recorded table alone (no leak analysis: leaked counts are 0) or, with
 * `analysis`, with its leaked nodes matched by address. Returns every row, unsorted, plus the
 * per-node mapping when `analysis` is given.
 */
export function aggregateSites(
  table: RecorderTable,
  analysis?: Analysis,
): { rows: SiteRow[]; stackIds: number[]; nodeSite: Int32Array; nodeBlock: Int32Array } {
  const siteOf = new Map<number, number>();
  const stackIds: number[] = [];
  const rows: SiteRow[] = [];
  const ageSum: number[] = [];
  const row = (stackId: number): SiteRow => {
    let s = siteOf.get(stackId);
    if (s === undefined) {
      s = rows.length;
      siteOf.set(stackId, s);
      stackIds.push(stackId);
      const st = table.stacks.get(stackId);
      rows.push({
        site: s,
        count: 0,
        bytes: 0,
        peakCount: st?.peakCount ?? 0,
        peakBytes: st?.peakBytes ?? 0,
        totalCount: st?.totalCount ?? 0,
        totalBytes: st?.totalBytes ?? 0,
        leakedCount: 0,
        leakedBytes: 0,
        direct: 0,
        directBytes: 0,
        oldestMs: 0,
        meanAgeMs: 0,
        threads: [],
      });
      ageSum.push(0);
    }
    return rows[s]!;
  };
  // Every stack with a live block, or that ever allocated, gets a row (sites with 0 live are kept:
  // their peak and total still tell where memory churns).
  for (const id of [...table.stacks.keys()].sort((a, b) => a - b)) row(id);
  for (const b of table.blocks) {
    const r = row(b.stack);
    r.count++;
    r.bytes += b.size;
    const age = Math.max(0, (table.nowNs - b.timeNs) / 1e6);
    if (age > r.oldestMs) r.oldestMs = age;
    ageSum[r.site]! += age;
    if (r.threads.length < 16 && !r.threads.includes(b.tid)) r.threads.push(b.tid);
  }
  for (const r of rows) {
    r.meanAgeMs = r.count > 0 ? ageSum[r.site]! / r.count : 0;
    // The table's counters and the block list are read at slightly different moments while the
    // program runs: a peak is never below what is live.
    r.peakCount = Math.max(r.peakCount, r.count);
    r.peakBytes = Math.max(r.peakBytes, r.bytes);
  }
  const n = analysis?.heap.allocations.length ?? 0;
  const nodeSite = new Int32Array(n).fill(-1);
  const nodeBlock = new Int32Array(n).fill(-1);
  if (analysis) {
    const byAddress = new Map<number, number>();
    table.blocks.forEach((b, i) => byAddress.set(b.address, i));
    const addresses = analysis.heap.allocations.addresses;
    const sizes = analysis.heap.allocations.sizes;
    // Bytes of each direct leak's structure (requested sizes where recorded).
    const held = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = analysis.owner[i]!;
      if (o < 0) continue;
      const bi = byAddress.get(addresses[i]!);
      held[o]! += bi !== undefined ? table.blocks[bi]!.size : sizes[i]!;
    }
    for (let i = 0; i < n; i++) {
      const bi = byAddress.get(addresses[i]!);
      if (bi === undefined) continue;
      const b = table.blocks[bi]!;
      const r = row(b.stack);
      nodeSite[i] = r.site;
      nodeBlock[i] = bi;
      if (isLeaked(analysis.status[i]!)) {
        r.leakedCount++;
        r.leakedBytes += b.size;
        if (analysis.leak[i] === LEAK_DIRECT) {
          r.direct++;
          r.directBytes += held[i]!;
        }
      }
    }
  }
  return { rows, stackIds, nodeSite, nodeBlock };
}

/**
 * Which sites leaks.json keeps (phase one of sitesForLeaks, before the slow symbolization): the top
 * N rows and every site a written node refers to, renumbered 0.. in sort order so that the listed
 * rows come first. Everything else is only counted (`omittedSites`). O(blocks + nodes + stacks).
 */
export function selectSites(
  analysis: Analysis,
  table: RecorderTable,
  opts: SitesOptions = {},
): SiteSelection {
  const { rows, stackIds, nodeSite, nodeBlock } = aggregateSites(table, analysis);
  const n = nodeSite.length;
  const referenced = new Uint8Array(rows.length);
  const thread = new Uint32Array(n);
  const ageMs = new Float64Array(n).fill(-1);
  let matched = 0;
  for (let i = 0; i < n; i++) {
    const bi = nodeBlock[i]!;
    if (bi < 0) continue;
    matched++;
    if (!opts.written || opts.written[i]) referenced[nodeSite[i]!] = 1;
    const b = table.blocks[bi]!;
    thread[i] = b.tid;
    ageMs[i] = Math.max(0, (table.nowNs - b.timeNs) / 1e6);
  }
  const sorted = rows.filter((r) => r.count > 0 || r.totalCount > 0).sort(
    compareSites(opts.sort ?? "size"),
  );
  const top = Math.min(opts.top ?? sorted.length, sorted.length);
  // Old site (row index) → kept id; the listed rows get 0..top-1.
  const renumber = new Int32Array(rows.length).fill(-1);
  const recorded: (RecordedStack | undefined)[] = [];
  const keptRows: SiteRow[] = [];
  sorted.forEach((r, k) => {
    if (k >= top && !referenced[r.site]) return;
    renumber[r.site] = recorded.length;
    recorded.push(table.stacks.get(stackIds[r.site]!));
    keptRows.push({ ...r, site: renumber[r.site]! });
  });
  const site = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    if (nodeSite[i]! >= 0 && (!opts.written || opts.written[i])) site[i] = renumber[nodeSite[i]!]!;
  }
  return {
    recorded,
    keptRows,
    site,
    thread,
    ageMs,
    sites: keptRows.slice(0, top),
    omittedSites: sorted.length - top,
    timeline: table.timeline,
    unmatchedBlocks: table.blocks.length - matched,
  };
}

/** Return addresses of the kept stacks: all that needs symbolizing. */
export function selectedPcs(sel: Pick<SiteSelection, "recorded">): Set<number> {
  const pcs = new Set<number>();
  for (const st of sel.recorded) for (const pc of st?.pcs ?? []) pcs.add(pc);
  return pcs;
}

/** Phase two: the selection with its frames. */
export function withFrames(sel: SiteSelection, symbols: FrameMap): LeaksSites & SiteSelection {
  return { ...sel, stacks: sel.recorded.map((st) => st ? framesOf(st, symbols) : []) };
}

/** The leaks.json v2 additions for an analysis of a recorded process (both phases). */
export function sitesForLeaks(
  analysis: Analysis,
  table: RecorderTable,
  symbols: FrameMap,
  opts: SitesOptions = {},
): LeaksSites {
  return withFrames(selectSites(analysis, table, opts), symbols);
}

/** Name of a frame in a flame graph: function, else image+offset-less pc. */
function frameName(f: StackFrame): string {
  const name = f.function ?? (f.image ? `${f.image.split("/").pop()}@${f.pc}` : f.pc);
  return name.replaceAll(";", ":").replaceAll("\n", " ");
}

/**
 * Folded stacks (Brendan Gregg's format, read by flamegraph.pl and speedscope): one line per
 * site, root first, frames separated by ";", then a space and the weight. Sites of weight 0 are
 * left out. Weight "leaked" = leaked bytes, "live" = live bytes, "count" = leaked blocks.
 */
export function foldedStacks(
  rows: readonly SiteRow[],
  stacks: readonly StackFrame[][],
  weight: "leaked" | "live" | "count" = "leaked",
): string {
  const merged = new Map<string, number>();
  for (const r of rows) {
    const w = weight === "leaked" ? r.leakedBytes : weight === "live" ? r.bytes : r.leakedCount;
    if (w <= 0) continue;
    const frames = stacks[r.site] ?? [];
    const key = frames.length > 0 ? frames.map(frameName).reverse().join(";") : "[unknown stack]";
    merged.set(key, (merged.get(key) ?? 0) + w);
  }
  let out = "";
  for (const [k, w] of merged) out += `${k} ${w}\n`;
  return out;
}
