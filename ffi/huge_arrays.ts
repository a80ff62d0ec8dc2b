// Zeroed memory backed by transparent huge pages, for the analysis's big arrays (analysis/arrays.ts
// says why), seen by TypeScript as ArrayBuffers over memory the shim mapped.
//
// Most arrays come from the shim's arena (shim/arena_linux.c): one reservation handed out by a bump
// pointer, whose helper thread faults pages in ahead of it on the other core, so that the analysis
// writes into memory already there instead of paying 1–7 ms per MB of faults on its own thread
// (bench/RESULTS.md). `prepare(bytes)` (analysis/arrays.ts prepareArrays) tells it how far ahead.
// Sparse arrays (sized at an upper bound, touched only at the start) and arrays the arena has no
// room for get their own 2 MiB-aligned MADV_HUGEPAGE mapping instead (hs_buffer_alloc, as the
// capture's destination buffers), faulted in on first touch. Either kind is given back when its
// ArrayBuffer is garbage. Where THP is off, the analysis keeps plain arrays.
//
// Once the heap's copy is dropped, its pages serve the arrays made after (`adopt`, first fit,
// zeroed when handed out): they are resident, so an array there costs a memset (~0.01 ms per MB)
// where fresh memory costs 1-2 ms per MB on a VM whose host took it back, and the arena hands out
// ~30 MB instead of ~190 MB at 10^6 blocks. Each such array keeps its copy buffer alive; what is
// past what the analysis says it will ask for goes back then (`prepare`), and what no array took at
// the analysis's end (`trim`).

import type { ZeroedMemory } from "../analysis/arrays.ts";
import { copiedAddress, transparentHugePages } from "./copy_buffers.ts";
import { shim } from "./shim.ts";

/** Address space the arena reserves (nothing is committed until used); smaller if refused. */
const ARENA_RESERVE = [2 ** 40, 2 ** 36, 2 ** 33];
/**
 * The helper keeps at least this much faulted in past the last array handed out (beyond what the
 * analysis said it will ask for: prepareArrays). It is resident at the peak: 32 MiB cost ~25 MB
 * of peak RSS against 8, in the same time (bench/RESULTS.md, sixth session).
 */
const ARENA_WINDOW = 8 * 2 ** 20;

const unmapper = new FinalizationRegistry<
  { ptr: bigint; mapped: bigint; arena?: bigint }
>(({ ptr, mapped, arena }) => {
  try {
    if (arena !== undefined) shim().hs_arena_release?.(arena, ptr, mapped);
    else shim().hs_buffer_free(ptr, mapped);
  } catch { /* nothing to do: the memory stays until exit */ }
});

let arenaHandle: bigint | null | undefined;
/**
 * Where each buffer of this source lies: an arena one, for release(); one mapped on its own (a
 * sparse array), for prefault().
 */
const buffers = new WeakMap<
  ArrayBufferLike,
  { ptr: bigint; bytes: number; arena: boolean; adopted?: boolean }
>();

/** A page: adopted memory is handed out and given back in whole pages. */
const PAGE = 4096n;
/** Adopted arrays start on this (a cache line; every typed array's alignment). */
const ADOPT_ALIGN = 64n;
/**
 * Memory adopted for arrays (the heap's copy, dropped): whole pages of a copy buffer, from `next`
 * (handed out below it) to `end`, and the buffer itself, which every array made there keeps alive
 * (`keep`): its pages are unmapped when it is garbage, never before the arrays in it.
 */
let adopted: { next: bigint; end: bigint; keep: ArrayBufferLike }[] = [];
const keep = new WeakMap<ArrayBufferLike, ArrayBufferLike>();

/** Give back what adopted range `r` has not handed out (its whole pages: zeros after); its size. */
function giveBack(r: { next: bigint; end: bigint }): bigint {
  const rest = r.end - r.next;
  if (rest > 0n) shim().hs_buffer_discard?.(r.next, rest);
  r.next = r.end;
  return rest > 0n ? rest : 0n;
}

/**
 * Give back adopted memory not handed out, the ranges with least left first, whole: at least
 * `bytes` (all of it if less). `exact`: `bytes` (whole pages) and no more, the last range cut at
 * its tail, so that the biggest ranges stay for big arrays.
 */
function giveBackAdopted(bytes: number, exact = false): void {
  let left = exact ? BigInt(Math.max(0, Math.floor(bytes))) & ~(PAGE - 1n) : BigInt(bytes);
  for (const r of [...adopted].sort((x, y) => Number((x.end - x.next) - (y.end - y.next)))) {
    if (left <= 0n) break;
    if (!exact || r.end - r.next <= left) {
      left -= giveBack(r);
      continue;
    }
    // Whole pages, none handed out (handed out is below `next`); `end` stays page-aligned.
    r.end -= left;
    shim().hs_buffer_discard?.(r.end, left);
    left = 0n;
  }
}

/** Bytes adopted and not handed out yet. */
function adoptedFree(): number {
  let free = 0n;
  for (const r of adopted) free += r.end - r.next;
  return Number(free);
}

/** The process's arena (opened on first use), or null where the shim has none or it failed. */
function arena(): bigint | null {
  if (arenaHandle !== undefined) return arenaHandle;
  arenaHandle = null;
  let lib;
  try {
    lib = shim();
  } catch {
    return null;
  }
  // HEAPSCOPE_ARENA=0: every array its own mapping (bench/analyze_file.ts compares the two).
  if (!lib.hs_arena_open || Deno.env.get("HEAPSCOPE_ARENA") === "0") return null;
  const h = new BigUint64Array(1);
  for (const reserve of ARENA_RESERVE) {
    if (lib.hs_arena_open(BigInt(reserve), BigInt(ARENA_WINDOW), h) === 0) {
      arenaHandle = h[0]!;
      break;
    }
  }
  return arenaHandle;
}

