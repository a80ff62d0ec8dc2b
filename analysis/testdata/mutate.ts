// Test helper: a seeded PRNG and the mutators the fuzz tests apply to snapshots, files and JSON.
//
// Everything is deterministic from one 32-bit seed (mulberry32), so a failing input is replayed
// from its seed alone. Snapshot mutation is copy-on-write: only the memory chunks it touches are
// copied, the others are shared with the base snapshot. O(mutations + bytes of touched chunks).

import type { MemoryChunk, Snapshot } from "../types.ts";

const TWO32 = 4294967296;

/** mulberry32: a small, fast, well-mixed 32-bit generator. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Next 32-bit unsigned integer. */
  u32(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / TWO32;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick: empty list");
    return items[this.int(items.length)]!;
  }
}

/** The seed of input `i` of a run with base seed `base` (splitmix-style mixing). */
export function seedFor(base: number, i: number): number {
  let z = (Math.imul(base >>> 0, 0x9e3779b1) + Math.imul(i + 1, 0x85ebca77)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 64-bit word as two 32-bit halves (values above 2^53 do not fit a number exactly). */
export interface Word {
  lo: number;
  hi: number;
}

const word = (n: number): Word => ({ lo: n % TWO32 >>> 0, hi: Math.floor(n / TWO32) >>> 0 });

/** PROTECT_PTR(at, target): how glibc 2.32+ stores a tcache/fastbin link at `at`. */
function mangled(at: number, target: number): Word {
  const a = BigInt(Math.max(0, Math.floor(at))), t = BigInt(Math.max(0, Math.floor(target)));
  const v = BigInt.asUintN(64, (a >> 12n) ^ t);
  return { lo: Number(v & 0xffffffffn), hi: Number(v >> 32n) };
}

/** The safe-linked form of a pointer to `addr` stored at `addr`: REVEAL gives `addr`. */
const mangledSelf = (addr: number): Word => mangled(addr, addr);

/** Sizes that break walkers: huge, negative as signed, off by one, flag-only, page-crossing. */
const NASTY_SIZES: Word[] = [
  { lo: 0xfffffff1, hi: 0xffffffff },
  { lo: 0xfffffff0, hi: 0x7fffffff },
  { lo: 0x00000001, hi: 0x00100000 }, // 2^52 | P
  { lo: 0x00000003, hi: 0x00010000 }, // 2^48 | P | M
  word(0x7fffffff),
  word(0x80000000),
  word(0xffffffff),
  word(0x100000000),
  word(0x11),
  word(0x10),
  word(0x8),
  word(0x1),
  word(0x2),
  word(0x4),
  word(0x7),
  word(0x21),
  word(0x31 + 8),
  word(0x1002),
  word(0x4000000),
  word(0x4000002),
];

/** What the snapshot mutator may aim at: chunk headers and list/pointer fields of the allocator. */
export interface Hints {
  /** Chunk header addresses (prev_size at +0, size at +8). */
  chunks: number[];
  /** Addresses of pointer fields: list heads and links, arena `top`/`next`, heap_info, TLS slots. */
  pointers: number[];
  /** Address ranges where mutations matter most (arena structs, heaps, tcache structs). */
  hot: { start: number; end: number }[];
  /** List links and the list members they may be pointed at to make cycles and shared tails. */
  links?: { at: number; targets: number[]; safeLinked: boolean }[];
}

/** Result of a mutation: the new input and a human-readable list of what was done. */
export interface Mutated<T> {
  value: T;
  ops: string[];
}

const hex = (n: number) => "0x" + n.toString(16);

/** A writable view of the target address space of `base`, copying chunks on first write. */
class CowMemory {
  chunks: MemoryChunk[];
  /** The chunks this mutation owns (by identity: indexes shift when a chunk is dropped). */
  #copied = new Set<MemoryChunk>();
  constructor(base: readonly MemoryChunk[]) {
    this.chunks = [...base];
  }
  #index(addr: number, len: number): number {
    return this.chunks.findIndex((c) => addr >= c.start && addr + len <= c.start + c.bytes.length);
  }
  writable(addr: number, len: number): { bytes: Uint8Array; off: number } | undefined {
    const i = this.#index(addr, len);
    if (i < 0) return undefined;
    const c = this.chunks[i]!;
    if (!this.#copied.has(c)) {
      this.chunks[i] = { start: c.start, bytes: c.bytes.slice() };
      this.#copied.add(this.chunks[i]!);
    }
    const w = this.chunks[i]!;
    return { bytes: w.bytes, off: addr - w.start };
  }
  read64(addr: number): Word | undefined {
    const i = this.#index(addr, 8);
    if (i < 0) return undefined;
    const c = this.chunks[i]!;
    const v = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length);
    return { lo: v.getUint32(addr - c.start, true), hi: v.getUint32(addr - c.start + 4, true) };
  }
  write64(addr: number, w: Word): boolean {
    const at = this.writable(addr, 8);
    if (at === undefined) return false;
    const v = new DataView(at.bytes.buffer, at.bytes.byteOffset, at.bytes.length);
    v.setUint32(at.off, w.lo >>> 0, true);
    v.setUint32(at.off + 4, w.hi >>> 0, true);
    return true;
  }
}

