// nativeGraph(): the HeapGraph of a native heap from the scan's references and the live bytes.
//
// A reference counts when its word lies in its holder's live bytes (requested size, container
// capacity in use) and is not a skipped word; each is flagged weak (a root that is weak evidence,
// a word that may be malloc's slack or a pool's spare part) and interior (not to its target's
// start). O(references).

import { f64Array, i32Array, releaseArrays, u32Array, u8Array } from "./arrays.ts";
import type { AllocationTable } from "./allocation_table.ts";
import {
  EDGE_INTERIOR,
  EDGE_WEAK,
  type GraphRoots,
  type HeapGraph,
  type RootEntry,
} from "./graph.ts";
import type { MemoryImage } from "./memory.ts";
import type { RegisterRoot, RootRange } from "./roots.ts";
import type { EdgeSet, RangeHits } from "./scan.ts";
import {
  firstWord,
  type OffsetsKernel,
  SegmentCursor,
  type Segments,
  unpackFlags,
  unpackOffsets,
} from "./edge_words.ts";

export interface NativeGraphInput {
  memory: MemoryImage;
  allocations: AllocationTable;
  blockEdges: EdgeSet;
  rootHits: RangeHits;
  rootRanges: readonly RootRange[];
  registerHits: readonly { reg: RegisterRoot; target: number }[];
  /** Live bytes of each node: words at or past it are not references. */
  scanSize: Float64Array;
  /** Offset in each node from which words are weak evidence. */
  weakFrom: Uint32Array;
  /** Words that hold no reference. */
  skipped: ReadonlySet<number>;
  /** What each block is (analysis/block_types.ts). */
  types?: { type: Int32Array; names: string[] };
  /** unpackOffsets in native code (the kernel's), else edge_words.ts's. */
  unpackOffsets?: OffsetsKernel;
  /** The edges' pass below in native code (the kernel's), else the TypeScript loop. */
  compact?: CompactKernel;
}

/**
 * nativeGraph's pass over the scan's edges (n blocks) in native code, with the same output (ffi/
 * graph_kernel.ts): keeps, in place, the edges whose word is live and not skipped (`skip`: the
 * skipped words' addresses, ascending), flags them weak from `weakFrom`, renumbers the segment
 * list. Returns the edges and the segment entries kept.
 */
export type CompactKernel = (
  n: number,
  edges: EdgeSet,
  addresses: Float64Array,
  scanSize: Float64Array,
  weakFrom: Uint32Array,
  skip: Float64Array,
) => { edges: number; segments: number };

/**
 * A native heap's graph while its copy is still there: the edges' offsets and flags are 16-bit
 * words (analysis/edge_words.ts), 3 bytes an edge less than `GraphEdges` at the run's peak.
 * `unpackFlags` and then `unpackOffsets` make the graph's plain columns (analysis/analyze.ts calls
 * them before reachability and after the copy is dropped).
 */
export interface PackedGraph {
  graph: HeapGraph;
  /** The edges' words: flags in bits 0–1 (EDGE_WEAK, EDGE_INTERIOR), k mod 2^14 above them. */
  word: Uint16Array;
  segments: Segments;
  /** Fill `graph.edges.flags` from the words (before reachability). O(edges). */
  unpackFlags(): void;
  /** Fill `graph.edges.offset` from the words and give the words back. O(edges). */
  unpackOffsets(): void;
}

/**
 * The graph. `blockEdges` is consumed: the edges that count are compacted in place into its
 * arrays (at 10^6 blocks a copy would be ~30 MB of fresh memory), which the graph then holds (its
 * words get the weak flag); nothing may read the scan's edges afterwards. The graph's `offset` and
 * `flags` columns are empty until PackedGraph's unpack calls fill them.
 */
export function nativeGraph(input: NativeGraphInput): PackedGraph {
  const { memory, allocations, blockEdges: be, scanSize, weakFrom, skipped } = input;
  const n = allocations.length;
  const addresses = allocations.addresses, sizes = allocations.sizes;
  const target = be.target, word = be.word, start = be.start, segs = be.segments;
  const skip = Float64Array.from(skipped).sort();
  const { edges: m, segments: sm } = (input.compact ?? compactEdges)(
    n,
    be,
    addresses,
    scanSize,
    weakFrom,
    skip,
  );
  const segments: Segments = { edge: segs.edge, segment: segs.segment, count: sm };
  const words = word.subarray(0, m);
  const edges: { start: Uint32Array; target: Uint32Array; offset: Uint32Array; flags: Uint8Array } =
    { start, target: target.subarray(0, m), offset: new Uint32Array(0), flags: new Uint8Array(0) };
  const graph: HeapGraph = {
    nodes: {
      count: n,
      address: addresses,
      size: sizes,
      zone: allocations.zoneIds,
      zoneNames: allocations.zones,
      type: input.types?.type ?? i32Array(n).fill(-1),
      typeNames: input.types?.names ?? [],
      // Node flags are the Go heap dump's (finalizers): none here, and sparse, so not resident.
      flags: u8Array(n, true),
    },
    edges,
    roots: graphRoots(input),
    bytes: (id, max) => memory.slice(addresses[id]!, Math.min(max, allocations.sizes[id]!)),
    warnings: [],
  };
  return {
    graph,
    word: words,
    segments,
    unpackFlags() {
      const flags = u8Array(m);
      unpackFlags(words, flags);
      edges.flags = flags;
    },
    unpackOffsets() {
      const offset = u32Array(m);
      (input.unpackOffsets ?? unpackOffsets)(words, segments, start, addresses, offset);
      edges.offset = offset;
      releaseArrays(word);
    },
  };
}

