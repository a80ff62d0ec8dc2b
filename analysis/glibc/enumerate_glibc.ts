// Enumerates glibc malloc's live allocations from a Snapshot: the phases of glibc-heap.md §9.
//
// O(chunks + free-list entries + scanned anonymous pages + libc data words).

import { MemoryImage } from "../memory.ts";
import type { Allocation, ExcludedRange, HeapEnumeration, Snapshot } from "../types.ts";
import { hex } from "./_hex.ts";
import { arenaRing, type ArenaState, findMainArena, findMp } from "./arena.ts";
import { type Chunk, walkSegment } from "./chunks.ts";
import { detectAllocator } from "./detect_allocator.ts";
import { walkFastbins } from "./fastbins.ts";
import { type GlibcLayout, HEAP_MAX_SIZE, layoutFor } from "./layout.ts";
import { findLibc, glibcVersion } from "./libc_image.ts";
import { findMmappedChunks } from "./mmapped.ts";
import { findTcaches } from "./tcache.ts";
import { tcacheTlsOffset } from "./tls_slot.ts";

type Range = { start: number; end: number };

/** First chunk after `p` such that chunk+16 is 16-aligned. */
function alignChunk(p: number): number {
  const mis = (p + 16) % 16;
  return mis === 0 ? p : p + 16 - mis;
}

/**
 * The live glibc malloc allocations of the snapshot. Throws when the process does not use glibc
 * malloc or main_arena cannot be found; corruption and cross-check mismatches become warnings.
 */
export function enumerateGlibc(snapshot: Snapshot): HeapEnumeration {
  const detected = detectAllocator(snapshot);
  if (detected.kind === "foreign") {
    throw new Error(
      `Cannot enumerate allocations of process ${snapshot.pid}: it uses ${detected.name} ` +
        `(${detected.evidence}); heapscope only understands glibc malloc on Linux`,
    );
  }
  if (detected.kind === "unknown") {
    throw new Error(
      `Cannot enumerate allocations of process ${snapshot.pid}: allocator not recognised: ` +
        detected.evidence,
    );
  }
  const libc = findLibc(snapshot)!;
  const mem = new MemoryImage(snapshot.memory);
  const warnings: string[] = [];
  const version = glibcVersion(mem, libc);
  const { layout, warning } = layoutFor(version);
  if (warning !== undefined) warnings.push(warning);

  // Phase 1: arenas.
  const main = findMainArena(mem, libc, layout, warnings);
  if (main === undefined) {
    throw new Error(
      `Cannot enumerate allocations of process ${snapshot.pid}: main_arena not found in ${libc.path}` +
        ` (no main_arena symbol and no empty-bins signature in its data)`,
    );
  }
  const ring = arenaRing(mem, main.address, layout, warnings);
  const excluded: ExcludedRange[] = [{
    start: main.address,
    end: main.address + layout.arenaSize,
    why: "glibc main_arena",
  }];
  const heapRanges: Range[] = [];
  const chunks: Chunk[] = [];

  // Phase 2: the main heap.
  const heapRegion = snapshot.regions.find((r) => r.path === "[heap]");
  const mainState = ring[0];
  if (mainState !== undefined) {
    walkMainHeap(
      snapshot,
      mem,
      mainState,
      heapRegion,
      libc.dataRanges,
      chunks,
      heapRanges,
      warnings,
    );
  }

  // Phase 3: thread arenas and their heaps.
  for (const arena of ring.slice(1)) {
    walkThreadArena(mem, arena, layout, chunks, excluded, heapRanges, warnings);
  }

  // Phase 4: free lists and tcache structs.
  const inUse = new Map<number, number>();
  for (const c of chunks) if (c.inUse) inUse.set(c.address, c.size);
  const lookup = (h: number) => inUse.get(h);
  const free = new Set<number>();
  for (const arena of ring) {
    const zone = arena.address === main.address ? "main-arena" : `arena ${hex(arena.address)}`;
    for (const p of walkFastbins(mem, arena.address, zone, layout, lookup, warnings)) free.add(p);
  }
  const tcacheUsers = new Set<number>();
  for (const [h, s] of inUse) if (s === layout.tcacheChunkSize) tcacheUsers.add(h + 16);
  const tcaches = findTcaches(
    mem,
    snapshot.threads,
    libc.gotRanges,
    tcacheUsers,
    layout,
    lookup,
    warnings,
    tcacheTlsOffset(mem, snapshot.images, libc.image),
  );
  const metadata = new Set<number>();
  for (const t of tcaches) {
    for (const e of t.walk.entries) free.add(e);
    metadata.add(t.user - 16);
    excluded.push({
      start: t.user - 16,
      end: t.user - 16 + layout.tcacheChunkSize,
      why: t.tid === undefined ? "orphan tcache_perthread_struct" : `tcache of thread ${t.tid}`,
    });
  }

  // Phase 5: mmapped chunks.
  const skip: Range[] = [...heapRanges];
  for (const t of snapshot.threads) {
    const stack = snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
    if (stack !== undefined) skip.push({ start: stack.start, end: stack.end });
  }
  for (const img of snapshot.images) skip.push(...img.writable); // globals are never mmapped chunks
  skip.push(...libc.dataRanges);
  const mmapped = findMmappedChunks(mem, snapshot.regions, skip, snapshot.pageSize);

  // Phase 6: the live set.
  const allocations: Allocation[] = [];
  for (const c of chunks) {
    if (!c.inUse || free.has(c.address) || metadata.has(c.address)) continue;
    allocations.push({ address: c.address + 16, size: c.size - 8, zone: c.zone });
  }
  for (const m of mmapped) {
    allocations.push({ address: m.header + 16, size: m.size - 16, zone: "mmap" });
    heapRanges.push({ start: m.mapStart, end: m.mapEnd });
  }
  allocations.sort((a, b) => a.address - b.address);

  // Phase 7: mp_ and its cross-checks.
  const mp = findMp(mem, libc, layout, heapRegion?.start);
  if (mp !== undefined) {
    excluded.push({ start: mp, end: mp + layout.mpSize, why: "glibc mp_ (malloc_par)" });
    const n = mem.u32(mp + layout.mpNMmaps), bytes = mem.u64(mp + layout.mpMmappedMem);
    const total = mmapped.reduce((s, m) => s + (m.mapEnd - m.mapStart), 0);
    if (n !== undefined && n !== mmapped.length) {
      warnings.push(`mp_.n_mmaps is ${n} but ${mmapped.length} mmapped chunks were found`);
    }
    if (bytes !== undefined && bytes !== total) {
      warnings.push(
        `mp_.mmapped_mem is ${hex(bytes)} but the mmapped chunks found span ${hex(total)}`,
      );
    }
  }

  excluded.sort((a, b) => a.start - b.start);
  heapRanges.sort((a, b) => a.start - b.start);
  return {
    allocator: version === undefined ? "glibc malloc" : `glibc ${version} malloc`,
    allocations,
    excluded,
    heapRanges,
    warnings,
  };
}

