// A reusable byte buffer that JSON text is encoded into directly: numbers and hex as ASCII digits,
// constant fragments pre-encoded, other strings through TextEncoder.encodeInto.
//
// Why: leaks.json at 10^6 blocks is ~257 MB of mostly ASCII digits; building strings and then
// encoding each piece cost ~1 s, writing digits into one buffer that is flushed and reused costs a
// fraction of that and allocates nothing per node. Every method is O(bytes written).

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 4294967296;
const HEX_DIGITS = new Uint8Array([..."0123456789abcdef"].map((c) => c.charCodeAt(0)));
const encoder = new TextEncoder();

/** Bytes of `text` (UTF-8), for fragments written many times. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** ASCII digits of every value 0..99, two bytes each. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

/**
 * Decimal digits of an integer 0 <= n < 2^32 at `buf[p]`; returns the position after them. The
 * caller guarantees 10 bytes of room (the hot path of the node and edge lists: no checks).
 */
export function putUint32(buf: Uint8Array, p: number, n: number): number {
  let v = n >>> 0;
  const digits = v < 10
    ? 1
    : v < 100
    ? 2
    : v < 1000
    ? 3
    : v < 10000
    ? 4
    : v < 100000
    ? 5
    : v < 1000000
    ? 6
    : v < 10000000
    ? 7
    : v < 100000000
    ? 8
    : v < 1000000000
    ? 9
    : 10;
  const end = p + digits;
  let q = end;
  while (v >= 100) {
    const r = v % 100;
    v = (v / 100) >>> 0;
    buf[--q] = PAIRS[2 * r + 1]!;
    buf[--q] = PAIRS[2 * r]!;
  }
  if (v >= 10) {
    buf[--q] = PAIRS[2 * v + 1]!;
    buf[--q] = PAIRS[2 * v]!;
  } else buf[--q] = 48 + v;
  return end;
}

/**
 * Lower-case hex digits (no prefix, no leading zeros) of an integer 0 <= n <= 2^53 - 1 at
 * `buf[p]`; returns the position after them. The caller guarantees 14 bytes of room.
 */
export function putHex(buf: Uint8Array, p: number, n: number): number {
  const hi = Math.floor(n / TWO32);
  const lo = (n - hi * TWO32) >>> 0;
  if (hi === 0) {
    let shift = 28;
    while (shift > 0 && (lo >>> shift) === 0) shift -= 4;
    for (; shift >= 0; shift -= 4) buf[p++] = HEX_DIGITS[(lo >>> shift) & 15]!;
    return p;
  }
  let shift = 20;
  while ((hi >>> shift) === 0) shift -= 4;
  for (; shift >= 0; shift -= 4) buf[p++] = HEX_DIGITS[(hi >>> shift) & 15]!;
  for (shift = 28; shift >= 0; shift -= 4) buf[p++] = HEX_DIGITS[(lo >>> shift) & 15]!;
  return p;
}

/** `b` at `buf[p]`; returns the position after it. (`set` beats a byte loop ~2× even at 7 bytes.) */
export function putBytes(buf: Uint8Array, p: number, b: Uint8Array): number {
  buf.set(b, p);
  return p + b.length;
}

export class ByteWriter {
  /** Bytes written since the last `take()`; valid up to `pos`. */
  buf: Uint8Array;
  pos = 0;

  constructor(capacity = 1 << 20) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  /**
   * The bytes written so far, as a view of the buffer (not a copy), and a fresh start: the view is
   * only valid until the next write.
   */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }

  /** Room for `n` more bytes (grows the buffer only for an item bigger than what is left). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** One byte (an ASCII character code). */
  byte(c: number): void {
    if (this.pos === this.buf.length) this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** Pre-encoded bytes (short fragments are copied by hand: faster than `set` below ~32 bytes). */
  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    if (n < 32) { for (let i = 0; i < n; i++) buf[p++] = b[i]!; }
    else {
      buf.set(b, p);
      p += n;
    }
    this.pos = p;
  }

  /** Any string, UTF-8 encoded. */
  text(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.ensure(s.length * 3);
    this.pos += encoder.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  /** A number as JSON.stringify writes it; non-negative safe integers without a string. */
  number(n: number): void {
    if (n >= 0 && n < TWO32 && n % 1 === 0) {
      if (this.pos + 10 > this.buf.length) this.ensure(10);
      this.pos = putUint32(this.buf, this.pos, n);
      return;
    }
    if (!(n >= 0 && n <= MAX_SAFE) || n % 1 !== 0) {
      this.text(JSON.stringify(n));
      return;
    }
    this.ensure(16);
    const buf = this.buf;
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    let v = n;
    while (v >= 1) {
      const q = Math.floor(v / 10);
      buf[--p] = 48 + (v - q * 10);
      v = q;
    }
  }

  /** Lower-case hex digits of a non-negative safe integer, no prefix, no leading zeros. */
  hex(n: number): void {
    if (!(n >= 0 && n <= MAX_SAFE) || n % 1 !== 0) {
      this.text(n.toString(16));
      return;
    }
    this.ensure(16);
    this.pos = putHex(this.buf, this.pos, n);
  }
}
