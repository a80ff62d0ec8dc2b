// Edge words: a native heap's per-edge offset and flags in 16 bits, until the heap's copy is gone.
//
// The scan's edges are the biggest thing beside the heap's copy at the run's peak (recognise pass,
// graph, reachability: three edges a block on the 10^7-block workload of bench/big_heap.sh). As a
// 32-bit offset and an 8-bit flags byte they cost 5 bytes an edge; as one 16-bit word, 2:
//
//   bits 0–1   EDGE_WEAK, EDGE_INTERIOR (analysis/graph.ts): the scan sets INTERIOR, the graph WEAK
//   bits 2–15  k mod 2^14, where k is the word's index among the block's 8-byte-aligned words
//
// The offset is then firstWord(address) + 8 · k. In a block of more than 2^14 words (128 KiB) k
// needs more bits: the segment list says, for the first edge of the block in each 2^14-word
// segment after the first, which segment (k >> 14) that is. A pointer array of 80 MB has ~610 such
// entries; a block under 128 KiB has none. shim/scan_kernel.c and shim/recognise_kernel.c write
// and read the same layout (EDGE_WORD_* there). Once the copy is dropped, the graph gets plain
// 32-bit offsets and flags again (analysis/analyze.ts), which every later reader uses.

import { grownU32, u32Array } from "./arrays.ts";
import { lastAtOrBelow } from "./sorted.ts";

/** Bits of k in an edge word; a segment is 2^SEGMENT_BITS words. */
export const SEGMENT_BITS = 14;
/** Bytes a block may have for its words never to need the segment list. */
export const ONE_SEGMENT_BYTES = (1 << SEGMENT_BITS) * 8;
/** The flag bits of an edge word (EDGE_WEAK | EDGE_INTERIOR). */
export const WORD_FLAGS = 3;

/**
 * Where a block's edges enter a 2^14-word segment past its first: edge index (ascending) and the
 * segment (k >> 14) of that edge and the block's next ones, up to the next entry or the block's end.
 */
export interface Segments {
  edge: Uint32Array;
  segment: Uint32Array;
  count: number;
}

/** Offset of a block's first 8-byte-aligned word (0 for an aligned block, as malloc's are). */
export function firstWord(address: number): number {
  return Math.ceil(address / 8) * 8 - address;
}

/** The edge word of the block's k-th aligned word, with `flags`. */
export function edgeWord(k: number, flags: number): number {
  return ((k % (1 << SEGMENT_BITS)) << 2) | flags;
}

/** The segment of edge e, the first of its block being `first`. O(log segments). */
export function segmentOf(segments: Segments, first: number, e: number): number {
  const i = lastAtOrBelow(segments.count, (j) => segments.edge[j]!, e);
  return i >= 0 && segments.edge[i]! >= first ? segments.segment[i]! : 0;
}

/**
 * Edge e's byte offset in block v (at `address`; edges of v from start[v]). O(1) for a block of
 * at most ONE_SEGMENT_BYTES, O(log segments) otherwise.
 */
export function wordOffset(
  words: Uint16Array,
  segments: Segments,
  start: Uint32Array,
  v: number,
  address: number,
  size: number,
  e: number,
): number {
  const low = words[e]! >>> 2;
  const segment = size > ONE_SEGMENT_BYTES ? segmentOf(segments, start[v]!, e) : 0;
  return firstWord(address) + 8 * (segment * (1 << SEGMENT_BITS) + low);
}

/** A segment list being filled in edge order (the TypeScript scan; the C scan fills the arrays). */
export class SegmentList implements Segments {
  edge: Uint32Array;
  segment: Uint32Array;
  count = 0;
  constructor(cap = 1024) {
    this.edge = u32Array(cap);
    this.segment = u32Array(cap);
  }

  push(e: number, segment: number): void {
    if (this.count === this.edge.length) this.grow();
    this.edge[this.count] = e;
    this.segment[this.count++] = segment;
  }

  /** Twice the room, the entries kept. */
  grow(): void {
    const cap = this.edge.length * 2;
    this.edge = grownU32(this.edge, cap);
    this.segment = grownU32(this.segment, cap);
  }
}

/**
 * Edges of one block being written in word order: adds the segment list's entry when an edge
 * starts a new segment (the TypeScript scans; shim/scan_kernel.c keeps the same state).
 */
export class SegmentWriter {
  #block = -1;
  #segment = 0;
  constructor(readonly list: SegmentList) {}

  /** Edge m, block v's k-th aligned word: its edge word (flags added by the caller). */
  word(m: number, v: number, k: number): number {
    const segment = Math.floor(k / (1 << SEGMENT_BITS));
    if (v !== this.#block) {
      this.#block = v;
      this.#segment = 0;
    }
    if (segment !== this.#segment) {
      this.list.push(m, segment);
      this.#segment = segment;
    }
    return edgeWord(k, 0);
  }
}

/**
 * Offsets of edges read in ascending order, block after block (the sequential twin of wordOffset:
 * O(1) an edge, the segment list read once over all calls).
 */
export class SegmentCursor {
  #s = 0;
  #from = -1;
  /** The segment of the last edge asked for. */
  segment = 0;
  constructor(readonly segments: Segments) {}

  /** Edge e's byte offset, its word being `w`, in the block whose edges start at `from` and whose
   * first aligned word is at `first` (firstWord). */
  offset(e: number, w: number, from: number, first: number): number {
    const segs = this.segments;
    if (from !== this.#from) {
      this.#from = from;
      this.segment = 0;
    }
    while (this.#s < segs.count && segs.edge[this.#s]! <= e) {
      if (segs.edge[this.#s]! >= from) this.segment = segs.segment[this.#s]!;
      this.#s++;
    }
    return first + 8 * (this.segment * (1 << SEGMENT_BITS) + (w >>> 2));
  }
}

/** The 8-bit flags of every edge, from the words. O(edges). */
export function unpackFlags(words: Uint16Array, flags: Uint8Array): void {
  for (let e = 0; e < words.length; e++) flags[e] = words[e]! & WORD_FLAGS;
}

/** unpackOffsets in native code (ffi/graph_kernel.ts): the same offsets. */
export type OffsetsKernel = typeof unpackOffsets;

/** The 32-bit offsets of every edge (CSR `start` over blocks at `addresses`), from the words. */
export function unpackOffsets(
  words: Uint16Array,
  segments: Segments,
  start: Uint32Array,
  addresses: Float64Array,
  offset: Uint32Array,
): void {
  const cursor = new SegmentCursor(segments);
  for (let v = 0; v < start.length - 1; v++) {
    const from = start[v]!, to = start[v + 1]!;
    const first = firstWord(addresses[v]!);
    for (let e = from; e < to; e++) offset[e] = cursor.offset(e, words[e]!, from, first);
  }
}
