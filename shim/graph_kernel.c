/* The dominator tree's loops in C (analysis/dominators.ts has the same in TypeScript; both must
 * give identical trees, preorders and retained sizes: ffi/graph_kernel_test.ts compares them).
 * Pure computation on caller-owned buffers, no allocation, no state. Compiled into the Linux and
 * the macOS shim.
 *
 * Why in C: at 10^6–10^7 heap blocks the dominator tree is a few passes of random reads over
 * arrays of 4–40 MB; V8 runs them 3–5× slower than C (bench/RESULTS.md), and they are the largest
 * single phase after the copy. The algorithm and every step's order are the TypeScript ones
 * (semi-NCA, see analysis/dominators.ts), so that the two can be compared word for word.
 */
#include <stdint.h>

#include "heapscope.h"

int32_t hs_dominators(uint32_t n, const uint32_t *start, const uint32_t *target, uint32_t nroots,
                      const uint32_t *roots, const double *sizes, int32_t *pre, uint32_t *vertex,
                      int32_t *parent, uint32_t *stack_node, uint32_t *stack_edge,
                      uint32_t *pred_start, uint32_t *pred, uint32_t pred_cap, int32_t *semi,
                      int32_t *label, int32_t *ancestor, int32_t *idom, double *retained,
                      double *by_pre, double *out) {
  /* An empty array may arrive as NULL (no edges, no roots): only a used one must be there. */
  if (!start || (start[n] > 0 && !target) || (nroots && !roots) || !sizes || !pre || !vertex || !parent ||
      !stack_node || !stack_edge || !pred_start || (pred_cap && !pred) || !semi || !label ||
      !ancestor || !idom || !retained || !by_pre || !out)
    return HS_ERR_ARG;
  for (uint32_t v = 0; v < n; v++) pre[v] = -1;
  for (uint32_t i = 0; i < nroots; i++)
    if (roots[i] >= n) return HS_ERR_ARG;

  /* 1. Depth-first preorder from the virtual root (number 0). */
  uint32_t count = 1;
  for (uint32_t i = 0; i < nroots; i++) {
    uint32_t r = roots[i];
    if (pre[r] != -1) continue;
    pre[r] = (int32_t)count;
    vertex[count] = r;
    parent[count] = 0;
    count++;
    int64_t sp = 0;
    stack_node[0] = r;
    stack_edge[0] = start[r];
    while (sp >= 0) {
      uint32_t v = stack_node[sp];
      uint32_t e = stack_edge[sp];
      if (e < start[v + 1]) {
        stack_edge[sp] = e + 1;
        uint32_t w = target[e];
        if (w >= n) {
          out[0] = (double)e;
          out[1] = (double)w;
          return 1; /* an edge past the last node */
        }
        if (pre[w] == -1) {
          pre[w] = (int32_t)count;
          vertex[count] = w;
          parent[count] = pre[v];
          count++;
          sp++;
          stack_node[sp] = w;
          stack_edge[sp] = start[w];
        }
      } else {
        sp--;
      }
    }
  }

  /* 2. Predecessors of every reachable node in preorder numbers (CSR); the virtual root (0) is a
   *    predecessor of every root. */
  for (uint32_t p = 0; p <= count; p++) pred_start[p] = 0;
  for (uint32_t i = 0; i < nroots; i++) pred_start[pre[roots[i]] + 1] += 1;
  for (uint32_t p = 1; p < count; p++) {
    uint32_t v = vertex[p];
    for (uint32_t e = start[v]; e < start[v + 1]; e++) pred_start[pre[target[e]] + 1] += 1;
  }
  for (uint32_t p = 0; p < count; p++) pred_start[p + 1] += pred_start[p];
  if (pred_start[count] > pred_cap) return HS_ERR_ARG;
  uint32_t *fill = stack_edge; /* reused: the DFS is done */
  for (uint32_t p = 0; p < count; p++) fill[p] = pred_start[p];
  for (uint32_t i = 0; i < nroots; i++) pred[fill[pre[roots[i]]]++] = 0;
  for (uint32_t p = 1; p < count; p++) {
    uint32_t v = vertex[p];
    for (uint32_t e = start[v]; e < start[v + 1]; e++) pred[fill[pre[target[e]]]++] = p;
  }

  /* 3. Semidominators in reverse preorder (Lengauer–Tarjan, simple path compression). */
  uint32_t *path = stack_node; /* reused */
  for (uint32_t p = 0; p < count; p++) {
    semi[p] = label[p] = (int32_t)p;
    ancestor[p] = -1;
  }
  for (uint32_t w = count - 1; w >= 1; w--) {
    int32_t s = semi[w];
    for (uint32_t i = pred_start[w]; i < pred_start[w + 1]; i++) {
      uint32_t v = pred[i];
      uint32_t u = v;
      if (ancestor[v] != -1) {
        uint32_t sp = 0, x = v;
        while (ancestor[ancestor[x]] != -1) {
          path[sp++] = x;
          x = (uint32_t)ancestor[x];
        }
        while (sp > 0) {
          x = path[--sp];
          uint32_t a = (uint32_t)ancestor[x];
          if (semi[label[a]] < semi[label[x]]) label[x] = label[a];
          ancestor[x] = ancestor[a];
        }
        u = (uint32_t)label[v];
      }
      if (semi[u] < s) s = semi[u];
    }
    semi[w] = s;
    ancestor[w] = parent[w];
  }

  /* 4. Immediate dominators (NCA step), in preorder. */
  int32_t *idom_pre = label; /* reused */
  idom_pre[0] = 0;
  for (uint32_t w = 1; w < count; w++) {
    int32_t d = parent[w];
    int32_t s = semi[w];
    while (d > s) d = idom_pre[d];
    idom_pre[w] = d;
  }

  /* 5. Back to node ids; retained sizes summed bottom-up in reverse preorder. */
  for (uint32_t v = 0; v < n; v++) {
    idom[v] = -2; /* UNREACHABLE */
    retained[v] = 0;
  }
  for (uint32_t p = 0; p < count; p++) by_pre[p] = 0;
  for (uint32_t w = count - 1; w >= 1; w--) {
    uint32_t v = vertex[w];
    double total = by_pre[w] + sizes[v];
    retained[v] = total;
    int32_t d = idom_pre[w];
    by_pre[d] += total;
    idom[v] = d == 0 ? -1 /* VIRTUAL_ROOT */ : (int32_t)vertex[d];
  }
  out[0] = (double)count;
  out[1] = by_pre[0];
  return 0;
}

