// Conservative scan: every 8-byte-aligned word of a range that points into a block is a reference.
//
// O(words) per range; each word costs two 32-bit loads and a range check, and only values inside the
// heap's address span reach the index lookup. Words are read as two Uint32 halves (no BigInt).

import { grownU16, grownU32, u16Array, u32Array } from "./arrays.ts";
import { EDGE_INTERIOR } from "./graph.ts";
import { type OffsetsKernel, SegmentList, type Segments, SegmentWriter } from "./edge_words.ts";
import type { AllocationIndex, IndexKernel } from "./alloc_index.ts";
import type { AllocationTable } from "./allocation_table.ts";
import type { MemoryImage } from "./memory.ts";
import type { DominatorKernel } from "./dominators.ts";
import type { FloodKernel } from "./classify.ts";
import type { CompactKernel } from "./build_graph.ts";
import type { WalkKernel } from "./glibc/chunks.ts";
import type { RecogniseKernel } from "./recognise_kernel.ts";
import type { MemoryChunk } from "./types.ts";

const TWO32 = 4294967296;

/** A growable Uint32Array. */
export class U32Vec {
  data = u32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = u32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  toArray(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

const wordViews = new WeakMap<MemoryChunk, Uint32Array>();

/** A Uint32Array over a chunk's bytes (copied once when the bytes are not 4-aligned). */
function wordsOf(chunk: MemoryChunk): Uint32Array {
  let w = wordViews.get(chunk);
  if (!w) {
    const b = chunk.bytes;
    const bytes = b.byteOffset % 4 === 0 ? b : b.slice();
    w = new Uint32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 4));
    wordViews.set(chunk, w);
  }
  return w;
}

/**
 * Scan [start, end) of copied memory and call `hit(wordAddress, blockId)` for every word that points
 * into a block. Parts of the range that were not copied are skipped. Returns the bytes scanned.
 */
export function scanRange(
  memory: MemoryImage,
  index: AllocationIndex,
  start: number,
  end: number,
  hit: (wordAddress: number, block: number) => void,
): number {
  let scanned = 0;
  for (const { chunk, from, to } of memory.copiedParts(start, end)) {
    scanned += scanWords(wordsOf(chunk), chunk.start, from, to, index, hit);
  }
  return scanned;
}

/** The word loop: `base` is the address of words[0]; scans [from, to) (from 8-aligned). */
function scanWords(
  words: Uint32Array,
  base: number,
  from: number,
  to: number,
  index: AllocationIndex,
  hit: (wordAddress: number, block: number) => void,
): number {
  const min = index.min, max = index.max;
  const minHi = Math.floor(min / TWO32), maxHi = Math.floor((max - 1) / TWO32);
  const k0 = (from - base) / 4; // from is 8-aligned; not >>> 2: a chunk may pass 4 GiB
  const k1 = Math.floor((to - base) / 8) * 2;
  for (let k = k0; k < k1; k += 2) {
    const hi = words[k + 1]!;
    if (hi < minHi || hi > maxHi) continue;
    const v = words[k]! + hi * TWO32;
    if (v < min || v >= max) continue;
    const t = index.lookup(v);
    if (t >= 0) hit(base + k * 4, t);
  }
  return Math.max(0, k1 - k0) * 4;
}

/**
 * Every block→block reference, grouped by source in CSR form (edges of v: start[v]..start[v+1]).
 * An edge's source is not stored (4 bytes an edge, ~120 MB at 10^7 blocks, at the run's peak):
 * `SourceCursor` finds it from `start`, and `edgeSources` makes the list once the peak is past.
 */
export interface EdgeSet {
  target: Uint32Array;
  /**
   * Offset and flags of each edge in one 16-bit word (analysis/edge_words.ts): EDGE_INTERIOR where
   * the word points inside its target rather than at its start; the word's index in the block
   * (mod 2^14; `segments` has the rest for blocks over 128 KiB).
   */
  word: Uint16Array;
  segments: Segments;
  start: Uint32Array;
  /** Blocks whose bytes were not (wholly) copied. */
  unreadable: number;
  bytesScanned: number;
}

