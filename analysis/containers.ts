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

import { copyF64, copyU32, grownF64, grownU32, grownU8, u32Array } from "./arrays.ts";
import { hi32, lo32, type MemoryImage, NO_WINDOW, type WordReader } from "./memory.ts";
import type { RawReferences } from "./recognise_kernel.ts";

const TWO32 = 4294967296;

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

/**
 * Every reference a scan found, r in [0, count): the word at `where(r)` points into node
 * `target(r)`. Read in place from the scan's output (analysis/analyze.ts scanReferences), not
 * copied: at 10^6 blocks three lists would be ~70 MB of fresh memory.
 */
export interface References {
  count: number;
  /** Address of the word. */
  where(r: number): number;
  /** Node holding the word, -1 for a root. */
  holder(r: number): number;
  target(r: number): number;
  /**
   * 1 when the word is its target's start, 0 when it points inside, -1 when not known (read the
   * word): lets a recogniser skip the target's address and size, random reads at 10^7 blocks.
   */
  exact(r: number): number;
  /** The scan's own arrays, for a native kernel (absent for references made from lists). */
  raw?: RawReferences;
}

/** References from three lists (tests, small inputs). */
export function listReferences(
  where: ArrayLike<number>,
  holder: ArrayLike<number>,
  target: ArrayLike<number>,
): References {
  return {
    count: target.length,
    where: (r) => where[r]!,
    holder: (r) => holder[r]!,
    target: (r) => target[r]!,
    exact: () => -1,
  };
}

export interface ScanLimits {
  /** Bytes of each node that hold live data: words at or past it are not references. */
  scanSize: Float64Array;
  /** Offset in each node from which words are only weak evidence (see weakFromSizes). */
  weakFrom: Uint32Array;
  /** Addresses of words that hold no reference (the unused part of a string object). */
  skipped: Set<number>;
  /** Nodes recognised as a libstdc++ string body or vector storage. */
  bodies: Map<number, "string" | "vector">;
  /** Layouts recognised (for the phase line and tests). */
  strings: number;
  vectors: number;
}

/**
 * The largest weak-from offset: 32 bits, as the scan's edge offsets are (4 bytes a block, where
 * doubles were 8 at the run's peak). A block as large or larger has no weak words.
 */
export const WEAK_FROM_MAX = 0xffff_ffff;

/** Weak-from offsets that make no word weak: each block's size (WEAK_FROM_MAX at most). */
export function weakFromSizes(sizes: Float64Array): Uint32Array {
  const out = u32Array(sizes.length);
  for (let i = 0; i < sizes.length; i++) out[i] = Math.min(sizes[i]!, WEAK_FROM_MAX);
  return out;
}

/** Candidate kinds (CandidateList.kind; the same numbers in shim/recognise_kernel.c). */
export const KIND_STRING = 0, KIND_VECTOR = 1, KIND_POOL = 2, KIND_INLINE = 3;

/**
 * Candidate layouts read once from memory, then judged each round, as columns: the reference it
 * was found from (r), the address of the layout's first word (x), its kind and the two words that
 * decide (a, b: see the kinds' checks).
 */
export class CandidateList {
  count = 0;
  r: Uint32Array = new Uint32Array(1024);
  x: Float64Array = new Float64Array(1024);
  kind: Uint8Array = new Uint8Array(1024);
  a: Float64Array = new Float64Array(1024);
  b: Float64Array = new Float64Array(1024);

  push(r: number, x: number, kind: number, a: number, b: number): void {
    if (this.count === this.r.length) this.reserve(this.count);
    const k = this.count++;
    this.r[k] = r;
    this.x[k] = x;
    this.kind[k] = kind;
    this.a[k] = a;
    this.b[k] = b;
  }

  /** Room for `more` candidates past `count`. */
  reserve(more: number): void {
    const want = this.count + more;
    if (want <= this.r.length) return;
    const cap = Math.max(want, this.r.length * 2);
    this.r = grownU32(this.r, cap);
    this.x = grownF64(this.x, cap);
    this.kind = grownU8(this.kind, cap);
    this.a = grownF64(this.a, cap);
    this.b = grownF64(this.b, cap);
  }
}

