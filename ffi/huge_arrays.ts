// Zeroed memory backed by transparent huge pages, for the analysis's big arrays (analysis/arrays.ts
// says why). Each request is its own 2 MiB-aligned MADV_HUGEPAGE mapping from the shim
// (hs_buffer_alloc, the capture's destination buffers use the same), seen by TypeScript as an
// ArrayBuffer over that memory and unmapped when the ArrayBuffer is garbage. Pages are faulted in
// on first touch, one fault per 2 MiB. Where THP is off the analysis keeps plain arrays.

import type { ZeroedMemory } from "../analysis/arrays.ts";
import { transparentHugePages } from "./copy_buffers.ts";
import { shim } from "./shim.ts";

const unmapper = new FinalizationRegistry<{ ptr: bigint; mapped: bigint }>(({ ptr, mapped }) => {
  try {
    shim().hs_buffer_free(ptr, mapped);
  } catch { /* nothing to do: the mapping stays until exit */ }
});

/** A ZeroedMemory over huge pages, or undefined where the kernel gives none (THP "never"). */
export function hugeZeroedMemory(): ZeroedMemory | undefined {
  const thp = transparentHugePages();
  if (thp !== "always" && thp !== "madvise") return undefined;
  const ptr = new BigUint64Array(1), mapped = new BigUint64Array(1), advised = new Uint32Array(1);
  return (bytes: number) => {
    let lib;
    try {
      lib = shim();
    } catch {
      return undefined; // no shim (a platform-neutral test): plain arrays
    }
    if (lib.hs_buffer_alloc(BigInt(bytes), 1, ptr, mapped, advised) !== 0) return undefined;
    const pointer = Deno.UnsafePointer.create(ptr[0]!);
    if (pointer === null) return undefined;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, Number(mapped[0]!));
    unmapper.register(buffer, { ptr: ptr[0]!, mapped: mapped[0]! });
    return buffer;
  };
}
