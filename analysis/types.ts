// The types every analysis phase shares: the Snapshot copied from a target and the analysis result.
//
// Addresses are plain numbers: user-space addresses are at most 48 bits (x86_64) or 47 bits after
// PAC stripping (arm64), so they fit a double exactly. Keep BigInt out of hot loops.

import type { AllocationTable } from "./allocation_table.ts";
import type { BlockPrefixes } from "./block_prefixes.ts";
import type { HeapGraph, RootKind } from "./graph.ts";

export type { RootKind } from "./graph.ts";

export type Platform = "linux" | "darwin";
export type Arch = "x86_64" | "aarch64";

/** One line of /proc/PID/maps (or one mach_vm_region on macOS). */
export interface Region {
  start: number;
  end: number;
  /** "rwxp" style, four characters. */
  perms: string;
  offset: number;
  inode: number;
  /** File path, "[heap]", "[stack]", "[vdso]", ... or "" for anonymous memory. */
  path: string;
}

/** A contiguous range of target memory that was copied. */
export interface MemoryChunk {
  start: number;
  bytes: Uint8Array;
}

/** A loaded ELF (Linux) or Mach-O (macOS) image. */
export interface Image {
  path: string;
  /** Load bias: runtime address = bias + vaddr. */
  bias: number;
  /** Writable segments at runtime addresses ([start, end)), the "data" roots. */
  writable: { start: number; end: number }[];
  /** GNU build-id in hex, when the image has one. */
  buildId?: string;
  /**
   * Symbols known for this image (name → runtime address), from .symtab/.dynsym or a debug file.
   * Only the few the analysis asks for are carried (see ffi/), not the whole table.
   */
  symbols?: Record<string, number>;
  /** Sizes of the symbols above, when known. */
  symbolSizes?: Record<string, number>;
}

export interface ThreadState {
  tid: number;
  /** Stack pointer and program counter. */
  sp: number;
  pc: number;
  /** Thread pointer: fs_base on x86_64, tpidr_el0 on aarch64, 0 when unknown. */
  tp: number;
  /** Every general-purpose (and vector, when available) register word, as numbers (low 64 bits). */
  registers: { name: string; value: number }[];
  /**
   * The words just below `sp` are not this thread's live data: a recorded process's exit snapshot
   * moves `sp` up past the recorder's own frames (cli/pipeline.ts atExit). No red zone then.
   */
  belowSpDead?: boolean;
}

/** An allocation as the allocator sees it. `address` is what malloc returned. */
export interface Allocation {
  address: number;
  /** Usable size. */
  size: number;
  /** Zone: "main-arena", "arena 0x7f..", "mmap" (glibc) or a malloc zone name (macOS). */
  zone: string;
}

/** Allocator bookkeeping that must never be scanned as a root: [start, end). */
export interface ExcludedRange {
  start: number;
  end: number;
  why: string;
}

/** A positional reader of a file: `length` bytes at `offset` (fewer at the end of the file). */
export type FileReader = (offset: number, length: number) => Uint8Array;

/**
 * The files of loaded images, for what the copied memory lacks: symbol tables (root names),
 * read-only data (C++ type names), call frame information (stack frames). ffi/ reads them from
 * disk; a saved snapshot carries them.
 */
export interface ImageFiles {
  /** A reader of the ELF file of image `path`, or undefined when it cannot be read. */
  open(path: string): FileReader | undefined;
}

/** What the allocator parser found. */
export interface HeapEnumeration {
  /** e.g. "glibc 2.36 malloc". */
  allocator: string;
  /** Sorted by address, non-overlapping; columns, not objects (node id = row). */
  allocations: AllocationTable;
  /** Ranges of allocator metadata (arena structs, mp_, tcache structs, heap_info, ...). */
  excluded: ExcludedRange[];
  /** Ranges that hold heap memory (arena heaps, mmapped chunks): never scanned as roots. */
  heapRanges: { start: number; end: number }[];
  /** Things the parser noticed: corrupt chunks, skipped zones, fallbacks used. */
  warnings: string[];
}

/** Everything copied out of the target while it was stopped. */
export interface Snapshot {
  pid: number;
  command: string;
  platform: Platform;
  arch: Arch;
  pageSize: number;
  capturedAt: string;
  /** Time the target was stopped, in milliseconds. */
  pauseMs: number;
  regions: Region[];
  /** Copied memory, sorted by start, non-overlapping. */
  memory: MemoryChunk[];
  threads: ThreadState[];
  images: Image[];
  /** Auxiliary vector entries (type → value), Linux only. */
  auxv?: Record<number, number>;
  /**
   * Allocations enumerated inside the target (macOS zones, whose enumerator runs in-process).
   * Absent on Linux, where analysis/ parses glibc's structures from `memory`.
   */
  zoneAllocations?: Allocation[];
  /** Allocator found by the capture layer when it is not glibc's (e.g. "jemalloc"). */
  foreignAllocator?: string;
  /**
   * Linux: how many times the capture let the target run again for a few ms and re-stopped it
   * because a thread was stopped inside a malloc function (0 or absent: the first stop was used).
   */
  allocatorRetries?: number;
  /**
   * Linux: rounds in which the threads found inside a malloc function ran alone (PTRACE_CONT, then
   * PTRACE_INTERRUPT; the other threads staying stopped) to leave it before copying.
   */
  allocatorSteps?: number;
  /**
   * Linux: the capture's steps, ms. Before the stop: `prepare` (the maps, the ELF files, the copy's
   * plan) and `buffers` (the copy's destination faulted in: fresh memory, which some VMs back at
   * 1–2 ms per MB the first time). The pause (`pauseMs`) split in two: `stop` (the attach, the maps
   * and registers read again, the allocator check, the plan) and `copy`. Written with the
   * analysis's phases in leaks.json.
   */
  captureMs?: { prepare: number; buffers: number; stop: number; copy: number };
  /**
   * Linux: the machine's steal time from just before the stop to just after the resume, ms (10 ms
   * steps, all CPUs together; ffi/procfs.ts stealMs): CPU time a hypervisor took while the target
   * was stopped, which makes the pause longer.
   */
  pauseStealMs?: number;
  /** Anything the capture noticed: unreadable pages, threads that vanished. */
  warnings: string[];
}

