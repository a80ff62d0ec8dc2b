// Walks the chunks of one contiguous glibc heap segment ([heap] or a piece of it, a thread heap).
//
// O(chunks in the segment), one pass: each step reads the next chunk's header once, straight from
// a Uint32Array over the copied bytes (word_views.ts), and appends each in-use chunk to HeapColumns,
// typed arrays in address order (18 bytes per chunk, no object per chunk), which become the
// AllocationTable. Segments are walked in ascending address order, so the columns come out sorted
// and lookups are binary searches.

import { f64Array, prefaultArrays, u16Array } from "../arrays.ts";
import { hex } from "./_hex.ts";
import { MINSIZE } from "./layout.ts";
import type { WordViews } from "./word_views.ts";

const TWO32 = 4294967296;

/**
 * The in-use chunks the walks found (next chunk's PREV_INUSE set: still including tcache and fastbin
 * entries, which the free-list phase marks dead), as the columns the AllocationTable is made of:
 * user pointer (header + 16) ascending, usable size (csize − 8), zone. The columns are allocated at
 * their upper bound up front: untouched pages of a typed array cost no memory, while growing copies
 * would touch every page again (fresh memory costs ~6 ms/MB to fault in on our CI VMs; on huge
 * pages, analysis/arrays.ts, much less).
 */
export class HeapColumns {
  address: Float64Array;
  usable: Float64Array;
  zone: Uint16Array;
  length = 0;

  /**
   * `expected`: about how many chunks the walk will find (their columns' pages are faulted in
   * ahead, off the analysis's thread, where the array source can: analysis/arrays.ts).
   */
  constructor(capacity: number, expected = 0) {
    this.address = f64Array(capacity, true);
    this.usable = f64Array(capacity, true);
    this.zone = u16Array(capacity, true);
    prefaultArrays(Math.min(capacity, expected), this.address, this.usable, this.zone);
  }

  push(user: number, usable: number, zone = 0): void {
    if (this.length === this.address.length) this.grow();
    const i = this.length++;
    this.address[i] = user;
    this.usable[i] = usable;
    this.zone[i] = zone;
  }

  /** Doubles the capacity (only when the up-front bound was capped). */
  grow(): void {
    const cap = Math.max(16, this.address.length * 2);
    const address = f64Array(cap), usable = f64Array(cap);
    const zone = u16Array(cap);
    address.set(this.address.subarray(0, this.length));
    usable.set(this.usable.subarray(0, this.length));
    zone.set(this.zone.subarray(0, this.length));
    this.address = address;
    this.usable = usable;
    this.zone = zone;
  }

