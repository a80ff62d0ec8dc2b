// Finds glibc's mmapped chunks in anonymous rw memory that is neither an arena heap nor a stack.
//
// O(pages scanned + words of each accepted chunk / 2) — two header words per page, and the memalign
// header search reads every 16th byte pair of an accepted chunk once.

import type { Region } from "../types.ts";
import type { GlibcLayout } from "./layout.ts";
import { IS_MMAPPED } from "./layout.ts";
import type { WordViews } from "./word_views.ts";

const TWO32 = 4294967296;

export interface MmappedChunk {
  /** The mapping [start, end) that munmap would release. */
  mapStart: number;
  mapEnd: number;
  /** The real chunk header (mapping start, or mapping + lead for memalign). */
  header: number;
  /** Chunk size of the real header (csize). */
  size: number;
  /** malloc_usable_size of the block. */
  usable: number;
}

type Range = { start: number; end: number };

/** [start, end) minus every range in `holes` (sorted result). */
function subtract(start: number, end: number, holes: readonly Range[]): Range[] {
  let parts: Range[] = [{ start, end }];
  for (const h of holes) {
    if (h.end <= start || h.start >= end) continue;
    const next: Range[] = [];
    for (const p of parts) {
      if (h.end <= p.start || h.start >= p.end) {
        next.push(p);
        continue;
      }
      if (h.start > p.start) next.push({ start: p.start, end: h.start });
      if (h.end < p.end) next.push({ start: h.end, end: p.end });
    }
    parts = next;
  }
  return parts;
}

/**
 * Header arithmetic of mmapped chunks per release. ≤ 2.42 (sysmalloc_mmap): the chunk fills its
 * mapping, prev_size = lead (0 unless memalign moved it), size = (length − lead) | IS_MMAPPED,
 * usable = size − 16. 2.43 (mmap_set_chunk): prev_size = lead | MMAP_HP (bit 0: a huge-page
 * mapping), size = (length − lead − 16) | IS_MMAPPED, usable = size − 8.
 */
function mappingOf(layout: GlibcLayout): {
  extra: number;
  leadMask: (ps: number) => number;
  usable: (csize: number) => number;
} {
  return layout.mmapHeader === "whole"
    ? { extra: 0, leadMask: (ps) => ps, usable: (c) => c - 16 }
    : { extra: 16, leadMask: (ps) => ps - (ps % 2), usable: (c) => c - 8 };
}

/**
 * Scans each anonymous rw region (minus `skip`) page by page for a header (lead 0, size|IS_MMAPPED)
 * whose mapping length is a page multiple that fits; then looks inside for a memalign'd real header
 * (lead, …), records the chunk and jumps past the mapping. Adjacent mappings merged in one VMA are
 * all found. Results are in address order.
 */
export function findMmappedChunks(
  views: WordViews,
  regions: readonly Region[],
  skip: readonly Range[],
  pageSize: number,
  layout: GlibcLayout,
): MmappedChunk[] {
  const m = mappingOf(layout);
  const out: MmappedChunk[] = [];
  for (const r of regions) {
    if (r.path !== "" || r.perms[0] !== "r" || r.perms[1] !== "w") continue;
    for (const part of subtract(r.start, r.end, skip)) {
      let base = part.start + ((pageSize - (part.start % pageSize)) % pageSize);
      while (base + 16 <= part.end) {
        const span = views.spanAt(base, 16);
        if (span === undefined) {
          base += pageSize;
          continue;
        }
        const k = (base - span.start) / 4;
        const ps = span.u32[k]! + span.u32[k + 1]! * TWO32;
        const lo = span.u32[k + 2]!, hi = span.u32[k + 3]!;
        const csize = hi * TWO32 + lo - (lo & 7);
        const len = csize + m.extra;
        if (
          m.leadMask(ps) !== 0 || (lo & 7) !== IS_MMAPPED || csize === 0 ||
          len % pageSize !== 0 || base + len > part.end
        ) {
          base += pageSize;
          continue;
        }
        out.push(realHeader(views, base, len, m));
        base += len;
      }
    }
  }
  return out.sort((a, b) => a.header - b.header);
}

/** The memalign'd header inside the mapping [base, base+len), or the one at base. */
function realHeader(
  views: WordViews,
  base: number,
  len: number,
  m: ReturnType<typeof mappingOf>,
): MmappedChunk {
  const span = views.spanAt(base, len);
  if (span !== undefined) {
    const u32 = span.u32, k0 = (base - span.start) / 4;
    for (let lead = 16; lead + 32 <= len; lead += 16) {
      const k = k0 + lead / 4;
      if (u32[k + 1] !== 0 || m.leadMask(u32[k]!) !== lead) continue;
      const want = len - lead - m.extra + IS_MMAPPED;
      if (u32[k + 2]! + u32[k + 3]! * TWO32 === want) {
        const size = len - lead - m.extra;
        return {
          mapStart: base,
          mapEnd: base + len,
          header: base + lead,
          size,
          usable: m.usable(size),
        };
      }
    }
  }
  const size = len - m.extra;
  return { mapStart: base, mapEnd: base + len, header: base, size, usable: m.usable(size) };
}
