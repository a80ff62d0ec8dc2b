// Where each arena's chunks live: the [heap] span, the main arena's mmap fallback segments, thread heaps.
//
// O(regions + heaps) to list them; the fallback search (only when the main arena is
// non-contiguous) is O(pages of candidate regions · a few header reads), plus one bounded chain
// check per page that starts like a segment.

import type { MemoryImage } from "../memory.ts";
import type { ExcludedRange, Region } from "../types.ts";
import { hex } from "./_hex.ts";
import type { ArenaState } from "./arena.ts";
import { walkSegment } from "./chunks.ts";
import { type GlibcLayout, HEAP_MAX_SIZE, MINSIZE } from "./layout.ts";
import type { WordViews } from "./word_views.ts";

type Range = { start: number; end: number };

/** A stretch of memory to walk chunk by chunk, and whose chunks belong to zone `zone`. */
export interface WalkJob {
  start: number;
  end: number;
  /** The arena's top chunk (−1 when it is not in this stretch). */
  top: number;
  zone: number;
  zoneName: string;
  /** "main": the [heap] span, which may hold several segments separated by fenceposts. */
  kind: "main" | "fallback" | "thread";
}

/** First chunk header at or after `p` whose user pointer (chunk + 16) is 16-aligned. */
export function alignChunk(p: number): number {
  const mis = (p + 16) % 16;
  return mis === 0 ? p : p + 16 - mis;
}

/**
 * The brk heap as one span: from the lowest to the highest `[heap]` mapping. The kernel names every
 * mapping between the initial and the current break `[heap]`, so an mprotect'ed page, or the
 * mapping a forked child's brk growth could not merge into (nginx workers), splits it into several
 * lines that are still one malloc heap.
 */
export function heapSpan(regions: readonly Region[]): Range | undefined {
  let span: Range | undefined;
  for (const r of regions) {
    if (r.path !== "[heap]") continue;
    if (span === undefined) span = { start: r.start, end: r.end };
    else {
      span.start = Math.min(span.start, r.start);
      span.end = Math.max(span.end, r.end);
    }
  }
  return span;
}

/**
 * The heaps of thread arena `arena`, newest first (heap_for_ptr(top), then each `prev`), as walk
 * jobs; records their heap_info/malloc_state as excluded and their mappings as heap ranges, and
 * warns when their sizes do not add up to the arena's system_mem. Bounded by h->size (shrink_heap
 * lowers it while the mapping may stay larger). O(heaps).
 */
export function threadHeapJobs(
  mem: MemoryImage,
  arena: ArenaState,
  layout: GlibcLayout,
  zone: number,
  zoneName: string,
  excluded: ExcludedRange[],
  heapRanges: Range[],
  warnings: string[],
): WalkJob[] {
  const jobs: WalkJob[] = [];
  let h = arena.top - (arena.top % HEAP_MAX_SIZE);
  const seen = new Set<number>();
  let total = 0;
  for (let i = 0; h !== 0 && i < 4096; i++) {
    if (seen.has(h) || h % HEAP_MAX_SIZE !== 0) {
      warnings.push(`${zoneName}: heap chain is broken at ${hex(h)}`);
      break;
    }
    seen.add(h);
    const ar = mem.u64(h), prev = mem.u64(h + 8), size = mem.u64(h + 16), mprot = mem.u64(h + 24);
    if (ar === undefined || prev === undefined || size === undefined || mprot === undefined) {
      warnings.push(`${zoneName}: heap_info at ${hex(h)} is not in the snapshot`);
      break;
    }
    if (ar !== arena.address || size > HEAP_MAX_SIZE || size < layout.heapInfoSize) {
      warnings.push(
        `${zoneName}: heap_info at ${hex(h)} is corrupt (ar_ptr ${hex(ar)}, size ${hex(size)})`,
      );
      break;
    }
    total += size;
    const first = h + layout.heapInfoSize === arena.address;
    excluded.push({ start: h, end: h + layout.heapInfoSize, why: `heap_info of ${zoneName}` });
    if (first) {
      excluded.push({
        start: arena.address,
        end: arena.address + layout.arenaSize,
        why: `malloc_state of ${zoneName}`,
      });
    }
    heapRanges.push({ start: h, end: h + Math.min(HEAP_MAX_SIZE, Math.max(size, mprot)) });
    const start = first ? alignChunk(arena.address + layout.arenaSize) : h + layout.heapInfoSize;
    jobs.push({ start, end: h + size, top: arena.top, zone, zoneName, kind: "thread" });
    h = prev;
  }
  if (total !== arena.systemMem) {
    warnings.push(`${zoneName}: system_mem ${hex(arena.systemMem)} != heap sizes ${hex(total)}`);
  }
  return jobs;
}

