// Random access to a Snapshot's copied memory: bounds-checked reads of target words by address.
//
// Lookups binary-search the chunk list (O(log chunks)) with a one-entry cache, so sequential reads
// are O(1). 64-bit words come back as numbers (exact up to 2^53, which covers every user address);
// `u64big` is there for the rare exact comparison of full 64-bit values.

import type { MemoryChunk } from "./types.ts";

const TWO32 = 4294967296;

/** One copied chunk as 32-bit words (MemoryImage.window). */
export interface WordWindow {
  readonly start: number;
  readonly end: number;
  readonly words: Uint32Array;
}

/** A window that holds nothing: every address falls outside it. */
export const NO_WINDOW: WordWindow = { start: 0, end: 0, words: new Uint32Array(2) };

/** Low 32 bits of a user address (exact for any integer below 2^53). */
export function lo32(a: number): number {
  return a >>> 0;
}

/** High 32 bits of a user address below 2^53. */
export function hi32(a: number): number {
  return (a / TWO32) >>> 0;
}

export class MemoryImage {
  /** Sorted by start; only drop() changes it. */
  chunks: readonly MemoryChunk[] = [];
  #starts = new Float64Array(0);
  #views: DataView[] = [];
  #words: (Uint32Array | undefined)[] = [];
  #windows: (WordWindow | undefined)[] = [];
  #last = 0;

  constructor(chunks: readonly MemoryChunk[]) {
    this.#use([...chunks].sort((a, b) => a.start - b.start));
  }

  #use(sorted: readonly MemoryChunk[]): void {
    this.chunks = sorted;
    this.#starts = Float64Array.from(sorted, (c) => c.start);
    this.#views = sorted.map((c) =>
      new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length)
    );
    this.#words = [];
    this.#windows = [];
    this.#last = 0;
  }

  /**
   * Forget the chunks `gone` says so of: reads there find nothing from now on, as memory that was
   * not copied. The caller gives their pages back (analysis/analyze.ts, AnalyzeOptions.discard).
   * A WordReader or window taken before still holds the old bytes' view. `gone` is asked once per
   * chunk. Returns the chunks forgotten.
   */
  drop(gone: (chunk: MemoryChunk) => boolean): MemoryChunk[] {
    const dropped = new Set(this.chunks.filter(gone));
    if (dropped.size > 0) this.#use(this.chunks.filter((c) => !dropped.has(c)));
    return [...dropped];
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

  /**
   * A reader of 64-bit words that keeps the last chunk's words at hand: a read inside it is two
   * array loads (no search, no DataView). For loops that read many words close together.
   */
  wordReader(): WordReader {
    return new WordReader(this);
  }

  /**
   * The chunk holding [addr, addr+len) as a window of 32-bit words, or undefined. For the hottest
   * loops: they keep the window's fields in locals and index `words` themselves (4× faster than a
   * call per word here), reloading only when an address falls outside [start, end). The word of
   * 4-aligned `a` is words[(a - start) >>> 2] (low half), then the high half.
   */
  window(addr: number, len = 8): WordWindow | undefined {
    const i = this.find(addr, len);
    if (i < 0) return undefined;
    // Callers index words with (a - start) >>> 2: a chunk of 4 GiB or more would wrap (a core's
    // segment can be that big); they read such a chunk word by word instead.
    if (this.chunks[i]!.bytes.length >= TWO32) return undefined;
    let w = this.#windows[i];
    if (!w) {
      const c = this.chunks[i]!;
      w = this.#windows[i] = {
        start: c.start,
        end: c.start + c.bytes.length,
        words: this.wordsOf(i),
      };
    }
    return w;
  }

  /** The words of chunk `i` as a Uint32Array (copied once when its bytes are not 4-aligned). */
  wordsOf(i: number): Uint32Array {
    let w = this.#words[i];
    if (!w) {
      const b = this.chunks[i]!.bytes;
      const bytes = b.byteOffset % 4 === 0 ? b : b.slice();
      w = this.#words[i] = new Uint32Array(
        bytes.buffer,
        bytes.byteOffset,
        Math.floor(bytes.length / 4),
      );
    }
    return w;
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

/** See MemoryImage.wordReader(). */
export class WordReader {
  #memory: MemoryImage;
  #start = 0;
  #end = 0;
  #words: Uint32Array = new Uint32Array(0);

  constructor(memory: MemoryImage) {
    this.#memory = memory;
  }

  /** The little-endian 64-bit word at 8-aligned-or-not `addr`, or undefined when not copied. */
  u64(addr: number): number | undefined {
    if (addr < this.#start || addr + 8 > this.#end) {
      const i = this.#memory.find(addr, 8);
      if (i < 0) return undefined;
      const c = this.#memory.chunks[i]!;
      this.#start = c.start;
      this.#end = c.start + c.bytes.length;
      this.#words = this.#memory.wordsOf(i);
    }
    const off = addr - this.#start;
    if ((off & 3) !== 0) return this.#memory.u64(addr);
    const k = off / 4; // not >>> 2: a chunk may pass 4 GiB
    return this.#words[k]! + this.#words[k + 1]! * TWO32;
  }

  /** The low 32 bits at `addr` (4-aligned), or undefined. */
  u32(addr: number): number | undefined {
    if (addr < this.#start || addr + 4 > this.#end || ((addr - this.#start) & 3) !== 0) {
      return this.#memory.u32(addr);
    }
    return this.#words[(addr - this.#start) / 4]!;
  }
}
