/* The memory-bound loops of the analysis's recognisers in C, in one pass: analysis/analyze.ts
 * slackWords, analysis/containers.ts (the candidates read from memory) and analysis/block_types.ts
 * (first words, red-black tree nodes, hashtable objects). In TypeScript these are five passes, and
 * each misses the cache once per block or reference (~1 s at 10^6 blocks); here each block's
 * first words and its references' words are read while its cache lines are at hand.
 *
 * Each TypeScript loop stays the reference, and this pass gives identical output by doing the
 * same reads with the same arithmetic: addresses and words are doubles here, as numbers are there
 * ((double) of a 64-bit word rounds as lo + hi·2^32 does in TypeScript), and a read succeeds
 * exactly when MemoryImage.find finds a chunk that holds all its bytes. Checks may run in another
 * order (cheap local ones before random reads) where all of them must hold. The TypeScript side
 * keeps what needs its objects (names, maps, sets, the rounds).
 *
 * Pure computation on caller-owned buffers: no process access, no state. Compiled into the Linux
 * and the macOS shim.
 */
#include <stdint.h>
#include <string.h>

#include "heapscope.h"

/* The snapshot's copied chunks, sorted by start (MemoryImage.chunks): each chunk's bytes at
 * ptr[i], its address start[i] and its length len[i]. */
typedef struct {
  const uint64_t *ptr;
  const double *start, *len;
  uint32_t n, last;
} mem_view;

/* MemoryImage.find: the last chunk starting at or before `a`, when it holds [a, a + len). */
static inline int64_t find(mem_view *m, double a, double len) {
  uint32_t l = m->last;
  if (l < m->n && a >= m->start[l] && a + len <= m->start[l] + m->len[l]) return l;
  int64_t lo = 0, hi = (int64_t)m->n - 1, found = -1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    if (m->start[mid] <= a) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return -1;
  if (a + len > m->start[found] + m->len[found]) return -1;
  m->last = (uint32_t)found;
  return found;
}

static inline const uint8_t *at(mem_view *m, double a, double len) {
  if (!(a >= 0)) return NULL; /* NaN or negative: no chunk (TypeScript's find says the same) */
  int64_t c = find(m, a, len);
  if (c < 0) return NULL;
  return (const uint8_t *)(uintptr_t)m->ptr[c] + (uint64_t)(a - m->start[c]);
}

/* MemoryImage.u64 / u32 / u8: 0 when not copied, else 1 and *v. */
static inline int rd64(mem_view *m, double a, uint64_t *v) {
  const uint8_t *p = at(m, a, 8);
  if (!p) return 0;
  memcpy(v, p, 8); /* little-endian targets only (x86_64, arm64), as the TypeScript side */
  return 1;
}

static inline int rdd(mem_view *m, double a, double *v) {
  uint64_t w;
  if (!rd64(m, a, &w)) return 0;
  *v = (double)w;
  return 1;
}

static inline int rd32(mem_view *m, double a, uint32_t *v) {
  const uint8_t *p = at(m, a, 4);
  if (!p) return 0;
  memcpy(v, p, 4);
  return 1;
}

static inline int rd8(mem_view *m, double a, uint8_t *v) {
  const uint8_t *p = at(m, a, 1);
  if (!p) return 0;
  *v = *p;
  return 1;
}

static inline int view_ok(const uint64_t *ptr, const double *start, const double *len) {
  return ptr && start && len;
}

/* ---- slackWords (analysis/analyze.ts) ---- */

static inline int printable(uint8_t c) {
  return (c >= 0x20 && c < 0x7f) || c == 9 || c == 10 || c == 13;
}

/* Whether v lies in one of the ranges [rs[i], re[i]) (the binary search of `mapped` and of
 * ImageIndex.imageAt). */
static inline int in_ranges(const double *rs, const double *re, uint32_t nr, double v) {
  int64_t lo = 0, hi = (int64_t)nr - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    if (v < rs[mid]) {
      hi = mid - 1;
    } else if (v >= re[mid]) {
      lo = mid + 1;
    } else {
      return 1;
    }
  }
  return 0;
}

/* The live bytes slackWords gives a block of size sz at a (its usable size less its last word,
 * less its last three when it ends with glibc's foot, or the words wholly inside its C string
 * and NUL), read from the chunk's window as the TypeScript loop does: none for a chunk of 4 GiB
 * or more. */
