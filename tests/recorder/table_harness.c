// The recorder's table code (shim/recorder_linux.c, built in with -DHS_HARNESS) driven directly under
// AddressSanitizer and UndefinedBehaviorSanitizer, checked against a simple model.
//
// Why a harness and not the LD_PRELOAD library under ASan: ASan replaces malloc itself, so an
// interposer preloaded beside it is either never called or forwards to glibc's __libc_malloc with
// ASan's own allocator in charge of the same program: two heaps, and reports about memory neither
// owns. Here the table memory comes from calloc (HS_HARNESS), so ASan checks every probe, grow and
// backward shift against the table's bounds, and LeakSanitizer checks that a failed start-up frees
// what it mapped. The interposed functions themselves run under UBSan in
// build/test/librecorder_ubsan.so (tests/recorder_c_test.ts).
//
// Prints "ok <test>" per test and "PASS" at the end; exits 1 with "FAIL file:line: ..." otherwise.
#define HS_HARNESS 1
#define HS_FAULT_INJECTION 1
#include "../../shim/recorder_linux.c"

#include <stdarg.h>
#include <sys/wait.h>

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) fail(__LINE__, #cond, __VA_ARGS__);                                               \
  } while (0)

__attribute__((noreturn, format(printf, 3, 4))) static void fail(int line, const char *cond,
                                                                 const char *fmt, ...) {
  fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, line, cond);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* Addresses the model tracks: BASE + 16 i, i < N_ADDR (16: glibc's alignment, as real blocks). */
#define BASE 0x555500000000ull
#define N_ADDR 200000u

static void *addr_of(uint32_t i) { return (void *)(uintptr_t)(BASE + 16ull * i); }

static uint64_t g_rand = 0x2545f4914f6cdd1dull;
static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Back to a fresh process's state: no tables, nothing counted. */
static void reset_recorder(void) {
  if (atomic_load(&g_state) == HS_STATE_READY) release_tables();
  atomic_store(&g_state, HS_STATE_NEW);
  struct hs_recorder fresh = {.magic = HS_MAGIC, .version = HS_VERSION,
                              .header_size = sizeof(struct hs_recorder)};
  memcpy((void *)R, &fresh, sizeof fresh);
  atomic_store(&g_maps_done, 0);
  g_fault_map = 0;
  g_fault_grows = -1;
  g_fault_atfork = 0;
  CHECK(atomic_load(&g_live_maps) == 0, "%ld table mappings left", atomic_load(&g_live_maps));
}

static int lookup(void *p, struct hs_block *out) {
  uint64_t h = mix_ptr((uintptr_t)p);
  struct hs_stripe *s = stripe_of(h);
  struct hs_block *tab = (struct hs_block *)(uintptr_t)s->table;
  uint64_t j = probe_slot(tab, s->cap - 1, h, (uint64_t)(uintptr_t)p ^ HS_KEY);
  if (!tab[j].enc) return 0;
  *out = tab[j];
  return 1;
}

static void check_stripes(uint64_t want_count, uint64_t want_bytes) {
  uint64_t count = 0, bytes = 0;
  for (unsigned i = 0; i < HS_STRIPES; i++) {
    struct hs_stripe *s = &g_stripes[i];
    CHECK(s->count * 2 <= s->cap, "stripe %u holds %lu of %lu slots", i, (unsigned long)s->count,
          (unsigned long)s->cap);
    uint64_t used = 0;
    struct hs_block *tab = (struct hs_block *)(uintptr_t)s->table;
    for (uint64_t j = 0; j < s->cap; j++) used += tab[j].enc != 0;
    CHECK(used == s->count, "stripe %u: %lu slots used, count %lu", i, (unsigned long)used,
          (unsigned long)s->count);
    count += s->count;
    bytes += s->live_bytes;
  }
  CHECK(count == want_count, "%lu blocks in the table, model %lu", (unsigned long)count,
        (unsigned long)want_count);
  CHECK(bytes == want_bytes, "%lu bytes in the table, model %lu", (unsigned long)bytes,
        (unsigned long)want_bytes);
}

/* Start-up failing at every mapping it makes, and at pthread_atfork, releases all it mapped. */
static void test_init_failure(void) {
  /* 4 shared tables + one per stripe: the last failing index is 4 + HS_STRIPES. */
  for (long k = 1; k <= 4 + HS_STRIPES; k++) {
    reset_recorder();
    g_fault_map = k;
    CHECK(ensure_init() == 0, "start-up with mapping %ld failing succeeded", k);
    CHECK(atomic_load(&g_state) == HS_STATE_OFF, "state %d after failure %ld", g_state, k);
    CHECK(R->init_error == HS_INIT_MAP && R->init_errno == ENOMEM, "error %u/%d", R->init_error,
          R->init_errno);
    CHECK(R->ready == 0, "ready after failure %ld", k);
    CHECK(atomic_load(&g_live_maps) == 0, "mapping %ld failed: %ld mappings leaked", k,
          atomic_load(&g_live_maps));
    CHECK(ensure_init() == 0, "a failed start-up is not retried");
  }
  reset_recorder();
  g_fault_atfork = 1;
  CHECK(ensure_init() == 0 && R->init_error == HS_INIT_ATFORK, "atfork failure: %u",
        R->init_error);
  CHECK(atomic_load(&g_live_maps) == 0, "atfork failed: %ld mappings leaked",
        atomic_load(&g_live_maps));
  reset_recorder();
  CHECK(ensure_init() == 1 && R->ready == 1 && R->init_error == 0, "start-up");
  printf("ok init_failure\n");
}

/* Random inserts, replacements and removals against a model; then growth fails and the table
 * fills: every record it cannot hold is dropped and counted, and it never passes half load. */
static void test_table_model(void) {
  static uint64_t size[N_ADDR]; /* 0 = not in the table */
  uint64_t count = 0, bytes = 0, dropped = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) g_fault_grows = 3; /* three more grows, then every one fails */
    for (uint32_t op = 0; op < 400000; op++) {
      uint32_t i = (uint32_t)(rnd(&g_rand) % N_ADDR);
      if (rnd(&g_rand) % (phase == 0 ? 3 : 10) == 0) { /* remove; fewer once growth fails */
        struct hs_block b;
        int had = block_remove(addr_of(i), &b);
        CHECK(had == (size[i] != 0), "remove %u: table %d, model %d", i, had, size[i] != 0);
        if (had) {
          CHECK(b.size == size[i], "removed %u: size %lu, model %lu", i, (unsigned long)b.size,
                (unsigned long)size[i]);
          count--;
          bytes -= size[i];
          size[i] = 0;
        }
      } else { /* insert, or replace a stale entry */
        uint64_t n = 1 + rnd(&g_rand) % 5000;
        struct hs_block b = {(uint64_t)(uintptr_t)addr_of(i) ^ HS_KEY, n, 0, 7, op};
        if (block_put(&b)) {
          if (size[i]) bytes -= size[i];
          else count++;
          bytes += n;
          size[i] = n;
        } else {
          CHECK(size[i] == 0, "a replacement was dropped");
          dropped++;
        }
      }
    }
    check_stripes(count, bytes);
    for (uint32_t i = 0; i < N_ADDR; i++) {
      struct hs_block b;
      int has = lookup(addr_of(i), &b);
      CHECK(has == (size[i] != 0), "address %u: table %d, model %d", i, has, size[i] != 0);
      CHECK(!has || b.size == size[i], "address %u: size %lu, model %lu", i, (unsigned long)b.size,
            (unsigned long)size[i]);
    }
    CHECK(atomic_load(&R->dropped_count) == dropped, "dropped %lu, model %lu",
          (unsigned long)atomic_load(&R->dropped_count), (unsigned long)dropped);
    if (phase == 1) CHECK(dropped > 1000, "growth failed but only %lu records dropped",
                          (unsigned long)dropped);
  }
  /* Empty it: removal works in a table that could not grow, and the counts go back to zero. */
  for (uint32_t i = 0; i < N_ADDR; i++) {
    struct hs_block b;
    if (size[i]) CHECK(block_remove(addr_of(i), &b), "remove %u", i);
    size[i] = 0;
  }
  check_stripes(0, 0);
  printf("ok table_model (%lu dropped)\n", (unsigned long)dropped);
}

