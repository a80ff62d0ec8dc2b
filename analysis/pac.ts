// arm64e pointer authentication: strip the signature bits from pointers copied out of a target.
//
// On arm64e, code pointers (return addresses, function pointers, some data pointers) carry a PAC
// in their unused high bits. macOS user space uses 47-bit virtual addresses (T0SZ = 17), so the
// address is the low 47 bits and bits 47..63 are signature (bit 55 selects the address range and
// is 0 for user space; the top byte may also hold a TBI tag). Masking with PAC_MASK is exactly
// what ptrauth_strip() yields for a user pointer. On x86_64 the mask changes nothing: user
// addresses stay below 2^47 there too, so the same code runs for both architectures.

import type { MemoryImage } from "./memory.ts";

/** Low 47 bits: 0x0000_7fff_ffff_ffff. */
export const PAC_MASK = 0x7fff_ffff_ffffn;
/** Bits of the high 32-bit half that belong to the address (47 - 32 = 15 bits). */
const HI_MASK = 0x7fff;
const TWO32 = 4294967296;

/** The address part of a possibly signed 64-bit pointer, as an exact number. */
export function stripPac(value: bigint): number {
  return Number(BigInt.asUintN(64, value) & PAC_MASK);
}

/** The same from the two little-endian 32-bit halves of the word (no BigInt: for hot loops). */
export function stripPacHalves(lo: number, hi: number): number {
  return (lo >>> 0) + (hi & HI_MASK) * TWO32;
}

/** The stripped pointer stored at `addr` in copied memory, or undefined when not copied. */
export function readStrippedPointer(mem: MemoryImage, addr: number): number | undefined {
  const lo = mem.u32(addr);
  const hi = mem.u32(addr + 4);
  if (lo === undefined || hi === undefined) return undefined;
  return stripPacHalves(lo, hi);
}
