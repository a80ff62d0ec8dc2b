// leaks.json, the versioned analysis format: types shared by the writer, the reader and the viewer.
//
// Declared here, field by field, and filled by an explicit mapping (report/leaks_json.ts): a
// rename in the analysis types can never change the file format silently.

export const LEAKS_FORMAT = "heapscope-leaks";
/**
 * Version written. 1: the graph. 2: + allocation sites (stacks, sites, timeline). 3: + the
 * "possible" status (possibly hidden by weak evidence), summary.possible/possibleBytes, each direct
 * leak's `held` totals, sites' `directBytes`, roots' `weak` and `name`, edges' `interior`, nodes'
 * `type`, `retained` and `idom`, the `types` and `retainers` tables.
 */
export const LEAKS_VERSION = 3;
// Within version 3, optional and only with --suppressions: `suppressions`, summary.suppressed and
// suppressedBytes, nodes' `suppressed`. A reader that ignores them sees every leak as a leak.
/** Versions read. */
export const LEAKS_READABLE_VERSIONS: readonly number[] = [1, 2, 3];

export interface LeaksTarget {
  pid: number;
  command: string;
  platform: "linux" | "darwin";
  arch: string;
  allocator: string;
}

export interface LeaksSummary {
  allocations: number;
  bytes: number;
  reachable: number;
  leaked: number;
  leakedBytes: number;
  /** Leaked blocks that nothing else leaked holds (see README: a held-by-nobody cycle counts once). */
  direct: number;
  indirect: number;
  cycles: number;
  /** v3: blocks only weak evidence keeps (possibly hidden leaks), and their bytes. */
  possible?: number;
  possibleBytes?: number;
  /**
   * v3, --suppressions: leaked blocks (and bytes) that a rule suppresses; counted in `leaked` too.
   * The exit status counts `leaked - suppressed`.
   */
  suppressed?: number;
  suppressedBytes?: number;
}

/** v3, --suppressions: one rule, as written, and the leaked blocks and bytes it suppressed. */
export interface LeaksSuppression {
  /** "leak:make_tree", "type:^EchoHandler$", "size:40-40". */
  rule: string;
  /** The suppressions file and line. */
  source: string;
  line: number;
  /** Leaked blocks it suppressed (matched, or held by a direct leak it matched), and their bytes. */
  leaks: number;
  bytes: number;
}

export type LeaksNodeStatus = "reachable" | "leaked" | "cycle" | "possible";

export interface LeaksNode {
  id: number;
  /** "0x…", the pointer malloc returned. */
  address: string;
  /** Usable size in bytes. */
  size: number;
  zone: string;
  status: LeaksNodeStatus;
  /** Leaked nodes only. */
  leak?: "direct" | "indirect";
  /** v3, direct leaks only: blocks and bytes of the structure counted under it (itself included). */
  held?: { blocks: number; bytes: number };
  /** Optional: hex of the first bytes of the block (at most 64). */
  bytes?: string;
  /** Reachable nodes: id of the node that holds it alive (absent when a root holds it directly). */
  via?: number;
  /** v2, recorded processes only: index into `stacks`/`sites[].site`, the thread and the age. */
  site?: number;
  thread?: number;
  ageMs?: number;
  /** v3, recorded processes only: the requested size (`size` is the usable size). */
  requested?: number;
  /** v3: index into `types`, when the block's type is known. */
  type?: number;
  /** v3: bytes this block keeps alive (itself and all it dominates); reachable/possible only. */
  retained?: number;
  /** v3: immediate dominator (a node id, or -1: a holder, `heldBy`, or several). */
  idom?: number;
  /** v3: the retainers' holder (index `retainers[].holder`) that dominates it directly. */
  heldBy?: number;
  /**
   * v3, possible nodes reached through a weak word of their `via`: which rule makes that word
   * weak ("the block's last word: malloc's slack, unless all 104 bytes were asked for").
   */
  weakLink?: string;
  /** v3, --suppressions, leaked nodes: index into `suppressions` of the rule that suppresses it. */
  suppressed?: number;
}

/** v3: one type's blocks and bytes, in all and by status. */
export interface LeaksType {
  name: string;
  count: number;
  bytes: number;
  leakedCount: number;
  leakedBytes: number;
  possibleCount: number;
  possibleBytes: number;
}