  /** First index whose user pointer is ≥ `a` (length when none). O(log n). */
  lowerBound(a: number): number {
    const address = this.address;
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (address[mid]! < a) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the in-use chunk whose header is at `header`, or −1. O(log n). */
  indexOfHeader(header: number): number {
    const i = this.lowerBound(header + 16);
    return i < this.length && this.address[i] === header + 16 ? i : -1;
  }
}

export interface WalkOptions {
  /** First chunk header and the segment end (exclusive). */
  start: number;
  end: number;
  /** The arena's top chunk: the walk stops there (−1 when it is elsewhere). */
  top: number;
  /** Zone name, for warnings. */
  zone: string;
  /** A native twin for the common steps (ffi/scan_kernel.ts); this walk takes the others. */
  fast?: WalkKernel;
}

/**
 * The common steps of the walk from the header at `p` within one span of words (no warning, no
 * stop: those are this walk's), appending in-use chunks to the columns from `n` up to `cap`;
 * returns where it stopped. shim/scan_kernel.c hs_walk_chunks.
 */
export type WalkKernel = (
  words: Uint32Array,
  spanStart: number,
  spanEnd: number,
  p: number,
  end: number,
  top: number,
  address: Float64Array,
  usable: Float64Array,
  n: number,
  cap: number,
) => { p: number; n: number };

/**
 * Why a walk stopped: at `top`; at the segment `end` (or the last header that fits before it); at a
 * size-0 end marker (a thread heap's tail: fencepost 0x10|P then 0|P); after a main-arena pair of
 * 0x10|P fenceposts with more segment after them (sysmalloc left the old top there: what follows
 * is another segment, or foreign sbrk memory); at a corrupt or an uncopied header; after
 * `maxSteps` chunks ("budget", checking only).
 */
export type WalkStop =
  | "top"
  | "end"
  | "marker"
  | "fenceposts"
  | "corrupt"
  | "unreadable"
  | "budget";

export interface SegmentWalk {
  stop: WalkStop;
  /** Header where the walk stopped; after "fenceposts", the address right after the pair. */
  at: number;
  /** In-use chunks appended (without `out`: chunks checked). */
  chunks: number;
  warnings: string[];
}

/**
 * Walks [start, end) chunk by chunk, appending each in-use chunk to `out` with zone `zoneId` (or,
 * without `out`, only checks that the chain is well formed, for at most `maxSteps` chunks:
 * "corrupt" when it is not). Bytes are untrusted: an impossible size stops the walk with a warning
 * naming the chunk. A single fencepost (0x10) is stepped over; csize 0 ends the walk.
 */
export function walkSegment(
  views: WordViews,
  opts: WalkOptions,
  out?: HeapColumns,
  zoneId = 0,
  maxSteps = Infinity,
): SegmentWalk {
  const { start, end, top, zone } = opts;
  const warnings: string[] = [];
  const first = out?.length ?? 0;
  let p = start, n = first, steps = 0;
  let address = out?.address, usable = out?.usable;
  let cap = address?.length ?? 0;
  let u32: Uint32Array | undefined, sStart = 0, sEnd = 0;
  let stop: WalkStop = "end";
  for (;;) {
    if (p === top) {
      stop = "top";
      break;
    }
    if (p + 16 > end) break;
    if (steps >= maxSteps) {
      stop = "budget";
      break;
    }
    steps++;
    if (u32 === undefined || p < sStart || p + 16 > sEnd) {
      const s = views.spanAt(p, 16);
      if (s === undefined) {
        if (out !== undefined) {
          warnings.push(`unreadable chunk header at ${hex(p)} in ${zone}: walk stopped`);
        }
        stop = "unreadable";
        break;
      }
      u32 = s.u32;
      sStart = s.start;
      sEnd = s.end;
    }
    if (opts.fast !== undefined && out !== undefined && n < cap) {
      // The ordinary steps natively; the step it stops at (if any) below, from the loop's top.
      const r = opts.fast(u32, sStart, sEnd, p, end, top, address!, usable!, n, cap);
      if (r.p !== p) {
        p = r.p;
        n = r.n;
        continue;
      }
    }
    const k = (p - sStart) / 4;
    const lo = u32[k + 2]!, hi = u32[k + 3]!;
    const csize = hi === 0 ? lo - (lo & 7) : hi * TWO32 + lo - (lo & 7);
    if (csize === 0) {
      stop = "marker";
      break;
    }
    if (csize === 16) {
      // A fencepost. Two in a row are where sysmalloc closed a main-arena segment.
      if (p + 32 <= end) {
        const second = p + 32 <= sEnd ? u32[k + 6]! + u32[k + 7]! * TWO32 : views.u64(p + 24);
        if (second !== undefined && second - (second % 8) === 16) {
          p += 32;
          if (p + 16 <= end) {
            stop = "fenceposts";
            break;
          }
          continue;
        }
      }
      p += 16;
      continue;
    }
    if (csize < MINSIZE || csize % 16 !== 0 || p + csize > end) {
      if (out !== undefined) {
        warnings.push(`corrupt chunk at ${hex(p)} in ${zone}: size ${hex(hi * TWO32 + lo)}`);
      }
      stop = "corrupt";
      break;
    }
    const next = p + csize;
    let used = 0;
    if (next + 16 <= end) {
      let nu32: Uint32Array | undefined = u32, nStart = sStart;
      if (next + 16 > sEnd) {
        const s = views.spanAt(next, 16);
        nu32 = s?.u32;
        nStart = s?.start ?? 0;
      }
      if (nu32 !== undefined) {
        const j = (next - nStart) / 4;
        const nlo = nu32[j + 2]!, nhi = nu32[j + 3]!;
        const ncsize = nhi === 0 ? nlo - (nlo & 7) : nhi * TWO32 + nlo - (nlo & 7);
        // A chunk followed by a size-0 header is the remnant of an old top, never handed out.
        used = ncsize !== 0 && (nlo & 1) === 1 ? 1 : 0;
        if (used === 0 && ncsize !== 0 && out !== undefined) {
          const footer = nu32[j]! + nu32[j + 1]! * TWO32;
          if (footer !== csize) {
            warnings.push(
              `free chunk at ${hex(p)} in ${zone}: footer ${hex(footer)} != size ${hex(csize)}`,
            );
          }
        }
      }
    }
    if (out !== undefined && used === 1) {
      if (n === cap) {
        out.length = n;
        out.grow();
        address = out.address;
        usable = out.usable;
        cap = address.length;
      }
      address![n] = p + 16;
      usable![n] = csize - 8; // glibc's memsize() without memory tagging
      n++;
    }
    p = next;
  }
  if (out !== undefined) {
    out.length = n;
    out.zone.fill(zoneId, first, n);
  }
  return { stop, at: p, chunks: out === undefined ? steps : n - first, warnings };
}

/**
 * Where a main-arena chunk chain starts again after a pair of fenceposts at `from`: the first
 * 16-aligned address in [from, end) from which the chain is well formed until `top`, a segment end
 * or the next fencepost pair (or for `maxSteps` chunks), with a first chunk whose PREV_INUSE bit is set and no IS_MMAPPED or
 * NON_MAIN_ARENA bit (sysmalloc's new top: `set_head (av->top, size | PREV_INUSE)`). `from` itself
 * is the usual answer (the break moved on from where the old segment ended); a foreign sbrk puts
 * the program's own bytes in between. Tries at most `maxTries` starts, walking at most `maxSteps`
 * chunks from each: O(maxTries · maxSteps) in the worst case, a few headers per try in practice.
 */
export function resumeAfterFenceposts(
  views: WordViews,
  from: number,
  end: number,
  top: number,
  zone: string,
  maxTries = 1 << 16,
  maxSteps = 1 << 20,
): number | undefined {
  for (let s = from, tries = 0; s + 32 <= end && tries < maxTries; s += 16, tries++) {
    const size = views.u64(s + 8);
    if (size === undefined) {
      // Holes (pages not copied) cannot hold the next header we look for: skip to copied memory.
      continue;
    }
    if (size % 8 !== 1 || size - 1 < MINSIZE) continue;
    const w = walkSegment(views, { start: s, end, top, zone }, undefined, 0, maxSteps);
    const ok = w.stop === "top" || w.stop === "fenceposts" || w.stop === "budget" ||
      (w.stop === "end" && w.at === end);
    if (ok) {
      return s;
    }
  }
  return undefined;
}