static double slack(mem_view *m, double a, double sz, const double *rs, const double *re,
                    uint32_t nr) {
  double out = sz >= 16 ? sz - 8 : sz;
  if (sz >= 56) { /* footedLive: the last word is glibc's foot, the chunk's size */
    double foot;
    if (rdd(m, a + sz - 8, &foot) && foot == sz + 8) {
      out = (double)(((uint64_t)sz - 31 + 7) / 8 * 8);
    }
  }
  const int64_t c = a >= 0 ? find(m, a, 8) : -1;
  if (c < 0 || m->len[c] >= 4294967296.0) return out;
  const uint8_t *p = (const uint8_t *)(uintptr_t)m->ptr[c] + (uint64_t)(a - m->start[c]);
  if (!printable(p[0])) return out;
  const double len = sz < 256 ? sz : 256;
  const uint8_t *t = at(m, a, len);
  int64_t text = -1;
  if (t) {
    for (uint32_t k = 0; k < (uint32_t)len; k++) {
      if (t[k] == 0) {
        text = k;
        break;
      }
      if (!printable(t[k])) break;
    }
  }
  uint64_t w;
  memcpy(&w, p, 8);
  if (text >= 3 && !in_ranges(rs, re, nr, (double)w)) {
    const double keep = (double)((text + 1) / 8 * 8); /* Math.floor((text + 1) / 8) * 8 */
    if (keep < out) out = keep;
  }
  return out;
}

/* ---- recogniseContainers' candidates (analysis/containers.ts collectCandidates) ---- */

#define ROUNDING 15
#define POOL_SLACK 31
#define SSO_CAPACITY 15

enum { K_STRING = 0, K_VECTOR = 1, K_POOL = 2, K_INLINE = 3 };

typedef struct {
  uint32_t *r;
  double *x, *a, *b;
  uint8_t *kind;
  uint32_t k;
} cand_out;

static inline void push(cand_out *o, uint32_t r, double x, uint8_t kind, double a, double b) {
  o->r[o->k] = r;
  o->x[o->k] = x;
  o->kind[o->k] = kind;
  o->a[o->k] = a;
  o->b[o->k] = b;
  o->k++;
}

/* _bodyCandidate with _heapString. `max_size` bounds every block's size: when the words fit no
 * block, neither layout holds, and the target's size (a random read) is not read. */
static void body_candidate(mem_view *m, cand_out *o, uint32_t r, double w, double start,
                           const double *sizes, uint32_t t, double max_size, double v1,
                           double v2) {
  if (v2 + 1 > max_size && !(v1 >= start && v2 > start && v2 - start <= max_size)) return;
  const double size = sizes[t];
  uint8_t c;
  if (v2 > SSO_CAPACITY && v1 <= v2 && v2 + 1 <= size && size - (v2 + 1) <= ROUNDING &&
      rd8(m, start + v1, &c) && c == 0) {
    push(o, r, w, K_STRING, v1, v2);
  } else if (v1 >= start && v2 >= v1 && v2 > start && v2 - start <= size) {
    if (size - (v2 - start) <= ROUNDING) push(o, r, w, K_VECTOR, v1, v2);
  }
}

/* _inlineCandidate: an inline string at x whose spare bytes hold the word at w. */
static void inline_candidate(mem_view *m, cand_out *o, uint32_t r, double w, double x) {
  double len;
  uint8_t c;
  if (!rdd(m, x + 8, &len) || len > SSO_CAPACITY || !rd8(m, x + 16 + len, &c) || c != 0) return;
  if (x + 16 + len + 1 < w + 8) push(o, r, x, K_INLINE, len, w);
}

/* The candidates of reference r (the word at w points into block t; ex: 1 at its start, 0 inside,
 * -1 not known): at most three. */
