// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): glibc safe-linking (2.32+): REVEAL_PTR for tcache `next` and fastbin `fd` chains.

const TWO32 = 4294967296;

/**
 * The pointer stored as `stored` in the field at `fieldAddress`: (fieldAddress >> 12) XOR stored.
 * Works on 53-bit numbers by XOR-ing 32-bit halves (JS bitwise operators are 32-bit).
 */
export function reveal(fieldAddress: number, stored: number): number {
  const mask = Math.floor(fieldAddress / 4096);
  const lo = ((mask % TWO32) ^ (stored % TWO32)) >>> 0;
  const hi = (Math.floor(mask / TWO32) ^ Math.floor(stored / TWO32)) >>> 0;
  return hi * TWO32 + lo;
}

/** PROTECT_PTR, the inverse of `reveal` (used to build synthetic heaps). */
export function protect(fieldAddress: number, target: number): number {
  return reveal(fieldAddress, target);
}
