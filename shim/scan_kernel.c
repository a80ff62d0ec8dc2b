/* The conservative scan's word loop in C (analysis/scan.ts has the same in TypeScript; both must
 * give identical edges). Pure computation on caller-owned buffers: no process access, no state.
 * Compiled into the Linux and the macOS shim. O(words scanned) plus one index lookup per word that
 * falls inside the heap's address span.
 */
#include <stdint.h>
#include <string.h>

#include "heapscope.h"

#define BUCKET_SHIFT 8

typedef struct {
  const double *starts, *sizes;
  const double *seg_start, *seg_end;
  const int32_t *seg_table;
  uint32_t segs;
  const int32_t *table;
  uint64_t min, max;
  uint32_t last_seg;
} scan_index;

/* The bucket slot of a word inside [min, max), or UINT64_MAX when no segment holds it. */
static inline uint64_t slot_of(scan_index *x, uint64_t v) {
  double dv = (double)v;
  uint32_t s = x->last_seg;
  if (dv < x->seg_start[s] || dv >= x->seg_end[s]) {
    int64_t lo = 0, hi = (int64_t)x->segs - 1, found = -1;
    while (lo <= hi) {
      int64_t mid = (lo + hi) >> 1;
      if (x->seg_start[mid] <= dv) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0 || dv >= x->seg_end[found]) return UINT64_MAX;
    s = (uint32_t)found;
    x->last_seg = s;
  }
  return (uint64_t)x->seg_table[s] + ((v - (uint64_t)x->seg_start[s]) >> BUCKET_SHIFT);
}

/* Where block i ends: start + max(size, 1) (a zero-size block owns its address), as
 * AllocationIndex computes it: no array of ends, which was 8 bytes a block at the run's peak. */
static inline double end_of(const double *starts, const double *sizes, int64_t i) {
  return starts[i] + (sizes[i] > 1 ? sizes[i] : 1);
}

/* Math.ceil(x / d) for the index's bucket counts (x, d exact integers in doubles). */
static inline double ceil_div(double x, double d) {
  const double q = x / d;
  const double f = (double)(int64_t)q;
  return f < q ? f + 1 : f;
}

/* Same as AllocationIndex.lookup (analysis/alloc_index.ts). */
static inline int64_t lookup(scan_index *x, uint64_t v) {
  const uint64_t slot = slot_of(x, v);
  if (slot == UINT64_MAX) return -1;
  const double dv = (double)v; /* exact: v < 2^53 here (checked against max) */
  int64_t i = x->table[slot];
  while (end_of(x->starts, x->sizes, i) <= dv) i++;
  return x->starts[i] <= dv ? i : -1;
}

static inline uint64_t word_at(const uint8_t *p) {
  uint64_t w;
  memcpy(&w, p, 8); /* little-endian targets only (x86_64, arm64), as the TypeScript scan */
  return w;
}

/* AllocationIndex's two loops over the blocks (analysis/alloc_index.ts, the TypeScript twin with
 * the same double arithmetic, so the same output). In V8 they are one-shot cold code: ~25 ms at
 * 10^6 blocks, ~2 ms here.
 *
 * hs_index_segments: the first block of each segment (a block at least `gap` bytes past the end of
 * the one before starts one), up to cap of them in first[]. out = {segments (all, also past cap),
 * the first block that overlaps the one before or is below it (-1 when none: then the segments
 * are not all counted)}. */
int32_t hs_index_segments(const double *starts, const double *sizes, uint32_t n, double gap,
                          uint32_t *first, uint32_t cap, double *out) {
  if ((n > 0 && (!starts || !sizes)) || (cap > 0 && !first) || !out) return HS_ERR_ARG;
  double prev_end = 0;
  uint32_t segs = 0;
  out[1] = -1;
  for (uint32_t i = 0; i < n; i++) {
    const double address = starts[i];
    if (address < prev_end) {
      out[1] = i;
      break;
    }
    if (i == 0 || address - prev_end >= gap) {
      if (segs < cap) first[segs] = i;
      segs++;
    }
    prev_end = end_of(starts, sizes, i);
  }
  out[0] = segs;
  return HS_OK;
}