/**
 * Narrow each node's live bytes (`initial`: requested sizes when a recorder knows them, else
 * usable sizes) by the container layouts the references reveal. Memory is read once, up to four
 * words a reference, into candidates; the rounds judge only those. `libstdcxx`: whether the
 * process has libstdc++ (or libc++) loaded. Without it no std::string object exists: a string
 * buffer {p, len, cap} (GLib's GString has that shape) still narrows its chars' block, but no word
 * of the object is skipped, and no inline string is looked for (a C struct can take its shape:
 * GLib's list nodes in its slabs did, and live blocks were called leaked).
 */
export function recogniseContainers(
  memory: MemoryImage,
  addresses: Float64Array,
  sizes: Float64Array,
  initial: Float64Array,
  refs: References,
  weakFrom: Uint32Array = weakFromSizes(sizes),
  /** The candidates when already collected (the native recognise pass), else read here. */
  found?: CandidateList,
  libstdcxx = true,
): ScanLimits {
  let candidates = found;
  if (!candidates) {
    candidates = new CandidateList();
    collectCandidates(memory, addresses, sizes, refs, candidates);
  }
  // Each round's sizes are the initial ones but where a candidate narrowed them: kept as changes,
  // not copies (two arrays of 8 bytes a block per round, fresh memory each, are ~0.1 s at 10^6).
  let result: Round = {
    size: new Map(),
    weak: new Map(),
    skipped: new Set(),
    bodies: new Map(),
    strings: 0,
    vectors: 0,
  };
  // Where string triples start (once: the candidates are the same every round). Two 24 bytes apart
  // are an array of {p, len, cap} (Rust's Vec<String>, a C array of buffers), not libstdc++
  // strings, whose objects take 32 bytes.
  const triples = new Set<number>();
  if (libstdcxx) {
    for (let c = 0; c < candidates.count; c++) {
      if (candidates.kind[c] === KIND_STRING) triples.add(candidates.x[c]!);
    }
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = _round(
      memory,
      addresses,
      initial,
      result.size,
      refs,
      candidates,
      weakFrom,
      libstdcxx,
      triples,
    );
    const stable = _sameSizes(next.size, result.size, initial) &&
      _sameSet(next.skipped, result.skipped);
    result = next;
    if (stable) break;
  }
  const { size, weak, ...rest } = result;
  return {
    ...rest,
    scanSize: _applied(initial, size, copyF64),
    weakFrom: _applied(weakFrom, weak, copyU32),
  };
}

/** One round's result: ScanLimits with its sizes as changes to the initial ones. */
interface Round extends Omit<ScanLimits, "scanSize" | "weakFrom"> {
  size: Map<number, number>;
  weak: Map<number, number>;
}

/** `base` with `changes` applied (a copy), or `base` itself when there are none. */
function _applied<T extends Float64Array | Uint32Array>(
  base: T,
  changes: Map<number, number>,
  copy: (a: T) => T,
): T {
  if (changes.size === 0) return base;
  const out = copy(base);
  for (const [i, v] of changes) out[i] = v;
  return out;
}

