// Big-heap benchmark workload: N live glibc allocations from 4 threads with known leaks, then waits.
//
// Usage: workload N [--threads T] [--lsan-check]
//   Every thread allocates N/T blocks in its own arena (mixed sizes 16 B..4 KiB, every 20000th a
//   large 64..320 KiB block that glibc mmaps). Each live block holds a pointer to the previous live
//   block of its thread and one to a pseudo-random earlier live block, plus non-pointer data, so the
//   scan sees a realistic pointer density (~2 per block). Known leaks, per thread and per 1000
//   blocks: block 0 is orphaned (a direct leak) and blocks 500, 501 form an orphaned 2-cycle.
//   Prints "pid <PID>", the expected leak counts and "READY", then sleeps until killed.
//   --lsan-check (or HS_BENCH_LSAN_CHECK=1), for a -fsanitize=leak build: after setup, time one
//   __lsan_do_recoverable_leak_check() call, print "lsan_check_ms <ms>" and exit.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

// The roots: one slot array per thread (itself a large malloc'd block, reachable from here).
static void **g_slots[MAX_THREADS];
static size_t g_per_thread;
static pthread_barrier_t g_ready;

static int is_leaked(size_t i) {
  size_t r = i % 1000;
  return r == 0 || r == 500 || r == 501;
}

static size_t pick_size(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  uint32_t r = (uint32_t)(*s >> 33);
  uint32_t bucket = r % 100;
  uint32_t x = r >> 8;
  if (bucket < 50) return 16 + x % 49;        // 16..64
  if (bucket < 85) return 64 + x % 193;       // 64..256
  if (bucket < 98) return 256 + x % 769;      // 256..1024
  return 1024 + x % 3073;                     // 1 KiB..4 KiB
}

static void *worker(void *arg) {
  size_t t = (size_t)arg;
  size_t n = g_per_thread;
  void **slots = malloc(n * sizeof(void *));
  if (!slots) abort();
  g_slots[t] = slots;
  uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (t * 0x100000001b3ULL);
  void *prev_live = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t size = (i % 20000 == 19999) ? (64 << 10) + (i / 20000 % 5) * (64 << 10) : pick_size(&seed);
    uint64_t *b = malloc(size);
    if (!b) abort();
    size_t words = size / 8;
    // Non-pointer payload: small integers and text-like bytes, as real data would be.
    for (size_t w = 0; w < words; w++) b[w] = (uint64_t)(i * 31 + w) & 0xffffffULL;
    slots[i] = b;
    if (is_leaked(i)) {
      b[0] = 0;
      if (i % 1000 == 501 && words >= 1) {
        // 2-cycle: 500 <-> 501.
        uint64_t *mate = slots[i - 1];
        b[0] = (uint64_t)(uintptr_t)mate;
        mate[0] = (uint64_t)(uintptr_t)b;
      }
      continue;
    }
    b[0] = (uint64_t)(uintptr_t)prev_live;
    if (words >= 2 && i > 0) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t j = (size_t)(seed >> 33) % i;
      while (is_leaked(j)) j++;
      b[1] = (uint64_t)(uintptr_t)slots[j];
    }
    prev_live = b;
  }
  // Orphan the leaks: nothing live points to them any more.
  for (size_t i = 0; i < n; i++) {
    if (is_leaked(i)) slots[i] = NULL;
  }
  prev_live = NULL;
  pthread_barrier_wait(&g_ready);
  for (;;) pause();
  return NULL;
}

#if defined(__has_feature)
#if __has_feature(leak_sanitizer) || __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#if !defined(HAVE_LSAN) && defined(__SANITIZE_LEAK__)
#define HAVE_LSAN 1
#endif
#ifdef HAVE_LSAN
int __lsan_do_recoverable_leak_check(void);
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s N [--threads T] [--lsan-check]\n", argv[0]);
    return 2;
  }
  size_t n = strtoull(argv[1], NULL, 10);
  size_t threads = 4;
  int lsan_check = getenv("HS_BENCH_LSAN_CHECK") && strcmp(getenv("HS_BENCH_LSAN_CHECK"), "1") == 0;
  for (int a = 2; a < argc; a++) {
    if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) threads = strtoul(argv[++a], NULL, 10);
    else if (strcmp(argv[a], "--lsan-check") == 0) lsan_check = 1;
    else {
      fprintf(stderr, "workload: unknown argument: %s\n", argv[a]);
      return 2;
    }
  }
  if (threads < 1 || threads > MAX_THREADS || n < threads) {
    fprintf(stderr, "workload: need 1..%d threads and N >= threads\n", MAX_THREADS);
    return 2;
  }
  g_per_thread = n / threads;
  double t0 = now_ms();
  pthread_barrier_init(&g_ready, NULL, (unsigned)threads + 1);
  pthread_t tid[MAX_THREADS];
  for (size_t t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, worker, (void *)t) != 0) abort();
  }
  pthread_barrier_wait(&g_ready);
  size_t per = g_per_thread;
  size_t singles = threads * ((per + 999) / 1000);
  size_t cycles = threads * ((per + 499) / 1000);
  size_t total = threads * per + threads;  // + the slot arrays
  printf("pid %d\n", getpid());
  printf("allocations %zu\n", total);
  printf("expect_direct_singles %zu\n", singles);
  printf("expect_cycles %zu\n", cycles);
  printf("setup_ms %.1f\n", now_ms() - t0);
  if (lsan_check) {
#ifdef HAVE_LSAN
    fflush(stdout);
    double c0 = now_ms();
    int leaks = __lsan_do_recoverable_leak_check();
    double c1 = now_ms();
    printf("lsan_check_ms %.1f\n", c1 - c0);
    printf("lsan_found_leaks %d\n", leaks);
    fflush(stdout);
    _exit(0);
#else
    fprintf(stderr, "workload: --lsan-check needs a -fsanitize=leak build\n");
    return 2;
#endif
  }
  printf("READY\n");
  fflush(stdout);
  for (;;) pause();
}
