// Frees pointer-holding blocks and re-allocates their memory to new blocks it writes only partly, so
// that tests/recorder_c_test.ts can check that no requested byte of a new block kept an old pointer.
//
// Prints, then waits for a line on stdin (heapscope copies its memory meanwhile) and exits 0:
//   NEW <address> <requested> <written> <expect> <kind>   a new block; only its first <written>
//                                                          bytes were written; <expect> is "fill"
//                                                          (the rest must be fill), "zero" (calloc)
//                                                          or "fill:<n>" (fill up to byte n, then
//                                                          zeros: fresh mmapped memory)
//   OLD <start> <end>                                      a freed block that held old pointers
//   READY
// Every old block is filled with pointers to old blocks (what a freed linked structure leaves), so
// with HEAPSCOPE_FILL=0 the new blocks' unwritten bytes do hold such pointers; the freeing order and
// sizes route the memory through tcache, fastbins, the unsorted, small and large bins, consolidation
// and the top chunk, in the main arena and in a thread's arena. The big blocks: one mmapped (must
// stay untouched), one realloc'ed out of a recycled heap chunk into an mmapped one, one carved from
// a freed 600 KiB heap chunk (filled through the pagemap check) and one from fresh top memory
// (whole untouched pages must stay untouched).
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Old blocks per arena: enough to fill every tcache bin (7 each) and the bins behind them. */
#define N_OLD 3000
/* New blocks per arena: fewer than the old ones, so most come from recycled memory. */
#define N_NEW 2000

static const size_t SIZES[] = {16, 24, 40, 56, 100, 120, 200, 500, 1000, 1500, 3000, 5000, 9000};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

/* Lines go out whole with write(2), under a lock, from either thread. */
static void out(const char *fmt, ...) {
  char line[256];
  __builtin_va_list ap;
  __builtin_va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  __builtin_va_end(ap);
  pthread_mutex_lock(&g_out);
  if (write(1, line, (size_t)n) != n) _exit(3);
  pthread_mutex_unlock(&g_out);
}

static uint64_t g_seed = 88172645463325252ull;
static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Fill every word of p with pointers to other old blocks. */
static void point_to_old(void **p, size_t size, void **old, size_t n_old, size_t i) {
  for (size_t w = 0; w < size / sizeof(void *); w++) p[w] = old[(i + 7 * w + 1) % n_old];
}

static void new_block(void *p, size_t requested, size_t written, const char *expect,
                      const char *kind) {
  if (!p) {
    out("FAILED %s %zu\n", kind, requested);
    _exit(2);
  }
  memset(p, 0x11, written);
  out("NEW %p %zu %zu %s %s\n", p, requested, written, expect, kind);
}

/* Old blocks, freed in a shuffled order, then new blocks of every allocation kind. */
static void churn(uint64_t seed) {
  static __thread void *old[N_OLD];
  static __thread size_t old_size[N_OLD];
  for (size_t i = 0; i < N_OLD; i++) {
    old_size[i] = SIZES[next_random(&seed) % N_SIZES];
    old[i] = malloc(old_size[i]);
  }
  for (size_t i = 0; i < N_OLD; i++) point_to_old(old[i], old_size[i], old, N_OLD, i);
  for (size_t i = N_OLD - 1; i > 0; i--) { /* Fisher-Yates: adjacent frees get consolidated */
    size_t j = next_random(&seed) % (i + 1);
    void *p = old[i];
    size_t s = old_size[i];
    old[i] = old[j];
    old_size[i] = old_size[j];
    old[j] = p;
    old_size[j] = s;
  }
  for (size_t i = 0; i < N_OLD; i++) {
    out("OLD %p %p\n", old[i], (void *)((char *)old[i] + old_size[i]));
    free(old[i]);
  }
  for (size_t i = 0; i < N_NEW; i++) {
    size_t n = SIZES[next_random(&seed) % N_SIZES] + (next_random(&seed) % 16);
    size_t w = n < 8 ? n : 8;
    void *p = NULL;
    switch (i % 9) {
    case 0:
    case 1:
    case 2:
      new_block(malloc(n), n, w, "fill", "malloc");
      break;
    case 3:
      new_block(calloc(1, n), n, w, "zero", "calloc");
      break;
    case 4:
      new_block(memalign(64, n), n, w, "fill", "memalign");
      break;
    case 5:
      if (posix_memalign(&p, 32, n) != 0) p = NULL;
      new_block(p, n, w, "fill", "posix_memalign");
      break;
    case 6:
      new_block(aligned_alloc(128, n), n, w, "fill", "aligned_alloc");
      break;
    case 7: { /* the grown part of a realloc: written up to the old size only */
      size_t small = 24;
      char *q = malloc(small);
      memset(q, 0x11, small);
      new_block(realloc(q, n + small), n + small, small, "fill", "realloc");
      break;
    }
    default:
      new_block(i % 2 ? valloc(n) : pvalloc(n), i % 2 ? n : (n + 4095) & ~(size_t)4095, w, "fill",
                i % 2 ? "valloc" : "pvalloc");
      break;
    }
  }
}

static void *thread_main(void *arg) {
  churn((uint64_t)(uintptr_t)arg);
  return NULL;
}

/* realloc out of a recycled heap chunk into an mmapped one: glibc copies the old block's whole
 * usable size, its unrequested tail (which held an old pointer) with it. */
static void realloc_into_mmapped(void) {
  void *old[16];
  for (int i = 0; i < 16; i++) old[i] = malloc(24);
  for (int i = 0; i < 16; i++) point_to_old(old[i], 24, old, 16, (size_t)i);
  for (int i = 0; i < 16; i++) {
    out("OLD %p %p\n", old[i], (void *)((char *)old[i] + 24));
    free(old[i]);
  }
  char *q = malloc(16);
  size_t usable = malloc_usable_size(q);
  memset(q, 0x11, 16);
  q = realloc(q, 4u << 20);
  char expect[32];
  snprintf(expect, sizeof expect, "fill:%zu", usable);
  new_block(q, 4u << 20, 16, expect, "big-realloc-mmapped");
}

int main(void) {
  /* Mmapped (the default threshold is 128 KiB): must stay untouched but for its first page. */
  new_block(malloc(4u << 20), 4u << 20, 8, "fill", "big-mmapped");
  realloc_into_mmapped();
  /* From here on big blocks come from the heap: no dynamic threshold, no trimming. */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);

  pthread_t t;
  pthread_create(&t, NULL, thread_main, (void *)(uintptr_t)0x9e3779b97f4a7c15ull);
  pthread_join(t, NULL);
  churn(g_seed);

  /* A big heap chunk full of old pointers, kept off the top by a guard, freed, and carved again. */
  size_t big_old = 600u << 10;
  void **big = malloc(big_old);
  void *guard = malloc(64);
  for (size_t w = 0; w < big_old / sizeof(void *); w++) big[w] = &big[(w * 977) % 1000];
  out("OLD %p %p\n", (void *)big, (void *)((char *)big + big_old));
  free(big);
  new_block(malloc(500u << 10), 500u << 10, 8, "fill", "big-recycled");
  new_block(malloc(8u << 20), 8u << 20, 8, "fill", "big-fresh");
  out("READY\n");
  char c;
  while (read(0, &c, 1) == 1 && c != '\n') {
  }
  free(guard);
  return 0;
}