/**
 * nativeGraph's pass over the scan's edges (CompactKernel; shim/graph_kernel.c has the same). In
 * place, in the scan's arrays: edge m is written only after edge e ≥ m was read, and block v's
 * start after its old start and end were read; the segment list likewise (a kept entry is written
 * at or before the first one not yet read). Fresh arrays were 5 bytes an edge more at this, the
 * run's second peak (the copy still resident). O(edges).
 */
export function compactEdges(
  n: number,
  be: EdgeSet,
  addresses: Float64Array,
  scanSize: Float64Array,
  weakFrom: Uint32Array,
  skip: Float64Array,
): { edges: number; segments: number } {
  const target = be.target, word = be.word, start = be.start, segs = be.segments;
  const cursor = new SegmentCursor(segs);
  // The skipped words (ascending) walked beside the blocks (ascending too): only a block that
  // holds one looks its edges' words up (a set lookup per edge was ~25 ms at 3·10^6 edges).
  let si = 0;
  let m = 0, sm = 0;
  for (let v = 0; v < n; v++) {
    const from = start[v]!, end = start[v + 1]!;
    start[v] = m;
    const limit = scanSize[v]!, weak = weakFrom[v]!, base = addresses[v]!;
    while (si < skip.length && skip[si]! < base) si++;
    const skips = si < skip.length && skip[si]! < base + limit;
    const first = firstWord(base);
    let kept = 0;
    for (let e = from; e < end; e++) {
      const w = word[e]!;
      const off = cursor.offset(e, w, from, first);
      if (off + 8 > limit) continue;
      if (skips) {
        const where = base + off;
        let j = si;
        while (j < skip.length && skip[j]! < where) j++;
        if (skip[j] === where) continue;
      }
      target[m] = target[e]!;
      // Interior as the scan said; weak from the slack on.
      word[m] = (w & ~EDGE_WEAK) | (off >= weak ? EDGE_WEAK : 0);
      // The kept edges' segments: an entry where one enters a segment past the block's first.
      if (cursor.segment !== kept) {
        kept = cursor.segment;
        segs.edge[sm] = m;
        segs.segment[sm++] = kept;
      }
      m++;
    }
  }
  start[n] = m;
  return { edges: m, segments: sm };
}

/** Root references: one entry per root range and per (thread, register). */
function graphRoots(input: NativeGraphInput): GraphRoots {
  const { memory, allocations, rootHits: hits, rootRanges, registerHits, skipped } = input;
  const entries: RootEntry[] = rootRanges.map((r) => ({
    kind: r.kind,
    ...(r.thread !== undefined ? { thread: r.thread } : {}),
    ...(r.image !== undefined ? { image: r.image } : {}),
  }));
  const count = hits.target.length + registerHits.length;
  const words = memory.wordReader();
  const entry = u32Array(count), where = f64Array(count);
  const target = u32Array(count), flags = u8Array(count);
  let k = 0;
  for (let h = 0; h < hits.target.length; h++) {
    const w = hits.address[h]!;
    if (skipped.size > 0 && skipped.has(w)) continue;
    const range = rootRanges[hits.range[h]!]!;
    const t = hits.target[h]!;
    entry[k] = hits.range[h]!;
    where[k] = w;
    target[k] = t;
    flags[k] = (range.weak ? EDGE_WEAK : 0) |
      (words.u64(w) === allocations.addresses[t] ? 0 : EDGE_INTERIOR);
    k++;
  }
  for (const { reg, target: t } of registerHits) {
    entry[k] = entries.length;
    entries.push({ kind: "register", name: reg.name, thread: reg.thread });
    where[k] = 0;
    target[k] = t;
    flags[k] = (reg.weak ? EDGE_WEAK : 0) |
      (reg.value === allocations.addresses[t] ? 0 : EDGE_INTERIOR);
    k++;
  }
  return {
    entries,
    entry: entry.subarray(0, k),
    where: where.subarray(0, k),
    target: target.subarray(0, k),
    flags: flags.subarray(0, k),
  };
}
