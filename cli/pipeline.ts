// The one analyse-and-write path every command that analyses a native heap takes:
//
//   capture (the caller: attach, run, analyze)  →  recorder table (a recorded process; a snapshot
//     file carries it, and its frames, so that nothing is read from the process or its files)
//   → analyze (analysis/analyze.ts: enumerate → roots → scan → live bytes → graph → reachability
//     → classify → attribute)  →  suppressions (analysis/suppressions.ts; leaked blocks' stacks
//     symbolized for leak: rules)  →  sites (symbolize the stacks that are written)
//   → write leaks.json, the HTML report, the flame graph  →  summary  →  exit status (1 only for
//     leaks no rule suppresses)
//
// Each output is written atomically (report/write_atomic.ts), and an interrupt removes the
// temporaries of the writes in flight.

import { demangle, loadDemangler } from "../analysis/demangle.ts";
import { detectGoRuntime } from "../analysis/go/detect_go.ts";
import type { OidTable } from "../analysis/go/oid_file.ts";
import { discardCopied } from "../ffi/copy_buffers.ts";
import { diskImageFiles } from "../ffi/image_files.ts";
import { detectAllocator } from "../analysis/glibc/mod.ts";
import { goAttachAdvice } from "../report/go/go_text.ts";
import {
  type Analysis,
  AnalysisError,
  analyze,
  EXIT,
  type ExitStatus,
  type ImageFiles,
  isLeaked,
  type LeaksSites,
  type RecorderTable,
  releaseMemory,
  selectedPcs,
  selectSites,
  type SiteSort,
  type Snapshot,
  withFrames,
} from "../analysis/mod.ts";
import { foldedStacks, type FrameMap, framesOf, type StackFrame } from "../analysis/sites.ts";
import {
  applySuppressions,
  type SuppressionResult,
  type SuppressionRule,
} from "../analysis/suppressions.ts";
import { onInterrupt, readRecorderTable, scanKernel } from "../ffi/mod.ts";
import {
  RecorderTableError,
  type RecorderTableInfo,
  recorderWarnings,
} from "../ffi/recorder_table.ts";
import { frameLinesSync, symbolize } from "../ffi/symbolize.ts";
import {
  formatCount,
  formatSites,
  formatSummary,
  leaksJsonChunks,
  removePendingTemps,
  selectNodes,
  toLeaksFile,
  writeAtomic,
  writeHtmlReport,
} from "../report/mod.ts";
import type { ProgressLine } from "./progress.ts";
import { MAX_INDEX_BLOCKS } from "../report/view/block_index.ts";
import { shortName, userFrame } from "../report/frame_names.ts";

/** Above this many blocks `--graph auto` writes leaked blocks and their context, not every block. */
export const AUTO_GRAPH_LIMIT = 100_000;

export interface OutputOptions {
  /** leaks.json path, or "-" for standard output. */
  output: string;
  html?: string;
  flameGraph?: string;
  graph: "auto" | "all" | "leaked";
  /** Leave every byte of the process's memory out of the outputs (--redact). */
  redact?: boolean;
  top: number;
  sort: SiteSort;
  quiet: boolean;
  color: boolean;
  progress: ProgressLine;
  /**
   * The recorder's table as read when a snapshot file was written (`problem`: why it could not be
   * read): used instead of reading it from the snapshot, which needs the recorder's library file.
   */
  recorder?: { table?: RecorderTable; problem?: string };
  /** Return addresses symbolized when a snapshot file was written: used instead of the images. */
  frames?: FrameMap;
  /** The images' files (default: from disk, for a live process). */
  imageFiles?: ImageFiles;
  /** file:line of code addresses (a saved source's; default: the live process's files). */
  frameLines?: (pcs: readonly number[]) => ReadonlyMap<number, string>;
  /** heapspurs-style object ids (--oid). */
  oids?: OidTable;
  /** Known leaks to leave out of the verdict (--suppressions; analysis/suppressions.ts). */
  suppressions?: SuppressionRule[];
}