function walkMainHeap(
  snapshot: Snapshot,
  mem: MemoryImage,
  arena: ArenaState,
  heap: { start: number; end: number } | undefined,
  libcData: Range[],
  chunks: Chunk[],
  heapRanges: Range[],
  warnings: string[],
): void {
  const zone = "main-arena";
  if (libcData.some((r) => arena.top >= r.start && arena.top < r.end)) {
    return; // top still points at the unsorted bin: the main arena was never used.
  }
  if (heap !== undefined) {
    heapRanges.push({ start: heap.start, end: heap.end });
    const w = walkSegment(mem, {
      start: alignChunk(heap.start),
      end: heap.end,
      top: arena.top,
      zone,
    });
    for (const ch of w.chunks) chunks.push(ch);
    warnings.push(...w.warnings);
    if (w.reachedTop) {
      const topSize = mem.u64(arena.top + 8) ?? 0;
      if (arena.top + topSize - (topSize % 8) !== heap.end) {
        warnings.push(
          `main-arena top ${hex(arena.top)} does not end at the [heap] end ${hex(heap.end)}`,
        );
      }
      if (arena.systemMem !== heap.end - heap.start) {
        warnings.push(
          `main_arena.system_mem ${hex(arena.systemMem)} != [heap] size ${
            hex(heap.end - heap.start)
          }`,
        );
      }
      return;
    }
  }
  // Non-contiguous main arena: chunks continue in the mapping that holds top.
  const seg = snapshot.regions.find((r) => arena.top >= r.start && arena.top < r.end);
  if (seg === undefined || seg.path !== "") {
    warnings.push(`main-arena top ${hex(arena.top)} is not in an anonymous mapping`);
    return;
  }
  warnings.push(`main arena is non-contiguous: also walking ${hex(seg.start)}-${hex(seg.end)}`);
  heapRanges.push({ start: seg.start, end: seg.end });
  const w = walkSegment(mem, { start: alignChunk(seg.start), end: seg.end, top: arena.top, zone });
  for (const ch of w.chunks) chunks.push(ch);
  warnings.push(...w.warnings);
}

function walkThreadArena(
  mem: MemoryImage,
  arena: ArenaState,
  layout: GlibcLayout,
  chunks: Chunk[],
  excluded: ExcludedRange[],
  heapRanges: Range[],
  warnings: string[],
): void {
  const zone = `arena ${hex(arena.address)}`;
  let h = arena.top - (arena.top % HEAP_MAX_SIZE);
  const seen = new Set<number>();
  let total = 0;
  for (let i = 0; h !== 0 && i < 4096; i++) {
    if (seen.has(h) || h % HEAP_MAX_SIZE !== 0) {
      warnings.push(`${zone}: heap chain is broken at ${hex(h)}`);
      break;
    }
    seen.add(h);
    const ar = mem.u64(h), prev = mem.u64(h + 8), size = mem.u64(h + 16), mprot = mem.u64(h + 24);
    if (ar === undefined || prev === undefined || size === undefined || mprot === undefined) {
      warnings.push(`${zone}: heap_info at ${hex(h)} is not in the snapshot`);
      break;
    }
    if (ar !== arena.address || size > HEAP_MAX_SIZE || size < layout.heapInfoSize) {
      warnings.push(
        `${zone}: heap_info at ${hex(h)} is corrupt (ar_ptr ${hex(ar)}, size ${hex(size)})`,
      );
      break;
    }
    total += size;
    const first = h + layout.heapInfoSize === arena.address;
    excluded.push({ start: h, end: h + layout.heapInfoSize, why: `heap_info of ${zone}` });
    if (first) {
      excluded.push({
        start: arena.address,
        end: arena.address + layout.arenaSize,
        why: `malloc_state of ${zone}`,
      });
    }
    heapRanges.push({ start: h, end: h + Math.min(HEAP_MAX_SIZE, Math.max(size, mprot)) });
    const start = first ? alignChunk(arena.address + layout.arenaSize) : h + layout.heapInfoSize;
    const w = walkSegment(mem, { start, end: h + size, top: arena.top, zone });
    for (const ch of w.chunks) chunks.push(ch);
    warnings.push(...w.warnings);
    h = prev;
  }
  if (total !== arena.systemMem) {
    warnings.push(`${zone}: system_mem ${hex(arena.systemMem)} != heap sizes ${hex(total)}`);
  }
}