/** A random copied address, 8-aligned: a hot range (mostly) or any copied chunk (each chunk alike). */
function randomAddress(rng: Rng, mem: CowMemory, hints: Hints): number {
  if (hints.hot.length > 0 && rng.chance(0.7)) {
    const r = rng.pick(hints.hot);
    const a = r.start + rng.int(Math.max(1, r.end - r.start));
    return a - (a % 8);
  }
  const c = rng.pick(mem.chunks);
  const a = c.start + rng.int(Math.max(1, c.bytes.length - 8));
  return a - (a % 8);
}

/** A value to plant in a word at `addr`. */
function nastyWord(
  rng: Rng,
  mem: CowMemory,
  hints: Hints,
  addr: number,
): { w: Word; what: string } {
  switch (rng.int(8)) {
    case 0:
      return { w: { lo: rng.u32(), hi: rng.u32() }, what: "random" };
    case 1: {
      const p = randomAddress(rng, mem, hints) & ~0xf;
      return { w: word(p + rng.pick([0, 0, 8, 16])), what: "pointer into memory" };
    }
    case 2:
      return {
        w: word(rng.pick([addr, addr - 8, addr - 16, addr + 8])),
        what: "pointer to itself",
      };
    case 3: // a safe-linked pointer to itself: REVEAL gives back `addr`
      return { w: mangledSelf(addr), what: "mangled self" };
    case 4:
      return { w: rng.pick(NASTY_SIZES), what: "nasty size" };
    case 5:
      return { w: { lo: 0, hi: 0 }, what: "zero" };
    case 6: {
      const c = hints.chunks.length > 0 ? rng.pick(hints.chunks) : addr;
      return { w: word(c + rng.pick([0, 16, 8, 32])), what: "pointer to a chunk" };
    }
    default:
      return { w: word(rng.int(0x100000) * 16 + rng.pick([0, 1, 2, 3, 4, 5, 7])), what: "size" };
  }
}

/**
 * Applies 1..`max` random mutations to a copy of `base`: bit flips, word overwrites (random values,
 * pointers into memory, pointers to themselves, huge sizes, zero), list links turned into cycles,
 * shuffled chunk headers, truncated or dropped memory chunks and, rarely, wrong thread registers.
 */
