// Enumerates glibc malloc's live allocations from a Snapshot: the phases of glibc-heap.md §9.
//
// O(chunks + free-list entries · log chunks + scanned anonymous pages + libc data words). One pass
// over each heap segment, in address order, into typed-array columns (ChunkColumns): no object per
// chunk, no sort, free-list membership marked per chunk index found by binary search.

import { AnalysisError } from "../errors.ts";
import { MemoryImage } from "../memory.ts";
import { AllocationTable } from "../allocation_table.ts";
import type { ExcludedRange, HeapEnumeration, Snapshot, ThreadState } from "../types.ts";
import { hex } from "./_hex.ts";
import { arenaRing, type ArenaState, findMainArena, findMp } from "./arena.ts";
import { HeapColumns, resumeAfterFenceposts, type WalkKernel, walkSegment } from "./chunks.ts";
import { detectAllocator } from "./detect_allocator.ts";
import { walkFastbins } from "./fastbins.ts";
import {
  type GlibcLayout,
  HEAP_MAX_SIZE,
  layoutFor,
  MINSIZE,
  NONCONTIGUOUS_BIT,
  request2size,
  tcacheChunkSizes,
} from "./layout.ts";
import { findLibc, glibcVersion, type LibcInfo } from "./libc_image.ts";
import { findMmappedChunks, type MmappedChunk } from "./mmapped.ts";
import {
  alignChunk,
  fallbackSegments,
  heapSpan,
  threadHeapJobs,
  type WalkJob,
} from "./segments.ts";
import { findTcaches, type TcacheCandidates } from "./tcache.ts";
import { tcacheTlsOffset } from "./tls_slot.ts";
import { WordViews } from "./word_views.ts";

type Range = { start: number; end: number };

export interface EnumerateOptions {
  /** Filled with the time of each phase, in milliseconds (bench/enumerate_bench.ts). */
  phaseMs?: Record<string, number>;
  /** The chunk walk's common steps, natively (ScanKernel.walkChunks). */
  walk?: WalkKernel;
}

/**
 * The live glibc malloc allocations of the snapshot. Throws when the process does not use glibc
 * malloc or main_arena cannot be found; corruption and cross-check mismatches become warnings.
 */
