// Walks tcache_perthread_struct lists (safe-linked chains, plain heads) and finds every thread's struct.
//
// walkTcache is O(entries) with a per-bin bound and cycle detection. findTcaches is O(threads ·
// TLS words scanned + candidates): each candidate struct is pre-filtered on its bin heads (two
// reads per bin) before its lists are walked, and the stacks of threads without a tcache are read
// only up to STACK_EVIDENCE_BYTES above their stack pointer.

import type { MemoryImage } from "../memory.ts";
import type { ThreadState } from "../types.ts";
import { hex } from "./_hex.ts";
import { type GlibcLayout, tcacheBinSizes } from "./layout.ts";
import { reveal } from "./safe_link.ts";

export interface TcacheWalk {
  /** Chunk headers of the free entries found (possibly partial when `problem` is set). */
  entries: number[];
  /** Per bin: the head (a user pointer, 0 when empty) and the length of its chain. */
  heads: number[];
  chains: number[];
  /** Why the lists do not validate, when they don't. */
  problem?: string;
  /**
   * "exact": every bin's count agrees with its chain (counts[i] = chain, or, 2.42+, num_slots[i] +
   * chain = tcache_count). "stale": some bins hold fewer entries than their count says, as while
   * tcache_thread_shutdown drains a struct (it unlinks entries without touching the counts).
   * "bad": neither.
   */
  counts: "exact" | "stale" | "bad";
  /** Whether any bin's count is non-zero (used-entry counts) or below the capacity (free slots). */
  everUsed: boolean;
}

/** Maps a chunk header to its chunk size when the walks saw it as in use (P bit), else undefined. */
export type ChunkLookup = (header: number) => number | undefined;

/** uint16 counts cannot exceed 65535 (MAX_TCACHE_COUNT), so neither can a valid chain. */
const MAX_PER_BIN = 0x10000;

/**
 * Walks every bin of the struct whose user pointer is `user`. An entry must be a 16-aligned user
 * pointer of an in-use-by-P chunk whose size belongs to the bin; a repeat is a cycle. Stops a bin at
 * the first bad entry and reports it in `problem`. `tcacheCount` (mp_.tcache_count) checks 2.42+
 * free-slot counts; without it they must agree among themselves.
 */
export function walkTcache(
  mem: MemoryImage,
  user: number,
  layout: GlibcLayout,
  lookup: ChunkLookup,
  tcacheCount?: number,
): TcacheWalk {
  const entries: number[] = [], heads: number[] = [], chains: number[] = [], counts: number[] = [];
  let problem: string | undefined;
  const seen = new Set<number>();
  for (let i = 0; i < layout.tcacheBins; i++) {
    const count = layout.tcacheCountBytes === 2 ? mem.u16(user + 2 * i) : mem.u8(user + i);
    let e = mem.u64(user + layout.tcacheEntries + 8 * i);
    if (count === undefined || e === undefined) {
      return {
        entries,
        heads,
        chains,
        problem: `tcache struct ${hex(user)} is not in the snapshot`,
        counts: "bad",
        everUsed: false,
      };
    }
    heads.push(e);
    counts.push(count);
    const { min, max } = tcacheBinSizes(i);
    let n = 0;
    while (e !== 0) {
      const size = e % 16 === 0 ? lookup(e - 16) : undefined;
      if (size === undefined || size < min || size >= max) {
        problem ??= `tcache ${hex(user)} bin ${i}: entry ${hex(e)} is not a chunk of size ${
          max - min === 1 ? hex(min) : `${hex(min)}–${hex(max - 16)}`
        }`;
        break;
      }
      if (seen.has(e)) {
        problem ??= `tcache ${hex(user)} bin ${i}: cycle at ${hex(e)}`;
        break;
      }
      if (n >= MAX_PER_BIN) {
        problem ??= `tcache ${hex(user)} bin ${i}: more than ${MAX_PER_BIN} entries`;
        break;
      }
      seen.add(e);
      entries.push(e - 16);
      n++;
      const stored = mem.u64(e);
      if (stored === undefined) {
        problem ??= `tcache ${hex(user)} bin ${i}: entry ${hex(e)} is not in the snapshot`;
        break;
      }
      e = layout.safeLinking ? reveal(e, stored) : stored;
    }
    chains.push(n);
  }
  return { entries, heads, chains, problem, ...judgeCounts(layout, counts, chains, tcacheCount) };
}

