// Unused container capacity: libstdc++ layouts whose spare bytes must not count as references.
//
// glibc hands out freed memory without clearing it, so the bytes a program never wrote into a new
// block still hold the words of an earlier, freed object: stale pointers that keep dead
// structures "reachable" to a conservative scan (valgrind does not see them: they are undefined
// until written). Without a recorder the bytes written are unknown, but two layouts tell exactly
// which bytes are spare, as chap calls references from them "tainted":
//
// - std::string (libstdc++, C++11 ABI): `{ char *p; size_t len; union { char local[16]; size_t
//   cap; } }`. On the heap (p is a block's start): the body holds `len` chars and a NUL, the rest of
//   its `cap + 1` bytes is spare, and the second word of `local` is unused. Inline (p == &local):
//   the bytes of `local` after the NUL are spare.
// - std::vector<T>: `{ T *begin; T *end; T *end_of_storage }`, begin a block's start: the storage
//   past `end` is spare.
//
// A layout is accepted only when every check a real one passes holds: the capacity ends where the
// block does (operator new asks exactly for it; glibc rounds up by at most 15 bytes), the string's
// NUL is where its length says, the three words lie in scanned memory. A triple found inside spare
// memory is itself stale, so the recognition is repeated on the narrowed scan until it is stable
// (at most MAX_ROUNDS). O(references) per round.
//
// Weak evidence, not proof (a block only it keeps is "possibly hidden"): the spare part of a bump
// pool — two consecutive words `{ char *free; char *end; }` pointing into one block, `end` where
// the block ends (libxml2's dictionary strings, nginx's and APR's pools, obstacks): the bytes from
// `free` on were not handed out yet. Unlike a vector's spare storage this is only likely (a span
// `{ begin, end }` of live data has the same shape), so it weakens, never removes, a reference.

import type { MemoryImage } from "./memory.ts";

/** glibc's usable size exceeds a request of 17+ bytes by at most 15 (MALLOC_ALIGNMENT − 1). */
const ROUNDING = 15;
/**
 * How far a bump pool's `end` may sit before its block's end: the pool's header and a one-byte
 * array member (libxml2's `xmlDictStrings`: `end = &array[size]` is 8 bytes short of the
 * request) plus glibc's rounding.
 */
const POOL_SLACK = 31;
/** libstdc++'s inline string buffer holds 15 chars and the NUL. */
const SSO_CAPACITY = 15;
/** Rounds of recognition on the narrowed scan; real heaps settle in 2. */
const MAX_ROUNDS = 4;

/** Every reference a scan found: the word at `where` points into node `target`. */
export interface References {
  /** Address of the word. */
  where: Float64Array;
  /** Node holding the word, -1 for a root. */
  holder: Int32Array;
  target: Uint32Array;
  count: number;
}

export interface ScanLimits {
  /** Bytes of each node that hold live data: words at or past it are not references. */
  scanSize: Float64Array;
  /** Offset in each node from which words are only weak evidence (its size: none). */
  weakFrom: Float64Array;
  /** Addresses of words that hold no reference (the unused part of a string object). */
  skipped: Set<number>;
  /** Nodes recognised as a libstdc++ string body or vector storage. */
  bodies: Map<number, "string" | "vector">;
  /** Layouts recognised (for the phase line and tests). */
  strings: number;
  vectors: number;
}

/**
 * Narrow each node's live bytes (`initial`: requested sizes when a recorder knows them, else
 * usable sizes) by the container layouts the references reveal.
 */
export function recogniseContainers(
  memory: MemoryImage,
  addresses: Float64Array,
  sizes: Float64Array,
  initial: Float64Array,
  refs: References,
  weakFrom: Float64Array = sizes.slice(),
): ScanLimits {
  // Candidates for a string body or vector storage: references to a node's exact start. Every
  // reference is a candidate for the unused part of an inline string (16 or 24 bytes into it).
  const starts: number[] = [];
  for (let r = 0; r < refs.count; r++) {
    if (memory.u64(refs.where[r]!) === addresses[refs.target[r]!]) starts.push(r);
  }
  let limits = initial;
  let result: ScanLimits = {
    scanSize: initial,
    weakFrom,
    skipped: new Set(),
    bodies: new Map(),
    strings: 0,
    vectors: 0,
  };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = _round(memory, addresses, sizes, initial, limits, refs, starts, weakFrom);
    const stable = _same(next.scanSize, result.scanSize) && _sameSet(next.skipped, result.skipped);
    result = next;
    if (stable) break;
    limits = next.scanSize;
  }
  return result;
}