struct worker {
  uint32_t first, n;
  uint64_t seed, dropped, count, bytes;
  uint64_t *size;
};

/* One thread's share of the addresses, with its own model. */
static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (uint32_t op = 0; op < 150000; op++) {
    uint32_t i = w->first + (uint32_t)(rnd(&w->seed) % w->n);
    if (rnd(&w->seed) % 4 == 0) {
      struct hs_block b;
      if (block_remove(addr_of(i), &b)) {
        w->count--;
        w->bytes -= w->size[i];
        w->size[i] = 0;
      }
    } else if (!w->size[i]) {
      uint64_t n = 1 + rnd(&w->seed) % 100;
      struct hs_block b = {(uint64_t)(uintptr_t)addr_of(i) ^ HS_KEY, n, 0, 1, op};
      if (block_put(&b)) {
        w->size[i] = n;
        w->count++;
        w->bytes += n;
      } else {
        w->dropped++;
      }
    }
  }
  return NULL;
}

/* Four threads insert and remove at once while growth starts failing part way: no hang, and the
 * table and the dropped count equal the sum of the threads' models. */
static void test_threads(void) {
  reset_recorder();
  CHECK(ensure_init() == 1, "start-up");
  g_fault_grows = 40;
  static uint64_t size[N_ADDR];
  struct worker w[4];
  pthread_t t[4];
  for (int k = 0; k < 4; k++) {
    w[k] = (struct worker){(uint32_t)k * (N_ADDR / 4), N_ADDR / 4, 0x9e3779b97f4a7c15ull * (k + 1),
                           0, 0, 0, size};
    pthread_create(&t[k], NULL, worker_main, &w[k]);
  }
  uint64_t count = 0, bytes = 0, dropped = 0;
  for (int k = 0; k < 4; k++) {
    pthread_join(t[k], NULL);
    count += w[k].count;
    bytes += w[k].bytes;
    dropped += w[k].dropped;
  }
  check_stripes(count, bytes);
  CHECK(atomic_load(&R->dropped_count) == dropped, "dropped %lu, threads %lu",
        (unsigned long)atomic_load(&R->dropped_count), (unsigned long)dropped);
  CHECK(dropped > 0, "growth failed but nothing was dropped");
  printf("ok threads (%lu live, %lu dropped)\n", (unsigned long)count, (unsigned long)dropped);
}