/* analysis/classify.ts floodFill's search in C (the same order, so the same retainers): `via`
 * comes filled by the caller (-2 not reached; with `resume`, the nodes already reached keep their
 * entries and are searched from first, in id order); then each seed not reached yet (-1), then
 * breadth first, edges in CSR order, an edge with a bit of `skip` in its flags not followed
 * (flags may be NULL: none skipped). Seeds and targets past n - 1 are passed over, as TypeScript's
 * typed arrays pass them. `queue` holds n entries. */
int32_t hs_flood_fill(uint32_t n, const uint32_t *start, const uint32_t *target,
                      const uint8_t *flags, uint32_t skip, const uint32_t *seeds, uint32_t nseeds,
                      uint32_t resume, int32_t *via, uint32_t *queue) {
  if (!start || (start[n] > 0 && !target) || (nseeds && !seeds) || (n && (!via || !queue)))
    return HS_ERR_ARG;
  uint32_t head = 0, tail = 0;
  if (resume) {
    for (uint32_t v = 0; v < n; v++)
      if (via[v] != -2) queue[tail++] = v;
  }
  for (uint32_t i = 0; i < nseeds; i++) {
    const uint32_t s = seeds[i];
    if (s >= n || via[s] != -2) continue;
    via[s] = -1;
    queue[tail++] = s;
  }
  const uint8_t *f = skip ? flags : 0;
  while (head < tail) {
    const uint32_t v = queue[head++];
    for (uint32_t e = start[v], end = start[v + 1]; e < end; e++) {
      if (f && (f[e] & skip)) continue;
      const uint32_t w = target[e];
      if (w >= n || via[w] != -2) continue;
      via[w] = (int32_t)v;
      queue[tail++] = w;
    }
  }
  return HS_OK;
}

/* analysis/edge_words.ts SegmentCursor: the segment list read once, in edge order, while blocks'
 * edges are read in ascending order. */
typedef struct {
  const uint32_t *edge, *segment;
  uint32_t n, s;
} seg_cursor;

/* The segment of edge e, of the block whose edges start at `from`: `segment` is its previous edge's
 * (0 for the block's first), changed by the list's entries up to e that are the block's own. */
static inline uint32_t seg_cursor_at(seg_cursor *c, uint32_t from, uint32_t e, uint32_t segment) {
  while (c->s < c->n && c->edge[c->s] <= e) {
    if (c->edge[c->s] >= from) segment = c->segment[c->s];
    c->s++;
  }
  return segment;
}

/* Offset of a block's first 8-byte-aligned word (firstWord), and of the word an edge word names in
 * `segment`: first + 8 · (segment · 2^14 + k mod 2^14). */
