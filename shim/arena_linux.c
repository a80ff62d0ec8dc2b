/* The analysis's arena (Linux): one big reservation on transparent huge pages, handed out by a bump
 * pointer, with a helper thread that faults pages in ahead of the bump while the analysis computes.
 *
 * Why: after the copy, the analysis asks for ~300–500 bytes of fresh typed arrays per heap block
 * (analysis/arrays.ts). Faulting fresh memory in is slow where the hypervisor backs guest memory
 * lazily (our VMs: 1–7 ms per MB, measured, bench/RESULTS.md), and it all lands on the one thread
 * that runs the analysis. Here a second thread does it, on the other core, before the analysis gets
 * there; the analysis then writes into memory that is already there.
 *
 * Safety of the helper: it only ever calls madvise(MADV_POPULATE_WRITE), which faults missing pages
 * in (zeroed, as fresh anonymous memory is) and never changes a byte of a page that is present, so
 * it may run over memory the analysis is already writing. Where the kernel lacks it (before 5.14)
 * the helper touches each page with an atomic compare-and-swap of 0 with 0: a word the analysis
 * wrote is left as it is. It never runs behind the start of the last array handed out (which it
 * populates while the analysis fills it from the front), so it does not fault in again what
 * hs_arena_release gave back of older arrays.
 *
 * The helper runs this library's code for the life of the process, so the library must never be
 * unloaded (Deno closes a DynamicLibrary when its owner goes, as between test modules): the
 * Makefile links it with -z nodelete.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heapscope.h"

#define ARENA_HUGE (2ull << 20)
#define ARENA_STEP (2ull << 20) /* populated per madvise call: one huge page, so that the process's
                                 * mmap lock is held briefly (V8 maps and unmaps its heap meanwhile) */
#define ARENA_ALIGN 4096ull
#define ARENA_EXTRA 16 /* ranges queued by hs_arena_populate at once (more are dropped: a hint) */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct hs_arena {
  uint8_t *base;
  uint64_t size;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t bump;      /* bytes handed out */
  uint64_t recent;    /* where the last array handed out starts */
  uint64_t target;    /* the helper populates up to here */
  uint64_t populated; /* the helper has populated up to here */
  uint64_t window;    /* target is kept at least this far past bump */
  uint64_t helped;    /* bytes the helper populated */
  /* Ranges outside the reservation to populate first (hs_arena_populate): the start of arrays the
   * analysis fills from the front but maps on its own (sparse ones, sized at an upper bound). */
  struct {
    uint8_t *from, *to;
  } extra[ARENA_EXTRA];
  uint32_t extras;
  pthread_t thread;
};