/* Site counters: a put-back block (failed realloc) is live again but not allocated twice. */
static void test_sites(void) {
  reset_recorder();
  CHECK(ensure_init() == 1, "start-up");
  uint64_t pcs[3] = {0x401000, 0x402000, 0x403000};
  uint32_t id = stack_id(pcs, 3);
  CHECK(id == 1 && stack_id(pcs, 3) == id, "stack ids %u", id);
  uint64_t other[2] = {0x401000, 0x409000};
  CHECK(stack_id(other, 2) == 2, "a different stack gets its own id");
  struct hs_block b = {(uint64_t)(uintptr_t)addr_of(5) ^ HS_KEY, 100, id, 1, 0};
  CHECK(block_put(&b), "put");
  site_add(id, 100, 1);
  struct hs_block out;
  CHECK(block_remove(addr_of(5), &out), "remove");
  CHECK(block_put(&out), "put back");
  site_add(out.stack, out.size, 0);
  struct hs_stack *e = stack_entry(id);
  CHECK(e->live_count == 1 && e->live_bytes == 100, "live %lu/%lu", (unsigned long)e->live_count,
        (unsigned long)e->live_bytes);
  CHECK(e->total_count == 1 && e->total_bytes == 100, "total %lu/%lu",
        (unsigned long)e->total_count, (unsigned long)e->total_bytes);
  CHECK(e->peak_count == 1, "peak %lu", (unsigned long)e->peak_count);
  /* A stale entry (same address put again) leaves its site. */
  struct hs_block again = {b.enc, 30, 2, 1, 0};
  CHECK(block_put(&again), "replace");
  CHECK(e->live_count == 0 && e->live_bytes == 0, "stale entry still live at its site");
  printf("ok sites\n");
}

static int resident(const void *at) {
  unsigned char v = 0;
  void *page = (void *)((uintptr_t)at & ~(uintptr_t)4095);
  CHECK(mincore(page, 4096, &v) == 0, "mincore %p", page);
  return v & 1;
}

/* fill_new writes exactly the requested bytes of glibc blocks (ASan does not own them: the bytes
 * past the request are checked by hand), skips mmapped chunks and never-touched pages. */
static void test_fill(void) {
  reset_recorder();
  CHECK(ensure_init() == 1, "start-up");
  g_fill = 1;
  for (size_t n = 1; n < 3000; n += 37) {
    unsigned char *p = __libc_malloc(n);
    size_t usable = (((size_t *)p)[-1] & ~(size_t)7) - 8;
    memset(p, 0x55, usable);
    fill_new(p, n / 3, n);
    for (size_t i = 0; i < usable; i++) {
      int want = i >= n / 3 && i < n ? HS_FILL_BYTE : 0x55;
      CHECK(p[i] == want, "n %zu: byte %zu is %#x, want %#x", n, i, p[i], want);
    }
    __libc_free(p);
  }
  unsigned char *m = __libc_malloc(1 << 20);
  CHECK(((size_t *)m)[-1] & HS_IS_MMAPPED, "1 MiB block not mmapped");
  m[0] = 0x55;
  fill_new(m, 0, 1 << 20);
  CHECK(m[0] == 0x55 && !resident(m + 8192), "mmapped chunk touched");
  __libc_free(m);

  /* 64 pages, pages 3, 10, 11 and 40 touched: those and the partial ends are filled, the rest stay
   * unbacked (zero). */
  unsigned char *r = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
  CHECK(r != MAP_FAILED, "mmap");
  const int touched[] = {3, 10, 11, 40};
  for (int k = 0; k < 4; k++) memset(r + touched[k] * 4096, 0x55, 4096);
  fill_backed((char *)r + 100, (char *)r + 64 * 4096 - 100);
  for (int pg = 0; pg < 64; pg++) {
    int was = pg == 3 || pg == 10 || pg == 11 || pg == 40, end = pg == 0 || pg == 63;
    CHECK(resident(r + pg * 4096) == (was || end), "page %d resident %d", pg,
          resident(r + pg * 4096));
    if (!was && !end) continue;
    for (int i = 0; i < 4096; i++) {
      size_t at = (size_t)pg * 4096 + (size_t)i;
      int want = at < 100 || at >= 64 * 4096 - 100 ? 0 : HS_FILL_BYTE;
      CHECK(r[at] == want, "page %d byte %d is %#x", pg, i, r[at]);
    }
  }
  munmap(r, 64 * 4096);

  g_fill = 0;
  unsigned char *q = __libc_malloc(64);
  memset(q, 0x55, 64);
  fill_new(q, 0, 64);
  CHECK(q[0] == 0x55 && q[63] == 0x55, "HEAPSCOPE_FILL=0 still fills");
  __libc_free(q);
  g_fill = 1;
  /* allocated() fills and records in one go. */
  unsigned char *a = __libc_malloc(40);
  memset(a, 0x55, 40);
  busy();
  CHECK(allocated(a, 40) == a && a[39] == HS_FILL_BYTE, "allocated() did not fill");
  struct hs_block b;
  CHECK(lookup(a, &b) && b.size == 40, "allocated() did not record");
  __libc_free(a);
  printf("ok fill\n");
}

