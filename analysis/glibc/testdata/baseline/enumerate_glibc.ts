// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Enumerates glibc malloc's live allocations from a Snapshot: the phases of glibc-heap.md §9.
//
// O(chunks + free-list entries · log chunks + scanned anonymous pages + libc data words). Chunks
// live in typed arrays (ChunkList); free-list membership is a mark per chunk index, found by binary
// search over the chunks in address order, so no Map or Set is keyed by 10^6 addresses.

import { MemoryImage } from "../../../memory.ts";
import { AllocationTableBuilder } from "../../../allocation_table.ts";
import type { ExcludedRange, HeapEnumeration, Snapshot } from "../../../types.ts";
import { hex } from "./_hex.ts";
import { arenaRing, type ArenaState, findMainArena, findMp } from "./arena.ts";
import { ChunkList, walkSegment } from "./chunks.ts";
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
  const heapRegion = snapshot.regions.find((r) => r.path === "[heap]");
  const main = findMainArena(mem, libc, layout, heapRegion, warnings);
  if (main === undefined) {
    throw new Error(
      `Cannot enumerate allocations of process ${snapshot.pid}: main_arena not found in ${libc.path}` +
        ` (no main_arena symbol and no empty-bins signature in its data)`,
    );
  }
  const { ring, broken } = arenaRing(mem, main.address, layout);
  if (broken !== undefined) {
    warnings.push(
      `arena ring broken at ${hex(broken.at)} (its next ${hex(broken.next)} is ${broken.why}): ` +
        `arenas after it are not analysed; their blocks are missing, not leaked (their heaps are ` +
        `neither allocations nor roots, so pointers into them are ignored and blocks referenced ` +
        `only from them may be reported as leaks)`,
    );
  }
  if (snapshot.threads.length > 1) {
    for (const a of ring) {
      const mutex = mem.u32(a.address);
      if (mutex !== undefined && mutex !== 0) {
        warnings.push(
          `arena ${
            hex(a.address)
          } was locked (mutex ${mutex}) when the heap was copied: a thread ` +
            `was inside malloc/free, so blocks it was changing may be misclassified`,
        );
      }
    }
  }
  const excluded: ExcludedRange[] = [{
    start: main.address,
    end: main.address + layout.arenaSize,
    why: "glibc main_arena",
  }];
  const heapRanges: Range[] = [];
  const chunks = new ChunkList();
  // Zone names, interned: chunks carry the index.
  const zones: string[] = [];

  // Phase 2: the main heap.
  const mainState = ring[0];
  if (mainState !== undefined) {
    walkMainHeap(
      snapshot,
      mem,
      mainState,
      heapRegion,
      libc.dataRanges,
      chunks,
      zones,
      heapRanges,
      warnings,
    );
  }

  // Phase 3: thread arenas and their heaps.
  for (const arena of ring.slice(1)) {
    walkThreadArena(mem, arena, layout, chunks, zones, excluded, heapRanges, warnings);
  }

  // Phase 3b: heaps of the arenas a broken ring hides: never roots, never mmapped chunks.
  if (broken !== undefined) {
    for (const h of unreachedHeaps(mem, snapshot.regions, heapRanges, layout)) {
      heapRanges.push(h);
      warnings.push(
        `heap ${hex(h.start)}-${
          hex(h.end)
        } belongs to an arena the ring does not reach: not analysed`,
      );
    }
  }

  // Phase 4: free lists and tcache structs.
  const sorted = byAddress(chunks);
  const lookup = (h: number) => sorted.inUseSize(h);
  // Per chunk (address order): 1 when a free list holds it or it is allocator metadata.
  const dead = new Uint8Array(sorted.length);
  for (const arena of ring) {
    const zone = arena.address === main.address ? "main-arena" : `arena ${hex(arena.address)}`;
    for (const p of walkFastbins(mem, arena.address, zone, layout, lookup, warnings)) {
      sorted.mark(dead, p);
    }
  }
  const tcacheUsers = new Set<number>();
  for (let i = 0; i < chunks.length; i++) {
    if (chunks.inUse[i] && chunks.size[i] === layout.tcacheChunkSize) {
      tcacheUsers.add(chunks.address[i]! + 16);
    }
  }
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
  for (const t of tcaches) {
    for (const e of t.walk.entries) sorted.mark(dead, e);
    sorted.mark(dead, t.user - 16);
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
  // Heap chunks are in address order already; mmapped chunks are merged in (sorted when needed).
  const mm = [...mmapped].sort((a, b) => a.header - b.header);
  const live = new AllocationTableBuilder(sorted.length + mm.length);
  let k = 0;
  const order = sorted.order;
  for (let i = 0; i < sorted.length; i++) {
    const j = order[i]!;
    if (!chunks.inUse[j] || dead[i]) continue;
    const address = chunks.address[j]! + 16;
    for (; k < mm.length && mm[k]!.header + 16 < address; k++) {
      live.push(mm[k]!.header + 16, mm[k]!.size - 16, "mmap");
    }
    live.push(address, chunks.size[j]! - 8, zones[chunks.zone[j]!]!);
  }
  for (; k < mm.length; k++) live.push(mm[k]!.header + 16, mm[k]!.size - 16, "mmap");
  const allocations = live.finish();
  for (const m of mmapped) heapRanges.push({ start: m.mapStart, end: m.mapEnd });

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
  chunks: ChunkList,
  zones: string[],
  heapRanges: Range[],
  warnings: string[],
): void {
  const zone = "main-arena";
  const zoneId = zones.push(zone) - 1;
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
      zoneId,
    }, chunks);
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
  const w = walkSegment(
    mem,
    { start: alignChunk(seg.start), end: seg.end, top: arena.top, zone, zoneId },
    chunks,
  );
  warnings.push(...w.warnings);
}