/**
 * The main arena's segments outside [heap], when sbrk failed and sysmalloc continued in mmap'd
 * memory (sysmalloc_mmap_fallback: at least 1 MiB, page-aligned, the new top at its start; the old
 * top closed by two 0x10|P fenceposts). Such a segment is an anonymous rw stretch starting on a page
 * boundary with a chunk whose prev_size is 0 and whose size has PREV_INUSE and no other flag, from
 * which the chain is well formed up to `top` or to a fencepost pair that ends on a page boundary.
 * Nothing links these segments, hence the search; it is done only for a non-contiguous main arena
 * (or a main arena whose top is outside [heap]). `skip` holds the ranges already known (thread
 * heaps, stacks, image data). Only copied pages are tried: a region may be a reservation of
 * terabytes with a few pages in it (AddressSanitizer's shadow), and a page-by-page search of its
 * whole range did not end. O(copied pages of anonymous rw regions).
 */
export function fallbackSegments(
  views: WordViews,
  regions: readonly Region[],
  skip: readonly Range[],
  top: number,
  pageSize: number,
): Range[] {
  const out: Range[] = [];
  for (const r of regions) {
    if (r.path !== "" || r.perms[0] !== "r" || r.perms[1] !== "w") continue;
    if (skip.some((s) => s.start < r.end && r.start < s.end)) continue;
    // The copied parts of r, in address order; a segment found may run past the part it starts in.
    let next = r.start;
    for (const { from, to } of views.mem.copiedParts(r.start, r.end)) {
      const start = Math.max(from, next);
      if (to > start) next = fallbackSegmentsIn(views, start, to, r.end, top, pageSize, out);
    }
  }
  return out;
}

/**
 * fallbackSegments' search of the pages that start in [from, to) (copied memory) of a region that
 * ends at `regionEnd`. Appends what it finds to `out`; returns where a later search may start.
 */
function fallbackSegmentsIn(
  views: WordViews,
  from: number,
  to: number,
  regionEnd: number,
  top: number,
  pageSize: number,
  out: Range[],
): number {
  let b = from + ((pageSize - (from % pageSize)) % pageSize);
  while (b + MINSIZE <= to) {
    const ps = views.u64(b), size = views.u64(b + 8);
    if (ps !== 0 || size === undefined || size % 8 !== 1 || size - 1 < MINSIZE) {
      b += pageSize;
      continue;
    }
    const w = walkSegment(views, { start: b, end: regionEnd, top, zone: "main-arena" });
    let end = -1;
    if (w.stop === "top") {
      const t = views.u64(top + 8);
      if (t !== undefined && top + t - (t % 8) <= regionEnd) end = top + t - (t % 8);
    } else if ((w.stop === "fenceposts" || w.stop === "end") && w.at % pageSize === 0) {
      end = w.at;
    }
    if (end <= b) {
      b += pageSize;
      continue;
    }
    out.push({ start: b, end });
    b = end + ((pageSize - (end % pageSize)) % pageSize);
  }
  return b;
}
