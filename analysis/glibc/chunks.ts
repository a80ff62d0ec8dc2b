// Walks the chunks of one contiguous glibc heap segment ([heap] or a thread-arena heap).
//
// O(chunks in the segment): each step reads one header and the next one's PREV_INUSE bit.

import type { MemoryImage } from "../memory.ts";
import { hex } from "./_hex.ts";
import { MINSIZE, PREV_INUSE } from "./layout.ts";

/** One chunk found by the walk. `address` is the chunk header, `size` the chunk size (csize). */
export interface Chunk {
  address: number;
  size: number;
  /** The next chunk's PREV_INUSE bit is set (still includes tcache and fastbin entries). */
  inUse: boolean;
  /** Zone name of the arena that owns the segment. */
  zone: string;
}

export interface WalkOptions {
  /** First chunk header and the segment end (exclusive). */
  start: number;
  end: number;
  /** The arena's top chunk (walk stops there when it lies in the segment). */
  top: number;
  zone: string;
}

export interface SegmentWalk {
  chunks: Chunk[];
  /** Whether the walk reached `top`. */
  reachedTop: boolean;
  warnings: string[];
}

/**
 * Walks [start, end) chunk by chunk until `top`, a size-0 end marker, or the segment end.
 * Bytes are untrusted: an impossible size stops this walk with a warning naming the chunk.
 */
export function walkSegment(mem: MemoryImage, opts: WalkOptions): SegmentWalk {
  const { start, end, top, zone } = opts;
  const chunks: Chunk[] = [];
  const warnings: string[] = [];
  let reachedTop = false;
  let p = start;
  const maxSteps = Math.ceil((end - start) / 16) + 1;
  for (let step = 0; step < maxSteps; step++) {
    if (p === top) {
      reachedTop = true;
      break;
    }
    if (p + 16 > end) break;
    const size = mem.u64(p + 8);
    if (size === undefined) {
      warnings.push(`unreadable chunk header at ${hex(p)} in ${zone}: walk stopped`);
      break;
    }
    const csize = size - (size % 8);
    if (csize === 0) break; // end marker after a fencepost
    if (csize === 16) { // fencepost
      p += 16;
      continue;
    }
    if (csize < MINSIZE || csize % 16 !== 0 || p + csize > end) {
      warnings.push(`corrupt chunk at ${hex(p)} in ${zone}: size ${hex(size)}`);
      break;
    }
    const next = p + csize;
    let inUse = false;
    if (next + 16 <= end) {
      const nsize = mem.u64(next + 8);
      if (nsize !== undefined) {
        const ncsize = nsize - (nsize % 8);
        // A chunk followed by a size-0 header is the remnant of an old top, never handed out.
        inUse = ncsize !== 0 && (nsize % 2) === PREV_INUSE;
        if (!inUse && ncsize !== 0) {
          const footer = mem.u64(next);
          if (footer !== csize) {
            warnings.push(
              `free chunk at ${hex(p)} in ${zone}: footer ${hex(footer ?? 0)} != size ${
                hex(csize)
              }`,
            );
          }
        }
      }
    }
    chunks.push({ address: p, size: csize, inUse, zone });
    p = next;
  }
  // Stopping short of a top that lies in this segment (a size-0 header, a stray fencepost) means
  // the chunk at `p` is corrupt, even when an earlier free chunk's footer was already reported.
  const stopped = warnings.some((w) => w.startsWith("corrupt") || w.startsWith("unreadable"));
  if (!reachedTop && top >= start && top < end && !stopped) {
    warnings.push(
      `corrupt chunk at ${hex(p)} in ${zone}: walk ended before the top chunk ${hex(top)}`,
    );
  }
  return { chunks, reachedTop, warnings };
}