/** The candidates of every reference (read up to four words around it), in reference order. */
export function collectCandidates(
  memory: MemoryImage,
  addresses: Float64Array,
  sizes: Float64Array,
  refs: References,
  candidates: CandidateList,
): void {
  const words = memory.wordReader();
  // The words around each reference are read from its chunk's window, kept in locals: most
  // references are rejected on their first word's halves, without a call or a double.
  let win = NO_WINDOW, ws = 0, we = 0, W = win.words;
  for (let r = 0; r < refs.count; r++) {
    const w = refs.where(r), t = refs.target(r);
    if (w - 24 < ws || w + 24 > we) {
      // Near a chunk's edge (or outside it): read word by word.
      if (w < ws || w + 8 > we) {
        win = memory.window(w) ?? NO_WINDOW;
        ws = win.start;
        we = win.end;
        W = win.words;
      }
      if (w - 24 < ws || w + 24 > we) {
        _candidatesAt(memory, words, r, w, addresses[t]!, sizes[t]!, candidates);
        continue;
      }
    }
    const k = (w - ws) >>> 2;
    const v0 = W[k]! + W[k + 1]! * TWO32, v1 = W[k + 2]! + W[k + 3]! * TWO32;
    // The target's address and size are read only when the words could make a candidate (both
    // are random reads): v0 is the target's start when the scan said so.
    const exact = refs.exact(r);
    if (exact === 1 || (exact < 0 && v0 === addresses[t])) {
      // A string body {p, len, cap} or vector storage {begin, end, end_of_storage}: either has
      // its second word at most its third.
      const v2 = W[k + 4]! + W[k + 5]! * TWO32;
      if (v1 <= v2) _bodyCandidate(memory, r, w, v0, sizes[t]!, v1, v2, candidates);
    } else if (v1 >= v0) {
      // A bump pool {free, end}: free inside, end at the block's end.
      const start = addresses[t]!, size = sizes[t]!;
      if (v0 > start && v1 <= start + size && start + size - v1 <= POOL_SLACK) {
        candidates.push(r, w, KIND_POOL, v0, v1);
      }
    }
    // w as the first (x + 16) or second (x + 24) word of an inline string's buffer at x: the
    // word at x is x + 16 (low halves first: they almost never match).
    const x16 = w - 16, x24 = w - 24;
    if (W[k - 4] === lo32(w) && W[k - 3] === hi32(w)) {
      _inlineCandidate(memory, words, r, w, x16, candidates);
    }
    if (W[k - 6] === lo32(w - 8) && W[k - 5] === hi32(w - 8)) {
      _inlineCandidate(memory, words, r, w, x24, candidates);
    }
  }
}

/** The candidates of reference r at w, read word by word (near a chunk's edge). */
function _candidatesAt(
  memory: MemoryImage,
  words: WordReader,
  r: number,
  w: number,
  start: number,
  size: number,
  candidates: CandidateList,
): void {
  const v0 = words.u64(w), v1 = words.u64(w + 8);
  if (v0 === undefined || v1 === undefined) return;
  if (v0 === start) {
    const v2 = words.u64(w + 16);
    if (v2 !== undefined) _bodyCandidate(memory, r, w, start, size, v1, v2, candidates);
  } else if (v0 > start && v1 >= v0 && v1 <= start + size && start + size - v1 <= POOL_SLACK) {
    candidates.push(r, w, KIND_POOL, v0, v1);
  }
  for (const x of [w - 16, w - 24]) {
    if (words.u64(x) === x + 16) _inlineCandidate(memory, words, r, w, x, candidates);
  }
}

/** {start, v1, v2} at w: a string body or vector storage when its checks hold. */
function _bodyCandidate(
  memory: MemoryImage,
  r: number,
  w: number,
  start: number,
  size: number,
  v1: number,
  v2: number,
  candidates: CandidateList,
): void {
  if (_heapString(memory, start, size, v1, v2)) {
    candidates.push(r, w, KIND_STRING, v1, v2);
  } else if (v1 >= start && v2 >= v1 && v2 > start && v2 - start <= size) {
    if (size - (v2 - start) <= ROUNDING) candidates.push(r, w, KIND_VECTOR, v1, v2);
  }
}

/** An inline string at x (its first word is x + 16) whose spare bytes hold the word at w. */
function _inlineCandidate(
  memory: MemoryImage,
  words: WordReader,
  r: number,
  w: number,
  x: number,
  candidates: CandidateList,
): void {
  const len = words.u64(x + 8);
  if (len === undefined || len > SSO_CAPACITY || memory.u8(x + 16 + len) !== 0) return;
  if (x + 16 + len + 1 < w + 8) candidates.push(r, x, KIND_INLINE, len, w);
}

