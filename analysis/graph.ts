// HeapGraph: the one graph every input becomes (a native heap, a saved snapshot, a core file, a Go
// heap dump). Everything after it (reachability, classification, cycles, dominators, types, diff,
// report) reads only this; each input has its own builder (analysis/build_graph.ts for native
// heaps, analysis/go/ for Go heap dumps).
//
// Columns, not objects: at 10^6 nodes an object per node costs ~100 bytes of V8 heap, the columns
// ~30. Node ids are dense indexes into the columns, sorted by address.

/** Where a root reference was found. */
export type RootKind =
  | "data" // a writable segment of a loaded image (.data, .bss, GOT), or Go's data/bss segments
  | "stack" // a thread's stack, or a Go goroutine's stack frame
  | "register" // a thread's register
  | "tls" // thread-local storage
  | "finalizer" // Go: an object a queued finalizer will run with, or a finalizer's closure
  | "other"; // other writable memory that is not heap

/** Bits of `GraphNodes.flags`. */
export const NODE_FINALIZER = 1; // Go: the object has a finalizer (set with runtime.SetFinalizer)

export interface GraphNodes {
  readonly count: number;
  /** Start address of each node, sorted ascending, non-overlapping. */
  readonly address: Float64Array;
  /** Bytes: the usable size of a malloc block, the size of a Go object. */
  readonly size: Float64Array;
  /** Index into `zoneNames` ("main-arena", "arena 0x…", "mmap", a malloc zone, "go heap"). */
  readonly zone: Uint16Array;
  readonly zoneNames: readonly string[];
  /** Index into `typeNames`, -1 when unknown. */
  readonly type: Int32Array;
  readonly typeNames: readonly string[];
  /** NODE_* bits. */
  readonly flags: Uint8Array;
}

/** Every node→node reference, grouped by source (CSR): the edges of v are start[v]..start[v+1]. */
export interface GraphEdges {
  readonly start: Uint32Array;
  readonly target: Uint32Array;
  /** Byte offset of the pointer inside the source node. */
  readonly offset: Uint32Array;
  /** EDGE_* bits per edge; absent: every edge strong and to its target's start. */
  readonly flags?: Uint8Array;
}

/** Bits of `GraphEdges.flags` and `GraphRoots.flags`. */
export const EDGE_WEAK = 1; // weak evidence: the target is only "possibly hidden" through it
export const EDGE_INTERIOR = 2; // points inside its target, not at its start

/** A named place that holds root references: an image segment, a stack, a register, a Go frame. */
export interface RootEntry {
  kind: RootKind;
  /** What it is, when known: "g_registry", "main.main frame", "rdi", "BssSegment". */
  name?: string;
  /** Thread (Linux tid) or goroutine id. */
  thread?: number;
  /** Image path for data roots. */
  image?: string;
}

/** Every root reference: one per word or register that points into a node. */
export interface GraphRoots {
  readonly entries: readonly RootEntry[];
  /** Per reference: index into `entries`. */
  readonly entry: Uint32Array;
  /** Per reference: address of the word holding the pointer (0 for a register). */
  readonly where: Float64Array;
  /** Per reference: the node it points into. */
  readonly target: Uint32Array;
  /** Per reference: EDGE_* bits (weak evidence, interior); absent: all strong, to starts. */
  readonly flags?: Uint8Array;
}

export interface HeapGraph {
  nodes: GraphNodes;
  edges: GraphEdges;
  roots: GraphRoots;
  /** The bytes of node `id` (at most `max`), when the input has them (for hexdumps). */
  bytes?: (id: number, max: number) => Uint8Array | undefined;
  warnings: string[];
}
