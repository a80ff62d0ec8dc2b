// Address → allocation id lookup for the conservative scan: dense bucket tables over heap segments.
//
// Blocks (sorted) are grouped into segments wherever the gap between two blocks is under 1 MiB (an
// arena heap, a run of mmapped chunks). Each segment owns a slice of one Int32Array with an entry
// per 256-byte bucket: the first block that ends after the bucket's start. A lookup is a range
// check, a segment search (last segment cached, else binary search over the few segments), one
// table load and a forward walk over the at most ~8 blocks that can end inside one bucket (glibc's
// smallest chunk is 32 bytes). Build is O(n + span / 256); the table costs 4 bytes per 256 bytes
// of heap span (1.6%), and nothing per block: a block's end is its address + max(size, 1), from
// the allocation table's own columns (an array of ends was 8 bytes a block at the run's peak).
// Interior pointers count: any address in [address, address + size) maps to the block.

import { f64Array, i32Array, releaseArrays } from "./arrays.ts";
import type { AllocationTable } from "./allocation_table.ts";
import { lastAtOrBelow } from "./sorted.ts";

const BUCKET_SHIFT = 8;
const BUCKET = 1 << BUCKET_SHIFT;
/** Blocks closer than this share a segment (and its table); farther apart, a new segment starts. */
const SEGMENT_GAP = 1 << 20;

/**
 * Where block i ends: a zero-size block still owns its address (malloc(0) returns a unique
 * pointer). The C scan's end_of (shim/scan_kernel.c) is the same.
 */
function endOf(starts: Float64Array, sizes: Float64Array, i: number): number {
  return starts[i]! + Math.max(sizes[i]!, 1);
}

/**
 * The constructor's two loops in native code (ffi/scan_kernel.ts, shim/scan_kernel.c), with the
 * same output: in V8 they are cold one-shot code (~25 ms at 10^6 blocks).
 */
export interface IndexKernel {
  /**
   * The first block of each segment (see SEGMENT_GAP), and the first block that overlaps the one
   * before it or lies below it (-1: none; otherwise the segments need not be complete).
   */
  segments(starts: Float64Array, sizes: Float64Array, n: number, gap: number): {
    first: Uint32Array;
    bad: number;
  };
  /** Each segment's bucket table, as the constructor fills it. */
  fill(
    starts: Float64Array,
    sizes: Float64Array,
    n: number,
    first: Uint32Array,
    segStart: Float64Array,
    segEnd: Float64Array,
    segTable: Int32Array,
    bucket: number,
    table: Int32Array,
  ): void;
}

export class AllocationIndex {
  readonly count: number;
  /** The allocations' addresses and sizes (shared, not copied). */
  readonly starts: Float64Array;
  readonly sizes: Float64Array;
  readonly min: number;
  /** 0 once released: every lookup then finds nothing. */
  max: number;
  /**
   * Per segment: first covered address (bucket-aligned), end address, offset into `table`. Public
   * (read-only by contract) so that a native scan kernel can run the same lookup.
   */
  readonly segStart: Float64Array;
  readonly segEnd: Float64Array;
  readonly segTable: Int32Array;
  /** Bucket (256 bytes) → first block whose end is above the bucket start. */
  readonly table: Int32Array;
  #lastSeg = 0;

  /**
   * `allocations` must be sorted by address and non-overlapping; its address column is shared.
   * `kernel`: the loops in native code (the same index).
   */
  constructor(allocations: AllocationTable, kernel?: IndexKernel) {
    const n = allocations.length;
    this.count = n;
    const starts = this.starts = allocations.addresses;
    const sizes = this.sizes = allocations.sizes;
    const end = (i: number) => endOf(starts, sizes, i);
    const unsorted = (i: number) =>
      new Error(`Allocations overlap or are unsorted: block at 0x${starts[i]!.toString(16)}`);
    // The first block of each segment (the kernel's, else found here).
    const native = kernel?.segments(starts, sizes, n, SEGMENT_GAP);
    if (native && native.bad >= 0) throw unsorted(native.bad);
    let segBounds: ArrayLike<number>;
    if (native) segBounds = native.first;
    else {
      const bounds: number[] = [];
      let prevEnd = 0;
      for (let i = 0; i < n; i++) {
        const address = starts[i]!;
        if (address < prevEnd) throw unsorted(i);
        if (i === 0 || address - prevEnd >= SEGMENT_GAP) bounds.push(i);
        prevEnd = end(i);
      }
      segBounds = bounds;
    }
    this.min = n > 0 ? starts[0]! : 0;
    this.max = n > 0 ? end(n - 1) : 0;

    const segs = segBounds.length;
    this.segStart = f64Array(segs);
    this.segEnd = f64Array(segs);
    this.segTable = i32Array(segs);
    let tableLen = 0;
    for (let s = 0; s < segs; s++) {
      const first = segBounds[s]!;
      const last = (s + 1 < segs ? segBounds[s + 1]! : n) - 1;
      const base = Math.floor(starts[first]! / BUCKET) * BUCKET;
      this.segStart[s] = base;
      this.segEnd[s] = end(last);
      this.segTable[s] = tableLen;
      tableLen += Math.ceil((end(last) - base) / BUCKET);
    }
    const table = i32Array(tableLen);
    this.table = table;
    if (kernel && native) {
      kernel.fill(
        starts,
        sizes,
        n,
        native.first,
        this.segStart,
        this.segEnd,
        this.segTable,
        BUCKET,
        table,
      );
      return;
    }
    for (let s = 0; s < segs; s++) {
      const first = segBounds[s]!;
      const stop = s + 1 < segs ? segBounds[s + 1]! : n;
      const base = this.segStart[s]!;
      const off = this.segTable[s]!;
      const buckets = Math.ceil((this.segEnd[s]! - base) / BUCKET);
      // Bucket b starts at base + b * BUCKET; entry = first block i whose end is above it.
      let i = first;
      for (let b = 0; b < buckets; b++) {
        const at = base + b * BUCKET;
        while (i < stop - 1 && end(i) <= at) i++;
        table[off + b] = i;
      }
    }
  }

  /**
   * Give the index's own arrays back now (analysis/arrays.ts releaseArrays), when nothing will ask
   * it again: every lookup after finds nothing. `starts` and `sizes` are the allocations' and stay.
   */
  release(): void {
    this.max = 0;
    releaseArrays(this.table);
  }

  /** Id of the block whose [address, address+size) holds `value`, or -1. */
  lookup(value: number): number {
    if (value < this.min || value >= this.max) return -1;
    const segStart = this.segStart, segEnd = this.segEnd;
    let s = this.#lastSeg;
    if (value < segStart[s]! || value >= segEnd[s]!) {
      let lo = 0, hi = segStart.length - 1;
      s = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (segStart[mid]! <= value) {
          s = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (s < 0 || value >= segEnd[s]!) return -1;
      this.#lastSeg = s;
    }
    let i = this.table[this.segTable[s]! + Math.floor((value - segStart[s]!) / BUCKET)]!;
    const starts = this.starts, sizes = this.sizes;
    while (endOf(starts, sizes, i) <= value) i++;
    return starts[i]! <= value ? i : -1;
  }

  /**
   * What lookup() answers, by a binary search over the allocations' own columns: no table, so
   * also after release(), for the few lookups left then (the types'). O(log n).
   */
  search(value: number): number {
    const starts = this.starts;
    const found = lastAtOrBelow(this.count, (i) => starts[i]!, value);
    return found >= 0 && value < endOf(starts, this.sizes, found) ? found : -1;
  }
}