/** Scan the contents of every block once and record all block→block edges. O(total block bytes). */
export function scanBlocks(
  memory: MemoryImage,
  index: AllocationIndex,
  allocations: AllocationTable,
): EdgeSet {
  const n = allocations.length;
  const addresses = allocations.addresses, sizes = allocations.sizes;
  // Edges go straight into typed arrays (no callback, no per-edge call): the hot loop is inlined here.
  // Only target and offset are stored while scanning; the source of each edge follows from the CSR
  // `start` and is filled in once the count is known (less memory while the arrays grow).
  let cap = Math.max(1024, n * 2);
  let target: Uint32Array = u32Array(cap);
  let word: Uint16Array = u16Array(cap);
  const segments = new SegmentList();
  const writer = new SegmentWriter(segments);
  let m = 0;
  const start = u32Array(n + 1);
  let unreadable = 0, bytesScanned = 0;
  const min = index.min, max = index.max;
  const minHi = Math.floor(min / TWO32), maxHi = Math.floor((max - 1) / TWO32);
  let chunkStart = 0, chunkEnd = 0;
  let words: Uint32Array = u32Array(0);
  for (let i = 0; i < n; i++) {
    start[i] = m;
    const addr = addresses[i]!, size = sizes[i]!;
    if (addr < chunkStart || addr + Math.max(8, size) > chunkEnd) {
      const ci = memory.find(addr, Math.max(8, size));
      if (ci < 0) {
        // Not wholly copied: the slow path, kept out of line so that no closure captures the
        // hot loop's variables (captured variables live in a context object, not registers).
        unreadable++;
        const part = scanPartialBlock(memory, index, addr, size);
        bytesScanned += part.bytes;
        for (let e = 0; e < part.target.length; e++) {
          if (m === cap) {
            cap = _nextCap(cap);
            target = grownU32(target, cap);
            word = grownU16(word, cap);
          }
          target[m] = part.target[e]!;
          word[m] = writer.word(m, i, part.k[e]!) | part.flags[e]!;
          m++;
        }
        chunkStart = chunkEnd = 0;
        continue;
      }
      const chunk = memory.chunks[ci]!;
      chunkStart = chunk.start;
      chunkEnd = chunk.start + chunk.bytes.length;
      words = wordsOf(chunk);
    }
    const from = Math.ceil(addr / 8) * 8;
    const k0 = (from - chunkStart) / 4;
    const k1 = Math.floor((addr + size - chunkStart) / 8) * 2;
    if (k1 > k0) bytesScanned += (k1 - k0) * 4;
    for (let k = k0; k < k1; k += 2) {
      const hi = words[k + 1]!;
      if (hi < minHi || hi > maxHi) continue;
      const v = words[k]! + hi * TWO32;
      if (v < min || v >= max) continue;
      const t = index.lookup(v);
      if (t < 0) continue;
      if (m === cap) {
        cap = _nextCap(cap);
        target = grownU32(target, cap);
        word = grownU16(word, cap);
      }
      target[m] = t;
      word[m] = writer.word(m, i, (k - k0) / 2) | (v === addresses[t] ? 0 : EDGE_INTERIOR);
      m++;
    }
  }
  start[n] = m;
  return finishEdgeSet(start, target, word, segments, m, unreadable, bytesScanned);
}

/**
 * The EdgeSet of a scan that filled `target`/`word` (m entries) grouped by source, with
 * `start[v]` the first edge of block v. O(1).
 */
export function finishEdgeSet(
  start: Uint32Array,
  target: Uint32Array,
  word: Uint16Array,
  segments: Segments,
  m: number,
  unreadable: number,
  bytesScanned: number,
): EdgeSet {
  return {
    // Views, not copies: the slack is at most a third, less than a copy's transient peak.
    target: target.subarray(0, m),
    word: word.subarray(0, m),
    // Only its entries (a scan that started a block again may have left some past them).
    segments: {
      edge: segments.edge.subarray(0, segments.count),
      segment: segments.segment.subarray(0, segments.count),
      count: segments.count,
    },
    start,
    unreadable,
    bytesScanned,
  };
}

/** Each edge's source block (`start` a CSR's n + 1 starts, the last its edge count). O(n + m). */
export function edgeSources(start: Uint32Array): Uint32Array {
  const n = start.length - 1;
  const source = u32Array(start[n]!);
  for (let v = 0, e = 0; v < n; v++) for (const stop = start[v + 1]!; e < stop; e++) source[e] = v;
  return source;
}

/**
 * The source block of edge e, from a CSR's starts (n + 1 of them): O(1) for edges asked in order,
 * as the recognisers do, O(log n) for a jump.
 */