export function mutateSnapshot(
  rng: Rng,
  base: Snapshot,
  hints: Hints,
  max = 4,
): Mutated<Snapshot> {
  const mem = new CowMemory(base.memory);
  const ops: string[] = [];
  let threads = base.threads;
  const n = 1 + rng.int(max);
  for (let k = 0; k < n; k++) {
    const op = rng.int(100);
    if (op < 20) { // flip 1..4 bits of one word
      const a = randomAddress(rng, mem, hints);
      const at = mem.writable(a, 8);
      if (at === undefined) continue;
      const bits = 1 + rng.int(4);
      for (let b = 0; b < bits; b++) at.bytes[at.off + rng.int(8)]! ^= 1 << rng.int(8);
      ops.push(`flip ${bits} bits at ${hex(a)}`);
    } else if (op < 45) { // overwrite a word somewhere
      const a = randomAddress(rng, mem, hints);
      const { w, what } = nastyWord(rng, mem, hints, a);
      if (mem.write64(a, w)) ops.push(`word ${hex(a)} = ${what}`);
    } else if (op < 65 && hints.chunks.length > 0) { // a chunk's size field
      const c = rng.pick(hints.chunks);
      const a = c + rng.pick([8, 8, 8, 0]);
      const { w, what } = rng.chance(0.5)
        ? { w: rng.pick(NASTY_SIZES), what: "nasty size" }
        : nastyWord(rng, mem, hints, a);
      if (mem.write64(a, w)) ops.push(`chunk ${hex(c)} +${a - c} = ${what}`);
    } else if (op < 80 && hints.pointers.length > 0) { // a link: cycle, self, another link, junk
      const a = rng.pick(hints.pointers);
      const kind = rng.int(4);
      let w: Word | undefined;
      if (kind === 0) w = mem.read64(rng.pick(hints.pointers)); // duplicate another entry
      else if (kind === 1) w = word(a);
      else if (kind === 2) w = mangledSelf(a); // safe-linked self
      else w = nastyWord(rng, mem, hints, a).w;
      if (w !== undefined && mem.write64(a, w)) ops.push(`link ${hex(a)} kind ${kind}`);
    } else if (op < 84 && (hints.links?.length ?? 0) > 0) { // a cycle through list members
      const l = rng.pick(hints.links!);
      const t = rng.pick(l.targets);
      if (mem.write64(l.at, l.safeLinked ? mangled(l.at, t) : word(t))) {
        ops.push(`cycle link ${hex(l.at)} -> ${hex(t)}`);
      }
    } else if (op < 88 && hints.chunks.length > 0) { // shuffle the 16 header bytes of a chunk
      const c = rng.pick(hints.chunks);
      const at = mem.writable(c, 16);
      if (at === undefined) continue;
      const h = at.bytes.subarray(at.off, at.off + 16);
      for (let i = h.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = h[i]!;
        h[i] = h[j]!;
        h[j] = t;
      }
      ops.push(`shuffle header ${hex(c)}`);
    } else if (op < 95) { // truncate or drop a memory chunk (a partial copy)
      const i = rng.int(mem.chunks.length);
      const c = mem.chunks[i]!;
      if (rng.chance(0.25)) {
        mem.chunks.splice(i, 1);
        ops.push(`drop memory ${hex(c.start)}`);
        if (mem.chunks.length === 0) break;
      } else {
        const len = rng.int(c.bytes.length + 1) - (rng.chance(0.5) ? 0 : rng.int(8));
        mem.chunks[i] = { start: c.start, bytes: c.bytes.subarray(0, Math.max(0, len)) };
        ops.push(`truncate memory ${hex(c.start)} to ${Math.max(0, len)}`);
      }
    } else { // thread state: stray tp / sp / register values
      if (threads.length === 0) continue;
      threads = threads.map((t) => ({ ...t, registers: [...t.registers] }));
      const t = rng.pick(threads);
      const v = randomAddress(rng, mem, hints) + rng.pick([0, 8, 0x1000, -0x1000]);
      const field = rng.pick(["tp", "sp", "reg"] as const);
      const value = rng.chance(0.2) ? rng.pick([0, 8, 2 ** 48, 2 ** 53 - 8]) : v;
      if (field === "reg") t.registers.push({ name: "r" + rng.int(16), value });
      else t[field] = value;
      ops.push(`thread ${t.tid} ${field} = ${hex(value)}`);
    }
  }
  return { value: { ...base, memory: mem.chunks, threads }, ops };
}

/**
 * Applies 1..`max` mutations to a copy of a file's bytes: bit flips, word overwrites (random,
 * zero, 0xff.., small and huge counts, offsets near the end), byte-range copies and shuffles,
 * truncation. `hot` ranges (e.g. headers and load commands) get most of the hits.
 */
export function mutateBytes(
  rng: Rng,
  base: Uint8Array,
  hot: { start: number; end: number }[] = [],
  max = 4,
): Mutated<Uint8Array> {
  let bytes = base.slice();
  const ops: string[] = [];
  const n = 1 + rng.int(max);
  const at = (width: number): number => {
    const r = hot.length > 0 && rng.chance(0.8) ? rng.pick(hot) : { start: 0, end: bytes.length };
    const end = Math.min(r.end, bytes.length) - width;
    if (end <= r.start) return -1;
    const a = r.start + rng.int(end - r.start);
    return rng.chance(0.7) ? a - (a % width) : a;
  };
  for (let k = 0; k < n && bytes.length > 0; k++) {
    const op = rng.int(100);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    if (op < 30) {
      const a = at(1);
      if (a < 0) continue;
      bytes[a]! ^= 1 << rng.int(8);
      ops.push(`flip bit at ${a}`);
    } else if (op < 65) {
      const width = rng.pick([2, 4, 4, 8]);
      const a = at(width);
      if (a < 0) continue;
      const choices = [0, 0xffffffff, 0x7fffffff, 0x80000000, 1, 0xff00, 0xffff, rng.u32()];
      choices.push(bytes.length, bytes.length - 1, bytes.length + 8, rng.int(bytes.length));
      const val = rng.pick(choices);
      if (width === 2) v.setUint16(a, val & 0xffff, true);
      else if (width === 4) v.setUint32(a, val >>> 0, true);
      else {
        v.setUint32(a, val >>> 0, true);
        v.setUint32(a + 4, rng.pick([0, 0, 0, 0xffffffff, 0x7fffffff, rng.u32()]), true);
      }
      ops.push(`u${width * 8} at ${a} = ${hex(val)}`);
    } else if (op < 75) {
      const len = 1 + rng.int(64);
      const from = at(len), to = at(len);
      if (from < 0 || to < 0) continue;
      bytes.copyWithin(to, from, from + len);
      ops.push(`copy ${len} bytes ${from} -> ${to}`);
    } else if (op < 85) {
      const len = 2 + rng.int(15);
      const a = at(len);
      if (a < 0) continue;
      for (let i = len - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = bytes[a + i]!;
        bytes[a + i] = bytes[a + j]!;
        bytes[a + j] = t;
      }
      ops.push(`shuffle ${len} bytes at ${a}`);
    } else {
      const len = rng.chance(0.5) ? rng.int(Math.min(bytes.length, 4096)) : rng.int(bytes.length);
      bytes = bytes.slice(0, len);
      ops.push(`truncate to ${len}`);
    }
  }
  return { value: bytes, ops };
}