static void container_candidates(mem_view *m, cand_out *o, const double *addr,
                                 const double *size, double max_size, uint32_t r, double w,
                                 uint32_t t, int ex) {
  double v0, v1;
  if (!rdd(m, w, &v0) || !rdd(m, w + 8, &v1)) return;
  if (ex == 1 || (ex < 0 && v0 == addr[t])) {
    double v2;
    if (rdd(m, w + 16, &v2) && v1 <= v2) body_candidate(m, o, r, w, v0, size, t, max_size, v1, v2);
  } else if (v1 >= v0 && v1 - v0 < max_size) { /* a pool's free and end lie in one block */
    const double start = addr[t], sz = size[t];
    if (v0 > start && v1 <= start + sz && start + sz - v1 <= POOL_SLACK) {
      push(o, r, w, K_POOL, v0, v1);
    }
  }
  double x;
  if (rdd(m, w - 16, &x) && x == w) inline_candidate(m, o, r, w, w - 16);
  if (rdd(m, w - 24, &x) && x == w - 8) inline_candidate(m, o, r, w, w - 24);
}

/* ---- inferTypes (analysis/block_types.ts) ---- */

/* Whether the first word w of block (a, sz) may be a vtable pointer: 8-aligned, at least 4096,
 * inside an image's file mapping (spans sorted, ImageIndex.imageAt(w, true)). */
static int vtable_candidate(mem_view *m, double a, double sz, const double *ss, const double *se,
                            uint32_t nspans, double *w) {
  uint64_t word;
  if (sz < 8 || !rd64(m, a, &word) || (word & 7) != 0) return 0;
  *w = (double)word;
  return *w >= 4096 && in_ranges(ss, se, nspans, *w);
}

/* rbTreeNodes' checks on block (a, sz); *header: its parent word when that parent is the tree's
 * header (the node is the root), else -1. */
static int rb_node(mem_view *m, double a, double sz, double *header) {
  if (sz < 40) return 0;
  uint32_t color;
  if (!rd32(m, a, &color) || (color != 0 && color != 1)) return 0;
  double parent, left, right, x;
  if (!rdd(m, a + 8, &parent) || parent == 0 || !rdd(m, a + 16, &left) || !rdd(m, a + 24, &right)) {
    return 0;
  }
  const int back = (rdd(m, parent + 16, &x) && x == a) || (rdd(m, parent + 24, &x) && x == a);
  const int head = rdd(m, parent + 8, &x) && x == a;
  if (!back && !head) return 0;
  if (left != 0 && !(rdd(m, left + 8, &x) && x == a)) return 0;
  if (right != 0 && !(rdd(m, right + 8, &x) && x == a)) return 0;
  *header = head ? parent : -1;
  return 1;
}

/* Whether reference r (word at x into block b) is a libstdc++ hashtable's `buckets` word
 * (hashtables' checks up to the max load factor). The object's own words first (near x); the
 * buckets block's address and size (random reads) last. */
static int hash_candidate(mem_view *m, const double *addr, const double *size, double max_size,
                          double x, uint32_t b, int ex) {
  if (ex == 0) return 0;
  double buckets, count;
  uint32_t load;
  if (!rdd(m, x, &buckets) || !rdd(m, x + 8, &count) || !rd32(m, x + 32, &load)) return 0;
  if (count == 0 || count > (double)(1u << 30) || count * 8 > max_size) return 0;
  float f;
  memcpy(&f, &load, 4);
  const double max_load = f;
  if (!(max_load >= 0.05 && max_load <= 100)) return 0;
  if (buckets != addr[b]) return 0;
  return size[b] >= count * 8 && size[b] - count * 8 <= 23;
}

/* ---- The pass ---- */

/* Blocks ahead whose first line is fetched while this one is judged: the pass reads each block's
 * first bytes once, in address order, and would otherwise wait for memory at every block (~70% of
 * its time at 2·10^6 blocks). A hint only: results do not depend on it. */
#define PREFETCH_AHEAD 16

/* Always inlined: as a call, GCC's IPA finds it free of side effects and removes it. */
static inline __attribute__((always_inline)) void prefetch_block(const mem_view *m, double a) {
  const uint32_t l = m->last;
  if (l < m->n && a >= m->start[l] && a < m->start[l] + m->len[l]) {
    __builtin_prefetch((const uint8_t *)(uintptr_t)m->ptr[l] + (uint64_t)(a - m->start[l]));
  }
}

/* Edge e's byte offset in the block at a of sz bytes whose edges start at `first`, from its word
 * (analysis/edge_words.ts): k mod 2^14 in the word, k >> 14 from the segment list's last entry at
 * or before e when that entry is this block's (blocks over 128 KiB only). */
