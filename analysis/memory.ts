// Random access to a Snapshot's copied memory: bounds-checked reads of target words by address.
//
// Lookups binary-search the chunk list (O(log chunks)) with a one-entry cache, so sequential reads
// are O(1). 64-bit words come back as numbers (exact up to 2^53, which covers every user address);
// `u64big` is there for the rare exact comparison of full 64-bit values.

import type { MemoryChunk } from "./types.ts";

const TWO32 = 4294967296;

export class MemoryImage {
  readonly chunks: readonly MemoryChunk[];
  #starts: Float64Array;
  #views: DataView[];
  #last = 0;

  constructor(chunks: readonly MemoryChunk[]) {
    const sorted = [...chunks].sort((a, b) => a.start - b.start);
    this.chunks = sorted;
    this.#starts = Float64Array.from(sorted, (c) => c.start);
    this.#views = sorted.map((c) =>
      new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length)
    );
  }

  /** Index of the chunk holding [addr, addr+len), or -1. */
  find(addr: number, len = 1): number {
    const last = this.chunks[this.#last];
    if (last && addr >= last.start && addr + len <= last.start + last.bytes.length) {
      return this.#last;
    }
    let lo = 0, hi = this.#starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return -1;
    const c = this.chunks[found]!;
    if (addr + len > c.start + c.bytes.length) return -1;
    this.#last = found;
    return found;
  }

  /**
   * The copied parts of [start, end), from an 8-byte-aligned start: each as its chunk and the
   * [from, to) inside it. Holes (memory that was not copied) are skipped. O(log chunks + parts).
   */
  *copiedParts(
    start: number,
    end: number,
  ): Generator<{ chunk: MemoryChunk; from: number; to: number }> {
    let addr = Math.ceil(start / 8) * 8;
    while (addr + 8 <= end) {
      let ci = this.find(addr, 8);
      if (ci < 0) {
        ci = this.#firstStartingAfter(addr);
        const next = this.chunks[ci];
        if (!next || next.start >= end) return;
        addr = Math.ceil(next.start / 8) * 8;
        continue;
      }
      const chunk = this.chunks[ci]!;
      const chunkEnd = chunk.start + chunk.bytes.length;
      const to = Math.min(end, chunkEnd);
      yield { chunk, from: addr, to };
      if (to < chunkEnd) return;
      addr = Math.ceil(to / 8) * 8;
    }
  }

  /** Index of the first chunk starting after `addr` (chunks.length when none). */
  #firstStartingAfter(addr: number): number {
    let lo = 0, hi = this.#starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether every byte of [addr, addr+len) was copied. */
  has(addr: number, len = 1): boolean {
    return this.find(addr, len) >= 0;
  }

  /** Little-endian unsigned 64-bit word at `addr` as a number, or undefined when not copied. */
  u64(addr: number): number | undefined {
    const i = this.find(addr, 8);
    if (i < 0) return undefined;
    const v = this.#views[i]!;
    const off = addr - this.chunks[i]!.start;
    return v.getUint32(off, true) + v.getUint32(off + 4, true) * TWO32;
  }

  /** Exact 64-bit word, or undefined. */
  u64big(addr: number): bigint | undefined {
    const i = this.find(addr, 8);
    if (i < 0) return undefined;
    return this.#views[i]!.getBigUint64(addr - this.chunks[i]!.start, true);
  }

  u32(addr: number): number | undefined {
    const i = this.find(addr, 4);
    if (i < 0) return undefined;
    return this.#views[i]!.getUint32(addr - this.chunks[i]!.start, true);
  }

  u16(addr: number): number | undefined {
    const i = this.find(addr, 2);
    if (i < 0) return undefined;
    return this.#views[i]!.getUint16(addr - this.chunks[i]!.start, true);
  }

  u8(addr: number): number | undefined {
    const i = this.find(addr, 1);
    if (i < 0) return undefined;
    return this.chunks[i]!.bytes[addr - this.chunks[i]!.start];
  }

  /** A view (no copy) of [addr, addr+len), or undefined when not wholly copied. */
  slice(addr: number, len: number): Uint8Array | undefined {
    const i = this.find(addr, len);
    if (i < 0) return undefined;
    const c = this.chunks[i]!;
    const off = addr - c.start;
    return c.bytes.subarray(off, off + len);
  }

  /** NUL-terminated string at `addr` (at most `max` bytes), or undefined. */
  cstring(addr: number, max = 4096): string | undefined {
    const i = this.find(addr, 1);
    if (i < 0) return undefined;
    const c = this.chunks[i]!;
    const off = addr - c.start;
    const end = Math.min(c.bytes.length, off + max);
    let n = off;
    while (n < end && c.bytes[n] !== 0) n++;
    return new TextDecoder().decode(c.bytes.subarray(off, n));
  }
}
