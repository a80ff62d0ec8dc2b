// Offsets and sizes of glibc malloc's structures per release (64-bit), from malloc/malloc.c and arena.c.
//
// Every number below was read from glibc's source at the release tag (bminor/glibc, `git show
// glibc-2.NN:malloc/malloc.c`); 2.31, 2.36, 2.41 and 2.43 were also checked with gdb `ptype /o` on
// Debian's libc6-dbg (bullseye, bookworm, trixie, sid) and by walking real processes.

/** Where glibc malloc keeps things, for one glibc release on a 64-bit target. */
export interface GlibcLayout {
  /** The release this layout was written for ("2.36"), for messages. */
  release: string;
  /** sizeof(struct malloc_state). */
  arenaSize: number;
  /** Offset of fastbinsY[10], or undefined where fastbins are gone (2.43+). */
  fastbinsY: number | undefined;
  /** Offsets inside malloc_state. */
  flags: number;
  top: number;
  bins: number;
  next: number;
  systemMem: number;
  /** sizeof(heap_info) (0x30 on 2.35+, 0x20 before: `pagesize` was added). */
  heapInfoSize: number;
  /** Offsets of `sbrk_base`, `n_mmaps` (int), `mmapped_mem`, `tcache_count` in malloc_par; its size. */
  mpSbrkBase: number;
  mpNMmaps: number;
  mpMmappedMem: number;
  mpTcacheCount: number;
  mpSize: number;
  /** tcache_perthread_struct: counts are u16 (2.30+) or u8; entries offset; bins; sizeof. */
  tcacheCountBytes: 1 | 2;
  tcacheEntries: number;
  tcacheBins: number;
  tcacheStructSize: number;
  /**
   * "used": counts[i] is the number of entries in bin i (≤ 2.41). "free-slots": num_slots[i] is
   * how many more entries bin i may take, counting down from tcache_count (2.42+).
   */
  tcacheCounts: "used" | "free-slots";
  /**
   * What tcache_put writes at entry+8: nothing (≤ 2.28), the owning struct's user pointer
   * (2.29–2.33), or the process-wide random `tcache_key` (2.34+).
   */
  tcacheKey: "none" | "struct" | "random";
  /**
   * Whether the struct's chunk can also be request2size(request2size(sizeof struct)): in 2.43 a
   * thread's tcache is made lazily, and when its first malloc is an exact fit from a small or the
   * unsorted bin, _int_malloc calls tcache_init (av), which passes the already normalised size to
   * _int_malloc as a byte count (0x310, or 0x320 whole; seen in Debian sid's 2.43-7).
   */
  tcacheDoubleRounded: boolean;
  /** Whether the libc `tcache` TLS pointer is never NULL but points to a dummy struct (2.43+). */
  tcacheDummy: boolean;
  /** Safe-linking of tcache/fastbin chains (2.32+). */
  safeLinking: boolean;
  /**
   * mmapped chunk header: "whole" (≤ 2.42: size = mapping length, usable = size − 16) or "minus-header"
   * (2.43: size = length − offset − 16, prev_size = offset | MMAP_HP, usable = size − 8).
   */
  mmapHeader: "whole" | "minus-header";
}

/** HEAP_MAX_SIZE = 2 · DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit): every thread heap's alignment. */
export const HEAP_MAX_SIZE = 0x4000000;
/** MINSIZE: the smallest chunk (fd + bk + header). */
export const MINSIZE = 0x20;
export const PREV_INUSE = 1;
export const IS_MMAPPED = 2;
export const NON_MAIN_ARENA = 4;
export const NFASTBINS = 10;
/** malloc_state.flags bit set once the main arena left sbrk (2 = NONCONTIGUOUS_BIT). */
export const NONCONTIGUOUS_BIT = 2;
/** Small tcache bins (idx 0–63, chunk sizes 0x20–0x410); 2.42+ adds 12 large ones. */
export const TCACHE_SMALL_BINS = 64;