export class SourceCursor {
  #v = 0;
  constructor(readonly start: Uint32Array) {}

  of(e: number): number {
    const start = this.start, n = start.length - 1;
    let v = this.#v;
    if (v < n && start[v]! <= e) {
      // Forward by a few blocks (empty ones included) before falling back to a search.
      for (let k = 0; k < 8 && v < n; k++, v++) {
        if (e < start[v + 1]!) return this.#v = v;
      }
    }
    // The last v with start[v] <= e and e < start[v + 1].
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (start[mid]! <= e) lo = mid;
      else hi = mid - 1;
    }
    return this.#v = lo;
  }
}

/**
 * A block not wholly copied: its copied parts, through scanRange (slow path, rare). Per edge: its
 * target, its word's index k among the block's aligned words, its flags (EDGE_INTERIOR).
 */
export function scanPartialBlock(
  memory: MemoryImage,
  index: AllocationIndex,
  addr: number,
  size: number,
): { bytes: number; target: number[]; k: number[]; flags: number[] } {
  const target: number[] = [], k: number[] = [], flags: number[] = [];
  const from = Math.ceil(addr / 8) * 8;
  const bytes = scanRange(memory, index, addr, addr + size, (wordAddress, block) => {
    target.push(block);
    k.push((wordAddress - from) / 8);
    flags.push(memory.u64(wordAddress) === index.starts[block] ? 0 : EDGE_INTERIOR);
  });
  return { bytes, target, k, flags };
}

/** Grow by half (not double): the arrays are tens of MB at 10^6 blocks and the slack is kept. */
function _nextCap(cap: number): number {
  return Math.ceil(cap * 1.5);
}

/** Every hit of a root-range scan, in range order then address order. */
export interface RangeHits {
  /** Index into the scanned ranges. */
  range: Uint32Array;
  /** Address of the word. */
  address: Float64Array;
  /** Block it points into. */
  target: Uint32Array;
}

/**
 * The conservative scan, replaceable: the TypeScript one below is the default; ffi/ offers a
 * native one (analysis/ stays free of FFI). Both must return identical results.
 */
export interface ScanKernel {
  readonly name: string;
  /** Every block→block edge, as `scanBlocks`. */
  scanBlocks(memory: MemoryImage, index: AllocationIndex, allocations: AllocationTable): EdgeSet;
  /** Every word of each range that points into a block, as `scanRange` on each range in turn. */
  scanRanges(
    memory: MemoryImage,
    index: AllocationIndex,
    ranges: readonly { start: number; end: number }[],
  ): RangeHits;
  /** The dominator tree, when the kernel has its own (else analysis/dominators.ts's). */
  readonly dominatorTree?: DominatorKernel;
  /** The glibc chunk walk's common steps, when the kernel has them (analysis/glibc/chunks.ts). */
  readonly walkChunks?: WalkKernel;
  /** The recognisers' memory-bound loops, when the kernel has them (recognise_kernel.ts). */
  readonly recognise?: RecogniseKernel;
  /** AllocationIndex's loops, when the kernel has them. */
  readonly index?: IndexKernel;
  /** The reachability's and the dominators' breadth-first search, when the kernel has it. */
  readonly floodFill?: FloodKernel;
  /** The edges' offsets from their words (edge_words.ts unpackOffsets), when the kernel has it. */
  readonly unpackOffsets?: OffsetsKernel;
  /** nativeGraph's pass over the edges (build_graph.ts), when the kernel has it. */
  readonly compact?: CompactKernel;
}

/** scanRanges with scanRange: O(range words). */
export function scanRanges(
  memory: MemoryImage,
  index: AllocationIndex,
  ranges: readonly { start: number; end: number }[],
): RangeHits {
  const range: number[] = [], address: number[] = [], target: number[] = [];
  for (let r = 0; r < ranges.length; r++) {
    scanRange(memory, index, ranges[r]!.start, ranges[r]!.end, (a, t) => {
      range.push(r);
      address.push(a);
      target.push(t);
    });
  }
  return {
    range: Uint32Array.from(range),
    address: Float64Array.from(address),
    target: Uint32Array.from(target),
  };
}

/** The TypeScript scan kernel. */
export const TS_SCAN_KERNEL: ScanKernel = { name: "ts", scanBlocks, scanRanges };
