// tcache_whole: threads whose tcache_perthread_struct glibc put in a whole free chunk one size up.
//
// tcache_init asks _int_malloc for request2size(sizeof (tcache_perthread_struct)) (0x290 on
// 2.30–2.41); when the arena's best fit is a free chunk 16 bytes larger (0x2a0), splitting it would
// leave less than MINSIZE, so the thread gets the whole chunk. This program makes that happen for
// every thread it starts: M_ARENA_MAX=1 (as MALLOC_ARENA_MAX=1 does in many services) puts all
// threads on main_arena, where it first leaves free chunks of nb + 16 bytes in the bins (its own
// tcache bin for that size filled first so they are not cached, each held apart by a live block so
// they do not coalesce). Each thread then caches a few freed blocks in its tcache, keeps one live
// block and waits. Printed (expect.h): the live blocks, one leaked block, the freed (tcache) blocks.
//
// --exact-first: each thread's first malloc (40 bytes) is an exact fit from a small bin (main
// leaves free 0x30 chunks there). On 2.43 that is when a thread's tcache is made, from inside
// _int_malloc by tcache_init (av), which asks for request2size (sizeof) bytes that _int_malloc
// normalises again (0x310), so the holes are made one size up again (0x320, whole). Elsewhere the
// thread gets nb from a split hole, as usual.
//
// Usage: tcache_whole [--threads N] [--exact-first]   (default 4 threads, at most 64)
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>

#include "expect.h"

#define MAX_THREADS 64

// request2size(n) = (n + 8 + 15) & ~15; the struct's size per release (malloc.c).
static size_t tcache_struct_size(void) {
  int major = 0, minor = 0;
  sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor);
  if (minor >= 42) return 0x2f8;  // uint16_t num_slots[76] + 76 pointers
  if (minor >= 30) return 0x280;  // uint16_t counts[64] + 64 pointers
  return 0x240;                   // char counts[64] + 64 pointers
}

static size_t request2size(size_t n) {
  size_t s = (n + 8 + 15) & ~(size_t)15;
  return s < 32 ? 32 : s;
}

// Not static: the compiler must keep the stores (nothing in the program reads these back).
void *g_live[MAX_THREADS];             // one live block per thread
void *g_fences[4 * MAX_THREADS];      // keep the free chunks apart
void *g_small_fences[64];             // keep the free 0x30 chunks apart (--exact-first)
static sem_t g_ready;
static uintptr_t g_freed_enc[MAX_THREADS][3];

// Leaves 3 free chunks of nb + 16 bytes per thread in main_arena's bins, not cached: this thread's
// tcache bin for that size is filled first (16 frees: the default tcache_count is 7 before 2.43 and
// 16 from it; the rest go to the bins too). Each hole is followed by a live fence so that freeing
// it cannot coalesce it. (pthread_create's DTV calloc may split a few holes, hence 3 per thread.)
// With `exact_first`, also 48 free 0x30 chunks, of which 32 or more end up in a small bin.
static NOINLINE void make_holes(int threads, int exact_first) {
  size_t nb = request2size(tcache_struct_size());
  size_t user = (exact_first ? request2size(nb) : nb) + 16 - 8;
  int holes = 3 * threads;
  void *hole[3 * MAX_THREADS], *fill[16], *small[48];
  for (int i = 0; i < holes; i++) {
    hole[i] = xmalloc(user);
    g_fences[i] = xmalloc(24);
    record(g_fences[i], 24, LIVE, "fence between free chunks");
  }
  for (int i = 0; i < 16; i++) fill[i] = xmalloc(user);
  for (int i = 0; i < 16; i++) free(fill[i]);
  for (int i = 0; i < holes; i++) free(hole[i]);
  if (!exact_first) return;
  for (int i = 0; i < 48; i++) {
    small[i] = xmalloc(40);
    if (i >= 16) {
      g_small_fences[i - 16] = xmalloc(24);
      record(g_small_fences[i - 16], 24, LIVE, "fence between free 0x30 chunks");
    }
  }
  for (int i = 0; i < 48; i++) free(small[i]);
}

static NOINLINE void thread_work(int i) {
  // The thread's first malloc makes its tcache; then three freed blocks go into it.
  void *a = xmalloc(40), *b = xmalloc(40), *c = xmalloc(100);
  g_live[i] = xmalloc(64);
  record(g_live[i], 64, LIVE, "block held by a global, made by a thread");
  // Blocks glibc mmapped (MALLOC_MMAP_THRESHOLD_=0) are unmapped when freed, not cached, and their
  // addresses are reused: only heap chunks (IS_MMAPPED clear in the header) are "freed into tcache".
  void *blocks[3] = {a, b, c};
  for (int k = 0; k < 3; k++) {
    int mmapped = (((size_t *)blocks[k])[-1] & 2) != 0;
    g_freed_enc[i][k] = mmapped ? 0 : (uintptr_t)blocks[k] ^ ENC;
  }
  free(a);
  free(b);
  free(c);
}

static void *thread_main(void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);  // no signal frame on this stack
  thread_work((int)(intptr_t)arg);
  clear_stack();
  sem_post(&g_ready);
  for (;;) pause();
  return NULL;
}

static NOINLINE void make_leak(void) {
  void *p = xmalloc(72);
  record(p, 72, LEAKED, "leaked block");
}

int main(int argc, char **argv) {
  int threads = 4, exact_first = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--exact-first") == 0) exact_first = 1;
    else {
      fprintf(stderr, "usage: tcache_whole [--threads N] [--exact-first]\n");
      return 2;
    }
  }
  if (threads < 1 || threads > MAX_THREADS) {
    fprintf(stderr, "tcache_whole: --threads must be 1..%d\n", MAX_THREADS);
    return 2;
  }
  mallopt(M_ARENA_MAX, 1);
  print_pid();

  make_holes(threads, exact_first);
  clear_stack();  // the freed holes' addresses, reused later, must not stay in a live frame

  sem_init(&g_ready, 0, 0);
  for (int i = 0; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, (void *)(intptr_t)i) != 0) abort();
    pthread_detach(t);
    sem_wait(&g_ready);  // one at a time: each thread's tcache is made before the next starts
  }
  for (int i = 0; i < threads; i++) {
    for (int k = 0; k < 3; k++) {
      if (g_freed_enc[i][k] == 0) continue;
      record((void *)(g_freed_enc[i][k] ^ ENC), k == 2 ? 100 : 40, FREED, "freed into a tcache");
    }
  }
  make_leak();
  print_expect();
  clear_stack();
  for (;;) pause();
}