/* hs_index_fill: each segment's bucket table (segment s: table[seg_table[s] + b] for the bucket at
 * seg_start[s] + b · bucket, up to seg_end[s]): the first block of the segment whose end is above
 * the bucket's start (the segment's last block at most). The table must hold every segment's
 * buckets (table_len); else HS_ERR_ARG. */
int32_t hs_index_fill(const double *starts, const double *sizes, uint32_t n, const uint32_t *first,
                      uint32_t segs, const double *seg_start, const double *seg_end,
                      const int32_t *seg_table, double bucket, int32_t *table, uint32_t table_len) {
  if (segs > 0 && (!starts || !sizes || !first || !seg_start || !seg_end || !seg_table || !table))
    return HS_ERR_ARG;
  if (!(bucket >= 1)) return HS_ERR_ARG;
  for (uint32_t s = 0; s < segs; s++) {
    const uint32_t stop = s + 1 < segs ? first[s + 1] : n;
    const double base = seg_start[s];
    const double buckets = ceil_div(seg_end[s] - base, bucket);
    if (first[s] >= stop || stop > n || seg_table[s] < 0 ||
        (double)seg_table[s] + buckets > (double)table_len)
      return HS_ERR_ARG;
    int32_t *t = table + seg_table[s];
    uint32_t i = first[s];
    for (uint64_t b = 0; b < (uint64_t)buckets; b++) {
      const double at = base + (double)b * bucket;
      while (i < stop - 1 && end_of(starts, sizes, i) <= at) i++;
      t[b] = (int32_t)i;
    }
  }
  return HS_OK;
}

/* The word loop misses the cache about three times per pointer it finds (the bucket table, the
 * block's bounds, its start), one after the other. So the candidates (words inside the heap's span)
 * go through a short pipeline instead, in the order they were read: the bucket's slot is prefetched
 * when a word is read, the slot is read and the block's bounds prefetched PIPE_B candidates later,
 * and the edge is decided PIPE candidates later, by which time both are in the cache. Output is the
 * same as deciding each word at once: the same edges in the same order. */
#define PIPE 16   /* candidates in flight (a power of two) */
#define PIPE_B 8  /* a candidate's slot is read this many candidates after it was found */

typedef struct {
  uint64_t v;    /* the word */
  uint64_t off;  /* where it was read (from base) */
  uint64_t slot; /* its bucket's slot in the table, or UINT64_MAX when it is in no segment */
  int64_t i;     /* the slot's first block (stage B), or -1 */
  uint32_t block;
} scan_candidate;

/* Bytes the scan reads of a block: its 8-aligned words. */
static inline uint64_t block_scan_bytes(double a_d, double sz_d, uint64_t base) {
  const uint64_t a = (uint64_t)a_d, sz = (uint64_t)sz_d;
  const uint64_t from = ((a + 7) & ~(uint64_t)7) - base, to = ((a + sz - base) & ~(uint64_t)7);
  return to > from ? to - from : 0;
}

/* The state of one hs_scan_blocks call: its inputs, its edge list and the pipeline. */
typedef struct {
  const double *addr, *size, *starts, *sizes;
  const int32_t *table;
  uint64_t base;
  uint32_t *target, *start;
  uint16_t *word;
  uint32_t *seg_edge, *seg_segment;
  uint64_t m, cap, seg_m, seg_cap;
  uint32_t seg_block, seg_cur; /* the block of the last edge, and its segment */
  uint32_t first, started; /* blocks before `started` have their start[] */
  scan_candidate q[PIPE];
  uint64_t found, decided; /* candidates found and decided so far */
} scan_pass;

