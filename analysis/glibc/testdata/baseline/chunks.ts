// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Walks the chunks of one contiguous glibc heap segment ([heap] or a thread-arena heap).
//
// O(chunks in the segment): each step reads one header and the next one's PREV_INUSE bit, straight
// from the copied bytes of the memory chunk that holds them (no search per word). Chunks go into
// a ChunkList of typed arrays: no object per chunk, ~25 bytes per chunk at 10^6 chunks.

import type { MemoryImage } from "../../../memory.ts";
import { hex } from "./_hex.ts";
import { MINSIZE, PREV_INUSE } from "./layout.ts";

const TWO32 = 4294967296;

/**
 * Chunks found by the walks, as parallel typed arrays in walk order: header address, chunk size
 * (csize), whether the next chunk's PREV_INUSE bit is set (still includes tcache and fastbin
 * entries) and the zone id of the arena that owns the segment.
 */
export class ChunkList {
  address = new Float64Array(1024);
  size = new Float64Array(1024);
  inUse = new Uint8Array(1024);
  zone = new Uint16Array(1024);
  length = 0;

  push(address: number, size: number, inUse: boolean, zone: number): void {
    if (this.length === this.address.length) this.#grow();
    const i = this.length++;
    this.address[i] = address;
    this.size[i] = size;
    this.inUse[i] = inUse ? 1 : 0;
    this.zone[i] = zone;
  }

  #grow(): void {
    const cap = Math.ceil(this.address.length * 1.5); // 1.5×: less slack at 10^6 chunks
    const address = new Float64Array(cap), size = new Float64Array(cap);
    const inUse = new Uint8Array(cap), zone = new Uint16Array(cap);
    address.set(this.address);
    size.set(this.size);
    inUse.set(this.inUse);
    zone.set(this.zone);
    this.address = address;
    this.size = size;
    this.inUse = inUse;
    this.zone = zone;
  }
}

/** Sequential 64-bit reads that stay inside one copied memory chunk until they leave it. */
class WordReader {
  #mem: MemoryImage;
  #start = 0;
  #end = 0;
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  constructor(mem: MemoryImage) {
    this.#mem = mem;
  }

  /** Little-endian u64 at `addr` (8-aligned or not), or undefined when not copied. */
  u64(addr: number): number | undefined {
    if (addr < this.#start || addr + 8 > this.#end) {
      const i = this.#mem.find(addr, 8);
      if (i < 0) return undefined;
      const c = this.#mem.chunks[i]!;
      this.#start = c.start;
      this.#end = c.start + c.bytes.length;
      this.#view = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length);
    }
    const off = addr - this.#start;
    return this.#view.getUint32(off, true) + this.#view.getUint32(off + 4, true) * TWO32;
  }
}

export interface WalkOptions {
  /** First chunk header and the segment end (exclusive). */
  start: number;
  end: number;
  /** The arena's top chunk (walk stops there when it lies in the segment). */
  top: number;
  /** Zone name (for warnings) and its id (stored per chunk). */
  zone: string;
  zoneId: number;
}

export interface SegmentWalk {
  /** Whether the walk reached `top`. */
  reachedTop: boolean;
  warnings: string[];
}

/**
 * Walks [start, end) chunk by chunk until `top`, a size-0 end marker, or the segment end, appending
 * each chunk to `out`. Bytes are untrusted: an impossible size stops this walk with a warning
 * naming the chunk.
 */
export function walkSegment(mem: MemoryImage, opts: WalkOptions, out: ChunkList): SegmentWalk {
  const { start, end, top, zone, zoneId } = opts;
  const warnings: string[] = [];
  const words = new WordReader(mem);
  let reachedTop = false;
  let p = start;
  const maxSteps = Math.ceil((end - start) / 16) + 1;
  for (let step = 0; step < maxSteps; step++) {
    if (p === top) {
      reachedTop = true;
      break;
    }
    if (p + 16 > end) break;
    const size = words.u64(p + 8);
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
      const nsize = words.u64(next + 8);
      if (nsize !== undefined) {
        const ncsize = nsize - (nsize % 8);
        // A chunk followed by a size-0 header is the remnant of an old top, never handed out.
        inUse = ncsize !== 0 && (nsize % 2) === PREV_INUSE;
        if (!inUse && ncsize !== 0) {
          const footer = words.u64(next);
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
    out.push(p, csize, inUse, zoneId);
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
  return { reachedTop, warnings };
}
