// Finds main_arena (symbol, else the self-referential empty-bins signature) and the arena ring.
//
// The signature scan is O(words of libc data + hits × 127); the ring walk is O(arenas).

import type { MemoryImage } from "../memory.ts";
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

/**
 * The arena ring starting at `main` (main first), following `next` until it returns to `main`.
 * Stops with a warning on an unreadable arena, a repeat that is not `main`, or more than 4096 arenas.
 */
export function arenaRing(
  mem: MemoryImage,
  main: number,
  layout: GlibcLayout,
  warnings: string[],
): ArenaState[] {
  const ring: ArenaState[] = [];
  const seen = new Set<number>();
  let a = main;
  for (let i = 0; i < 4096; i++) {
    const st = readArena(mem, a, layout);
    if (st === undefined) {
      warnings.push(`arena ${hex(a)} is not in the snapshot: arena ring cut short`);
      return ring;
    }
    ring.push(st);
    seen.add(a);
    if (st.next === main) return ring;
    if (seen.has(st.next) || st.next % 8 !== 0) {
      warnings.push(`arena ring is broken at ${hex(a)}: next ${hex(st.next)}`);
      return ring;
    }
    a = st.next;
  }
  warnings.push("arena ring has more than 4096 arenas: cut short");
  return ring;
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

export interface MainArenaResult {
  address: number;
  how: "symbol" | "signature";
}

/**
 * Locates main_arena: the `main_arena` symbol when the image carries it, else the address T = &top
 * at which most of the 127 bins are empty (fd == bk == T + 16k), validated by its `next` ring.
 */
export function findMainArena(
  mem: MemoryImage,
  libc: LibcInfo,
  layout: GlibcLayout,
  warnings: string[],
): MainArenaResult | undefined {
  const sym = libc.image?.symbols?.["main_arena"];
  if (sym !== undefined) {
    if (ringCloses(mem, sym, layout)) return { address: sym, how: "symbol" };
    warnings.push(`main_arena symbol ${hex(sym)} does not validate: searching by signature`);
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
  const candidates = [...votes].filter(([, v]) => v >= 64).sort((x, y) => y[1] - x[1]);
  for (const [t] of candidates) {
    const arena = t - layout.top;
    if (!libc.dataRanges.some((r) => arena >= r.start && arena + layout.arenaSize <= r.end)) {
      continue;
    }
    if (ringCloses(mem, arena, layout)) {
      if (sym === undefined) warnings.push(`main_arena found by bin signature at ${hex(arena)}`);
      return { address: arena, how: "signature" };
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
