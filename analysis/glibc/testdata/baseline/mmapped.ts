// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Finds glibc's mmapped chunks in anonymous rw memory that is neither an arena heap nor a stack.
//
// O(pages scanned + bytes of each accepted chunk) — the memalign header search reads every 16th
// word of an accepted chunk once.

import type { MemoryImage } from "../../../memory.ts";
import type { Region } from "../../../types.ts";
import { IS_MMAPPED } from "./layout.ts";

export interface MmappedChunk {
  /** The mapping [start, end) that munmap would release. */
  mapStart: number;
  mapEnd: number;
  /** The real chunk header (mapping start, or mapping + lead for memalign). */
  header: number;
  /** Chunk size of the real header. */
  size: number;
}

type Range = { start: number; end: number };

/** [start, end) minus every range in `holes` (sorted result). */
function subtract(start: number, end: number, holes: Range[]): Range[] {
  let parts: Range[] = [{ start, end }];
  for (const h of holes) {
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
 * Scans each anonymous rw region (minus `skip`) page by page for a header (0, len|IS_MMAPPED) with
 * len a page multiple that fits; then looks inside for a memalign'd real header (lead, (len−lead)|2),
 * records the chunk and jumps past the mapping. Adjacent mappings merged in one VMA are all found.
 */
export function findMmappedChunks(
  mem: MemoryImage,
  regions: Region[],
  skip: Range[],
  pageSize: number,
): MmappedChunk[] {
  const out: MmappedChunk[] = [];
  for (const r of regions) {
    if (r.path !== "" || r.perms[0] !== "r" || r.perms[1] !== "w") continue;
    for (const part of subtract(r.start, r.end, skip)) {
      let base = part.start + ((pageSize - (part.start % pageSize)) % pageSize);
      while (base + 16 <= part.end) {
        const ps = mem.u64(base), sz = mem.u64(base + 8);
        const len = sz === undefined ? 0 : sz - (sz % 8);
        if (
          ps !== 0 || sz === undefined || (sz & 7) !== IS_MMAPPED || len === 0 ||
          len % pageSize !== 0 || base + len > part.end
        ) {
          base += pageSize;
          continue;
        }
        out.push(realHeader(mem, base, len));
        base += len;
      }
    }
  }
  return out;
}

/** The memalign'd header inside the mapping [base, base+len), or the one at base. */
function realHeader(mem: MemoryImage, base: number, len: number): MmappedChunk {
  const bytes = mem.slice(base, len);
  if (bytes !== undefined) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let lead = 16; lead + 32 <= len; lead += 16) {
      if (v.getUint32(lead, true) !== lead || v.getUint32(lead + 4, true) !== 0) continue;
      const want = (len - lead) + IS_MMAPPED;
      const lo = v.getUint32(lead + 8, true), hi = v.getUint32(lead + 12, true);
      if (lo + hi * 4294967296 === want) {
        return { mapStart: base, mapEnd: base + len, header: base + lead, size: len - lead };
      }
    }
  }
  return { mapStart: base, mapEnd: base + len, header: base, size: len };
}