export interface Outcome {
  status: ExitStatus;
  analysis: Analysis;
  sites?: LeaksSites;
  table?: RecorderTable;
  /** What --suppressions suppressed. */
  suppressed?: SuppressionResult;
}

export interface AnalyseOptions {
  progress: ProgressLine;
  /** See OutputOptions. */
  recorder?: OutputOptions["recorder"];
  imageFiles?: ImageFiles;
  oids?: OidTable;
  /** file:line of code addresses (a saved source's; default: the live process's files). */
  frameLines?: (pcs: readonly number[]) => ReadonlyMap<number, string>;
  /**
   * Drop the heap's copy as soon as the leaked blocks are known (analysis/analyze.ts's `discard`):
   * for callers that read no block's bytes after the analysis.
   */
  dropHeapCopy?: boolean;
}

/**
 * Analyse a captured snapshot (the first half of the one path; `heapscope why` stops here): refuse
 * a Go heap, read the recorder's table, run every analysis phase. The pipeline's warnings are in
 * `analysis.heap.warnings`.
 */
export async function analyseSnapshot(
  snapshot: Snapshot,
  opts: AnalyseOptions,
): Promise<{ analysis: Analysis; table?: RecorderTable }> {
  const warnings: string[] = [];
  const go = detectGoRuntime(snapshot);
  if (go && detectAllocator(snapshot).kind !== "glibc") {
    // A Go heap read as malloc's would be nothing but false leaks: say how to get a heap dump.
    const [what, ...advice] = goAttachAdvice(snapshot.pid, go);
    throw new AnalysisError(what!, advice.map((a) => a.replace(/^Hint: /, "")));
  }
  if (go) {
    warnings.push(
      `${go.image} is a Go program (cgo): only its malloc heap is analysed; the Go heap counts ` +
        "as roots (heapscope heapdump reads the Go heap from a heap dump)",
    );
  }
  const live = opts.recorder ? undefined : recorderTable(snapshot, warnings);
  const table = opts.recorder ? savedRecorderTable(opts.recorder, warnings) : live;
  if (live?.exitSp) atExit(snapshot, live.exitSp);
  let analysis: Analysis;
  await loadDemangler();
  const files = opts.imageFiles ?? diskImageFiles(snapshot);
  try {
    analysis = analyze(snapshot, {
      progress: opts.progress.update,
      kernel: scanKernel(),
      recorded: table ? recordedBlocks(table) : undefined,
      imageFiles: files,
      demangle,
      oids: opts.oids,
      ...(opts.dropHeapCopy ? { discard: discardCopied } : {}),
      // Stack roots' lines: a saved source's own, else the live process's files.
      frameLines: opts.frameLines ??
        (opts.imageFiles ? undefined : frameLinesSync(snapshot.regions, snapshot.pageSize)),
    });
  } finally {
    opts.progress.done();
    if (!opts.imageFiles) (files as ReturnType<typeof diskImageFiles>).close();
  }
  if (table) {
    for (const w of recorderWarnings(table)) warnings.push([w.message, ...w.hints].join(" — "));
  }
  analysis.heap.warnings.push(...warnings);
  return table ? { analysis, table } : { analysis };
}

/** Analyse a captured snapshot and write every output: the one path (see the header). */
export async function analyseAndWrite(snapshot: Snapshot, opts: OutputOptions): Promise<Outcome> {
  // Only leaked blocks' first bytes are written: the heap's copy goes before the dominators.
  const { analysis, table } = await analyseSnapshot(snapshot, { ...opts, dropHeapCopy: true });
  const graph = resolveGraph(opts.graph, analysis.status.length);
  const known: FrameMap = new Map();
  const suppressed = opts.suppressions
    ? await suppress(snapshot, analysis, table, opts.suppressions, opts.frames, known)
    : undefined;
  const sites = table
    ? await recordedSites(snapshot, analysis, table, {
      sort: opts.sort,
      top: opts.top,
      graph,
      frames: opts.frames,
      known,
    })
    : undefined;
  if (sites) typeBySite(analysis, sites);
  releaseMemory(analysis); // leaked blocks' first bytes are kept; the copy is not needed any more
  await writeOutputs(analysis, sites, suppressed, { ...opts, graph });
  if (!opts.quiet) printSummary(analysis, sites, suppressed, { ...opts, graph }, table);
  const leaks = suppressed ? suppressed.unsuppressed > 0 : analysis.status.some(isLeaked);
  return {
    status: leaks ? EXIT.leaks : EXIT.clean,
    analysis,
    ...(sites ? { sites } : {}),
    ...(table ? { table } : {}),
    ...(suppressed ? { suppressed } : {}),
  };
}