/** One pass over the candidates with the live bytes of the previous pass. */
function _round(
  memory: MemoryImage,
  addresses: Float64Array,
  sizes: Float64Array,
  initial: Float64Array,
  limits: Float64Array,
  refs: References,
  starts: readonly number[],
  weakFromInitial: Float64Array,
): ScanLimits {
  const scanSize = initial.slice();
  const weakFrom = weakFromInitial.slice();
  const bodies = new Map<number, "string" | "vector">();
  const skipped = new Set<number>();
  let strings = 0, vectors = 0;
  // Whether [w, w + len) lies in the live part of reference r's holder (roots are all live).
  const live = (r: number, w: number, len: number) => {
    const h = refs.holder[r]!;
    return h < 0 || w + len <= addresses[h]! + limits[h]!;
  };
  for (const r of starts) {
    const w = refs.where[r]!;
    if (!live(r, w, 24)) continue;
    const t = refs.target[r]!;
    const b = addresses[t]!, size = sizes[t]!;
    const w1 = memory.u64(w + 8), w2 = memory.u64(w + 16);
    if (w1 === undefined || w2 === undefined) continue;
    if (_heapString(memory, b, size, w1, w2)) {
      scanSize[t] = Math.min(scanSize[t]!, w1 + 1);
      skipped.add(w + 24);
      bodies.set(t, "string");
      strings++;
    } else if (w1 >= b && w2 >= w1 && w2 > b && w2 - b <= size && size - (w2 - b) <= ROUNDING) {
      scanSize[t] = Math.min(scanSize[t]!, w1 - b);
      if (!bodies.has(t)) bodies.set(t, "vector");
      vectors++;
    }
  }
  // Bump pools: a reference whose next word points into the same block, at its end.
  for (let r = 0; r < refs.count; r++) {
    const w = refs.where[r]!;
    if (!live(r, w, 16)) continue;
    const t = refs.target[r]!;
    const b = addresses[t]!, end = b + sizes[t]!;
    const free = memory.u64(w), limit = memory.u64(w + 8);
    if (free === undefined || limit === undefined || free <= b) continue;
    if (limit < free || limit > end || end - limit > POOL_SLACK) continue;
    weakFrom[t] = Math.min(weakFrom[t]!, free - b);
  }
  for (let r = 0; r < refs.count; r++) {
    const w = refs.where[r]!, h = refs.holder[r]!;
    // w is the first (x + 16) or second (x + 24) word of an inline string's buffer at x.
    for (const x of [w - 16, w - 24]) {
      if (h >= 0 && x < addresses[h]!) continue;
      if (!live(r, x, 32)) continue;
      const p = memory.u64(x), len = memory.u64(x + 8);
      if (p !== x + 16 || len === undefined || len > SSO_CAPACITY) continue;
      if (memory.u8(x + 16 + len) !== 0) continue;
      // The word is spare unless the chars and the NUL fill it.
      if (x + 16 + len + 1 < w + 8) {
        skipped.add(w);
        strings++;
      }
    }
  }
  return { scanSize, weakFrom, skipped, bodies, strings, vectors };
}

/** Whether {p, len, cap} is the heap body of a libstdc++ string in the block at p of `size`. */
function _heapString(
  memory: MemoryImage,
  p: number,
  size: number,
  len: number,
  cap: number,
): boolean {
  return cap > SSO_CAPACITY && len <= cap && cap + 1 <= size && size - (cap + 1) <= ROUNDING &&
    memory.u8(p + len) === 0;
}

function _same(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function _sameSet(a: Set<number>, b: Set<number>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}