function judgeCounts(
  layout: GlibcLayout,
  counts: number[],
  chains: number[],
  tcacheCount: number | undefined,
): { counts: TcacheWalk["counts"]; everUsed: boolean } {
  let exact = true, stale = true, everUsed = false;
  if (layout.tcacheCounts === "used") {
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] !== chains[i]) exact = false;
      if (counts[i]! < chains[i]!) stale = false;
      if (counts[i] !== 0) everUsed = true;
    }
  } else {
    // num_slots[i] starts at tcache_count and drops by one per entry added.
    let cap = tcacheCount;
    if (cap === undefined) {
      for (let i = 0; i < counts.length; i++) cap = Math.max(cap ?? 0, counts[i]! + chains[i]!);
    }
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! + chains[i]! !== cap) exact = false;
      if (counts[i]! + chains[i]! > cap!) stale = false;
      if (counts[i] !== cap) everUsed = true;
    }
  }
  return { counts: exact ? "exact" : stale ? "stale" : "bad", everUsed };
}

export interface FoundTcache {
  /** User pointer of the tcache_perthread_struct chunk and its chunk size. */
  user: number;
  chunkSize: number;
  /** The thread whose TLS points to it (or that is draining it as it exits), else undefined. */
  tid?: number;
  /** Whether the thread is exiting: its TLS pointer is gone and it is freeing the entries. */
  draining: boolean;
  walk: TcacheWalk;
  /**
   * The entry a draining thread had unlinked and was freeing when it was stopped (its chunk header):
   * free, though no list holds it any more.
   */
  inFlight?: number;
}

/** Thread-pointer-relative offsets of TPOFF64 GOT slots (small negative words) in libc data. */
function gotTpoffCandidates(mem: MemoryImage, data: { start: number; end: number }[]): number[] {
  const out = new Set<number>();
  for (const r of data) {
    for (let a = r.start - (r.start % 8); a + 8 <= r.end; a += 8) {
      const hi = mem.u32(a + 4), lo = mem.u32(a);
      if (hi === 0xffffffff && lo !== undefined && lo >= 0xfffff000 && lo % 8 === 0) {
        out.add(lo - 0x100000000);
      }
    }
  }
  return [...out];
}

/** In-use chunks that may be tcache structs: user pointer → chunk size, in address order. */
export interface TcacheCandidates {
  users: Float64Array;
  sizes: Float64Array;
}

/** Index of `user` in the candidates, or −1. O(log candidates). */
function candidateIndex(c: TcacheCandidates, user: number): number {
  let lo = 0, hi = c.users.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c.users[mid]! < user) lo = mid + 1;
    else hi = mid;
  }
  return lo < c.users.length && c.users[lo] === user ? lo : -1;
}

export interface FindTcachesInput {
  mem: MemoryImage;
  threads: readonly ThreadState[];
  /** libc's GOT and data, where TPOFF64 slots live. */
  libcData: { start: number; end: number }[];
  /** libc's own mappings: a 2.43 `tcache` pointer into them is the "no tcache" dummy struct. */
  libcRegions: readonly { start: number; end: number }[];
  candidates: TcacheCandidates;
  layout: GlibcLayout;
  lookup: ChunkLookup;
  warnings: string[];
  /** tp-relative offset of the `tcache` TLS variable from symbols (tls_slot.ts), if known. */
  symbolSlot?: number;
  /** mp_.tcache_count, when mp_ was found. */
  tcacheCount?: number;
  /** The `tcache_key` symbol's value (2.34+), when libc's symbols are known. */
  tcacheKey?: number;
  /** Which copied words belong to a thread's live stack: [start, end) from its stack pointer. */
  liveStack: (t: ThreadState) => { start: number; end: number } | undefined;
}

/** How far above a thread's stack pointer to look for the struct and the entry it is freeing. */
const STACK_EVIDENCE_BYTES = 0x10000;

/**
 * Finds each thread's tcache struct and the orphan ones. The TLS slot offset is `symbolSlot` (from
 * the link_map and the `tcache` TLS symbol) when it validates, else the libc GOT TPOFF slot that,
 * for every thread, holds 0 (or 2.43's dummy), or names a candidate (at least one does), else per
 * thread the nearest word in [tp−0x1000, tp) naming a candidate whose lists validate.
 *
 * Then structs no thread's TLS names: an orphan (a thread that died in a fork's parent) whose lists
 * validate with exact counts and hold entries; and a struct being drained by an exiting thread
 * (tcache_thread_shutdown has already cleared the TLS pointer and unlinks entries one by one without
 * updating the counts, and the thread may wait there on an arena lock): its lists validate with
 * stale counts and its address is in the registers or on the live stack of a thread without a
 * tcache. The entry that thread was freeing is unlinked but not yet free: it is the chunk, named in
 * the same registers or stack, of a bin no later than the first non-empty one, whose `next` leads to
 * that bin's current head and whose key word is what tcache_put left there.
 */