/**
 * Apply the suppression rules. leak: rules read each leaked block's recorded stack: those stacks
 * (only those) are symbolized here, or taken from a snapshot file's saved frames, into `known`,
 * which the sites then reuse. O(recorded blocks + leaked blocks · rules · frames).
 */
async function suppress(
  snapshot: Snapshot,
  analysis: Analysis,
  table: RecorderTable | undefined,
  rules: SuppressionRule[],
  saved: FrameMap | undefined,
  known: FrameMap,
): Promise<SuppressionResult> {
  const stackRules = rules.filter((r) => r.kind === "leak").length;
  if (stackRules > 0 && !table) {
    analysis.heap.warnings.push(
      `${stackRules} leak: suppression rule${stackRules === 1 ? "" : "s"} matched nothing: ` +
        `process ${snapshot.pid} has no recorded allocation stacks (run it under \`heapscope ` +
        "run\`, or with LD_PRELOAD=librecorder.so); type: and size: rules need none",
    );
  }
  if (!table || stackRules === 0) return applySuppressions(analysis, rules);
  const stackAt = new Map<number, number>();
  for (const b of table.blocks) stackAt.set(b.address, b.stack);
  const addresses = analysis.heap.allocations.addresses;
  const pcs = new Set<number>();
  for (let v = 0; v < analysis.status.length; v++) {
    if (!isLeaked(analysis.status[v]!)) continue;
    const stack = table.stacks.get(stackAt.get(addresses[v]!) ?? 0);
    for (const pc of stack?.pcs ?? []) pcs.add(pc);
  }
  const frames = saved
    ? savedFrames(pcs, saved)
    : await symbolize(pcs, snapshot.regions, { pageSize: snapshot.pageSize });
  for (const [pc, f] of frames) known.set(pc, f);
  const cache = new Map<number, StackFrame[]>();
  return applySuppressions(analysis, rules, {
    stackOf: (v) => {
      const id = stackAt.get(addresses[v]!);
      const stack = id === undefined ? undefined : table.stacks.get(id);
      if (!stack) return undefined;
      let f = cache.get(stack.id);
      if (!f) cache.set(stack.id, f = framesOf(stack, frames));
      return f;
    },
  });
}

/**
 * A recorded block with no better type is named by where it was allocated: "malloc in make_tree",
 * the first frame of the program's own code in its stack (report/frame_names.ts). O(nodes).
 */
function typeBySite(analysis: Analysis, sites: LeaksSites): void {
  const nodes = analysis.graph.nodes;
  const names = nodes.typeNames as string[];
  const ids = new Map<string, number>(names.map((n, i) => [n, i]));
  const bySite = new Map<number, number>();
  for (let i = 0; i < nodes.count; i++) {
    const site = sites.site[i] ?? -1;
    if (site < 0 || nodes.type[i] !== -1) continue;
    let t = bySite.get(site);
    if (t === undefined) {
      const fn = userFrame(sites.stacks[site] ?? [])?.frame.function;
      const name = fn ? `malloc in ${shortName(fn, 80)}` : undefined;
      t = -1;
      if (name) {
        t = ids.get(name) ?? names.length;
        if (t === names.length) {
          names.push(name);
          ids.set(name, t);
        }
      }
      bySite.set(site, t);
    }
    nodes.type[i] = t;
  }
}

/** `--graph auto`: every block of a small heap, leaked blocks and their context of a big one. */
export function resolveGraph(graph: OutputOptions["graph"], blocks: number): "all" | "leaked" {
  if (graph !== "auto") return graph;
  return blocks <= AUTO_GRAPH_LIMIT ? "all" : "leaked";
}