/* Stage B: read candidate c's slot, prefetch its first block's bounds and start. */
static inline void stage_b(scan_pass *p, scan_candidate *c) {
  c->i = c->slot == UINT64_MAX ? -1 : p->table[c->slot];
  if (c->i >= 0) {
    __builtin_prefetch(&p->sizes[c->i]);
    __builtin_prefetch(&p->starts[c->i]);
    __builtin_prefetch(&p->addr[c->i]);
  }
}

/* Decide the oldest candidate in flight. 1 when the edge list is full: `out` then says where to
 * resume (its block, the edge count before it, the bytes scanned before it). */
static inline int decide(scan_pass *p, double *out) {
  const scan_candidate *c = &p->q[p->decided % PIPE];
  p->decided++;
  if (c->i < 0) return 0;
  const double dv = (double)c->v;
  int64_t t = c->i;
  while (end_of(p->starts, p->sizes, t) <= dv) t++;
  if (p->starts[t] > dv) return 0;
  for (; p->started <= c->block; p->started++) p->start[p->started] = (uint32_t)p->m;
  /* analysis/edge_words.ts: flags in bits 0-1 (interior: not the target's start), above them k
   * mod 2^14, k the word's index among the block's aligned words; the segment list gets the
   * first edge of each later 2^14-word segment. */
  const uint64_t first_word = ((uint64_t)p->addr[c->block] + 7) & ~(uint64_t)7;
  const uint64_t k = (p->base + c->off - first_word) / 8;
  const uint32_t segment = (uint32_t)(k >> EDGE_WORD_SEGMENT_BITS);
  if (c->block != p->seg_block) {
    p->seg_block = c->block;
    p->seg_cur = 0;
  }
  const int new_segment = segment != p->seg_cur;
  if (p->m == p->cap || (new_segment && p->seg_m == p->seg_cap)) {
    /* Out of room: block c->block is the next to do, its edges (and their segment entries)
     * discarded; out[4] says which list is full. */
    double bytes = 0;
    for (uint32_t b = p->first; b < c->block; b++) {
      bytes += (double)block_scan_bytes(p->addr[b], p->size[b], p->base);
    }
    const uint32_t m = p->start[c->block];
    while (p->seg_m > 0 && p->seg_edge[p->seg_m - 1] >= m) p->seg_m--;
    out[0] = c->block;
    out[1] = (double)m;
    out[2] = bytes;
    out[3] = (double)p->seg_m;
    out[4] = p->m == p->cap ? 1 : 2;
    return 1;
  }
  if (new_segment) {
    p->seg_edge[p->seg_m] = (uint32_t)p->m;
    p->seg_segment[p->seg_m++] = segment;
    p->seg_cur = segment;
  }
  const uint16_t flags = dv == p->addr[t] ? 0 : EDGE_WORD_INTERIOR;
  p->target[p->m] = (uint32_t)t;
  p->word[p->m] = (uint16_t)(((k & ((1u << EDGE_WORD_SEGMENT_BITS) - 1)) << 2) | flags);
  p->m++;
  return 0;
}

