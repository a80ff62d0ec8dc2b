// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Finds main_arena (symbol, else the self-referential empty-bins signature) and the arena ring.
//
// The signature scan is O(words of libc data + hits × 127); the ring walk is O(arenas).

import type { MemoryImage } from "../../../memory.ts";
import { hex } from "./_hex.ts";
import type { GlibcLayout } from "./layout.ts";
import type { LibcInfo } from "./libc_image.ts";

export interface ArenaState {
  address: number;
  top: number;
  next: number;
  systemMem: number;
}

/** Reads the few malloc_state fields the walker needs, or undefined when not copied. */
export function readArena(
  mem: MemoryImage,
  address: number,
  layout: GlibcLayout,
): ArenaState | undefined {
  const top = mem.u64(address + layout.top);
  const next = mem.u64(address + layout.next);
  const systemMem = mem.u64(address + layout.systemMem);
  if (top === undefined || next === undefined || systemMem === undefined) return undefined;
  return { address, top, next, systemMem };
}

/** Why the ring walk stopped before returning to main_arena. */
export interface RingBreak {
  /** The last arena analysed: its `next` is the bad link. */
  at: number;
  next: number;
  why: string;
}

/**
 * Whether `a` can be a thread arena: 16-aligned, readable, and named by the `ar_ptr` of the
 * heap_info right before it (a thread arena's malloc_state follows its first heap's heap_info).
 */
function plausibleThreadArena(
  mem: MemoryImage,
  a: number,
  layout: GlibcLayout,
): string | undefined {
  if (a === 0 || a % 16 !== 0) return "not an aligned address";
  if (readArena(mem, a, layout) === undefined) return "not in the snapshot";
  if (mem.u64(a - layout.heapInfoSize) !== a) return "no heap_info naming it precedes it";
  return undefined;
}

/**
 * The arena ring starting at `main` (main first), following `next` until it returns to `main`.
 * Each `next` must be a plausible thread arena (see plausibleThreadArena) not seen before; on the
 * first that is not, the ring is broken there and the arenas reached so far are returned with
 * `broken` set. O(arenas), at most 4096.
 */
export function arenaRing(
  mem: MemoryImage,
  main: number,
  layout: GlibcLayout,
): { ring: ArenaState[]; broken?: RingBreak } {
  const ring: ArenaState[] = [];
  const seen = new Set<number>();
  let a = main;
  for (let i = 0; i < 4096; i++) {
    const st = readArena(mem, a, layout); // others than main were checked by plausibleThreadArena
    if (st === undefined) return { ring, broken: { at: a, next: a, why: "not in the snapshot" } };
    ring.push(st);
    seen.add(a);
    if (st.next === main) return { ring };
    const bad = seen.has(st.next)
      ? "a cycle that does not return to main_arena"
      : plausibleThreadArena(mem, st.next, layout);
    if (bad !== undefined) return { ring, broken: { at: a, next: st.next, why: bad } };
    a = st.next;
  }
  return { ring, broken: { at: a, next: 0, why: "more than 4096 arenas" } };
}

/** Whether `next` comes back to `address` within 4096 steps. */
function ringCloses(mem: MemoryImage, address: number, layout: GlibcLayout): boolean {
  let a = address;
  for (let i = 0; i < 4096; i++) {
    const n = mem.u64(a + layout.next);
    if (n === undefined || n % 8 !== 0) return false;
    if (n === address) return true;
    a = n;
  }
  return false;
}

/** Whether the arena's `top` is a chunk inside `heap` that ends exactly at its end. */
function topFitsHeap(
  mem: MemoryImage,
  arena: number,
  layout: GlibcLayout,
  heap: { start: number; end: number } | undefined,
): boolean {
  if (heap === undefined) return false;
  const top = mem.u64(arena + layout.top);
  if (top === undefined || top < heap.start || top >= heap.end || top % 16 !== 0) return false;
  const size = mem.u64(top + 8);
  return size !== undefined && top + size - (size % 8) === heap.end;
}

export interface MainArenaResult {
  address: number;
  how: "symbol" | "signature" | "signature+heap";
}

/**
 * Locates main_arena. The `main_arena` symbol is trusted as is (a broken ring is arenaRing's
 * business). Without it: the address T = &top at which most of the 127 bins are empty
 * (fd == bk == T + 16k), validated by its `next` ring returning to it; when no candidate's ring
 * closes, a candidate whose `top` ends exactly at the [heap] end, with a warning (a false match
 * would misread the whole heap, so this needs both the bins and the heap to agree).
 */
export function findMainArena(
  mem: MemoryImage,
  libc: LibcInfo,
  layout: GlibcLayout,
  heap: { start: number; end: number } | undefined,
  warnings: string[],
): MainArenaResult | undefined {
  const sym = libc.image?.symbols?.["main_arena"];
  if (sym !== undefined) {
    if (readArena(mem, sym, layout) !== undefined) return { address: sym, how: "symbol" };
    warnings.push(`main_arena symbol ${hex(sym)} is not in the snapshot: searching by signature`);
  }
  const votes = new Map<number, number>();
  for (const r of libc.dataRanges) {
    for (let a = r.start - (r.start % 8); a + 16 <= r.end; a += 8) {
      const fd = mem.u64(a);
      if (fd !== a - 0x10 || mem.u64(a + 8) !== fd) continue;
      for (let k = 0; k < 127; k++) {
        const t = fd - 16 * k;
        votes.set(t, (votes.get(t) ?? 0) + 1);
      }
    }
  }
  const candidates = [...votes].filter(([, v]) => v >= 64).sort((x, y) => y[1] - x[1])
    .map(([t]) => t - layout.top)
    .filter((arena) =>
      libc.dataRanges.some((r) => arena >= r.start && arena + layout.arenaSize <= r.end) &&
      readArena(mem, arena, layout) !== undefined
    );
  for (const arena of candidates) {
    if (ringCloses(mem, arena, layout)) {
      if (sym === undefined) warnings.push(`main_arena found by bin signature at ${hex(arena)}`);
      return { address: arena, how: "signature" };
    }
  }
  for (const arena of candidates) {
    if (topFitsHeap(mem, arena, layout, heap)) {
      warnings.push(
        `main_arena found by bin signature at ${hex(arena)}, validated by its top chunk ending ` +
          `at the [heap] end (its arena ring does not close)`,
      );
      return { address: arena, how: "signature+heap" };
    }
  }
  return undefined;
}

/**
 * Locates mp_ (malloc_par): the `mp_` symbol, else the unique word in libc data equal to the
 * [heap] start at the sbrk_base offset with a plausible mmap_threshold.
 */
export function findMp(
  mem: MemoryImage,
  libc: LibcInfo,
  layout: GlibcLayout,
  heapStart: number | undefined,
): number | undefined {
  const sym = libc.image?.symbols?.["mp_"];
  if (sym !== undefined) return sym;
  if (heapStart === undefined) return undefined;
  const found: number[] = [];
  for (const r of libc.dataRanges) {
    for (let a = r.start - (r.start % 8); a + layout.mpSize <= r.end; a += 8) {
      if (mem.u64(a + layout.mpSbrkBase) !== heapStart) continue;
      const threshold = mem.u64(a + 0x10);
      const nMmaps = mem.u32(a + layout.mpNMmaps);
      if (threshold === undefined || threshold > 0x4000000 || nMmaps === undefined) continue;
      if (nMmaps > 0x7fffffff) continue;
      found.push(a);
    }
  }
  return found.length === 1 ? found[0] : undefined;
}
