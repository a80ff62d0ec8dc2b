// CopyBuffers: destination memory for a capture, mapped by the shim and faulted in before the stop.
//
// Why the shim maps it: in this VM (and others) the first process_vm_readv into 4 KiB pages costs
// ~1.3 s per 560 MB even after every page was written (the second copy into the same pages: 0.1 s),
// while a destination backed by transparent huge pages (2 MiB-aligned, MADV_HUGEPAGE, faulted in
// with MADV_POPULATE_WRITE) takes its first copy at the speed of the second: 70 ms (bench/
// RESULTS.md, "the pause"). V8 cannot ask for either, so the shim maps the blocks and TypeScript
// sees each as an ArrayBuffer over that memory (Deno.UnsafePointerView.getArrayBuffer). A block
// is unmapped when its ArrayBuffer is garbage (a FinalizationRegistry): every Uint8Array handed
// out keeps it alive, so the snapshot's chunks own the memory and dropping them frees it.
//
// Where THP is off ("never"), the blocks are plain 4 KiB pages faulted in the same way, and
// `hugePages` says so (the capture warns that the pause will be longer). A request that no longer
// fits the prepared blocks gets fresh memory (cold: its faults land in the pause), so a memory map
// that grew past the slack costs time, never correctness. O(blocks) per take; preparing is
// O(bytes) in the kernel (page zeroing), done before the target is stopped.

import { shim, unwrap } from "./shim.ts";

/** Largest block: typed arrays and the OS handle 1 GiB mappings everywhere. */
const BLOCK_BYTES = 1 << 30;
/** Faulted in per shim call, so the progress line moves (≈10 ms per step with huge pages here). */
const POPULATE_STEP = 64 << 20;
/** Alignment of each piece handed out (the smallest page size of x86_64 and aarch64). */
const PAGE = 4096;

/** Unmaps a block once its ArrayBuffer is unreachable. */
const unmapper = new FinalizationRegistry<{ ptr: bigint; mapped: bigint }>(
  ({ ptr, mapped }) => {
    try {
      shim().hs_buffer_free(ptr, mapped);
    } catch { /* the shim cannot be unloaded before this: nothing to do if it failed */ }
  },
);

/** Each block's address, by its ArrayBuffer (for discardCopied). */
const bases = new WeakMap<ArrayBufferLike, bigint>();

/** The address of `bytes`' first byte when it is a piece of these buffers, else undefined. */
export function copiedAddress(bytes: Uint8Array): bigint | undefined {
  const base = bases.get(bytes.buffer);
  return base === undefined ? undefined : base + BigInt(bytes.byteOffset);
}

/**
 * Give the pages of `bytes` (a piece of these buffers: a snapshot's chunk) back now; they read as
 * zeros afterwards and the mapping stays, so a stray read finds zeros, never an unmapped page.
 * The pages the analysis's later arrays then fault in are these, warm (on this VM ~0.06 ms per MB
 * against ~2.7 for memory the hypervisor has not backed yet). False when `bytes` is not from
 * here (a snapshot file's or a core's memory) or the shim has no hs_buffer_discard.
 */
export function discardCopied(bytes: Uint8Array): boolean {
  const base = bases.get(bytes.buffer);
  const discard = base === undefined ? undefined : shim().hs_buffer_discard;
  if (base === undefined || !discard) return false;
  return discard(base + BigInt(bytes.byteOffset), BigInt(bytes.length)) === 0;
}

/** Whether transparent huge pages can back a MADV_HUGEPAGE mapping here ("always" or "madvise"). */
export function transparentHugePages(): "always" | "madvise" | "never" | "unknown" {
  try {
    const text = Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");
    const m = /\[(always|madvise|never)\]/.exec(text);
    return (m?.[1] as "always" | "madvise" | "never" | undefined) ?? "unknown";
  } catch {
    return "unknown";
  }
}

interface Block {
  bytes: Uint8Array;
  used: number;
}

export interface CopyBufferOptions {
  /** Back the blocks with transparent huge pages when the kernel allows (default true). */
  hugePages?: boolean;
  /** Called while faulting the blocks in: bytes done of the total. */
  onProgress?: (done: number, total: number) => void;
}

export class CopyBuffers {
  #blocks: Block[] = [];
  #coldBytes = 0;
  #hugeBytes = 0;
  #advised = false;

