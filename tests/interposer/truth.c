// libtruth.so: an LD_PRELOAD malloc interposer that records the exact live set (pointer -> requested
// size) and dumps it on SIGUSR2, the ground truth that heapscope's glibc enumeration is checked
// against (design/glibc-heap.md §7).
//
// Dump: on SIGUSR2 the table is written to $HEAPSCOPE_TRUTH_DIR/truth.<pid> (default /tmp) as lines
// "0xADDR SIZE" (hex address, decimal requested size) and a last line "END <count>". The file is
// written as truth.<pid>.tmp and renamed, so a reader that sees truth.<pid> sees all of it.
//
// Design notes:
// - Forwards to glibc's exported __libc_* entry points, never dlsym(RTLD_NEXT), which can allocate
//   and recurse. __libc_reallocarray is GLIBC_PRIVATE, so reallocarray is built on realloc.
// - The table lives in mmap'd memory, never in the heap it describes.
// - Keys are stored XOR-encoded (p ^ KEY_MASK): the encoded value has bits 48..63 set, so the table
//   never looks like a set of pointers to a conservative scanner and cannot act as a root that
//   keeps every block "reachable".
// - One spinlock guards the table. It is a plain atomic, so the signal handler may take it too. A
//   thread interrupted while inside the interposer (its initial-exec TLS guard is set) might hold
//   the lock: the handler then only marks the dump pending, and that thread performs it when it
//   leaves the interposer.
// - The memalign family is not called through relocations inside libc, so libc-internal aligned
//   allocations are not seen; the tcache_perthread_struct is never seen (allocated internally).
// - Re-entrant calls (a __libc_* call coming back into malloc, which glibc 2.36 does not do) are
//   forwarded without being recorded.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../shim/libc_malloc.h"

#define EXPORT __attribute__((visibility("default")))
#define KEY_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

struct slot {
  uintptr_t key;  // pointer ^ KEY_MASK; 0 = empty
  size_t size;    // requested size
};

static struct slot *g_table;
static size_t g_cap;    // power of two
static size_t g_count;
static int g_lock;      // 0 free, 1 held
static int g_dump_pending;
static __thread int t_inside __attribute__((tls_model("initial-exec")));
static char g_dir[512] = "/tmp";

// ---- lock -------------------------------------------------------------------------------------

static void lock(void) {
  for (unsigned spins = 0;; spins++) {
    if (!__atomic_exchange_n(&g_lock, 1, __ATOMIC_ACQUIRE)) return;
    if (spins > 64) sched_yield();
  }
}

static void unlock(void) { __atomic_store_n(&g_lock, 0, __ATOMIC_RELEASE); }

// ---- table: open addressing, linear probing, backward-shift deletion --------------------------

static size_t hash(uintptr_t p) { return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull); }

static struct slot *map_table(size_t cap) {
  void *m = mmap(NULL, cap * sizeof(struct slot), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

static void insert_raw(struct slot *t, size_t cap, uintptr_t key, size_t size) {
  size_t i = hash(key ^ KEY_MASK) & (cap - 1);
  while (t[i].key != 0 && t[i].key != key) i = (i + 1) & (cap - 1);
  if (t[i].key == 0) g_count++;
  t[i].key = key;
  t[i].size = size;
}

// Called with the lock held.
static int ensure_capacity(void) {
  if (g_table && (g_count + 1) * 2 <= g_cap) return 1;
  size_t ncap = g_cap ? g_cap * 2 : (size_t)1 << 16;
  struct slot *nt = map_table(ncap);
  if (!nt) return 0;
  struct slot *old = g_table;
  size_t ocap = g_cap;
  g_count = 0;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].key) insert_raw(nt, ncap, old[i].key, old[i].size);
  g_table = nt;
  g_cap = ncap;
  if (old) munmap(old, ocap * sizeof(struct slot));
  return 1;
}

static void table_put(void *p, size_t size) {
  lock();
  if (ensure_capacity()) insert_raw(g_table, g_cap, (uintptr_t)p ^ KEY_MASK, size);
  unlock();
}

// Removes p; returns 1 and its size if it was present.
static int table_take(void *p, size_t *size) {
  int found = 0;
  lock();
  if (g_table) {
    uintptr_t key = (uintptr_t)p ^ KEY_MASK;
    size_t mask = g_cap - 1, i = hash((uintptr_t)p) & mask;
    while (g_table[i].key != 0 && g_table[i].key != key) i = (i + 1) & mask;
    if (g_table[i].key == key) {
      found = 1;
      if (size) *size = g_table[i].size;
      // Backward shift: move later members of the probe run into the hole when allowed.
      size_t hole = i, j = i;
      for (;;) {
        j = (j + 1) & mask;
        if (g_table[j].key == 0) break;
        size_t home = hash(g_table[j].key ^ KEY_MASK) & mask;
        // j may move to hole iff home is not cyclically in (hole, j].
        if (((j - home) & mask) >= ((j - hole) & mask)) {
          g_table[hole] = g_table[j];
          hole = j;
        }
      }
      g_table[hole].key = 0;
      g_table[hole].size = 0;
      g_count--;
    }
  }
  unlock();
  return found;
}

// ---- dump (async-signal-safe: write, open, rename, getpid only) --------------------------------

static char g_buf[1 << 16];
static size_t g_buf_len;