export function enumerateGlibc(snapshot: Snapshot, opts: EnumerateOptions = {}): HeapEnumeration {
  let t0 = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    if (opts.phaseMs) opts.phaseMs[name] = (opts.phaseMs[name] ?? 0) + now - t0;
    t0 = now;
  };
  const detected = detectAllocator(snapshot);
  if (detected.kind === "foreign") {
    throw new AnalysisError(
      `Cannot enumerate allocations of process ${snapshot.pid}: it uses ${detected.name} ` +
        `(${detected.evidence}); heapscope only understands glibc malloc on Linux`,
    );
  }
  if (detected.kind === "unknown") {
    throw new AnalysisError(
      `Cannot enumerate allocations of process ${snapshot.pid}: allocator not recognised: ` +
        detected.evidence,
    );
  }
  const libc = findLibc(snapshot)!;
  const mem = new MemoryImage(snapshot.memory);
  const views = new WordViews(mem);
  const warnings: string[] = [];
  const version = glibcVersion(mem, libc);
  const { layout, warning } = layoutFor(version);
  if (warning !== undefined) warnings.push(warning);
  phase("setup");

  // Phase 1: arenas, and mp_ (its sbrk_base is where the main heap starts).
  const span = heapSpan(snapshot.regions);
  const main = findMainArena(mem, libc, layout, span, warnings);
  if (main === undefined) {
    throw new AnalysisError(
      `Cannot enumerate allocations of process ${snapshot.pid}: main_arena not found in ${libc.path}` +
        ` (no main_arena symbol and no empty-bins signature in its data)`,
      [
        "Install your distribution's libc debug symbols (Debian: libc6-dbg) so that main_arena is found by name",
      ],
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
          `arena ${hex(a.address)} was locked (mutex ${mutex}) when the heap was copied: a ` +
            `thread was inside malloc/free, so blocks it was changing may be misclassified`,
        );
      }
    }
  }
  const mp = findMp(mem, libc, layout, span?.start);
  const excluded: ExcludedRange[] = [{
    start: main.address,
    end: main.address + layout.arenaSize,
    why: "glibc main_arena",
  }];
  const heapRanges: Range[] = [];
  const zones: string[] = ["main-arena"];
  phase("arenas");

  // Phase 2: the heap segments of every arena, walked in address order into one set of columns.
  const jobs: WalkJob[] = [];
  const mainState = ring[0];
  if (mainState !== undefined) {
    jobs.push(
      ...mainArenaJobs(snapshot, mem, views, mainState, layout, libc, span, mp, heapRanges),
    );
  }
  for (const arena of ring.slice(1)) {
    const zone = zones.push(`arena ${hex(arena.address)}`) - 1;
    jobs.push(
      ...threadHeapJobs(mem, arena, layout, zone, zones[zone]!, excluded, heapRanges, warnings),
    );
  }
  if (broken !== undefined) {
    // Heaps of the arenas a broken ring hides: never roots, never mmapped chunks.
    for (const h of unreachedHeaps(mem, snapshot.regions, heapRanges, layout)) {
      heapRanges.push(h);
      warnings.push(
        `heap ${hex(h.start)}-${hex(h.end)} belongs to an arena the ring does not reach: ` +
          `not analysed`,
      );
    }
  }

  // Phase 3: mmapped chunks (before the walk, which sizes its columns for them too).
  const skip: Range[] = [...heapRanges];
  for (const t of snapshot.threads) {
    const stack = snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
    if (stack !== undefined) skip.push({ start: stack.start, end: stack.end });
  }
  for (const img of snapshot.images) skip.push(...img.writable); // globals are never mmapped chunks
  skip.push(...libc.dataRanges);
  const mmapped = findMmappedChunks(views, snapshot.regions, skip, snapshot.pageSize, layout);
  phase("mmapped");

  const { capacity, expected } = columnSizes(jobs, mmapped.length);
  const chunks = new HeapColumns(capacity, expected);
  for (const gap of walkJobs(views, jobs, chunks, warnings, opts.walk)) {
    // The program's own sbrk'd bytes between two main-arena segments are not heap: roots.
    const i = heapRanges.findIndex((r) => r.start <= gap.start && gap.end <= r.end);
    if (i < 0) continue;
    const r = heapRanges[i]!;
    heapRanges.splice(i, 1, { start: r.start, end: gap.start }, { start: gap.end, end: r.end });
  }
  phase("walk");

  // Phase 4: free lists and tcache structs: the chunks on them are free or allocator metadata.
  const lookup = chunkLookup(chunks, layout.mmapHeader === "minus-header" ? mmapped : []);
  const dead: number[] = []; // chunk headers
  for (const arena of ring) {
    const zone = arena.address === main.address ? "main-arena" : `arena ${hex(arena.address)}`;
    dead.push(...walkFastbins(mem, arena.address, zone, layout, lookup, warnings));
  }
  phase("fastbins");
  const tcaches = findTcaches({
    mem,
    threads: snapshot.threads,
    libcData: libc.gotRanges,
    libcRegions: libc.regions,
    candidates: tcacheCandidates(chunks, mmapped, layout, snapshot.pageSize),
    layout,
    lookup,
    warnings,
    symbolSlot: tcacheTlsOffset(mem, snapshot.images, libc.image),
    tcacheCount: mp === undefined ? undefined : mem.u64(mp + layout.mpTcacheCount),
    tcacheKey: layout.tcacheKey === "random" ? symbolValue(mem, libc, "tcache_key") : undefined,
    liveStack: (t) => liveStack(snapshot, t),
  });
  for (const t of tcaches) {
    dead.push(...t.walk.entries, t.user - 16);
    if (t.inFlight !== undefined) dead.push(t.inFlight);
    excluded.push({
      start: t.user - 16,
      end: t.user - 16 + t.chunkSize,
      why: t.tid === undefined
        ? "orphan tcache_perthread_struct"
        : t.draining
        ? `tcache of exiting thread ${t.tid}`
        : `tcache of thread ${t.tid}`,
    });
  }
  phase("tcache");

  // Phase 5: the live set: the in-use chunks but the dead ones, mmapped chunks merged in.
  const allocations = liveSet(chunks, dead, mmapped, zones);
  for (const m of mmapped) heapRanges.push({ start: m.mapStart, end: m.mapEnd });
  phase("live-set");

  // Phase 6: mp_ and its cross-checks.
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
  phase("checks");
  return {
    allocator: version === undefined ? "glibc malloc" : `glibc ${version} malloc`,
    allocations,
    excluded,
    heapRanges,
    warnings,
  };

  /**
   * The main arena's walk jobs: the [heap] span from sbrk_base, and, when the arena is
   * non-contiguous (sbrk failed at some point), its mmap fallback segments; their ranges go to
   * `ranges`. Cross-checks the top chunk and system_mem.
   */
  function mainArenaJobs(
    snapshot: Snapshot,
    mem: MemoryImage,
    views: WordViews,
    arena: ArenaState,
    layout: GlibcLayout,
    libc: LibcInfo,
    span: Range | undefined,
    mp: number | undefined,
    ranges: Range[],
  ): WalkJob[] {
    const zoneName = "main-arena";
    if (libc.dataRanges.some((r) => arena.top >= r.start && arena.top < r.end)) {
      return []; // top still points at the unsorted bin: the main arena never took memory.
    }
    const jobs: WalkJob[] = [];
    let start = span?.start;
    if (span !== undefined && mp !== undefined) {
      // A program that moved the break itself before its first malloc owns [span.start, sbrk_base).
      const base = mem.u64(mp + layout.mpSbrkBase);
      if (base !== undefined && base > span.start && base < span.end) start = base;
    }
    if (span !== undefined && start !== undefined) {
      ranges.push({ start, end: span.end });
      jobs.push({
        start: alignChunk(start),
        end: span.end,
        top: arena.top,
        zone: 0,
        zoneName,
        kind: "main",
      });
    }
    const topInSpan = span !== undefined && arena.top >= span.start && arena.top < span.end;
    const flags = mem.u32(arena.address + layout.flags) ?? 0;
    let fallback: Range[] = [];
    if (!topInSpan || (flags & NONCONTIGUOUS_BIT) !== 0) {
      const skip: Range[] = [...ranges, ...libc.dataRanges];
      for (const r of snapshot.regions) {
        if (r.start % HEAP_MAX_SIZE === 0) skip.push({ start: r.start, end: r.end }); // thread heap
      }
      for (const t of snapshot.threads) {
        const stack = snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
        if (stack !== undefined) skip.push(stack);
      }
      for (const img of snapshot.images) skip.push(...img.writable);
      fallback = fallbackSegments(views, snapshot.regions, skip, arena.top, snapshot.pageSize);
      for (const f of fallback) {
        warnings.push(
          `main arena is non-contiguous: also walking ${hex(f.start)}-${hex(f.end)}`,
        );
        ranges.push(f);
        jobs.push({ ...f, top: arena.top, zone: 0, zoneName, kind: "fallback" });
      }
      if (!topInSpan && !fallback.some((f) => arena.top >= f.start && arena.top < f.end)) {
        warnings.push(`main-arena top ${hex(arena.top)} is not in an anonymous mapping`);
      }
    }
    if (span !== undefined && topInSpan && start !== undefined) {
      // The break itself need not be page-aligned (a non-contiguous arena's segment after a
      // program's sbrk), while the [heap] mapping is: the top ends in the mapping's last page.
      const topSize = mem.u64(arena.top + 8) ?? 0;
      const topEnd = arena.top + topSize - (topSize % 8);
      if (topEnd > span.end || span.end - topEnd >= snapshot.pageSize) {
        warnings.push(
          `main-arena top ${hex(arena.top)} does not end at the [heap] end ${hex(span.end)}`,
        );
      }
      // sysmalloc counts every segment and every foreign sbrk gap in system_mem; checked when the
      // arena is one brk segment (the others are cross-checked by their own walks).
      if (fallback.length === 0 && (flags & NONCONTIGUOUS_BIT) === 0) {
        if (arena.systemMem !== span.end - start) {
          warnings.push(
            `main_arena.system_mem ${hex(arena.systemMem)} != [heap] size ${hex(span.end - start)}`,
          );
        }
      }
    }
    return jobs;
  }
}

