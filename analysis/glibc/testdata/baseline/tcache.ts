// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Walks tcache_perthread_struct lists (safe-linked chains, plain heads) and locates the structs.
//
// O(entries) per struct with a per-bin bound and cycle detection; locating scans at most 512 TLS
// words per thread.

import type { MemoryImage } from "../../../memory.ts";
import type { ThreadState } from "../../../types.ts";
import { hex } from "./_hex.ts";
import type { GlibcLayout } from "./layout.ts";
import { reveal } from "./safe_link.ts";

export interface TcacheWalk {
  /** Chunk headers of the free entries found (possibly partial when `problem` is set). */
  entries: number[];
  /** Why the lists do not validate, when they don't. */
  problem?: string;
  /** Whether every bin's chain length equals its count. */
  countsMatch: boolean;
}

/** Maps a chunk header to its chunk size when the heap walk saw it as in use (P bit), else undefined. */
export type ChunkLookup = (header: number) => number | undefined;

const MAX_PER_BIN = 0x10000;

/**
 * Walks every bin of the struct whose user pointer is `user`. An entry must be a 16-aligned user
 * pointer of an in-use-by-P chunk of the bin's size; a repeat is a cycle. Stops a bin at the first
 * bad entry and reports it in `problem`.
 */
export function walkTcache(
  mem: MemoryImage,
  user: number,
  layout: GlibcLayout,
  lookup: ChunkLookup,
): TcacheWalk {
  const entries: number[] = [];
  let problem: string | undefined;
  let countsMatch = true;
  const seen = new Set<number>();
  for (let i = 0; i < layout.tcacheBins; i++) {
    const count = layout.tcacheCountBytes === 2 ? mem.u16(user + 2 * i) : mem.u8(user + i);
    let e = mem.u64(user + layout.tcacheEntries + 8 * i);
    if (count === undefined || e === undefined) {
      return {
        entries,
        problem: `tcache struct ${hex(user)} is not in the snapshot`,
        countsMatch: false,
      };
    }
    const want = 0x20 + 16 * i;
    let n = 0;
    while (e !== 0) {
      if (e % 16 !== 0 || lookup(e - 16) !== want) {
        problem ??= `tcache ${hex(user)} bin ${i}: entry ${hex(e)} is not a chunk of size ${
          hex(want)
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
    if (n !== count) countsMatch = false;
  }
  return { entries, problem, countsMatch };
}

export interface FoundTcache {
  /** User pointer of the tcache_perthread_struct chunk. */
  user: number;
  /** The thread whose TLS points to it, or undefined for an orphan (a dead thread's struct). */
  tid?: number;
  walk: TcacheWalk;
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

/**
 * Finds each thread's tcache struct and the orphan ones. `candidates` are the user pointers of
 * in-use chunks of the tcache struct size. The TLS slot offset is `symbolSlot` (from the link_map
 * and the `tcache` TLS symbol) when it validates, else taken from libc's GOT TPOFF
 * slots when, for every thread, the slot is 0 or names a candidate (at least one does), else per thread by scanning [tp−0x1000, tp) for the
 * nearest word naming a candidate whose lists validate. Orphans must validate and be non-empty.
 */
export function findTcaches(
  mem: MemoryImage,
  threads: ThreadState[],
  libcData: { start: number; end: number }[],
  candidates: Set<number>,
  layout: GlibcLayout,
  lookup: ChunkLookup,
  warnings: string[],
  symbolSlot?: number,
): FoundTcache[] {
  const walks = new Map<number, TcacheWalk>();
  const walkOf = (u: number): TcacheWalk => {
    let w = walks.get(u);
    if (w === undefined) {
      w = walkTcache(mem, u, layout, lookup);
      walks.set(u, w);
    }
    return w;
  };
  const good = (u: number | undefined): boolean =>
    u !== undefined && candidates.has(u) && walkOf(u).problem === undefined;
  const live = threads.filter((t) => t.tp !== 0);

  // A real slot may name a struct whose lists are corrupt: that is reported, not rejected.
  const slotFits = (off: number): boolean => {
    let hits = 0;
    for (const t of live) {
      const w = mem.u64(t.tp + off);
      if (w === 0) continue;
      if (w === undefined || !candidates.has(w)) return false;
      hits++;
    }
    return hits > 0;
  };
  let slot: number | undefined;
  if (symbolSlot !== undefined) {
    if (slotFits(symbolSlot)) slot = symbolSlot;
    else warnings.push(`tcache TLS slot tp${symbolSlot} from symbols does not validate`);
  }
  if (slot === undefined) slot = gotTpoffCandidates(mem, libcData).find(slotFits);

  const found: FoundTcache[] = [];
  const claimed = new Set<number>();
  for (const t of live) {
    let user: number | undefined;
    if (slot !== undefined) {
      const w = mem.u64(t.tp + slot);
      if (w !== undefined && w !== 0) user = w;
    } else {
      for (let a = t.tp - 8; a >= t.tp - 0x1000; a -= 8) {
        const w = mem.u64(a);
        if (w !== undefined && w !== 0 && good(w)) {
          user = w;
          break;
        }
      }
    }
    if (user === undefined || claimed.has(user)) continue;
    if (!candidates.has(user)) {
      warnings.push(`thread ${t.tid}: tcache pointer ${hex(user)} is not an in-use tcache chunk`);
      continue;
    }
    const walk = walkOf(user);
    if (walk.problem !== undefined) warnings.push(`thread ${t.tid}: ${walk.problem}`);
    claimed.add(user);
    found.push({ user, tid: t.tid, walk });
  }
  if (slot === undefined && live.length > 0) {
    warnings.push("tcache TLS slot found by TLS scan heuristic");
  }

  for (const u of [...candidates].sort((a, b) => a - b)) {
    if (claimed.has(u)) continue;
    const walk = walkOf(u);
    if (walk.problem === undefined && walk.countsMatch && walk.entries.length > 0) {
      warnings.push(`orphan tcache struct at ${hex(u)} (no live thread points to it)`);
      found.push({ user: u, walk });
    }
  }
  return found;
}