  /**
   * Blocks for `total` bytes (split at BLOCK_BYTES, never inside one of `lengths`, the spans in
   * copy order), every page faulted in writable before this returns.
   */
  constructor(lengths: readonly number[], slack: number, opts: CopyBufferOptions = {}) {
    const want = opts.hugePages ?? true;
    const sizes: number[] = [];
    let size = 0;
    for (const len of lengths) {
      if (size > 0 && size + len > BLOCK_BYTES) {
        sizes.push(size);
        size = 0;
      }
      size += len;
    }
    if (size + slack > 0) sizes.push(size + slack);
    const blocks = sizes.map((n) => mapBlock(n, want));
    // The shim rounds each block up to 2 MiB: that memory is mapped anyway, so it is handed out too.
    const total = blocks.reduce((s, b) => s + b.bytes.length, 0);
    let done = 0;
    for (const block of blocks) {
      const n = block.bytes.length;
      this.#advised ||= block.advised;
      for (let from = 0; from < n; from += POPULATE_STEP) {
        const to = Math.min(n, from + POPULATE_STEP);
        const huge = new BigUint64Array(1);
        unwrap(
          shim().hs_buffer_populate(block.ptr, BigInt(from), BigInt(to), huge),
          "Cannot prepare the copy buffers",
        );
        this.#hugeBytes += Number(huge[0]!);
        done += to - from;
        opts.onProgress?.(done, total);
      }
      this.#blocks.push({ bytes: block.bytes, used: 0 });
    }
  }

  /** `len` zeroed bytes: the first block with room (faulted in already), else fresh memory. */
  take(len: number): Uint8Array {
    for (const b of this.#blocks) {
      if (b.bytes.length - b.used >= len) {
        const out = b.bytes.subarray(b.used, b.used + len);
        // The next piece starts on a page: the kernel copies each target page into one page then,
        // not two halves (about 25 % faster: 54 vs 66 ms for 243 MB here).
        b.used = Math.min(b.bytes.length, Math.ceil((b.used + len) / PAGE) * PAGE);
        return out;
      }
    }
    this.#coldBytes += len;
    return mapBlock(Math.max(len, 1), false).bytes.subarray(0, len);
  }

  /**
   * Give back the prepared pages no piece was taken from (the slack for growth before the stop,
   * the 2 MiB rounding): faulted in before the stop, they would otherwise stay resident through
   * the analysis's peak (~40 MB at 10^7 blocks). After this, take() hands out fresh memory only.
   * Returns the bytes given back.
   */
  discardUnused(): number {
    let bytes = 0;
    for (const b of this.#blocks) {
      if (b.used < b.bytes.length && discardCopied(b.bytes.subarray(b.used))) {
        bytes += b.bytes.length - b.used;
      }
      b.used = b.bytes.length;
    }
    return bytes;
  }

  /** Bytes prepared before the stop. */
  get preparedBytes(): number {
    return this.#blocks.reduce((s, b) => s + b.bytes.length, 0);
  }

  /** Bytes handed out from fresh memory because the prepared blocks were full. */
  get coldBytes(): number {
    return this.#coldBytes;
  }

  /** Prepared bytes that the kernel backs with huge pages (0 where it cannot say). */
  get hugeBytes(): number {
    return this.#hugeBytes;
  }

  /** Whether the kernel took the huge-page advice for the blocks. */
  get hugePagesAdvised(): boolean {
    return this.#advised;
  }
}

/** One shim-mapped block of `len` bytes as a Uint8Array; unmapped when that becomes garbage. */
function mapBlock(
  len: number,
  huge: boolean,
): { bytes: Uint8Array; ptr: bigint; advised: boolean } {
  const ptr = new BigUint64Array(1), mapped = new BigUint64Array(1), advised = new Uint32Array(1);
  unwrap(
    shim().hs_buffer_alloc(BigInt(len), huge ? 1 : 0, ptr, mapped, advised),
    `Cannot map ${len} bytes for the copy`,
  );
  const pointer = Deno.UnsafePointer.create(ptr[0]!);
  if (pointer === null) throw new Error("hs_buffer_alloc returned a null pointer");
  const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, Number(mapped[0]!));
  unmapper.register(buffer, { ptr: ptr[0]!, mapped: mapped[0]! });
  bases.set(buffer, ptr[0]!);
  return { bytes: new Uint8Array(buffer), ptr: ptr[0]!, advised: advised[0] === 1 };
}