/** glibc 2.35–2.41, the layout verified on this machine (2.36) and in Debian trixie (2.41). */
export const GLIBC_2_36: GlibcLayout = {
  release: "2.36",
  arenaSize: 0x898,
  fastbinsY: 0x10,
  flags: 0x4,
  top: 0x60,
  bins: 0x70,
  next: 0x870,
  systemMem: 0x888,
  heapInfoSize: 0x30,
  mpSbrkBase: 0x60,
  mpNMmaps: 0x3c,
  mpMmappedMem: 0x50,
  mpTcacheCount: 0x78,
  mpSize: 0x88,
  tcacheCountBytes: 2,
  tcacheEntries: 0x80,
  tcacheBins: 64,
  tcacheStructSize: 0x280,
  tcacheCounts: "used",
  tcacheKey: "random",
  tcacheDoubleRounded: false,
  tcacheDummy: false,
  safeLinking: true,
  mmapHeader: "whole",
};

/** 2.30–2.34: malloc_par has no thp/hp fields (−0x18), heap_info has no `pagesize` (0x20). */
const GLIBC_2_31: GlibcLayout = {
  ...GLIBC_2_36,
  release: "2.31",
  heapInfoSize: 0x20,
  mpSbrkBase: 0x48,
  mpNMmaps: 0x28,
  mpMmappedMem: 0x38,
  mpTcacheCount: 0x60,
  mpSize: 0x70,
  tcacheKey: "struct",
  safeLinking: false,
};

/** 2.27–2.29: char counts[64], entries at 0x40, struct 0x240. */
const GLIBC_2_28: GlibcLayout = {
  ...GLIBC_2_31,
  release: "2.28",
  tcacheCountBytes: 1,
  tcacheEntries: 0x40,
  tcacheStructSize: 0x240,
  tcacheKey: "none",
};

/** 2.26: no have_fastchunks (FASTCHUNKS_BIT in flags), so everything after fastbinsY is 8 lower. */
const GLIBC_2_26: GlibcLayout = {
  ...GLIBC_2_28,
  release: "2.26",
  arenaSize: 0x890,
  fastbinsY: 0x8,
  top: 0x58,
  bins: 0x68,
  next: 0x868,
  systemMem: 0x880,
};

/** 2.42: 76 bins (12 large), num_slots counting down, struct 0x2f8. Arena and mp_ as 2.36. */
const GLIBC_2_42: GlibcLayout = {
  ...GLIBC_2_36,
  release: "2.42",
  tcacheEntries: 0x98,
  tcacheBins: 76,
  tcacheStructSize: 0x2f8,
  tcacheCounts: "free-slots",
};

/**
 * 2.43 (checked with gdb in Debian sid's 2.43-7): fastbins removed (top at 0x8), malloc_par gains
 * `thp_mode` (+8), the tcache TLS pointer is a dummy when unused, mmapped chunks carry their offset.
 */
const GLIBC_2_43: GlibcLayout = {
  ...GLIBC_2_42,
  release: "2.43",
  arenaSize: 0x840,
  fastbinsY: undefined,
  top: 0x8,
  bins: 0x18,
  next: 0x818,
  systemMem: 0x830,
  mpSbrkBase: 0x68,
  mpNMmaps: 0x44,
  mpMmappedMem: 0x58,
  mpTcacheCount: 0x80,
  mpSize: 0x90,
  tcacheDoubleRounded: true,
  tcacheDummy: true,
  mmapHeader: "minus-header",
};

/** Oldest and newest releases with a layout here. */
const OLDEST = 26, NEWEST = 43;