export function findTcaches(inp: FindTcachesInput): FoundTcache[] {
  const { mem, threads, candidates, layout, lookup, warnings } = inp;
  const walks = new Map<number, TcacheWalk>();
  const walkOf = (u: number): TcacheWalk => {
    let w = walks.get(u);
    if (w === undefined) {
      w = walkTcache(mem, u, layout, lookup, inp.tcacheCount);
      walks.set(u, w);
    }
    return w;
  };
  const isCandidate = (u: number) => candidateIndex(candidates, u) >= 0;
  const chunkSizeOf = (u: number) => candidates.sizes[candidateIndex(candidates, u)]!;
  const good = (u: number | undefined): boolean =>
    u !== undefined && isCandidate(u) && walkOf(u).problem === undefined;
  const noTcache = (w: number) =>
    w === 0 || (layout.tcacheDummy && inp.libcRegions.some((r) => w >= r.start && w < r.end));
  const live = threads.filter((t) => t.tp !== 0);

  // A real slot may name a struct whose lists are corrupt: that is reported, not rejected.
  const slotFits = (off: number): boolean => {
    let hits = 0;
    for (const t of live) {
      const w = mem.u64(t.tp + off);
      if (w === undefined) return false;
      if (noTcache(w)) continue;
      if (!isCandidate(w)) return false;
      hits++;
    }
    return hits > 0;
  };
  let slot: number | undefined;
  if (inp.symbolSlot !== undefined) {
    if (slotFits(inp.symbolSlot)) slot = inp.symbolSlot;
    else warnings.push(`tcache TLS slot tp${inp.symbolSlot} from symbols does not validate`);
  }
  if (slot === undefined) slot = gotTpoffCandidates(mem, inp.libcData).find(slotFits);

  const found: FoundTcache[] = [];
  const claimed = new Set<number>();
  const without: ThreadState[] = []; // threads with no tcache of their own (maybe exiting)
  for (const t of live) {
    let user: number | undefined;
    if (slot !== undefined) {
      const w = mem.u64(t.tp + slot);
      if (w !== undefined && !noTcache(w)) user = w;
    } else {
      for (let a = t.tp - 8; a >= t.tp - 0x1000; a -= 8) {
        const w = mem.u64(a);
        if (w !== undefined && w !== 0 && good(w)) {
          user = w;
          break;
        }
      }
    }
    if (user === undefined) {
      without.push(t);
      continue;
    }
    if (claimed.has(user)) continue;
    if (!isCandidate(user)) {
      warnings.push(`thread ${t.tid}: tcache pointer ${hex(user)} is not an in-use tcache chunk`);
      continue;
    }
    const walk = walkOf(user);
    if (walk.problem !== undefined) warnings.push(`thread ${t.tid}: ${walk.problem}`);
    claimed.add(user);
    found.push({ user, chunkSize: chunkSizeOf(user), tid: t.tid, draining: false, walk });
  }
  if (slot === undefined && live.length > 0) {
    warnings.push("tcache TLS slot found by TLS scan heuristic");
  }

  // Structs being drained by exiting threads: named by the thread's registers or live stack.
  const key = inp.tcacheKey ?? commonKey(mem, found);
  for (const t of without) {
    const words = evidenceWords(mem, t, inp.liveStack(t));
    for (const u of words) {
      if (claimed.has(u) || !isCandidate(u)) continue;
      const walk = walkOf(u);
      if (walk.problem !== undefined || walk.counts === "bad" || !walk.everUsed) continue;
      claimed.add(u);
      const inFlight = entryInFlight(mem, layout, lookup, walk, u, words, key);
      warnings.push(
        `thread ${t.tid} is exiting and freeing its tcache struct ${hex(u)}: its ` +
          `${walk.entries.length + (inFlight === undefined ? 0 : 1)} cached blocks are free`,
      );
      found.push({
        user: u,
        chunkSize: chunkSizeOf(u),
        tid: t.tid,
        draining: true,
        walk,
        inFlight,
      });
      break;
    }
  }

  for (let i = 0; i < candidates.users.length; i++) {
    const u = candidates.users[i]!;
    if (claimed.has(u) || !plausibleHeads(mem, u, layout, lookup)) continue;
    const walk = walkOf(u);
    if (walk.problem === undefined && walk.counts === "exact" && walk.entries.length > 0) {
      warnings.push(`orphan tcache struct at ${hex(u)} (no live thread points to it)`);
      found.push({ user: u, chunkSize: candidates.sizes[i]!, draining: false, walk });
    }
  }
  return found;
}