/** One pass over the candidates with the live bytes of the previous pass. O(candidates). */
function _round(
  memory: MemoryImage,
  addresses: Float64Array,
  initial: Float64Array,
  limits: ReadonlyMap<number, number>,
  refs: References,
  candidates: CandidateList,
  weakFromInitial: Uint32Array,
  libstdcxx: boolean,
  triples: ReadonlySet<number>,
): Round {
  const size = new Map<number, number>(), weak = new Map<number, number>();
  const bodies = new Map<number, "string" | "vector">();
  const skipped = new Set<number>();
  let strings = 0, vectors = 0;
  // Whether [x, x + len) lies in the live part of reference r's holder (roots are all live).
  const live = (r: number, x: number, len: number) => {
    const h = refs.holder(r);
    return h < 0 ||
      (x >= addresses[h]! && x + len <= addresses[h]! + (limits.get(h) ?? initial[h]!));
  };
  const { r: cr, x: cx, kind: ck, a: ca, b: cb } = candidates;
  for (let c = 0; c < candidates.count; c++) {
    const r = cr[c]!, x = cx[c]!, a = ca[c]!;
    const t = refs.target(r);
    switch (ck[c]) {
      case KIND_STRING:
        if (!live(r, x, 24)) break;
        size.set(t, Math.min(size.get(t) ?? initial[t]!, a + 1));
        // The object's fourth word, unused once the chars are on the heap: libstdc++'s alone
        // (a C string buffer {p, len, cap}, GLib's GString, Rust's String end at their third
        // word; skipping the next one dropped live strings of a Rust Vec<String>).
        if (libstdcxx && !triples.has(x + 24) && !triples.has(x - 24)) skipped.add(x + 24);
        bodies.set(t, "string");
        strings++;
        break;
      case KIND_VECTOR:
        if (!live(r, x, 24)) break;
        // A std::deque iterator {cur, first, last, node} at the start of its chunk reads as an
        // empty vector {begin, end, end_of_storage}; its node is the map's slot, which holds the
        // chunk: that chunk is full of live elements (a deque's first 16 strings were leaked).
        if (memory.u64(memory.u64(x + 24) ?? 0) === addresses[t]) break;
        size.set(t, Math.min(size.get(t) ?? initial[t]!, a - addresses[t]!));
        if (!bodies.has(t)) bodies.set(t, "vector");
        vectors++;
        break;
      case KIND_POOL:
        if (!live(r, x, 16)) break;
        // The word holding `free` is partly spare: the last string's NUL may have overwritten
        // only the low byte of a stale pointer (libxml2's dictionary, seen keeping a lost
        // document's table). Weak from the word `free` lies in.
        weak.set(
          t,
          Math.min(weak.get(t) ?? weakFromInitial[t]!, Math.floor((a - addresses[t]!) / 8) * 8),
        );
        break;
      case KIND_INLINE:
        // Without libstdc++ there is no std::string object to hold one.
        if (!libstdcxx || !live(r, x, 32)) break;
        // An empty string's first buffer word: only its low byte (the NUL) says so, and that
        // shape — a word pointing 16 bytes past itself, a zero, a 256-aligned pointer — is also a
        // list node whose neighbour lies 16 bytes on (GLib's slices: a live list's data pointer
        // was dropped). Its stale pointer, if it is one, stays a reference.
        if (a === 0 && cb[c] === x + 16) break;
        skipped.add(cb[c]!);
        strings++;
        break;
    }
  }
  return { size, weak, skipped, bodies, strings, vectors };
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

/** Whether two rounds' changes give the same sizes. O(changes). */
function _sameSizes(
  a: ReadonlyMap<number, number>,
  b: ReadonlyMap<number, number>,
  initial: Float64Array,
): boolean {
  for (const [i, v] of a) if ((b.get(i) ?? initial[i]) !== v) return false;
  for (const [i, v] of b) if ((a.get(i) ?? initial[i]) !== v) return false;
  return true;
}

function _sameSet(a: Set<number>, b: Set<number>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}