/**
 * Walks the jobs in address order into `chunks`. The [heap] span may hold several segments: after
 * a fencepost pair the chain resumes where resumeAfterFenceposts() finds it (at once, or past a
 * foreign sbrk's bytes, returned as gaps). A job that starts below where the previous one ended
 * (corrupt heap_info) is skipped with a warning, so the columns stay in address order.
 */
function walkJobs(
  views: WordViews,
  jobs: WalkJob[],
  chunks: HeapColumns,
  warnings: string[],
  fast?: WalkKernel,
): Range[] {
  const gaps: Range[] = [];
  jobs.sort((a, b) => a.start - b.start);
  let floor = -Infinity;
  for (const job of jobs) {
    if (job.start < floor) {
      warnings.push(
        `${job.zoneName}: segment ${hex(job.start)}-${hex(job.end)} overlaps one already walked: ` +
          `skipped`,
      );
      continue;
    }
    let start = job.start;
    for (;;) {
      const walk = { start, end: job.end, top: job.top, zone: job.zoneName, fast };
      const w = walkSegment(views, walk, chunks, job.zone);
      warnings.push(...w.warnings);
      floor = Math.max(floor, w.at);
      if (w.stop === "fenceposts" && job.kind === "main") {
        const resume = resumeAfterFenceposts(views, w.at, job.end, job.top, job.zoneName);
        if (resume === undefined) {
          // Nothing of malloc's follows (the program's own sbrk'd bytes end the span, or they are
          // corrupt): scanned as roots rather than hiding what they point to.
          gaps.push({ start: w.at, end: job.end });
          warnings.push(
            `main-arena: no chunk chain found after the fenceposts ending at ${hex(w.at)}: ` +
              `${hex(w.at)}-${hex(job.end)} is not walked and is scanned as a root`,
          );
          break;
        }
        if (resume !== w.at) {
          gaps.push({ start: w.at, end: resume });
          warnings.push(
            `main-arena: ${hex(w.at)}-${hex(resume)} between two heap segments is not malloc's ` +
              `(memory the program took with sbrk): walking on at ${hex(resume)}`,
          );
        }
        start = resume;
        continue;
      }
      const topHere = job.top >= job.start && job.top < job.end;
      if (topHere && w.stop !== "top" && w.stop !== "corrupt" && w.stop !== "unreadable") {
        warnings.push(
          `corrupt chunk at ${hex(w.at)} in ${job.zoneName}: walk ended before the top chunk ` +
            hex(job.top),
        );
      }
      break;
    }
  }
  return gaps;
}

