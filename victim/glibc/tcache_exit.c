// tcache_exit: a thread caught exiting inside tcache_thread_shutdown, its tcache half drained.
//
// When a thread exits, tcache_thread_shutdown clears its `tcache` TLS pointer, then unlinks its
// cached blocks one by one and frees each to its arena, which takes the arena lock. This program
// holds main_arena's lock for as long as it likes: a helper thread calls malloc_stats(), which
// prints with the lock held, to a stderr pipe nobody reads and that is already full. The exiting
// thread cached main-arena blocks (of a non-fastbin size, so freeing them needs the lock) in its
// lowest tcache bin and blocks of its own arena in higher bins; it blocks on the lock freeing the
// first one: unlinked from its struct but not yet free, the rest still listed, the struct no
// longer named by its TLS. The main thread checks (in /proc) that both threads are blocked, then
// prints (expect.h) the live blocks, a leaked one, and the cached blocks as freed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "expect.h"

// 0x110-byte chunks (tcache bin 15): above the fastbin limit (0x80), so freeing one to main_arena
// takes its lock. The exiting thread's own blocks are 0x1a0-0x1d0 chunks (bins 24-27): drained
// after the main-arena ones, so they are all still listed when it blocks.
#define MAIN_BLOCK 0x100
#define OWN_BLOCK(i) (400 + 16 * (i))
#define CACHED_MAIN 5
#define CACHED_OWN 4

// Not static: the compiler must keep the stores (nothing in the program reads these back).
void *g_main_blocks[CACHED_MAIN];  // main-arena blocks handed to the exiting thread
void *g_live_own;                 // a block the exiting thread made in its own arena, kept
void *g_live_main;                // a main-arena block the main thread keeps
static uintptr_t g_freed_enc[CACHED_MAIN + CACHED_OWN];
static int g_exiting_tid, g_helper_tid, g_cached, g_may_exit;

static int tid(void) { return (int)syscall(SYS_gettid); }

static void block_signals(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);  // no signal frame on these stacks
}

static void *helper(void *arg) {
  (void)arg;
  block_signals();
  __atomic_store_n(&g_helper_tid, tid(), __ATOMIC_RELEASE);
  malloc_stats();  // blocks in write(2) to the full pipe, main_arena locked
  return NULL;
}

static NOINLINE void exiting_work(void) {
  // This thread's first malloc gives it an arena of its own (and its tcache in it).
  void *own[CACHED_OWN];
  for (int i = 0; i < CACHED_OWN; i++) own[i] = xmalloc(OWN_BLOCK(i));
  g_live_own = xmalloc(48);
  record(g_live_own, 48, LIVE, "exiting thread's block, held by a global");
  for (int i = 0; i < CACHED_OWN; i++) {
    g_freed_enc[CACHED_MAIN + i] = (uintptr_t)own[i] ^ ENC;
    free(own[i]);
  }
  for (int i = 0; i < CACHED_MAIN; i++) {
    g_freed_enc[i] = (uintptr_t)g_main_blocks[i] ^ ENC;
    free(g_main_blocks[i]);
    g_main_blocks[i] = NULL;
  }
}

static void *exiting(void *arg) {
  (void)arg;
  block_signals();
  exiting_work();
  clear_stack();
  __atomic_store_n(&g_exiting_tid, tid(), __ATOMIC_RELEASE);
  __atomic_store_n(&g_cached, 1, __ATOMIC_RELEASE);
  struct timespec ts = {0, 1000000};
  while (!__atomic_load_n(&g_may_exit, __ATOMIC_ACQUIRE)) nanosleep(&ts, NULL);
  return NULL;  // tcache_thread_shutdown runs now and blocks on main_arena's lock
}

// Whether thread `t` of this process is sleeping in system call `nr` (/proc/self/task/T/syscall).
static int in_syscall(int t, long nr) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", t);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  return strtol(buf, NULL, 10) == nr;
}

static void wait_until(int (*cond)(void), const char *what) {
  struct timespec ts = {0, 1000000};
  for (int i = 0; i < 10000; i++) {  // 10 s
    if (cond()) return;
    nanosleep(&ts, NULL);
  }
  fprintf(stdout, "tcache_exit: timed out waiting for %s\n", what);
  exit(1);
}

static int helper_blocked(void) {
  int t = __atomic_load_n(&g_helper_tid, __ATOMIC_ACQUIRE);
  return t != 0 && in_syscall(t, SYS_write);
}

static int exiting_cached(void) { return __atomic_load_n(&g_cached, __ATOMIC_ACQUIRE); }

static int exiting_blocked(void) {
  int t = __atomic_load_n(&g_exiting_tid, __ATOMIC_ACQUIRE);
  return t != 0 && in_syscall(t, SYS_futex);
}

static NOINLINE void make_leak(void) {
  void *p = xmalloc(72);
  record(p, 72, LEAKED, "leaked block");
}

int main(void) {
  print_pid();
  g_live_main = xmalloc(56);
  record(g_live_main, 56, LIVE, "main thread's block, held by a global");
  for (int i = 0; i < CACHED_MAIN; i++) g_main_blocks[i] = xmalloc(MAIN_BLOCK);
  make_leak();

  // stderr becomes a pipe that is full: the helper's first write blocks.
  int p[2];
  if (pipe(p) != 0) abort();
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  static char junk[4096];
  while (write(p[1], junk, sizeof junk) > 0) {}
  fcntl(p[1], F_SETFL, 0);
  dup2(p[1], 2);

  // The exiting thread is made first: pthread_create allocates (its DTV) from main_arena, which
  // is locked once the helper runs.
  pthread_t h, e;
  if (pthread_create(&e, NULL, exiting, NULL) != 0) abort();
  wait_until(exiting_cached, "the exiting thread to fill its tcache");
  if (pthread_create(&h, NULL, helper, NULL) != 0) abort();
  wait_until(helper_blocked, "malloc_stats() to block holding main_arena's lock");
  __atomic_store_n(&g_may_exit, 1, __ATOMIC_RELEASE);
  wait_until(exiting_blocked, "the exiting thread to block in tcache_thread_shutdown");

  for (int i = 0; i < CACHED_MAIN + CACHED_OWN; i++) {
    size_t size = i < CACHED_MAIN ? MAIN_BLOCK : OWN_BLOCK(i - CACHED_MAIN);
    record((void *)(g_freed_enc[i] ^ ENC), size, FREED, "cached by the exiting thread");
  }
  print_expect();
  clear_stack();
  for (;;) pause();
}
