// 32-bit word views of a snapshot's copied memory, for loops that read millions of chunk headers.
//
// A Uint32Array over each copied chunk (made once, lazily; a chunk whose bytes are not 4-aligned is
// copied once into an aligned buffer) lets the walkers read a 64-bit header as two array loads
// instead of a DataView call per word. Finding the chunk for an address is MemoryImage.find():
// O(log chunks), O(1) when it is the last one found.

import type { MemoryImage } from "../memory.ts";

const TWO32 = 4294967296;

/** The copied chunk holding an address: its words and its [start, end) in the target. */
export interface WordSpan {
  u32: Uint32Array;
  start: number;
  end: number;
}

export class WordViews {
  readonly mem: MemoryImage;
  #spans: (WordSpan | undefined)[];

  constructor(mem: MemoryImage) {
    this.mem = mem;
    this.#spans = new Array(mem.chunks.length);
  }

  /** The span holding [addr, addr + len), or undefined when that is not wholly copied. */
  spanAt(addr: number, len = 16): WordSpan | undefined {
    const i = this.mem.find(addr, len);
    if (i < 0) return undefined;
    let s = this.#spans[i];
    if (s === undefined) {
      const c = this.mem.chunks[i]!;
      const n = Math.floor(c.bytes.length / 4); // not >>> 2: a chunk may pass 4 GiB (a core)
      const u32 = c.bytes.byteOffset % 4 === 0
        ? new Uint32Array(c.bytes.buffer, c.bytes.byteOffset, n)
        : new Uint32Array(c.bytes.slice(0, n * 4).buffer);
      s = { u32, start: c.start, end: c.start + n * 4 };
      this.#spans[i] = s;
    }
    return s;
  }

  /** Little-endian u64 at `addr`, or undefined when not copied. */
  u64(addr: number): number | undefined {
    if (addr % 4 !== 0) return this.mem.u64(addr);
    const s = this.spanAt(addr, 8);
    if (s === undefined) return undefined;
    const k = (addr - s.start) / 4; // addr is 4-aligned; "/" rather than ">>>": spans may pass 4 GiB
    return s.u32[k]! + s.u32[k + 1]! * TWO32;
  }
}

/** The u64 at word index `k` of `u32` (two 32-bit halves; exact below 2^53). */
export function wordAt(u32: Uint32Array, k: number): number {
  return u32[k]! + u32[k + 1]! * TWO32;
}
