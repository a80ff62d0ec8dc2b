// Frozen baseline walker (analysis/glibc at fadc9df, kept to time and compare the new one against): Offsets and sizes of glibc malloc's structures per release (64-bit), as listed in glibc-heap.md.

/** Where glibc malloc keeps things, for one glibc release on a 64-bit target. */
export interface GlibcLayout {
  /** sizeof(struct malloc_state). */
  arenaSize: number;
  /** Offsets inside malloc_state. */
  fastbinsY: number;
  top: number;
  bins: number;
  next: number;
  systemMem: number;
  /** sizeof(heap_info) (0x30 on 2.35+, 0x20 before). */
  heapInfoSize: number;
  /** Offset of `sbrk_base`, `n_mmaps` (int), `mmapped_mem` inside malloc_par; sizeof(malloc_par). */
  mpSbrkBase: number;
  mpNMmaps: number;
  mpMmappedMem: number;
  mpSize: number;
  /** tcache_perthread_struct: counts are u16 (2.30+) or u8, entries offset, bin count, chunk size. */
  tcacheCountBytes: 1 | 2;
  tcacheEntries: number;
  tcacheBins: number;
  tcacheChunkSize: number;
  /** Safe-linking of tcache/fastbin chains (2.32+). */
  safeLinking: boolean;
}

export const HEAP_MAX_SIZE = 0x4000000;
export const MINSIZE = 0x20;
export const PREV_INUSE = 1;
export const IS_MMAPPED = 2;
export const NFASTBINS = 10;

/** glibc 2.35–2.41, the layout verified on this machine (2.36). */
export const GLIBC_2_36: GlibcLayout = {
  arenaSize: 0x898,
  fastbinsY: 0x10,
  top: 0x60,
  bins: 0x70,
  next: 0x870,
  systemMem: 0x888,
  heapInfoSize: 0x30,
  mpSbrkBase: 0x60,
  mpNMmaps: 0x3c,
  mpMmappedMem: 0x50,
  mpSize: 0x88,
  tcacheCountBytes: 2,
  tcacheEntries: 0x80,
  tcacheBins: 64,
  tcacheChunkSize: 0x290,
  safeLinking: true,
};

/**
 * The layout for a "2.NN" version string. Unknown or unsupported versions get the 2.36 layout and
 * a note in `warning`.
 */
export function layoutFor(version: string | undefined): { layout: GlibcLayout; warning?: string } {
  const minor = version?.match(/^2\.(\d+)$/)?.[1];
  if (minor === undefined) {
    return { layout: GLIBC_2_36, warning: "glibc version unknown: assuming the 2.36 layout" };
  }
  const m = Number(minor);
  if (m >= 35 && m <= 41) return { layout: GLIBC_2_36 };
  if (m >= 30 && m <= 34) {
    return {
      layout: {
        ...GLIBC_2_36,
        heapInfoSize: 0x20,
        mpSbrkBase: 0x48,
        mpNMmaps: 0x28,
        mpMmappedMem: 0x38,
        mpSize: 0x70,
        safeLinking: m >= 32,
      },
    };
  }
  return {
    layout: GLIBC_2_36,
    warning: `glibc ${version} is not a supported release (2.30–2.41): assuming the 2.36 layout`,
  };
}
