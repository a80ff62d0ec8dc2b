// BlockPrefixes: the first bytes of chosen blocks, copied out of a snapshot into one buffer.
//
// leaks.json shows the first 64 bytes of each leaked block; keeping only those lets the caller drop
// the copied memory (hundreds of MB) before writing the output. O(blocks · prefix) to build,
// O(log blocks) per lookup.

import type { MemoryImage } from "./memory.ts";

/** Bytes kept per leaked block (leaks.json's default `bytes` field). */
export const LEAKED_PREFIX_BYTES = 64;

export class BlockPrefixes {
  /** Node ids, ascending. */
  readonly #ids: Uint32Array;
  /** Bytes of `#ids[k]` are `#bytes[#start[k] .. #start[k + 1])`. */
  readonly #start: Uint32Array;
  readonly #bytes: Uint8Array;

  private constructor(ids: Uint32Array, start: Uint32Array, bytes: Uint8Array) {
    this.#ids = ids;
    this.#start = start;
    this.#bytes = bytes;
  }

  static empty(): BlockPrefixes {
    return new BlockPrefixes(new Uint32Array(0), new Uint32Array(1), new Uint8Array(0));
  }

  /**
   * Up to `max` first bytes of each block in `ids` (ascending), for blocks wholly copied up to that
   * length; a block whose prefix was not copied gets none.
   */
  static copy(
    memory: MemoryImage,
    ids: Uint32Array,
    addresses: Float64Array,
    sizes: Float64Array,
    max = LEAKED_PREFIX_BYTES,
  ): BlockPrefixes {
    const start = new Uint32Array(ids.length + 1);
    let total = 0;
    for (let k = 0; k < ids.length; k++) total += Math.min(max, sizes[ids[k]!]!);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (let k = 0; k < ids.length; k++) {
      start[k] = at;
      const id = ids[k]!;
      const address = addresses[id]!, len = Math.min(max, sizes[id]!);
      const ci = len > 0 ? memory.find(address, len) : -1;
      if (ci < 0) continue;
      const c = memory.chunks[ci]!;
      const off = address - c.start;
      bytes.set(c.bytes.subarray(off, off + len), at);
      at += len;
    }
    start[ids.length] = at;
    return new BlockPrefixes(ids, start, bytes.subarray(0, at));
  }

  /** The kept bytes of node `id` (a view), or undefined when none were kept. */
  get(id: number): Uint8Array | undefined {
    const ids = this.#ids;
    let lo = 0, hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = ids[mid]!;
      if (v === id) {
        const s = this.#start[mid]!, e = this.#start[mid + 1]!;
        return e > s ? this.#bytes.subarray(s, e) : undefined;
      }
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}
