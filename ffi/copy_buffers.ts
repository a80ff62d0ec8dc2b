// CopyBuffers: destination memory for a capture, allocated and faulted in before the target stops.
//
// The first write to fresh anonymous memory costs a page fault (about 1–4 ms per MB in a VM), so a
// copy into freshly allocated buffers pays that inside the pause. The buffers are sized from the
// copy planned before the attach (plus slack for growth), touched once, then handed out in order
// while the target is stopped; a request that no longer fits gets fresh (cold) memory, so a map
// that grew past the slack costs time, never correctness. Every buffer starts on a page boundary:
// a large ArrayBuffer comes from malloc 16 bytes past one, and the kernel's copy of each target
// page into two half pages then runs about 25 % slower (66 vs 54 ms for 243 MB here).
// O(pages) to touch, O(blocks) per take.

/** Largest single block: a plan bigger than this is split (V8 handles bigger, the OS may not). */
const BLOCK_BYTES = 1 << 30;

export class CopyBuffers {
  #blocks: Uint8Array[] = [];
  #used: number[] = [];
  #coldBytes = 0;
  #pageSize: number;

  /**
   * Blocks for spans of `lengths` (in copy order) plus `slack` bytes, every page written once.
   * `pageSize` is the stride of the touch (any power of two ≤ the real page size works).
   */
  constructor(lengths: readonly number[], slack: number, pageSize = 4096) {
    this.#pageSize = pageSize;
    let size = 0;
    const flush = (extra: number) => {
      if (size + extra === 0) return;
      const block = alignedBytes(size + extra, pageSize);
      // One store per page faults it in; fresh pages are zero, so storing 0 changes nothing.
      for (let i = 0; i < block.length; i += pageSize) block[i] = 0;
      this.#blocks.push(block);
      this.#used.push(0);
      size = 0;
    };
    for (const len of lengths) {
      if (size > 0 && size + len > BLOCK_BYTES) flush(0);
      size += len;
    }
    flush(slack);
  }

  /** `len` zeroed bytes: the first block with room (pre-touched), else fresh memory. */
  take(len: number): Uint8Array {
    for (let i = 0; i < this.#blocks.length; i++) {
      const block = this.#blocks[i]!, used = this.#used[i]!;
      if (block.length - used >= len) {
        this.#used[i] = used + len;
        return block.subarray(used, used + len);
      }
    }
    this.#coldBytes += len;
    return alignedBytes(len, this.#pageSize);
  }

  /** Bytes prepared before the stop. */
  get preparedBytes(): number {
    return this.#blocks.reduce((s, b) => s + b.length, 0);
  }

  /** Bytes handed out from fresh memory because the prepared blocks were full. */
  get coldBytes(): number {
    return this.#coldBytes;
  }
}

/** `len` zeroed bytes starting on a multiple of `align` (a power of two). */
function alignedBytes(len: number, align: number): Uint8Array {
  const raw = new Uint8Array(len + align);
  const addr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw)) ?? 0);
  const skew = (align - (addr % align)) % align;
  return raw.subarray(skew, skew + len);
}
