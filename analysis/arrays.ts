// The analysis's big typed arrays, from a source of zeroed memory the caller may choose.
//
// Why: where 4 KiB pages are slow to fault in (this project's VMs: ~14 µs a page, 3.6 ms per MB
// of fresh memory, measured with a C probe that writes one byte per page; the same memory with
// transparent huge pages: 0.07 ms per MB once the kernel has them), a heap of 10^6 blocks spends
// more time faulting in its ~300 MB of arrays than computing with them. V8 cannot ask for huge
// pages, so the command line hands the analysis a source that maps them (ffi/huge_arrays.ts); the
// analysis itself only asks for arrays here. Without a source, or for arrays under 1 MiB, they are
// plain typed arrays. Every array comes zeroed, as `new Uint32Array(n)` does.

/**
 * Zeroed memory of at least `bytes` bytes, or undefined to fall back to a plain array. `sparse`:
 * the caller sizes the array at an upper bound and touches only its start (no page of it should be
 * faulted in ahead of use). `prepare`, when the source has it: `bytes` more will be asked for soon
 * (a source may fault them in ahead, off the analysis's thread: ffi/huge_arrays.ts).
 */
export type ZeroedMemory = ((bytes: number, sparse?: boolean) => ArrayBuffer | undefined) & {
  prepare?: (bytes: number) => void;
  /** Take the memory of `buffer` (one this source gave) back now; it reads as zeros after. */
  release?: (buffer: ArrayBufferLike) => void;
  /** Fault `bytes` of `buffer` (a sparse one this source gave) in from `from`, off this thread. */
  prefault?: (buffer: ArrayBufferLike, from: number, bytes: number) => void;
  /**
   * Take `bytes` (memory nothing reads again: the heap's copy, once dropped) for the arrays asked
   * for next, zeroed when handed out: memory already resident, where fresh memory may cost 1-2 ms
   * per MB on a VM. False when the source cannot (the caller then gives the pages back itself).
   */
  adopt?: (bytes: Uint8Array) => boolean;
  /** Give back what was adopted and not handed out; adopt nothing more until `adopt` is called. */
  trim?: () => void;
};

let source: ZeroedMemory | undefined;

/** Arrays smaller than this are plain (a mapping per array costs more than their faults). */
const BIG = 1 << 20;
let smallest = BIG;

/**
 * Use `s` for every big array from now on (undefined: plain typed arrays). `minBytes`: the
 * smallest array it gives (tests pass 0, so that a small heap's arrays are released as a big
 * one's are).
 */
export function useZeroedMemory(s: ZeroedMemory | undefined, minBytes = BIG): void {
  source = s;
  smallest = minBytes;
}

function zeroed(bytes: number, sparse = false): ArrayBuffer | undefined {
  return bytes >= smallest && source ? source(bytes, sparse) : undefined;
}

/**
 * The arrays' memory is not needed any more: given back now, not when the garbage collector gets
 * to them (it does not run finalizers during the analysis's one synchronous pass, so every array
 * a phase made would otherwise count in the peak). Only for a phase's own scratch arrays, never
 * read again (a source that takes them back leaves them reading as zeros). Plain arrays: nothing.
 */
export function releaseArrays(...arrays: ArrayBufferView[]): void {
  if (!source?.release) return;
  for (const a of arrays) source.release(a.buffer);
}

/**
 * The first `elements` of each sparse array will be written soon (a hint: the source may fault
 * them in ahead, off the analysis's thread).
 */
export function prefaultArrays(elements: number, ...arrays: ArrayBufferView[]): void {
  if (!source?.prefault) return;
  for (const a of arrays) {
    const width = (a as Uint8Array).BYTES_PER_ELEMENT ?? 1;
    source.prefault(a.buffer, a.byteOffset, elements * width);
  }
}

/**
 * `bytes` (a piece of memory nothing reads again) may serve the arrays asked for next
 * (ZeroedMemory.adopt); false when the source does not take it.
 */
export function adoptForArrays(bytes: Uint8Array): boolean {
  return source?.adopt?.(bytes) ?? false;
}

/** What adoptForArrays took and no array uses goes back now (the analysis's end). */
export function trimAdopted(): void {
  source?.trim?.();
}

/** About `bytes` of arrays will be asked for next (a hint: the source may fault them in ahead). */
export function prepareArrays(bytes: number): void {
  source?.prepare?.(bytes);
}

export function u8Array(n: number, sparse = false): Uint8Array {
  const b = zeroed(n, sparse);
  return b ? new Uint8Array(b, 0, n) : new Uint8Array(n);
}

export function u16Array(n: number, sparse = false): Uint16Array {
  const b = zeroed(n * 2, sparse);
  return b ? new Uint16Array(b, 0, n) : new Uint16Array(n);
}

export function i32Array(n: number, sparse = false): Int32Array {
  const b = zeroed(n * 4, sparse);
  return b ? new Int32Array(b, 0, n) : new Int32Array(n);
}

export function u32Array(n: number, sparse = false): Uint32Array {
  const b = zeroed(n * 4, sparse);
  return b ? new Uint32Array(b, 0, n) : new Uint32Array(n);
}

export function f64Array(n: number, sparse = false): Float64Array {
  const b = zeroed(n * 8, sparse);
  return b ? new Float64Array(b, 0, n) : new Float64Array(n);
}

/** A copy of `a` (its first `n` elements) in memory from the same source. */
export function copyF64(a: Float64Array, n = a.length): Float64Array {
  const out = f64Array(n);
  out.set(n === a.length ? a : a.subarray(0, n));
  return out;
}

export function copyI32(a: Int32Array, n = a.length): Int32Array {
  const out = i32Array(n);
  out.set(n === a.length ? a : a.subarray(0, n));
  return out;
}

export function copyU32(a: Uint32Array, n = a.length): Uint32Array {
  const out = u32Array(n);
  out.set(n === a.length ? a : a.subarray(0, n));
  return out;
}

/** `a`'s elements in a new array of `cap` from the same source; `a`'s memory is given back. */
export function grownU32(a: Uint32Array, cap: number): Uint32Array {
  const b = u32Array(cap);
  b.set(a);
  releaseArrays(a);
  return b;
}

/** As grownU32, for 16-bit words. */
export function grownU16(a: Uint16Array, cap: number): Uint16Array {
  const b = u16Array(cap);
  b.set(a);
  releaseArrays(a);
  return b;
}

/** As grownU32, for bytes. */
export function grownU8(a: Uint8Array, cap: number): Uint8Array {
  const b = u8Array(cap);
  b.set(a);
  releaseArrays(a);
  return b;
}

/** As grownU32, for doubles. */
export function grownF64(a: Float64Array, cap: number): Float64Array {
  const b = f64Array(cap);
  b.set(a);
  releaseArrays(a);
  return b;
}
