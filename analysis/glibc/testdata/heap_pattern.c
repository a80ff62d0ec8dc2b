/* heap_pattern.c: a known malloc/free pattern for the glibc walker test. It interposes malloc & co
 * (forwarding to __libc_*) to record the exact live set, prints it as "LIVE <addr> <req> <usable>"
 * lines and "END", then stops itself with raise(SIGSTOP). Uses no stdio after main starts. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#define MAXREC 65536
static struct { void *p; size_t n; } rec[MAXREC];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void add(void *p, size_t n) {
  if (!p) return;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < MAXREC; i++)
    if (!rec[i].p) { rec[i].p = p; rec[i].n = n; break; }
  pthread_mutex_unlock(&lock);
}
static void del(void *p) {
  if (!p) return;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < MAXREC; i++)
    if (rec[i].p == p) { rec[i].p = 0; break; }
  pthread_mutex_unlock(&lock);
}

void *malloc(size_t n) { void *p = __libc_malloc(n); add(p, n); return p; }
void free(void *p) { del(p); __libc_free(p); }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); add(p, a * b); return p; }
void *realloc(void *o, size_t n) {
  void *p = __libc_realloc(o, n);
  if (p || n == 0) del(o);
  if (p) add(p, n);
  return p;
}
void *memalign(size_t al, size_t n) { void *p = __libc_memalign(al, n); add(p, n); return p; }
void *aligned_alloc(size_t al, size_t n) { return memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
  void *p = __libc_memalign(al, n);
  if (!p) return ENOMEM;
  add(p, n);
  *out = p;
  return 0;
}

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static pthread_barrier_t ready, done;
static void *volatile keep[64];

static void *worker(void *arg) {
  (void)arg;
  /* Thread arena: in-use chunks, tcache frees, a fastbin free (tcache bin full), a large block. */
  void *t[16];
  keep[40] = malloc(5000);
  void *u = malloc(3000);
  keep[41] = malloc(100);
  free(u); /* unsorted bin */
  for (int i = 0; i < 16; i++) t[i] = malloc(40);
  /* Last, so no large request consolidates the fastbins. */
  for (int i = 0; i < 9; i++) free(t[i]); /* 7 to tcache, 2 to fastbin */
  for (int i = 9; i < 16; i++) keep[20 + i] = t[i];
  pthread_barrier_wait(&ready);
  pthread_barrier_wait(&done);
  return 0;
}

static void *short_lived(void *arg) {
  (void)arg;
  void *p = malloc(77);
  keep[50] = malloc(300); /* outlives the thread */
  free(p);
  return 0;
}

int main(void) {
  pthread_barrier_init(&ready, 0, 2);
  pthread_barrier_init(&done, 0, 2);
  /* Main heap: in-use, tcache frees of several sizes, fastbin frees, unsorted free with footer. */
  void *a[12];
  for (int i = 0; i < 12; i++) a[i] = malloc(24 + 16 * (i % 3));
  for (int i = 0; i < 12; i += 2) free(a[i]);
  for (int i = 1; i < 12; i += 2) keep[i] = a[i];
  void *f[10];
  for (int i = 0; i < 10; i++) f[i] = malloc(100);
  keep[13] = malloc(2000);
  void *big = malloc(5000);
  keep[14] = malloc(10);
  free(big);
  keep[15] = calloc(3, 33);
  keep[16] = realloc(malloc(50), 500);
  /* mmapped chunks: plain and memalign'd. */
  keep[17] = malloc(300000);
  void *al = 0;
  if (posix_memalign(&al, 4096, 1 << 20) != 0) return 1;
  keep[18] = al;
  void *al2 = memalign(64, 200);
  keep[19] = al2;
  void *gone = malloc(400000);
  free(gone);

  /* Last in main, so no large request consolidates the fastbins. */
  for (int i = 0; i < 10; i++) free(f[i]); /* 7 tcache + 3 fastbin (0x70) */

  pthread_t th, th2;
  pthread_create(&th2, 0, short_lived, 0);
  pthread_join(th2, 0);
  pthread_create(&th, 0, worker, 0);
  pthread_barrier_wait(&ready);

  pthread_mutex_lock(&lock);
  char line[128];
  for (int i = 0; i < MAXREC; i++) {
    if (!rec[i].p) continue;
    snprintf(line, sizeof line, "LIVE %#lx %lu %lu\n", (unsigned long)(uintptr_t)rec[i].p,
             (unsigned long)rec[i].n, (unsigned long)malloc_usable_size(rec[i].p));
    say(line);
  }
  pthread_mutex_unlock(&lock);
  say("END\n");
  raise(SIGSTOP);
  pthread_barrier_wait(&done);
  pthread_join(th, 0);
  return 0;
}