int32_t hs_scan_blocks(const uint8_t *mem, double base_d, double len_d, const double *addr,
                       const double *size, uint32_t first, uint32_t last, const double *starts,
                       const double *sizes, const double *seg_start, const double *seg_end,
                       const int32_t *seg_table, uint32_t segs, const int32_t *table, double min_d,
                       double max_d, uint32_t *target, uint16_t *word, uint32_t m0,
                       uint32_t cap, uint32_t *seg_edge, uint32_t *seg_segment, uint32_t seg_m0,
                       uint32_t seg_cap, uint32_t *start, double *out) {
  if (!mem || !addr || !size || !starts || !sizes || !seg_start || !seg_end || !seg_table ||
      !table || !target || !word || !seg_edge || !seg_segment || !start || !out || segs == 0 ||
      first > last || m0 > cap || seg_m0 > seg_cap) {
    return HS_ERR_ARG;
  }
  scan_index x = {starts, sizes, seg_start, seg_end, seg_table, segs, table,
                  (uint64_t)min_d, (uint64_t)max_d, 0};
  const uint64_t base = (uint64_t)base_d, len = (uint64_t)len_d;
  scan_pass p = {.addr = addr, .size = size, .starts = starts, .sizes = sizes, .table = table,
                 .base = base, .target = target, .word = word, .start = start,
                 .seg_edge = seg_edge, .seg_segment = seg_segment, .m = m0, .cap = cap,
                 .seg_m = seg_m0, .seg_cap = seg_cap, .seg_block = UINT32_MAX, .seg_cur = 0,
                 .first = first, .started = first};
  double bytes = 0;
  for (uint32_t i = first; i < last; i++) {
    const uint64_t a = (uint64_t)addr[i], sz = (uint64_t)size[i];
    if (a < base || a + (sz > 8 ? sz : 8) > base + len) return HS_ERR_ARG;
    const uint64_t from = ((a + 7) & ~(uint64_t)7) - base;
    const uint64_t to = ((a + sz - base) & ~(uint64_t)7);
    for (uint64_t off = from; off < to; off += 8) {
      const uint64_t v = word_at(mem + off);
      if (v < x.min || v >= x.max) continue;
      if (p.found - p.decided == PIPE && decide(&p, out)) return 1;
      scan_candidate *c = &p.q[p.found % PIPE];
      c->v = v;
      c->off = off;
      c->block = i;
      c->i = -1;
      c->slot = slot_of(&x, v);
      if (c->slot != UINT64_MAX) __builtin_prefetch(&table[c->slot]);
      p.found++;
      if (p.found - p.decided > PIPE_B) stage_b(&p, &p.q[(p.found - PIPE_B - 1) % PIPE]);
    }
    if (to > from) bytes += (double)(to - from);
  }
  /* The candidates still in flight: stage B for those that have not had it, then decide all. */
  const uint64_t b0 = p.found - p.decided > PIPE_B ? p.found - PIPE_B : p.decided;
  for (uint64_t k = b0; k < p.found; k++) stage_b(&p, &p.q[k % PIPE]);
  while (p.decided < p.found) {
    if (decide(&p, out)) return 1;
  }
  for (; p.started < last; p.started++) start[p.started] = (uint32_t)p.m;
  out[0] = last;
  out[1] = (double)p.m;
  out[2] = bytes;
  out[3] = (double)p.seg_m;
  return HS_OK;
}

int32_t hs_scan_range(const uint8_t *mem, double base_d, double len_d, double from_d, double to_d,
                      const double *starts, const double *sizes, const double *seg_start,
                      const double *seg_end, const int32_t *seg_table, uint32_t segs,
                      const int32_t *table, double min_d, double max_d, double *hit_address,
                      uint32_t *hit_target, uint32_t cap, double *out) {
  if (!mem || !starts || !sizes || !seg_start || !seg_end || !seg_table || !table || !hit_address ||
      !hit_target || !out || segs == 0) {
    return HS_ERR_ARG;
  }
  /* Every word read must lie in the caller's buffer: [from, to) inside [base, base + len). */
  if (!(base_d >= 0 && len_d >= 0 && from_d >= base_d && to_d >= from_d &&
        to_d <= base_d + len_d)) {
    return HS_ERR_ARG;
  }
  scan_index x = {starts, sizes, seg_start, seg_end, seg_table, segs, table,
                  (uint64_t)min_d, (uint64_t)max_d, 0};
  const uint64_t base = (uint64_t)base_d;
  uint64_t off = (uint64_t)from_d - base;
  if (off % 8 != 0) return HS_ERR_ARG;
  const uint64_t stop = ((uint64_t)to_d - base) & ~(uint64_t)7;
  uint32_t n = 0;
  for (; off < stop; off += 8) {
    const uint64_t v = word_at(mem + off);
    if (v < x.min || v >= x.max) continue;
    const int64_t t = lookup(&x, v);
    if (t < 0) continue;
    if (n == cap) {
      out[0] = (double)(base + off); /* call again from here */
      out[1] = n;
      return 1;
    }
    hit_address[n] = (double)(base + off);
    hit_target[n] = (uint32_t)t;
    n++;
  }
  out[0] = 0;
  out[1] = n;
  return HS_OK;
}

