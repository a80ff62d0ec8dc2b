// Address → allocation id lookup for the conservative scan: a page-bucket table over sorted blocks.
//
// Build is O(n + pages covered); a lookup is one range check, one Map probe and a binary search
// over the at most ~130 blocks that can start in one 4 KiB page, so O(log 130) instead of O(log n).
// Interior pointers count: any address in [address, address + size) maps to the block.

import type { Allocation } from "./types.ts";

const PAGE = 4096;

export class AllocationIndex {
  readonly count: number;
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly min: number;
  readonly max: number;
  /** page number → index of the first block that overlaps that page. */
  #pageFirst = new Map<number, number>();

  /** `allocations` must be sorted by address and non-overlapping. */
  constructor(allocations: readonly Allocation[]) {
    const n = allocations.length;
    this.count = n;
    this.starts = new Float64Array(n);
    this.ends = new Float64Array(n);
    let prevEnd = 0;
    for (let i = 0; i < n; i++) {
      const a = allocations[i]!;
      if (a.address < prevEnd) {
        throw new Error(
          `Allocations overlap or are unsorted: block at 0x${a.address.toString(16)}`,
        );
      }
      this.starts[i] = a.address;
      // A zero-size block still owns its address (malloc(0) returns a unique pointer).
      const end = a.address + Math.max(a.size, 1);
      this.ends[i] = end;
      prevEnd = end;
      const firstPage = Math.floor(a.address / PAGE);
      const lastPage = Math.floor((end - 1) / PAGE);
      for (let p = firstPage; p <= lastPage; p++) {
        if (!this.#pageFirst.has(p)) this.#pageFirst.set(p, i);
      }
    }
    this.min = n > 0 ? this.starts[0]! : 0;
    this.max = n > 0 ? this.ends[n - 1]! : 0;
  }

  /** Id of the block whose [address, address+size) holds `value`, or -1. */
  lookup(value: number): number {
    if (value < this.min || value >= this.max) return -1;
    const first = this.#pageFirst.get(Math.floor(value / PAGE));
    if (first === undefined) return -1;
    // Last block starting at or below `value`, searching forward from the page's first block.
    let lo = first, hi = Math.min(this.count - 1, first + 160), found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= value) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0 || value >= this.ends[found]!) return -1;
    return found;
  }
}