static inline double edge_offset(const uint16_t *word, const uint32_t *seg_edge,
                                 const uint32_t *seg_segment, uint32_t seg_n, uint32_t first,
                                 uint32_t e, double a, double sz) {
  uint64_t k = word[e] >> 2;
  if (sz > (double)((uint64_t)8 << EDGE_WORD_SEGMENT_BITS) && seg_n > 0) {
    uint32_t lo = 0, hi = seg_n; /* the first entry past e */
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (seg_edge[mid] <= e) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && seg_edge[lo - 1] >= first) {
      k |= (uint64_t)seg_segment[lo - 1] << EDGE_WORD_SEGMENT_BITS;
    }
  }
  const uint64_t ua = (uint64_t)a;
  return (double)(((ua + 7) & ~(uint64_t)7) - ua + 8 * k);
}

static int32_t recognise(const uint64_t *cptr, const double *cstart, const double *clen, uint32_t nc,
                     const double *addr, const double *size, const uint16_t *zone, uint32_t n,
                     int32_t mmap_zone, const double *requested, uint32_t has_requested,
                     const double *rs, const double *re, uint32_t nr, const double *ss,
                     const double *se, uint32_t nspans, double max_size, const uint32_t *estart,
                     const uint32_t *target, const uint16_t *word, const uint32_t *seg_edge,
                     const uint32_t *seg_segment, uint32_t seg_n,
                     const double *hit_addr, const uint32_t *hit_target, uint32_t nh,
                     uint32_t *out_slack, uint32_t *c_r, double *c_x, uint8_t *c_kind, double *c_a,
                     double *c_b, uint32_t *v_block, double *v_word, uint32_t *rb_block,
                     double *rb_parent, uint32_t *h_ref, uint32_t cap, double *state) {
  if (!view_ok(cptr, cstart, clen) || !addr || !size || !zone || !estart || !out_slack || !c_r ||
      !c_x || !c_kind || !c_a || !c_b || !v_block || !v_word || !rb_block || !rb_parent ||
      !h_ref || !state || cap < 3 || (has_requested && !requested) || (nr && (!rs || !re)) ||
      (nspans && (!ss || !se)) || (nh && (!hit_addr || !hit_target))) {
    return HS_ERR_ARG;
  }
  const uint32_t m_edges = estart[n];
  if (m_edges && (!target || !word || (seg_n && (!seg_edge || !seg_segment)))) return HS_ERR_ARG;
  if (!has_requested) requested = NULL;
  mem_view m = {cptr, cstart, clen, nc, 0};
  cand_out o = {c_r, c_x, c_a, c_b, c_kind, 0};
  uint32_t nv = 0, nrb = 0, nhash = 0;
  /* state = {item, edge, whether item's own checks are done}: where to resume (items are the
   * blocks, then the root hits). On return, the same, then {candidates, vtable, rb, hash}
   * written from the start of each output. */
  uint32_t i = (uint32_t)state[0], e = (uint32_t)state[1];
  int begun = state[2] != 0, full = 0;
  if (i > n + nh || (i < n && (e < estart[i] || e > estart[i + 1]))) return HS_ERR_ARG;
  for (; i < n; i++, begun = 0) {
    const double a = addr[i], sz = size[i];
    if (i + PREFETCH_AHEAD < n) prefetch_block(&m, addr[i + PREFETCH_AHEAD]);
    if (!begun) {
      if (nv == cap || nrb == cap) {
        full = 1;
        break;
      }
      e = estart[i];
      const int skip = (int32_t)zone[i] == mmap_zone || (requested && requested[i] >= 0);
      /* 32 bits, as the edges' offsets (analysis/containers.ts WEAK_FROM_MAX). */
      const double from = skip ? sz : slack(&m, a, sz, rs, re, nr);
      out_slack[i] = from < (double)UINT32_MAX ? (uint32_t)from : UINT32_MAX;
      double w, p;
      if (vtable_candidate(&m, a, sz, ss, se, nspans, &w)) {
        v_block[nv] = i;
        v_word[nv++] = w;
      }
      if (rb_node(&m, a, sz, &p)) {
        rb_block[nrb] = i;
        rb_parent[nrb++] = p;
      }
      begun = 1;
    }
    for (; e < estart[i + 1]; e++) {
      if (cap - o.k < 3 || nhash == cap) {
        full = 1;
        break;
      }
      const double w = a + edge_offset(word, seg_edge, seg_segment, seg_n, estart[i], e, a, sz);
      const uint8_t exact = (word[e] & EDGE_WORD_INTERIOR) == 0;
      container_candidates(&m, &o, addr, size, max_size, e, w, target[e], exact);
      if (hash_candidate(&m, addr, size, max_size, w, target[e], exact)) h_ref[nhash++] = e;
    }
    if (full) break;
  }
  for (; !full && i < n + nh; i++) {
    if (cap - o.k < 3 || nhash == cap) {
      full = 1;
      break;
    }
    const uint32_t h = i - n, r = m_edges + h;
    const double w = hit_addr[h];
    container_candidates(&m, &o, addr, size, max_size, r, w, hit_target[h], -1);
    if (hash_candidate(&m, addr, size, max_size, w, hit_target[h], -1)) h_ref[nhash++] = r;
  }
  state[0] = i;
  state[1] = e;
  state[2] = full && i < n ? begun : 0;
  state[3] = o.k;
  state[4] = nv;
  state[5] = nrb;
  state[6] = nhash;
  return full ? 1 : HS_OK;
}