/** What the arena has done so far (undefined without one): for benchmarks and tests. */
export function arenaStats():
  | { handedOut: number; populated: number; helped: number; reserved: number; target: number }
  | undefined {
  const h = arenaHandle;
  if (h === undefined || h === null) return undefined;
  const out = new Float64Array(5);
  if (shim().hs_arena_stats?.(h, out) !== 0) return undefined;
  return {
    handedOut: out[0]!,
    populated: out[1]!,
    helped: out[2]!,
    reserved: out[3]!,
    target: out[4]!,
  };
}

/** A ZeroedMemory over huge pages, or undefined where the kernel gives none (THP "never"). */
export function hugeZeroedMemory(): ZeroedMemory | undefined {
  const thp = transparentHugePages();
  if (thp !== "always" && thp !== "madvise") return undefined;
  const ptr = new BigUint64Array(1), mapped = new BigUint64Array(1), advised = new Uint32Array(1);
  const view = (address: bigint, bytes: number): ArrayBuffer | undefined => {
    const pointer = Deno.UnsafePointer.create(address);
    return pointer === null ? undefined : Deno.UnsafePointerView.getArrayBuffer(pointer, bytes);
  };
  const source: ZeroedMemory = (bytes, sparse = false) => {
    let lib;
    try {
      lib = shim();
    } catch {
      return undefined; // no shim (a platform-neutral test): plain arrays
    }
    // Adopted memory first (resident: zeroing it costs ~0.01 ms per MB), first fit.
    const r = sparse ? undefined : adopted.find((r) => r.end - r.next >= BigInt(bytes));
    if (r) {
      const at = r.next;
      r.next = (at + BigInt(bytes) + ADOPT_ALIGN - 1n) & ~(ADOPT_ALIGN - 1n);
      if (r.next > r.end) r.next = r.end;
      const buffer = view(at, bytes);
      if (buffer) {
        new Uint8Array(buffer).fill(0);
        keep.set(buffer, r.keep);
        buffers.set(buffer, { ptr: at, bytes, arena: false, adopted: true });
        return buffer;
      }
    }
    // No adopted range holds it: as much adopted memory as it takes goes back first, the ranges
    // with least left first, so that the run's resident memory does not grow past what it was
    // when the copy was dropped (the copy there, the array here: both resident).
    if (!sparse) giveBackAdopted(bytes);
    const a = sparse ? null : arena();
    if (a !== null && lib.hs_arena_alloc?.(a, BigInt(bytes), ptr) === 0) {
      const buffer = view(ptr[0]!, bytes);
      if (buffer) {
        unmapper.register(buffer, { ptr: ptr[0]!, mapped: BigInt(bytes), arena: a });
        buffers.set(buffer, { ptr: ptr[0]!, bytes, arena: true });
      }
      return buffer;
    }
    if (lib.hs_buffer_alloc(BigInt(bytes), 1, ptr, mapped, advised) !== 0) return undefined;
    const buffer = view(ptr[0]!, Number(mapped[0]!));
    if (buffer) {
      unmapper.register(buffer, { ptr: ptr[0]!, mapped: mapped[0]! });
      buffers.set(buffer, { ptr: ptr[0]!, bytes: Number(mapped[0]!), arena: false });
    }
    return buffer;
  };
  // Only the arena's buffers are given back early: their pages are dropped (MADV_DONTNEED) and
  // the mapping stays, so a stray later read finds zeros, never an unmapped page.
  source.release = (buffer) => {
    const a = arenaHandle;
    const at = buffers.get(buffer);
    if (at?.adopted) {
      // Inside a copy buffer this array keeps alive: its whole pages go back (zeros after).
      buffers.delete(buffer);
      shim().hs_buffer_discard?.(at.ptr, BigInt(at.bytes));
      return;
    }
    if (a === undefined || a === null || !at?.arena) return;
    buffers.delete(buffer);
    shim().hs_arena_release?.(a, at.ptr, BigInt(at.bytes));
  };
  // The helper faults the start of a sparse array in ahead of the analysis filling it.
  source.prefault = (buffer, from, bytes) => {
    const a = arena();
    const own = buffers.get(buffer);
    if (a === null || !own || own.arena || from >= own.bytes) return;
    const len = Math.min(bytes, own.bytes - from);
    shim().hs_arena_populate?.(a, own.ptr + BigInt(from), BigInt(Math.max(0, Math.floor(len))));
  };
  // What adopted memory will serve is not faulted in ahead. Adopted memory past what is said to
  // come goes back now rather than at the analysis's end (trim): resident and never asked for, it
  // made the run's peak after the drop (at 10^6 blocks, 216 MB adopted against 179 said to come).
  source.prepare = (bytes) => {
    giveBackAdopted(adoptedFree() - bytes, true);
    const a = arena();
    const rest = Math.floor(bytes - adoptedFree());
    if (a !== null && rest > 0) shim().hs_arena_prepare?.(a, BigInt(rest));
  };
  source.adopt = (bytes) => {
    const address = copiedAddress(bytes);
    if (address === undefined) return false;
    const next = (address + PAGE - 1n) & ~(PAGE - 1n);
    const end = (address + BigInt(bytes.length)) & ~(PAGE - 1n);
    if (end <= next) return false;
    // The bytes outside whole pages stay as they are (a neighbouring chunk's may share the page).
    adopted.push({ next, end, keep: bytes.buffer });
    return true;
  };
  source.trim = () => {
    for (const r of adopted) giveBack(r);
    adopted = [];
  };
  return source;
}
