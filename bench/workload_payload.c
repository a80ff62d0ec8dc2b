// Big-heap benchmark workload 2: N nodes in 4 threads, each a 16 B node plus a payload of 16 B–2 KiB.
//
// Usage: workload_payload N [--threads T] [--lsan-check]
//   Every thread allocates N/T nodes in its own arena. A node is a 16-byte block {payload, next}
//   whose payload is a separate block of 16..2048 bytes (three in four up to 512 B, one in four
//   512 B..2 KiB: ~520 B on average, so ~560 MB of heap at N = 10^6) filled with non-pointer data.
//   Live nodes are chained (next = the previous live node of the thread) and kept in the thread's
//   slot array. Known leaks: one node in 1000 (N/1000 in all) is dropped from the slots and the
//   chain (node 500 of every 1000: never the last, whose address would linger in a dead register):
//   a direct leak holding its payload (an indirect leak).
//   Prints "pid <PID>", the expected counts and "READY", then sleeps until killed.
//   --lsan-check (or HS_BENCH_LSAN_CHECK=1), for a -fsanitize=leak build: after setup, time one
//   __lsan_do_recoverable_leak_check() call, print "lsan_check_ms <ms>" and exit.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

struct node {
  uint64_t *payload;
  struct node *next;
};

static struct node **g_slots[MAX_THREADS];
static size_t g_per_thread;
static pthread_barrier_t g_ready;

// Not the last node of a thread: its address would stay in a dead register or stack slot.
static int is_leaked(size_t i) { return i % 1000 == 500; }

static size_t payload_size(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  uint32_t r = (uint32_t)(*s >> 33);
  if (r % 4 != 0) return 16 + (r >> 2) % 497;  // 16..512
  return 512 + (r >> 2) % 1537;                // 512..2048
}

static void *worker(void *arg) {
  size_t t = (size_t)arg;
  size_t n = g_per_thread;
  struct node **slots = malloc(n * sizeof *slots);
  if (!slots) abort();
  g_slots[t] = slots;
  uint64_t seed = 0x2545f4914f6cdd1dULL ^ (t * 0x100000001b3ULL);
  struct node *prev = NULL;
  for (size_t i = 0; i < n; i++) {
    struct node *nd = malloc(sizeof *nd);
    size_t size = payload_size(&seed);
    uint64_t *p = malloc(size);
    if (!nd || !p) abort();
    // Non-pointer payload: small integers, as real data would be.
    for (size_t w = 0; w < size / 8; w++) p[w] = (uint64_t)(i * 31 + w) & 0xffffffULL;
    nd->payload = p;
    if (is_leaked(i)) {
      nd->next = NULL;
      slots[i] = NULL;  // dropped: nothing live points to it
      continue;
    }
    nd->next = prev;
    slots[i] = nd;
    prev = nd;
  }
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
  const char *env = getenv("HS_BENCH_LSAN_CHECK");
  int lsan_check = env && strcmp(env, "1") == 0;
  for (int a = 2; a < argc; a++) {
    if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) threads = strtoul(argv[++a], NULL, 10);
    else if (strcmp(argv[a], "--lsan-check") == 0) lsan_check = 1;
    else {
      fprintf(stderr, "workload_payload: unknown argument: %s\n", argv[a]);
      return 2;
    }
  }
  if (threads < 1 || threads > MAX_THREADS || n < threads) {
    fprintf(stderr, "workload_payload: need 1..%d threads and N >= threads\n", MAX_THREADS);
    return 2;
  }
  g_per_thread = n / threads;
  double t0 = now_ms();
  if (pthread_barrier_init(&g_ready, NULL, (unsigned)threads + 1) != 0) abort();
  pthread_t tid[MAX_THREADS];
  for (size_t t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, worker, (void *)t) != 0) abort();
  }
  pthread_barrier_wait(&g_ready);
  size_t per = g_per_thread;
  size_t leaks = threads * (per / 1000);
  printf("pid %d\n", getpid());
  printf("allocations %zu\n", 2 * threads * per + threads);  // nodes, payloads, slot arrays
  printf("expect_direct %zu\n", leaks);
  printf("expect_leaked_blocks %zu\n", 2 * leaks);
  printf("setup_ms %.1f\n", now_ms() - t0);
  if (lsan_check) {
#ifdef HAVE_LSAN
    fflush(stdout);
    double c0 = now_ms();
    int found = __lsan_do_recoverable_leak_check();
    double c1 = now_ms();
    printf("lsan_check_ms %.1f\n", c1 - c0);
    printf("lsan_found_leaks %d\n", found);
    fflush(stdout);
    _exit(0);
#else
    fprintf(stderr, "workload_payload: --lsan-check needs a -fsanitize=leak build\n");
    return 2;
#endif
  }
  printf("READY\n");
  fflush(stdout);
  for (;;) pause();
}