static inline uint64_t first_word(double address) {
  const uint64_t a = (uint64_t)address;
  return ((a + 7) & ~(uint64_t)7) - a;
}

static inline uint64_t word_offset(uint64_t first, uint32_t segment, uint16_t w) {
  return first + 8 * (((uint64_t)segment << EDGE_WORD_SEGMENT_BITS) + (uint64_t)(w >> 2));
}

/* analysis/edge_words.ts unpackOffsets in C: each edge's 32-bit byte offset in its block, from its
 * 16-bit word (k mod 2^14) and the segment list (k >> 14 from the last entry at or before the edge
 * that is the block's own), the blocks' edges by CSR `start` (n + 1 entries), the blocks at
 * `addr`. Offsets are kept mod 2^32, as TypeScript's Uint32Array keeps them. */
int32_t hs_unpack_offsets(uint32_t n, const uint32_t *start, const uint16_t *word,
                          const uint32_t *seg_edge, const uint32_t *seg_segment, uint32_t seg_n,
                          const double *addr, uint32_t *offset) {
  if (!start || (n && !addr) || (start[n] > 0 && (!word || !offset)) ||
      (seg_n && (!seg_edge || !seg_segment)))
    return HS_ERR_ARG;
  seg_cursor c = {seg_edge, seg_segment, seg_n, 0};
  for (uint32_t v = 0; v < n; v++) {
    const uint32_t from = start[v], to = start[v + 1];
    if (to < from) return HS_ERR_ARG;
    const uint64_t first = first_word(addr[v]);
    uint32_t segment = 0;
    for (uint32_t e = from; e < to; e++) {
      segment = seg_cursor_at(&c, from, e, segment);
      offset[e] = (uint32_t)word_offset(first, segment, word[e]);
    }
  }
  return HS_OK;
}

/* analysis/build_graph.ts nativeGraph's pass in C, in place in the scan's arrays: of block v's
 * edges (CSR `start`, n + 1 entries) it keeps those whose word lies in the block's live bytes
 * (offset + 8 <= scan_size[v]) and is not one of the skipped words (`skip`, nskip addresses in
 * ascending order), each word flagged weak from weak_from[v] on (bit 0; the scan's interior bit
 * 1 kept), and renumbers the segment list (seg_n entries) for the edges kept, as the TypeScript
 * loop does (edge m is written only after edge e >= m was read, the same for the list's entries
 * and start[]). out = {edges kept, segment entries kept}. */
int32_t hs_graph_compact(uint32_t n, uint32_t *start, uint32_t *target, uint16_t *word,
                         uint32_t *seg_edge, uint32_t *seg_segment, uint32_t seg_n,
                         const double *addr, const double *scan_size, const uint32_t *weak_from,
                         const double *skip, uint32_t nskip, double *out) {
  if (!start || !out || (n && (!addr || !scan_size || !weak_from)) ||
      (start[n] > 0 && (!target || !word)) || (seg_n && (!seg_edge || !seg_segment)) ||
      (nskip && !skip))
    return HS_ERR_ARG;
  uint32_t m = 0, sm = 0, si = 0;
  seg_cursor c = {seg_edge, seg_segment, seg_n, 0};
  for (uint32_t v = 0; v < n; v++) {
    const uint32_t from = start[v], end = start[v + 1];
    if (end < from) return HS_ERR_ARG;
    start[v] = m;
    const double limit = scan_size[v], weak = (double)weak_from[v], base = addr[v];
    while (si < nskip && skip[si] < base) si++;
    const int skips = si < nskip && skip[si] < base + limit;
    const uint64_t first = first_word(base);
    uint32_t segment = 0, kept = 0;
    for (uint32_t e = from; e < end; e++) {
      const uint16_t w = word[e];
      segment = seg_cursor_at(&c, from, e, segment);
      const double off = (double)word_offset(first, segment, w); /* exact: below 2^53 */
      if (off + 8 > limit) continue;
      if (skips) {
        const double where = base + off;
        int skipped = 0;
        for (uint32_t j = si; j < nskip && skip[j] <= where; j++) {
          if (skip[j] == where) {
            skipped = 1;
            break;
          }
        }
        if (skipped) continue;
      }
      target[m] = target[e];
      word[m] = (uint16_t)((w & ~1u) | (off >= weak ? 1u : 0u));
      if (segment != kept) {
        kept = segment;
        seg_edge[sm] = m;
        seg_segment[sm++] = kept;
      }
      m++;
    }
  }
  start[n] = m;
  out[0] = m;
  out[1] = sm;
  return HS_OK;
}