/**
 * reachable: a root reaches it; possible: only weak evidence reaches it ("possibly hidden": a leak
 * if that evidence is stale); leaked: nothing reaches it; cycle: leaked and in a cycle.
 */
export type NodeStatus = "reachable" | "leaked" | "cycle" | "possible";
export type LeakKind = "direct" | "indirect";

/** `Analysis.status` codes (one byte per node, not a string array): index into NODE_STATUS. */
export const STATUS_REACHABLE = 0;
export const STATUS_LEAKED = 1;
export const STATUS_CYCLE = 2;
export const STATUS_POSSIBLE = 3;
export const NODE_STATUS: readonly NodeStatus[] = ["reachable", "leaked", "cycle", "possible"];
/** `Analysis.leak` codes: 0 for reachable nodes, else index into LEAK_KIND. */
export const LEAK_NONE = 0;
export const LEAK_DIRECT = 1;
export const LEAK_INDIRECT = 2;
export const LEAK_KIND: readonly (LeakKind | undefined)[] = [undefined, "direct", "indirect"];

/** Whether status code `s` is a leak (leaked or in a leaked cycle). */
export function isLeaked(s: number): boolean {
  return s === STATUS_LEAKED || s === STATUS_CYCLE;
}

export interface RootRef {
  kind: RootKind;
  thread?: number;
  image?: string;
  /** Where the pointer was found (for registers: 0, the register name is in `register`). */
  address: number;
  register?: string;
  /** Node id it points into. */
  target: number;
  /** Weak evidence (a vector register, the red zone below SP). */
  weak?: boolean;
  /** What holds it: "g_registry+0x8 in ./server", "make_tree frame in thread 12", "rbx of thread 12". */
  name?: string;
}

/** What the graph phases find (reachability, leaks, cycles), for any input. */
export interface GraphAnalysis {
  graph: HeapGraph;
  /** Per node: status code (STATUS_*; names in NODE_STATUS) and leak kind (LEAK_*; LEAK_KIND). */
  status: Uint8Array;
  leak: Uint8Array;
  /**
   * Why each reachable (or possible) node is alive: the node id that first reached it in the flood
   * fill, -1 when a root reached it directly, -2 for leaked nodes.
   */
  via: Int32Array;
  /** Per node reached by a root directly: index of that root reference in `graph.roots`; else -1. */
  rootRef: Int32Array;
  /** Leaked cycles (strongly connected components of 2+ leaked nodes, or a self loop). */
  cycles: number[][];
  /**
   * Per leaked node: the direct leak it is counted under (each leaked block under exactly one, so
   * totals per direct leak add up to the leaked total); -1 for other nodes.
   */
  owner: Int32Array;
  /**
   * Dominator tree (analysis/dominators.ts): each node's immediate dominator (a node id, -1 the
   * virtual root above every root, -2 unreachable), and what it retains: its own bytes and blocks
   * plus those of every node it dominates.
   */
  idom?: Int32Array;
  retained?: Float64Array;
  retainedCount?: Uint32Array;
  /**
   * Root holders (one global variable, one stack frame, one register…) in the dominator tree: what
   * each keeps alive that nothing else does. A block whose `idom` is -1 hangs under one of these,
   * or under several (then under the virtual root).
   */
  holders?: { name: string; bytes: number; blocks: number }[];
  /** Per block whose immediate dominator is a holder: that holder's index; else -1. */
  heldBy?: Int32Array;
  phaseMs: Record<string, number>;
}

/** Result of the whole analysis of a native heap. Node ids are indexes into `allocations`. */
export interface Analysis extends GraphAnalysis {
  snapshot: Snapshot;
  heap: HeapEnumeration;
  /** Requested size of each node when a recorder knew it (heapscope run), else -1. */
  requested?: Float64Array;
  /**
   * The first bytes (up to LEAKED_PREFIX_BYTES) of every leaked block, copied out of the snapshot so
   * that its memory can be dropped before the output is written.
   */
  leakedPrefix: BlockPrefixes;
  /**
   * Per block the search reached only through a weak word of its holder (`via`): which rule
   * makes that word weak (analysis/slack_rules.ts weakReason), read before the copy was dropped.
   */
  weakLinks: Map<number, string>;
  /** Edges as parallel arrays: source id, target id, byte offset of the pointer in the source. */
  edgeSource: Uint32Array;
  edgeTarget: Uint32Array;
  edgeOffset: Uint32Array;
  /** First root reference of each root-reached node (one per node, to keep output bounded). */
  roots: RootRef[];
  /** Names on demand: of any root reference (index into graph.roots), of a code or data address. */
  names?: { root(ref: number): string; symbol(address: number): string | undefined };
}