/**
 * The blocks the HTML report is made from: those of leaks.json, unless that is every block of a
 * heap bigger than the report's block index embeds (MAX_INDEX_BLOCKS): then the leaked blocks and
 * their context. The report would leave the rest out all the same, and the file's objects for
 * 10^7 blocks took ~3.5 GB and a minute beside the analysis (leaks.json still has every block).
 */
export function reportGraph(
  graph: "all" | "leaked",
  blocks: number,
  max = MAX_INDEX_BLOCKS,
): "all" | "leaked" {
  return graph === "all" && blocks > max ? "leaked" : graph;
}

/** The recorder's table when the process runs under it; a damaged table is a warning, not fatal. */
/**
 * A recorded process's exit snapshot: the thread that runs the recorder's destructor is past
 * main, and below `exitSp` its stack holds only the recorder's own frames (what write_dump left
 * there kept a leaked structure alive), its registers the recorder's. Its stack roots start at
 * `exitSp`, with no red zone below, and of its registers only the program counter, the stack and
 * thread pointers stay (none points into the heap). What valgrind's check at exit sees.
 */
function atExit(snapshot: Snapshot, exitSp: number): void {
  for (const t of snapshot.threads) {
    // Its stack: SP below exitSp, in the same mapping.
    const stack = snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
    if (!stack || t.sp > exitSp || exitSp >= stack.end) continue;
    t.sp = exitSp;
    t.belowSpDead = true;
    t.registers = t.registers.filter((r) => /^(rip|rsp|fs_base|pc|sp|tpidr_el0)$/.test(r.name));
  }
}

function recorderTable(
  snapshot: Snapshot,
  warnings: string[],
): RecorderTable & Pick<RecorderTableInfo, "exitSp"> | undefined {
  try {
    return readRecorderTable(snapshot);
  } catch (e) {
    if (!(e instanceof RecorderTableError)) throw e;
    warnings.push(`${e.message}: analysed without allocation stacks`);
    return undefined;
  }
}

/** A table saved in a snapshot file, warned about exactly as `recorderTable` does. */
function savedRecorderTable(
  saved: NonNullable<OutputOptions["recorder"]>,
  warnings: string[],
): RecorderTable | undefined {
  if (saved.problem !== undefined) {
    warnings.push(`${saved.problem}: analysed without allocation stacks`);
  }
  return saved.table;
}

function recordedBlocks(table: RecorderTable): Map<number, { size: number; timeNs: number }> {
  const out = new Map<number, { size: number; timeNs: number }>();
  for (const b of table.blocks) out.set(b.address, { size: b.size, timeNs: b.timeNs });
  return out;
}

/**
 * Sites of a recorded process: the top N rows and the stacks of those rows and of the nodes
 * `graph` writes, symbolized (only those: most recorded stacks are never shown).
 */
export async function recordedSites(
  snap: Snapshot,
  analysis: Analysis,
  table: RecorderTable,
  opts: {
    sort: SiteSort;
    top: number;
    graph: "all" | "leaked";
    frames?: FrameMap;
    /** Return addresses symbolized already (by the suppressions): not symbolized again. */
    known?: FrameMap;
  },
): Promise<LeaksSites & { keptRows: LeaksSites["sites"] }> {
  const selection = selectSites(analysis, table, {
    sort: opts.sort,
    top: opts.top,
    written: opts.graph === "leaked" ? selectNodes(analysis, "leaked") : undefined,
  });
  const known = opts.known ?? new Map();
  const pcs = [...selectedPcs(selection)].filter((pc) => !known.has(pc));
  const frames = opts.frames
    ? savedFrames(pcs, opts.frames)
    : await symbolize(pcs, snap.regions, { pageSize: snap.pageSize });
  for (const [pc, f] of known) frames.set(pc, f);
  return withFrames(selection, frames);
}