/**
 * The walk's columns: `capacity`, room for every chunk the jobs can hold (one per MINSIZE bytes)
 * plus the mmapped chunks, capped at 2^25 rows (600 MB of address space; a bigger heap grows the
 * columns by doubling; pages never written are never faulted in, so the bound costs nothing but
 * address space); and `expected`, about how many chunks the walk will find, for faulting the
 * columns in ahead: one per EXPECTED_CHUNK bytes of heap (an average; fewer found costs the helper
 * some work, more costs the walk its own faults, as without the hint).
 */
function columnSizes(
  jobs: readonly WalkJob[],
  mmapped: number,
): { capacity: number; expected: number } {
  const bytes = jobs.reduce((s, j) => s + Math.max(0, j.end - j.start), 0);
  return {
    capacity: Math.min(2 ** 25, Math.ceil(bytes / MINSIZE) + mmapped + 16),
    expected: Math.ceil(bytes / EXPECTED_CHUNK) + mmapped,
  };
}

/**
 * Bytes of heap per chunk: a guess at the average (bench/big_heap.sh's workloads have 243 and 286
 * bytes). Too small a guess costs the helper work and memory the walk does not use; too large, the
 * walk faults the rest in itself.
 */
const EXPECTED_CHUNK = 256;

/** Header → chunk size of in-use-by-P heap chunks (and of the given mmapped chunks). O(log n). */
function chunkLookup(chunks: HeapColumns, mmapped: readonly MmappedChunk[]) {
  return (header: number): number | undefined => {
    const i = chunks.indexOfHeader(header);
    if (i >= 0) return chunks.usable[i]! + 8;
    const j = mmappedIndex(mmapped, header);
    return j >= 0 ? mmapped[j]!.size : undefined;
  };
}

/** Index of the mmapped chunk with this header, or −1. O(log n). */
function mmappedIndex(mmapped: readonly MmappedChunk[], header: number): number {
  let lo = 0, hi = mmapped.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (mmapped[mid]!.header < header) lo = mid + 1;
    else hi = mid;
  }
  return lo < mmapped.length && mmapped[lo]!.header === header ? lo : -1;
}