static void buf_flush(int fd) {
  size_t off = 0;
  while (off < g_buf_len) {
    ssize_t n = write(fd, g_buf + off, g_buf_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  g_buf_len = 0;
}

static void buf_str(int fd, const char *s) {
  while (*s) {
    if (g_buf_len == sizeof g_buf) buf_flush(fd);
    g_buf[g_buf_len++] = *s++;
  }
}

static void buf_num(int fd, uint64_t v, int base) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
    v /= (unsigned)base;
  } while (v);
  char out[25];
  for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = 0;
  buf_str(fd, out);
}

static void path_for(char *out, size_t cap, int pid, int tmp) {
  size_t n = 0;
  for (const char *s = g_dir; *s && n + 1 < cap; s++) out[n++] = *s;
  const char *mid = "/truth.";
  for (const char *s = mid; *s && n + 1 < cap; s++) out[n++] = *s;
  char digits[16];
  int k = 0;
  unsigned v = (unsigned)pid;
  do {
    digits[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (k && n + 1 < cap) out[n++] = digits[--k];
  if (tmp)
    for (const char *s = ".tmp"; *s && n + 1 < cap; s++) out[n++] = *s;
  out[n] = 0;
}

// Called with the lock held.
static void dump_locked(void) {
  int saved = errno;
  char tmp[600], final[600];
  int pid = getpid();
  path_for(tmp, sizeof tmp, pid, 1);
  path_for(final, sizeof final, pid, 0);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    g_buf_len = 0;
    size_t n = 0;
    for (size_t i = 0; i < g_cap; i++) {
      if (!g_table[i].key) continue;
      buf_str(fd, "0x");
      buf_num(fd, g_table[i].key ^ KEY_MASK, 16);
      buf_str(fd, " ");
      buf_num(fd, g_table[i].size, 10);
      buf_str(fd, "\n");
      n++;
    }
    buf_str(fd, "END ");
    buf_num(fd, n, 10);
    buf_str(fd, "\n");
    buf_flush(fd);
    close(fd);
    rename(tmp, final);
  }
  errno = saved;
}

static void on_sigusr2(int sig) {
  (void)sig;
  if (t_inside) {  // this thread may hold the lock: let it dump on its way out
    __atomic_store_n(&g_dump_pending, 1, __ATOMIC_RELEASE);
    return;
  }
  t_inside = 1;
  lock();
  dump_locked();
  unlock();
  t_inside = 0;
}

// ---- entry/exit of every wrapper ---------------------------------------------------------------

static int enter(void) {
  if (t_inside) return 0;
  t_inside = 1;
  return 1;
}

static void leave(void) {
  if (__atomic_load_n(&g_dump_pending, __ATOMIC_ACQUIRE)) {
    lock();
    if (__atomic_exchange_n(&g_dump_pending, 0, __ATOMIC_ACQ_REL)) dump_locked();
    unlock();
  }
  t_inside = 0;
}

// ---- the interposed API ------------------------------------------------------------------------

EXPORT void *malloc(size_t n) {
  if (!enter()) return __libc_malloc(n);
  void *p = __libc_malloc(n);
  if (p) table_put(p, n);
  leave();
  return p;
}

EXPORT void free(void *p) {
  if (!p) return;
  if (!enter()) {
    __libc_free(p);
    return;
  }
  table_take(p, NULL);  // before freeing: once freed, another thread may get p back from malloc
  __libc_free(p);
  leave();
}

EXPORT void *calloc(size_t n, size_t m) {
  if (!enter()) return __libc_calloc(n, m);
  void *p = __libc_calloc(n, m);
  if (p) table_put(p, n * m);  // p != NULL implies no overflow
  leave();
  return p;
}

static void *realloc_recorded(void *p, size_t n) {
  if (!p) {
    void *q = __libc_malloc(n);
    if (q) table_put(q, n);
    return q;
  }
  size_t old = 0;
  int had = table_take(p, &old);
  void *q = __libc_realloc(p, n);
  if (q) table_put(q, n);
  else if (n != 0 && had) table_put(p, old);  // failed: p is still live; n == 0: p was freed
  return q;
}

EXPORT void *realloc(void *p, size_t n) {
  if (!enter()) return __libc_realloc(p, n);
  void *q = realloc_recorded(p, n);
  leave();
  return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}

EXPORT void *memalign(size_t align, size_t n) {
  if (!enter()) return __libc_memalign(align, n);
  void *p = __libc_memalign(align, n);
  if (p) table_put(p, n);
  leave();
  return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0) return EINVAL;
  void *p = memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *valloc(size_t n) {
  if (!enter()) return __libc_valloc(n);
  void *p = __libc_valloc(n);
  if (p) table_put(p, n);
  leave();
  return p;
}

EXPORT void *pvalloc(size_t n) {
  if (!enter()) return __libc_pvalloc(n);
  void *p = __libc_pvalloc(n);
  if (p) table_put(p, n);
  leave();
  return p;
}

// ---- set-up ------------------------------------------------------------------------------------

static void atfork_prepare(void) {
  t_inside = 1;
  lock();
}

static void atfork_parent(void) {
  unlock();
  t_inside = 0;
}

static void atfork_child(void) {
  __atomic_store_n(&g_lock, 0, __ATOMIC_RELEASE);
  t_inside = 0;
}

__attribute__((constructor)) static void truth_init(void) {
  const char *dir = getenv("HEAPSCOPE_TRUTH_DIR");
  if (dir && *dir && strlen(dir) < sizeof g_dir) strcpy(g_dir, dir);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr2;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