/** The layout of release 2.`minor` (clamped to the supported range). */
function layoutOfMinor(minor: number): GlibcLayout {
  if (minor <= 26) return GLIBC_2_26;
  if (minor <= 28) return GLIBC_2_28;
  if (minor === 29) return { ...GLIBC_2_28, release: "2.29", tcacheKey: "struct" };
  if (minor <= 34) {
    return {
      ...GLIBC_2_31,
      release: `2.${minor}`,
      safeLinking: minor >= 32,
      tcacheKey: minor >= 34 ? "random" : "struct",
    };
  }
  if (minor <= 41) return { ...GLIBC_2_36, release: `2.${minor}` };
  if (minor === 42) return GLIBC_2_42;
  return GLIBC_2_43;
}

/** Every distinct layout, newest first (for callers that must try them all, e.g. static binaries). */
export const ALL_LAYOUTS: readonly GlibcLayout[] = [43, 42, 36, 31, 28, 26].map(layoutOfMinor);

/**
 * The layout for a "2.NN" version string. An unknown version gets the 2.36 layout, a release older
 * than 2.26 (no tcache) or newer than 2.43 the nearest one; each with a note in `warning`.
 */
export function layoutFor(version: string | undefined): { layout: GlibcLayout; warning?: string } {
  const minor = version?.match(/^2\.(\d+)$/)?.[1];
  if (minor === undefined) {
    return { layout: GLIBC_2_36, warning: "glibc version unknown: assuming the 2.36 layout" };
  }
  const m = Number(minor);
  if (m >= OLDEST && m <= NEWEST) return { layout: layoutOfMinor(m) };
  const near = layoutOfMinor(m);
  return {
    layout: near,
    warning: `glibc ${version} is not a supported release (2.${OLDEST}–2.${NEWEST}): assuming ` +
      `the ${near.release} layout`,
  };
}

/** request2size(n): the chunk size malloc(n) asks for (MINSIZE at least, 16-aligned, +8). */
export function request2size(n: number): number {
  return Math.max(MINSIZE, Math.ceil((n + 8) / 16) * 16);
}

/**
 * The chunk sizes a tcache_perthread_struct can occupy in an arena heap. tcache_init asks for
 * nb = request2size(sizeof struct) (2.43 also request2size(nb), see tcacheDoubleRounded); _int_malloc
 * returns a chunk of exactly nb (exact fits, splits, the top chunk), or a whole free chunk of nb + 16
 * when splitting it would leave a remainder smaller than MINSIZE: the "exhaust" branches of its
 * large-bin and binmap searches (malloc.c 2.36 L4204 and L4306, `if (remainder_size < MINSIZE)
 * { set_inuse_bit_at_offset (victim, size); …}`; tcache_init at L3233 calls _int_malloc directly).
 * Chunk sizes are multiples of 16, so the only such remainder is 16: a thread whose arena had a
 * free 0x2a0 chunk and no 0x290 one gets its 2.36 struct in a 0x2a0 chunk. An mmapped struct
 * (mmap_threshold ≤ nb and no room at the top, e.g. MALLOC_MMAP_THRESHOLD_=0) is found separately.
 */
export function tcacheChunkSizes(layout: GlibcLayout): number[] {
  const nb = request2size(layout.tcacheStructSize);
  const sizes = [nb, nb + 16];
  if (layout.tcacheDoubleRounded) sizes.push(request2size(nb) + 16);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Chunk size of tcache bin `i` (small bins) or the [min, max) range of a 2.42+ large bin. */
export function tcacheBinSizes(i: number): { min: number; max: number } {
  if (i < TCACHE_SMALL_BINS) {
    const s = MINSIZE + 16 * i;
    return { min: s, max: s + 1 };
  }
  // large_csize2tidx: 64 + clz(0x410) − clz(nb), i.e. one bin per power of two from 0x400.
  const lo = 2 ** (10 + i - TCACHE_SMALL_BINS);
  return { min: Math.max(lo, MINSIZE + 16 * TCACHE_SMALL_BINS), max: lo * 2 };
}

/** Usable size of a heap chunk (csize − 8; glibc's memsize without memory tagging). */
export function heapUsable(csize: number): number {
  return csize - 8;
}