/** JSON values of every type, including the awkward ones. */
function junkValue(rng: Rng): unknown {
  return rng.pick<unknown>([
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    -0,
    2 ** 53 + 2,
    "",
    "0x",
    "0xzz",
    "reachable",
    [],
    {},
    [1, 2, 3],
    { id: 0 },
    "x".repeat(rng.int(100)),
    rng.int(1000),
  ]);
}

/**
 * Mutates leaks.json text: structural changes on the parsed value (wrong types, deleted keys,
 * dangling and duplicate ids, emptied arrays) then, sometimes, text damage (truncation, byte
 * flips, cut in the middle of a token).
 */
export function mutateJsonText(rng: Rng, base: string, max = 3): Mutated<string> {
  const ops: string[] = [];
  let text = base;
  if (rng.chance(0.8)) {
    const root = JSON.parse(base) as unknown;
    const n = 1 + rng.int(max);
    for (let k = 0; k < n; k++) {
      // Walk to a random container, then change one of its members.
      let node: unknown = root;
      let path = "$";
      for (let depth = 0; depth < 4; depth++) {
        const keys = node !== null && typeof node === "object" ? Object.keys(node) : [];
        if (keys.length === 0 || (depth > 0 && rng.chance(0.3))) break;
        const key = rng.pick(keys);
        const child = (node as Record<string, unknown>)[key];
        if (child === null || typeof child !== "object") break;
        node = child;
        path += "." + key;
      }
      if (node === null || typeof node !== "object") continue;
      const obj = node as Record<string, unknown>;
      const keys = Object.keys(obj);
      const op = rng.int(6);
      if (op === 0 && keys.length > 0) {
        const key = rng.pick(keys);
        obj[key] = junkValue(rng);
        ops.push(`${path}.${key} = junk`);
      } else if (op === 1 && keys.length > 0) {
        const key = rng.pick(keys);
        if (Array.isArray(obj)) obj.splice(Number(key), 1);
        else delete obj[key];
        ops.push(`delete ${path}.${key}`);
      } else if (op === 2) { // dangling or duplicate id wherever a node id lives
        for (const key of ["id", "source", "target", "via"]) {
          if (key in obj) {
            obj[key] = rng.pick([999999, -1, 0, 1, 0.5, 2 ** 40]);
            ops.push(`${path}.${key} = id`);
          }
        }
      } else if (op === 3 && Array.isArray(obj) && obj.length > 0) {
        obj.push(obj[rng.int(obj.length)]);
        ops.push(`duplicate in ${path}`);
      } else if (op === 4 && Array.isArray(obj)) {
        obj.push(junkValue(rng));
        ops.push(`push junk in ${path}`);
      } else if (!Array.isArray(obj)) { // keys JSON.parse keeps as own properties
        const key = rng.pick(["__proto__", "constructor", "toString", "extra", "0"]);
        Object.defineProperty(obj, key, {
          value: junkValue(rng),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        ops.push(`odd key in ${path}`);
      }
    }
    text = JSON.stringify(root);
  }
  if (ops.length === 0 || rng.chance(0.35)) {
    const op = rng.int(4);
    if (op === 0) {
      text = text.slice(0, rng.int(text.length));
      ops.push("truncate");
    } else if (op === 1) {
      const i = rng.int(text.length);
      text = text.slice(0, i) + String.fromCharCode(rng.int(128)) + text.slice(i + 1);
      ops.push(`byte at ${i}`);
    } else if (op === 2) {
      const i = rng.int(text.length);
      text = text.slice(0, i) + text.slice(i + 1 + rng.int(20));
      ops.push(`cut at ${i}`);
    } else {
      text = rng.pick(["", " ", "[]", "null", "{}", "[".repeat(5000), '{"a":'.repeat(3000)]) +
        (rng.chance(0.5) ? text : "");
      ops.push("prefix");
    }
  }
  return { value: text, ops };
}