/* The common steps of analysis/glibc/chunks.ts walkSegment, on one copied span of 32-bit words
 * (span_start its address): from the chunk header at p, while every step is an ordinary one,
 * appends each in-use chunk (user pointer, usable size) and moves on. Returns to the caller,
 * which takes the step in TypeScript, at the first step that is not: p at `top`, a header or the
 * next chunk's header outside the span or past `end`, csize 0 or 16, a corrupt size, a free chunk
 * whose footer disagrees (a warning), or the columns full. out = {p, n}. Identical output by
 * construction: the TypeScript walk takes every step it leaves. */
#define WALK_AHEAD_BYTES 2048 /* every line this far ahead of the header read is asked for */

int32_t hs_walk_chunks(const uint32_t *words, double span_start_d, double span_end_d, double p_d,
                       double end_d, double top_d, double *address, double *usable, uint32_t n0,
                       uint32_t cap, double *out) {
  if (!words || !address || !usable || !out || n0 > cap) return HS_ERR_ARG;
  const uint64_t s0 = (uint64_t)span_start_d, s1 = (uint64_t)span_end_d, end = (uint64_t)end_d;
  const int64_t top = top_d < 0 ? -1 : (int64_t)top_d;
  uint64_t p = (uint64_t)p_d;
  uint32_t n = n0;
  const char *bytes = (const char *)words;
  uint64_t ahead = p; /* lines before this address were asked for */
  for (;;) {
    if ((int64_t)p == top || p + 16 > end || p < s0 || p + 16 > s1) break;
    const uint64_t k = (p - s0) / 4;
    /* The walk hops from header to header through memory, one chunk (~100-300 B) at a time, and
     * waits on each: the hardware prefetchers do not cross a 4 KiB page, and do not follow a
     * stride of a few lines. So every line up to WALK_AHEAD_BYTES past the header is asked for,
     * each once: the headers in it are then in the cache when the walk gets there. One line 4 KiB
     * ahead per header (the seventh session) took 80 -> 40 ms for 10^6 chunks; every line took
     * 61-67 -> 30-33 ms on the 10^6 workload of bench/big_heap.sh and 150-168 -> 48-50 ms on its
     * payload workload (2·10^6 chunks, RESULTS.md, eleventh session). A prefetch never faults,
     * past the span's end included. */
    if (ahead < p) ahead = p;
    for (; ahead < p + WALK_AHEAD_BYTES; ahead += 64) __builtin_prefetch(bytes + (ahead - s0));
    const uint64_t csize = ((uint64_t)words[k + 3] << 32 | words[k + 2]) & ~(uint64_t)7;
    if (csize == 0 || csize == 16) break;
    /* MINSIZE as chunks.ts; csize > end - p, not p + csize > end: a corrupt size must not wrap. */
    if (csize < 32 || csize % 16 != 0 || csize > end - p) break;
    const uint64_t next = p + csize;
    int used = 0;
    if (next + 16 <= end) {
      if (next + 16 > s1) break; /* the next header in another span: the TypeScript step */
      const uint64_t j = (next - s0) / 4;
      const uint32_t nlo = words[j + 2];
      const uint64_t ncsize = ((uint64_t)words[j + 3] << 32 | nlo) & ~(uint64_t)7;
      used = ncsize != 0 && (nlo & 1) == 1;
      if (!used && ncsize != 0) {
        const uint64_t footer = (uint64_t)words[j + 1] << 32 | words[j];
        if (footer != csize) break; /* a warning to give */
      }
    }
    if (used) {
      if (n == cap) break;
      address[n] = (double)(p + 16);
      usable[n] = (double)(csize - 8);
      n++;
    }
    p = next;
  }
  out[0] = (double)p;
  out[1] = n;
  return HS_OK;
}