function walkThreadArena(
  mem: MemoryImage,
  arena: ArenaState,
  layout: GlibcLayout,
  chunks: ChunkList,
  zones: string[],
  excluded: ExcludedRange[],
  heapRanges: Range[],
  warnings: string[],
): void {
  const zone = `arena ${hex(arena.address)}`;
  const zoneId = zones.push(zone) - 1;
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
    const w = walkSegment(mem, { start, end: h + size, top: arena.top, zone, zoneId }, chunks);
    warnings.push(...w.warnings);
    h = prev;
  }
  if (total !== arena.systemMem) {
    warnings.push(`${zone}: system_mem ${hex(arena.systemMem)} != heap sizes ${hex(total)}`);
  }
}

/**
 * Thread-arena heaps no walked arena owns: anonymous rw mappings at HEAP_MAX_SIZE boundaries
 * (each slot of a merged VMA) starting with a plausible heap_info, outside `walked`.
 * O(regions · slots).
 */
function unreachedHeaps(
  mem: MemoryImage,
  regions: readonly { start: number; end: number; perms: string; path: string }[],
  walked: readonly Range[],
  layout: GlibcLayout,
): Range[] {
  const out: Range[] = [];
  for (const r of regions) {
    if (r.path !== "" || !r.perms.startsWith("rw")) continue;
    const first = r.start % HEAP_MAX_SIZE === 0
      ? r.start
      : r.start - (r.start % HEAP_MAX_SIZE) + HEAP_MAX_SIZE;
    for (let h = first; h < r.end; h += HEAP_MAX_SIZE) {
      if (walked.some((w) => h >= w.start && h < w.end)) continue;
      const ar = mem.u64(h), size = mem.u64(h + 16);
      if (ar === undefined || size === undefined || ar === 0 || ar % 16 !== 0) continue;
      if (size < layout.heapInfoSize || size > HEAP_MAX_SIZE) continue;
      out.push({ start: h, end: Math.min(r.end, h + HEAP_MAX_SIZE) });
    }
  }
  return out;
}

/** The walked chunks in address order (stable for equal addresses), with lookups by header. */
interface SortedChunks {
  length: number;
  /** Walk index (into the ChunkList) of the chunk at each address-order position. */
  order: Uint32Array;
  /** Chunk size of the in-use-by-P chunk with this header (the last walked one), or undefined. */
  inUseSize(header: number): number | undefined;
  /** Sets `marks[i]` for every address-order position i whose chunk header is `header`. */
  mark(marks: Uint8Array, header: number): void;
}

/**
 * Puts the chunks in address order (a permutation, no copy of the chunk arrays). Each segment's
 * walk is ascending and segments do not overlap, so this normally only reorders whole runs (O(n));
 * overlapping runs (corrupt input) fall back to a stable sort of the indices, O(n log n).
 */
function byAddress(c: ChunkList): SortedChunks {
  const n = c.length;
  const address = c.address, size = c.size, inUse = c.inUse;
  const runs: number[] = []; // first index of each ascending run
  for (let i = 0; i < n; i++) if (i === 0 || address[i]! <= address[i - 1]!) runs.push(i);
  runs.sort((x, y) => address[x]! - address[y]! || x - y);
  let order = new Uint32Array(n);
  let o = 0;
  for (const r of runs) {
    let i = r;
    do order[o++] = i++; while (i < n && address[i]! > address[i - 1]!);
  }
  for (let i = 1; i < n; i++) {
    if (address[order[i]!]! < address[order[i - 1]!]!) {
      order = Uint32Array.from({ length: n }, (_, k) => k)
        .sort((x, y) => address[x]! - address[y]! || x - y);
      break;
    }
  }
  /** First address-order position whose address is >= `a`. */
  const lowerBound = (a: number): number => {
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (address[order[mid]!]! < a) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    length: n,
    order,
    inUseSize(header) {
      let found: number | undefined, foundAt = -1;
      for (let i = lowerBound(header); i < n && address[order[i]!] === header; i++) {
        const j = order[i]!;
        if (inUse[j] && j > foundAt) {
          found = size[j];
          foundAt = j;
        }
      }
      return found;
    },
    mark(marks, header) {
      for (let i = lowerBound(header); i < n && address[order[i]!] === header; i++) marks[i] = 1;
    },
  };
}