/* The pass's arguments come packed (a call with 38 arguments crashes V8's fast FFI calls): `p` the
 * arrays' addresses, `d` the numbers, in the order of recognise()'s parameters. */
enum {
  P_CPTR, P_CSTART, P_CLEN, P_ADDR, P_SIZE, P_ZONE, P_REQUESTED, P_RS, P_RE, P_SS, P_SE, P_ESTART,
  P_TARGET, P_WORD, P_SEG_EDGE, P_SEG_SEGMENT, P_HIT_ADDR, P_HIT_TARGET, P_SLACK, P_C_R, P_C_X, P_C_KIND, P_C_A,
  P_C_B, P_V_BLOCK, P_V_WORD, P_RB_BLOCK, P_RB_PARENT, P_H_REF, P_COUNT
};
enum {
  D_NC, D_N, D_MMAP_ZONE, D_HAS_REQUESTED, D_NR, D_NSPANS, D_MAX_SIZE, D_NH, D_CAP, D_SEG_N,
  D_COUNT
};

#define PTR(t, i) ((t)(uintptr_t)p[i])

int32_t hs_recognise(const uint64_t *p, uint32_t np, const double *d, uint32_t nd, double *state) {
  if (!p || !d || !state || np != P_COUNT || nd != D_COUNT) return HS_ERR_ARG;
  return recognise(
      PTR(const uint64_t *, P_CPTR), PTR(const double *, P_CSTART), PTR(const double *, P_CLEN),
      (uint32_t)d[D_NC], PTR(const double *, P_ADDR), PTR(const double *, P_SIZE),
      PTR(const uint16_t *, P_ZONE), (uint32_t)d[D_N], (int32_t)d[D_MMAP_ZONE],
      PTR(const double *, P_REQUESTED), (uint32_t)d[D_HAS_REQUESTED], PTR(const double *, P_RS),
      PTR(const double *, P_RE), (uint32_t)d[D_NR], PTR(const double *, P_SS),
      PTR(const double *, P_SE), (uint32_t)d[D_NSPANS], d[D_MAX_SIZE],
      PTR(const uint32_t *, P_ESTART), PTR(const uint32_t *, P_TARGET),
      PTR(const uint16_t *, P_WORD), PTR(const uint32_t *, P_SEG_EDGE),
      PTR(const uint32_t *, P_SEG_SEGMENT), (uint32_t)d[D_SEG_N],
      PTR(const double *, P_HIT_ADDR), PTR(const uint32_t *, P_HIT_TARGET), (uint32_t)d[D_NH],
      PTR(uint32_t *, P_SLACK), PTR(uint32_t *, P_C_R), PTR(double *, P_C_X),
      PTR(uint8_t *, P_C_KIND), PTR(double *, P_C_A), PTR(double *, P_C_B),
      PTR(uint32_t *, P_V_BLOCK), PTR(double *, P_V_WORD), PTR(uint32_t *, P_RB_BLOCK),
      PTR(double *, P_RB_PARENT), PTR(uint32_t *, P_H_REF), (uint32_t)d[D_CAP], state);
}
