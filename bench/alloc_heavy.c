// Allocation-heavy workload for bench/recorder_bench.sh: THREADS threads do PAIRS malloc/free pairs
// in total (default 10^7 over 4), keeping a window of 64 live blocks each, plus LIVE blocks that stay
// live to the end (to measure the recorder's memory per live block).
//
// Usage: alloc_heavy [pairs] [threads] [live]   prints "pairs=… threads=… live=… checksum=…"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long g_pairs_per_thread;

// Two call sites at different depths, so stacks differ as in a real program.
__attribute__((noinline)) static void *alloc_leaf(size_t n) { return malloc(n); }
__attribute__((noinline)) static void *alloc_mid(size_t n) { return alloc_leaf(n); }

static void *worker(void *arg) {
  uintptr_t seed = (uintptr_t)arg * 2654435761u + 1;
  void *window[64] = {0};
  uintptr_t sum = 0;
  for (long i = 0; i < g_pairs_per_thread; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    size_t n = 16 + (seed >> 58) * 8;
    unsigned slot = (unsigned)(seed >> 40) & 63;
    free(window[slot]);
    window[slot] = (i & 1) ? alloc_mid(n) : alloc_leaf(n);
    ((char *)window[slot])[0] = (char)i;
    sum += (uintptr_t)n;
  }
  for (int i = 0; i < 64; i++) free(window[i]);
  return (void *)sum;
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 10000000;
  int threads = argc > 2 ? atoi(argv[2]) : 4;
  long live = argc > 3 ? atol(argv[3]) : 0;
  g_pairs_per_thread = pairs / threads;
  void **keep = live > 0 ? calloc((size_t)live, sizeof *keep) : NULL;
  for (long i = 0; i < live; i++) keep[i] = alloc_mid(32);
  pthread_t t[64];
  uintptr_t total = 0;
  for (int i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < threads && i < 64; i++) {
    void *r;
    pthread_join(t[i], &r);
    total += (uintptr_t)r;
  }
  printf("pairs=%ld threads=%d live=%ld checksum=%lu\n", g_pairs_per_thread * threads, threads, live,
         (unsigned long)total);
  for (long i = 0; i < live; i++) free(keep[i]);
  free(keep);
  return 0;
}