/** The frames of `pcs` from a saved map; a pc it lacks gets a bare frame, as symbolize() does. */
function savedFrames(pcs: Iterable<number>, saved: FrameMap): FrameMap {
  const out: FrameMap = new Map();
  for (const pc of pcs) {
    out.set(pc, (saved.get(pc) ?? [{ pc: "0x" + pc.toString(16) }]).map((f) => ({ ...f })));
  }
  return out;
}

/** leaks.json, then the HTML report and the flame graph; atomically, interrupt-guarded. */
async function writeOutputs(
  analysis: Analysis,
  sites: (LeaksSites & { keptRows?: LeaksSites["sites"] }) | undefined,
  suppressions: SuppressionResult | undefined,
  opts: OutputOptions & { graph: "all" | "leaked" },
): Promise<void> {
  const guard = onInterrupt(removePendingTemps);
  try {
    opts.progress.update("write json", 0, 1);
    const t0 = performance.now();
    const json = { graph: opts.graph, sites, redact: opts.redact ?? false, suppressions };
    await writeAtomic(opts.output, leaksJsonChunks(analysis, json));
    analysis.phaseMs["write-json"] = performance.now() - t0;
    if (opts.html) {
      opts.progress.update("write html", 0, 1);
      const t1 = performance.now();
      const graph = reportGraph(opts.graph, analysis.status.length);
      await writeHtmlReport(toLeaksFile(analysis, { ...json, graph }), opts.html);
      analysis.phaseMs["write-html"] = performance.now() - t1;
    }
    if (opts.flameGraph && sites) {
      await writeAtomic(
        opts.flameGraph,
        foldedStacks(sites.keptRows ?? sites.sites, sites.stacks, "leaked"),
      );
    }
  } finally {
    opts.progress.done();
    await guard.release();
  }
}

function printSummary(
  analysis: Analysis,
  sites: LeaksSites | undefined,
  suppressions: SuppressionResult | undefined,
  opts: OutputOptions & { graph: "all" | "leaked" },
  table: RecorderTable | undefined,
): void {
  const outputs = [{
    label: "json",
    path: opts.output === "-" ? "(standard output)" : opts.output,
  }];
  if (opts.html) outputs.push({ label: "html", path: opts.html });
  if (opts.flameGraph && sites) outputs.push({ label: "flame graph", path: opts.flameGraph });
  const n = analysis.status.length;
  const graphNote = opts.graph === "leaked"
    ? `leaks.json holds the leaked blocks and their context, not all ${
      formatCount(n)
    } blocks: --graph all writes every block`
    : opts.html && reportGraph(opts.graph, n) === "leaked"
    ? `the report holds the leaked blocks and their context: all ${
      formatCount(n)
    } blocks are more than it embeds (${formatCount(MAX_INDEX_BLOCKS)}); leaks.json has every one`
    : undefined;
  // With leaks.json on standard output the summary goes to stderr.
  const print = opts.output === "-" ? console.error : console.log;
  if (table) {
    print(
      `recorded      ${formatCount(table.blocks.length)} live blocks, ${
        formatCount(table.stacks.size)
      } stacks (${sites?.stacks.length ?? 0} kept)`,
    );
  }
  print(
    formatSummary(analysis, { outputs, top: opts.top, color: opts.color, graphNote, suppressions }),
  );
  // With suppressions, a site whose every leak is suppressed is not listed (LSan omits them too).
  let unsuppressedSite: Uint8Array | undefined;
  if (sites && suppressions) {
    unsuppressedSite = new Uint8Array(sites.stacks.length);
    for (let v = 0; v < analysis.status.length; v++) {
      const site = sites.site[v] ?? -1;
      if (site >= 0 && isLeaked(analysis.status[v]!) && suppressions.rule[v]! < 0) {
        unsuppressedSite[site] = 1;
      }
    }
  }
  const leakedSites =
    sites?.sites.filter((r) =>
      r.leakedCount > 0 && (!unsuppressedSite || unsuppressedSite[r.site])
    ) ?? [];
  if (sites && leakedSites.length > 0) {
    print(`Top leaking sites (by ${opts.sort === "count" ? "count" : "size"}):`);
    print(formatSites({ ...sites, sites: leakedSites }));
  }
}