/**
 * v3: what keeps much alive: a holder in the dominator tree (a global variable, a stack frame, a
 * register: `holder` set, `node` -1), or a block several holders share (`node` its id).
 */
export interface LeaksRetainer {
  node: number;
  /** Index of the holder (the blocks it dominates directly have `heldBy` = this index). */
  holder?: number;
  /** "g_registry in ./server", "make_tree frame in thread 12", or the shared block's type. */
  name: string;
  /** Bytes and blocks it keeps alive, itself included. */
  bytes: number;
  blocks: number;
}

/** v2: one symbolized frame (innermost first); inlined functions give several with one pc. */
export interface LeaksStackFrame {
  /** "0x…" return address (the call is at pc - 1). */
  pc: string;
  function?: string;
  file?: string;
  line?: number;
  column?: number;
  /** Bytes from the start of `function` to `pc`, when known. */
  offset?: number;
  image?: string;
}

/** v2: one allocation site's counters (sizes are requested sizes). */
export interface LeaksSite {
  /** Index into `stacks`. */
  site: number;
  count: number;
  bytes: number;
  peakCount: number;
  peakBytes: number;
  totalCount: number;
  totalBytes: number;
  leakedCount: number;
  leakedBytes: number;
  direct: number;
  /** v3: bytes of the structures this site's direct leaks hold. */
  directBytes?: number;
  oldestMs: number;
  meanAgeMs: number;
  threads: number[];
}

/** v2: live bytes and blocks over time. */
export interface LeaksTimelineSample {
  timeNs: number;
  liveBytes: number;
  liveCount: number;
}

export interface LeaksEdge {
  source: number;
  target: number;
  /** Byte offset of the pointer inside the source block. */
  offset: number;
  /** v3: the pointer points inside the target, not at its start. */
  interior?: true;
  /**
   * v3: weak evidence: a word the program may never have written (malloc's slack past the
   * request, past a C string's NUL, a bump pool's spare part). A block only such words keep is
   * "possible".
   */
  weak?: true;
}

export interface LeaksRoot {
  kind: "data" | "stack" | "register" | "tls" | "finalizer" | "other";
  thread?: number;
  image?: string;
  /** "0x…" where the pointer was found; for registers, the register name. */
  address: string;
  target: number;
  /** v3: weak evidence (a vector register, the red zone below SP). */
  weak?: true;
  /** v3: what holds it: "g_registry+0x8 in ./server", "make_tree frame in thread 12", "rbx of thread 12". */
  name?: string;
}

/** Aggregated counts for what the node list leaves out (`--graph leaked`). */
export interface LeaksOmitted {
  nodes: number;
  bytes: number;
  edges: number;
}

export interface LeaksFile {
  format: typeof LEAKS_FORMAT;
  version: 1 | 2 | 3;
  target: LeaksTarget;
  capturedAt: string;
  pauseMs: number;
  /**
   * Linux: steal time (a hypervisor's) on the machine's CPUs, all together, from just before the
   * stop to just after the resume, ms, in 10 ms steps: what made the pause longer that heapscope
   * cannot help.
   */
  pauseStealMs?: number;
  summary: LeaksSummary;
  nodes: LeaksNode[];
  edges: LeaksEdge[];
  cycles: number[][];
  roots: LeaksRoot[];
  /**
   * Phase timings in ms: the capture's (Linux: prepare and buffers before the stop, then stop and
   * copy, which add up to pauseMs), then the analysis's (enumerate, index, scan, graph, ...).
   */
  phases?: Record<string, number>;
  /** Warnings from capture and enumeration. */
  warnings?: string[];
  /** Present when the node list is not every allocation. */
  omitted?: LeaksOmitted;
  /** v3: blocks and bytes by type (every block, not only the written ones), biggest first. */
  types?: LeaksType[];
  /** v3: what keeps the most alive, biggest first (at most --top × 5). */
  retainers?: LeaksRetainer[];
  /** v3, --suppressions: every rule in file order, with what it suppressed (0 when nothing). */
  suppressions?: LeaksSuppression[];
  /** v2, recorded processes only (`heapscope run`, or a pid started under it). */
  stacks?: LeaksStackFrame[][];
  sites?: LeaksSite[];
  omittedSites?: number;
  timeline?: LeaksTimelineSample[];
}