/**
 * In-use chunks of the sizes a tcache struct can occupy (layout.tcacheChunkSizes), and mmapped
 * chunks of the one mapping size it would get from sysmalloc's mmap path; user pointers ascending.
 */
function tcacheCandidates(
  chunks: HeapColumns,
  mmapped: readonly MmappedChunk[],
  layout: GlibcLayout,
  pageSize: number,
): TcacheCandidates {
  const sizes = tcacheChunkSizes(layout);
  const lo = sizes[0]! - 8, hi = sizes[sizes.length - 1]! - 8;
  const users: number[] = [], sz: number[] = [];
  const mapLen = Math.ceil((request2size(layout.tcacheStructSize) + 16) / pageSize) * pageSize;
  const pushMmapped = (m: MmappedChunk) => {
    if (m.header === m.mapStart && m.mapEnd - m.mapStart === mapLen) {
      users.push(m.header + 16);
      sz.push(m.size);
    }
  };
  let k = 0;
  const n = chunks.length, usable = chunks.usable, address = chunks.address;
  for (let i = 0; i < n; i++) {
    const u = usable[i]!;
    if (u < lo || u > hi || !sizes.includes(u + 8)) continue;
    for (; k < mmapped.length && mmapped[k]!.header + 16 < address[i]!; k++) {
      pushMmapped(mmapped[k]!);
    }
    users.push(address[i]!);
    sz.push(u + 8);
  }
  for (; k < mmapped.length; k++) pushMmapped(mmapped[k]!);
  return { users: Float64Array.from(users), sizes: Float64Array.from(sz) };
}

/**
 * The live allocations: `chunks` without the `dead` headers, with the mmapped chunks not dead
 * merged in, all in place in the columns (compaction forwards, then a merge backwards into the free
 * room at the end), so no page is written twice. O(chunks + dead · log chunks + mmapped).
 */
function liveSet(
  chunks: HeapColumns,
  dead: readonly number[],
  mmapped: readonly MmappedChunk[],
  zones: readonly string[],
): AllocationTable {
  const deadMmapped = new Uint8Array(mmapped.length);
  for (const h of dead) {
    const i = chunks.indexOfHeader(h);
    if (i >= 0) chunks.usable[i] = -1;
    else {
      const j = mmappedIndex(mmapped, h);
      if (j >= 0) deadMmapped[j] = 1;
    }
  }
  let liveMmapped = 0;
  for (let j = 0; j < mmapped.length; j++) if (!deadMmapped[j]) liveMmapped++;
  while (chunks.address.length < chunks.length + liveMmapped) chunks.grow();
  const address = chunks.address, usable = chunks.usable, zone = chunks.zone;
  let o = 0;
  for (let i = 0; i < chunks.length; i++) {
    if (usable[i]! < 0) continue;
    if (o !== i) {
      address[o] = address[i]!;
      usable[o] = usable[i]!;
      zone[o] = zone[i]!;
    }
    o++;
  }
  const mmapZone = zones.length;
  const total = o + liveMmapped;
  let w = total - 1, i = o - 1;
  for (let j = mmapped.length - 1; j >= 0; j--) {
    if (deadMmapped[j]) continue;
    const m = mmapped[j]!, a = m.header + 16;
    for (; i >= 0 && address[i]! > a; i--, w--) {
      address[w] = address[i]!;
      usable[w] = usable[i]!;
      zone[w] = zone[i]!;
    }
    address[w] = a;
    usable[w] = m.usable;
    zone[w--] = mmapZone;
  }
  return new AllocationTable(
    address.subarray(0, total),
    usable.subarray(0, total),
    zone.subarray(0, total),
    [...zones, "mmap"],
  );
}

/** The runtime address of a libc data symbol's value (e.g. tcache_key), when symbols are known. */
function symbolValue(mem: MemoryImage, libc: LibcInfo, name: string): number | undefined {
  const a = libc.image?.symbols?.[name];
  return a === undefined ? undefined : mem.u64(a);
}

/** The part of thread `t`'s stack mapping from its stack pointer up, when it was copied. */
function liveStack(snapshot: Snapshot, t: ThreadState): Range | undefined {
  const r = snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
  return r === undefined ? undefined : { start: t.sp - (t.sp % 8), end: r.end };
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
