// Walks an arena's fastbinsY lists: plain heads, safe-linked `fd` chains pointing to chunk headers.
//
// O(entries) with a per-bin bound and cycle detection.

import type { MemoryImage } from "../memory.ts";
import { hex } from "./_hex.ts";
import { type GlibcLayout, NFASTBINS } from "./layout.ts";
import { reveal } from "./safe_link.ts";
import type { ChunkLookup } from "./tcache.ts";

/** 2^22 entries (128 MiB of the smallest fastbin chunks): a longer chain is taken as corrupt. */
const MAX_PER_BIN = 1 << 22;

/**
 * Chunk headers on the fastbins of the arena at `arena` (none in 2.43+, which removed them). An
 * entry must be a chunk the heap walk saw as in use (P bit) with the bin's size; the first bad entry
 * or a repeat ends that bin with a warning.
 */
export function walkFastbins(
  mem: MemoryImage,
  arena: number,
  zone: string,
  layout: GlibcLayout,
  lookup: ChunkLookup,
  warnings: string[],
): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  if (layout.fastbinsY === undefined) return out; // 2.43+: no fastbins
  for (let i = 0; i < NFASTBINS; i++) {
    let p = mem.u64(arena + layout.fastbinsY + 8 * i);
    if (p === undefined) {
      warnings.push(`fastbins of ${zone} are not in the snapshot`);
      return out;
    }
    const want = (i + 2) * 16;
    for (let n = 0; p !== 0; n++) {
      if (p % 16 !== 0 || lookup(p) !== want) {
        warnings.push(
          `fastbin ${i} of ${zone}: entry ${hex(p)} is not a chunk of size ${hex(want)}`,
        );
        break;
      }
      if (seen.has(p)) {
        warnings.push(`fastbin ${i} of ${zone}: cycle at ${hex(p)}`);
        break;
      }
      if (n >= MAX_PER_BIN) {
        warnings.push(`fastbin ${i} of ${zone}: more than ${MAX_PER_BIN} entries`);
        break;
      }
      seen.add(p);
      out.push(p);
      const stored = mem.u64(p + 16);
      if (stored === undefined) break;
      p = layout.safeLinking ? reveal(p + 16, stored) : stored;
    }
  }
  return out;
}