/**
 * Cheap first test of a candidate orphan: every bin head is 0 or a 16-aligned user pointer of an
 * in-use chunk. Rejects most user blocks of the struct's size in a few reads.
 */
function plausibleHeads(
  mem: MemoryImage,
  user: number,
  layout: GlibcLayout,
  lookup: ChunkLookup,
): boolean {
  let any = false;
  for (let i = 0; i < layout.tcacheBins; i++) {
    const e = mem.u64(user + layout.tcacheEntries + 8 * i);
    if (e === undefined) return false;
    if (e === 0) continue;
    if (e % 16 !== 0 || lookup(e - 16) === undefined) return false;
    any = true;
  }
  return any;
}

/** The key word most entries of the threads' own structs carry (2.34+ random tcache_key). */
function commonKey(mem: MemoryImage, found: FoundTcache[]): number | undefined {
  const votes = new Map<number, number>();
  for (const f of found) {
    for (const h of f.walk.entries) {
      const k = mem.u64(h + 24);
      if (k !== undefined && k !== 0) votes.set(k, (votes.get(k) ?? 0) + 1);
    }
  }
  let best: number | undefined, n = 0;
  for (const [k, v] of votes) if (v > n) [best, n] = [k, v];
  return best;
}

/** Register values and the live stack words of thread `t` (at most STACK_EVIDENCE_BYTES). */
function evidenceWords(
  mem: MemoryImage,
  t: ThreadState,
  stack: { start: number; end: number } | undefined,
): number[] {
  const out = t.registers.map((r) => r.value).filter((v) => v !== 0 && v % 16 === 0);
  if (stack !== undefined) {
    const end = Math.min(stack.end, stack.start + STACK_EVIDENCE_BYTES);
    for (const part of mem.copiedParts(stack.start, end)) {
      const c = part.chunk;
      const v = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length);
      for (let a = part.from; a + 8 <= part.to; a += 8) {
        const off = a - c.start;
        const lo = v.getUint32(off, true), hi = v.getUint32(off + 4, true);
        if ((lo & 15) === 0 && (lo !== 0 || hi !== 0)) out.push(hi * 4294967296 + lo);
      }
    }
  }
  return out;
}

/**
 * The entry tcache_thread_shutdown had unlinked from the drained struct `user` and was passing to
 * free when the thread stopped: a chunk named (by its user pointer or its header) in `words`, of a
 * bin no later than the first non-empty
 * one, whose next pointer leads to that bin's current head (the loop sets `entries[i] =
 * REVEAL_PTR (e->next)` before freeing e), and whose key word is what tcache_put wrote (2.43 clears
 * it first: then 0). Undefined when there is none.
 */
function entryInFlight(
  mem: MemoryImage,
  layout: GlibcLayout,
  lookup: ChunkLookup,
  walk: TcacheWalk,
  user: number,
  words: number[],
  key: number | undefined,
): number | undefined {
  let last = walk.chains.findIndex((n) => n > 0);
  if (last < 0) last = layout.tcacheBins - 1;
  const wantKey = layout.tcacheDummy
    ? 0
    : layout.tcacheKey === "struct"
    ? user
    : layout.tcacheKey === "random"
    ? key
    : undefined;
  // free() turns the entry into its chunk header at once (mem2chunk), so either may be what the
  // thread's frames still hold.
  const candidates = new Set<number>();
  for (const w of words) candidates.add(w).add(w + 16);
  for (const e of candidates) {
    const size = lookup(e - 16);
    if (size === undefined || e === user) continue;
    const stored = mem.u64(e), k = mem.u64(e + 8);
    if (stored === undefined || k === undefined) continue;
    if (wantKey !== undefined && k !== wantKey) continue;
    const next = layout.safeLinking ? reveal(e, stored) : stored;
    for (let i = 0; i <= last; i++) {
      const { min, max } = tcacheBinSizes(i);
      if (size >= min && size < max && walk.heads[i] === next) return e - 16;
    }
  }
  return undefined;
}