static void program_handler(int sig) { (void)sig; }

/* Which signals may carry snapshots; a refused one installs nothing; a handler the program
 * installs later wins and is noticed. */
static void test_signals(void) {
  const long refused[] = {0, -1, 9, 19, 11, 7, 4, 8, 5, 31, 6, 17, 18, 20, 21, 22, 32, 33, 65, 1000};
  const long allowed[] = {1, 2, 10, 12, 14, 15, 28, 34, 40, 64};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    CHECK(refused_signal(refused[i]) != NULL, "signal %ld allowed", refused[i]);
  }
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
    CHECK(refused_signal(allowed[i]) == NULL, "signal %ld refused", allowed[i]);
  }
  struct sigaction cur;
  setenv("HEAPSCOPE_SNAPSHOT_SIGNAL", "11", 1);
  install_snapshot_signal();
  sigaction(SIGSEGV, NULL, &cur);
  CHECK(R->signal_state == HS_SIG_REFUSED && cur.sa_handler != on_signal && R->snapshot_signal == 11,
        "SIGSEGV: state %u", R->signal_state);
  setenv("HEAPSCOPE_SNAPSHOT_SIGNAL", "40x", 1);
  install_snapshot_signal();
  CHECK(R->signal_state == HS_SIG_REFUSED && R->snapshot_signal == -1, "\"40x\": state %u",
        R->signal_state);
  setenv("HEAPSCOPE_SNAPSHOT_SIGNAL", "40", 1);
  install_snapshot_signal();
  sigaction(40, NULL, &cur);
  CHECK(R->signal_state == HS_SIG_INSTALLED && cur.sa_handler == on_signal, "40: state %u",
        R->signal_state);
  check_snapshot_signal();
  CHECK(R->signal_state == HS_SIG_INSTALLED, "still ours: state %u", R->signal_state);
  signal(40, program_handler);
  check_snapshot_signal();
  CHECK(R->signal_state == HS_SIG_REPLACED, "replaced: state %u", R->signal_state);
  unsetenv("HEAPSCOPE_SNAPSHOT_SIGNAL");
  printf("ok signals\n");
}

/* The dump of a table with drops carries the dropped count; a folder that does not exist gets a
 * message, not a crash. */
static void test_dump(void) {
  char dir[] = "/tmp/hs-harness-XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  strcpy(g_dir, dir);
  atomic_store(&R->dropped_count, 3);
  atomic_store(&R->dropped_bytes, 99);
  write_dump();
  char path[600];
  snprintf(path, sizeof path, "%s/record.%d", dir, getpid());
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "no dump at %s", path);
  unsigned char hdr[96];
  CHECK(fread(hdr, 1, sizeof hdr, f) == sizeof hdr, "short dump");
  fclose(f);
  uint64_t dropped;
  memcpy(&dropped, hdr + 72, 8);
  CHECK(memcmp(hdr, "HSDUMP1", 8) == 0 && hdr[8] == 2 && dropped == 3, "header: dropped %lu",
        (unsigned long)dropped);
  unlink(path);
  rmdir(dir);
  strcpy(g_dir, "/nonexistent/heapscope-harness");
  write_dump(); /* says why on stderr */
  printf("ok dump\n");
}

int main(void) {
  test_init_failure();
  test_table_model();
  test_threads();
  test_sites();
  test_fill();
  test_signals();
  test_dump();
  reset_recorder();
  printf("PASS\n");
  return 0;
}