static void populate(uint8_t *p, uint64_t len) {
  if (madvise(p, len, MADV_POPULATE_WRITE) == 0) return;
  if (errno != EINVAL && errno != ENOSYS) return; /* ENOMEM, EFAULT: the analysis faults them itself */
  long pagesz = sysconf(_SC_PAGESIZE);
  uint64_t page = pagesz > 0 ? (uint64_t)pagesz : 4096;
  for (uint64_t off = 0; off < len; off += page) {
    uint64_t expected = 0;
    (void)__atomic_compare_exchange_n((uint64_t *)(void *)(p + off), &expected, 0, 0,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
}

static void *helper_main(void *arg) {
  struct hs_arena *a = arg;
  pthread_mutex_lock(&a->mu);
  for (;;) { /* for the life of the process: the arena is never closed */
    if (a->extras > 0) { /* queued ranges first, a step at a time, oldest first */
      uint8_t *from = a->extra[0].from, *to = a->extra[0].to;
      if ((uint64_t)(to - from) > ARENA_STEP) to = from + ARENA_STEP;
      a->extra[0].from = to;
      if (a->extra[0].from >= a->extra[0].to) {
        memmove(&a->extra[0], &a->extra[1], (a->extras - 1) * sizeof a->extra[0]);
        a->extras--;
      }
      pthread_mutex_unlock(&a->mu);
      /* madvise only, never the store loop: the caller's mapping may be gone by now (an unmapped
       * range is an error here, a crash there). */
      (void)madvise(from, (uint64_t)(to - from), MADV_POPULATE_WRITE);
      pthread_mutex_lock(&a->mu);
      a->helped += (uint64_t)(to - from);
      continue;
    }
    /* Never behind the last array handed out: the analysis writes it from its start while the
     * helper runs ahead of it; older arrays are the analysis's (it may have released them). */
    uint64_t floor = a->recent & ~(ARENA_HUGE - 1);
    if (a->populated < floor) a->populated = floor;
    if (a->populated >= a->target) {
      pthread_cond_wait(&a->cv, &a->mu);
      continue;
    }
    uint64_t from = a->populated, to = a->target;
    if (to - from > ARENA_STEP) to = from + ARENA_STEP;
    pthread_mutex_unlock(&a->mu);
    populate(a->base + from, to - from);
    pthread_mutex_lock(&a->mu);
    if (a->populated < to) a->populated = to;
    a->helped += to - from;
  }
  return NULL; /* not reached */
}

int32_t hs_arena_open(uint64_t reserve, uint64_t window, uint64_t *handle) {
  if (!handle || reserve < ARENA_HUGE) return HS_ERR_ARG;
  *handle = 0;
  reserve &= ~(ARENA_HUGE - 1);
  uint8_t *raw = mmap(NULL, reserve + ARENA_HUGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return HS_ERR_INTERNAL;
  uintptr_t base = ((uintptr_t)raw + ARENA_HUGE - 1) & ~(uintptr_t)(ARENA_HUGE - 1);
  size_t head = base - (uintptr_t)raw, tail = ARENA_HUGE - head;
  if (head > 0) (void)munmap(raw, head);
  if (tail > 0) (void)munmap((uint8_t *)base + reserve, tail);
  (void)madvise((void *)base, reserve, MADV_HUGEPAGE); /* THP off: 4 KiB pages, still helped */
  struct hs_arena *a = calloc(1, sizeof *a);
  if (!a) {
    (void)munmap((void *)base, reserve);
    return HS_ERR_INTERNAL;
  }
  a->base = (uint8_t *)base;
  a->size = reserve;
  a->window = window;
  a->target = window;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  /* The helper blocks no signal the caller cares about: Deno's signal handling sees the process. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&a->thread, NULL, helper_main, a);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    (void)munmap(a->base, a->size);
    free(a);
    return HS_ERR_INTERNAL;
  }
  *handle = (uint64_t)(uintptr_t)a;
  return HS_OK;
}

int32_t hs_arena_alloc(uint64_t handle, uint64_t len, uint64_t *ptr) {
  struct hs_arena *a = (struct hs_arena *)(uintptr_t)handle;
  if (!a || !ptr || len == 0) return HS_ERR_ARG;
  *ptr = 0;
  pthread_mutex_lock(&a->mu);
  uint64_t at = (a->bump + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  if (at > a->size || len > a->size - at) {
    pthread_mutex_unlock(&a->mu);
    return HS_ERR_ARG; /* full: the caller maps the array on its own */
  }
  a->bump = at + len;
  a->recent = at;
  uint64_t want = a->bump + a->window;
  if (want > a->size) want = a->size;
  if (a->target < want) a->target = want;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
  *ptr = (uint64_t)(uintptr_t)(a->base + at);
  return HS_OK;
}

int32_t hs_arena_prepare(uint64_t handle, uint64_t len) {
  struct hs_arena *a = (struct hs_arena *)(uintptr_t)handle;
  if (!a) return HS_ERR_ARG;
  pthread_mutex_lock(&a->mu);
  uint64_t want = a->bump + (len < a->size ? len : a->size);
  if (want > a->size) want = a->size;
  if (a->target < want) a->target = want;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
  return HS_OK;
}

int32_t hs_arena_populate(uint64_t handle, uint64_t ptr, uint64_t len) {
  struct hs_arena *a = (struct hs_arena *)(uintptr_t)handle;
  if (!a || !ptr || ptr + len < ptr) return HS_ERR_ARG;
  uint64_t from = ptr & ~(ARENA_ALIGN - 1), to = (ptr + len + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  if (to <= from) return HS_OK;
  pthread_mutex_lock(&a->mu);
  if (a->extras < ARENA_EXTRA) {
    a->extra[a->extras].from = (uint8_t *)(uintptr_t)from;
    a->extra[a->extras].to = (uint8_t *)(uintptr_t)to;
    a->extras++;
    pthread_cond_signal(&a->cv);
  }
  pthread_mutex_unlock(&a->mu);
  return HS_OK;
}

int32_t hs_arena_release(uint64_t handle, uint64_t ptr, uint64_t len) {
  struct hs_arena *a = (struct hs_arena *)(uintptr_t)handle;
  if (!a || ptr < (uint64_t)(uintptr_t)a->base || len > a->size ||
      ptr - (uint64_t)(uintptr_t)a->base > a->size - len)
    return HS_ERR_ARG;
  uint64_t from = (ptr + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  uint64_t to = (ptr + len) & ~(ARENA_ALIGN - 1);
  if (to > from && madvise((void *)(uintptr_t)from, to - from, MADV_DONTNEED) < 0)
    return HS_ERR_INTERNAL;
  return HS_OK;
}

int32_t hs_arena_stats(uint64_t handle, double *out) {
  struct hs_arena *a = (struct hs_arena *)(uintptr_t)handle;
  if (!a || !out) return HS_ERR_ARG;
  pthread_mutex_lock(&a->mu);
  out[0] = (double)a->bump;
  out[1] = (double)a->populated;
  out[2] = (double)a->helped;
  out[3] = (double)a->size;
  out[4] = (double)a->target;
  pthread_mutex_unlock(&a->mu);
  return HS_OK;
}
