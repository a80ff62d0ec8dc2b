// leaky: a victim with known heap shapes that prints, as JSON lines, what a correct analysis must find.
//
// Output on stdout (one JSON value per line, see victim/README.md):
//   {"pid":N}
//   {"expect":{"reachable":[...],"leaked":[...],"cycles":[[...]],"freed":[...],"load":{...}}}
//   READY
// then it blocks until SIGTERM/SIGINT (or, with --stdin, until standard input closes: exit 0).
//
// The hard part is not leaking by accident into a root: every leaked pointer is created inside a
// noinline function, recorded only XOR-encoded (so the record table is not a root), and the stack
// below the blocking frame is cleared before blocking. Helper threads block every signal so that a
// signal frame (which saves all registers) is never pushed onto their stacks.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
// Recorded addresses are stored as `p ^ ENC`: the result has bits 48..63 set, so it can never look
// like a user-space pointer to a conservative scanner.
#define ENC ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

// ---- the record of what must be found -------------------------------------------------------------

enum section { REACHABLE, LEAKED, FREED };

struct record {
  uintptr_t enc;      // address ^ ENC
  size_t size;        // requested size
  enum section section;
  const char *label;
  const char *leak;   // "direct" / "indirect" for LEAKED (set by finish_leak_kinds)
  const char *via;    // REACHABLE: "data", "heap", "tls", "stack", "register"; FREED: "tcache"/"fastbin"
  int cycle;          // > 0: member of cycle number `cycle`
  int held;           // LEAKED: pointed to by a leaked block outside its own cycle
  char zone[16];      // "main-arena", "thread-arena", "mmap": from the chunk header glibc wrote
};

#define MAX_RECORDS 64
static struct record g_records[MAX_RECORDS];
static int g_nrecords;
static pthread_mutex_t g_records_lock = PTHREAD_MUTEX_INITIALIZER;

// Reads the chunk header glibc put before `p` to say which allocator region it came from.
// Elsewhere (macOS) the zone is "unknown".
static NOINLINE void zone_of(const void *p, char out[16]) {
#if defined(__GLIBC__)
  size_t hdr = ((const size_t *)p)[-1];
  const char *z = (hdr & 2) ? "mmap" : (hdr & 4) ? "thread-arena" : "main-arena";
#else
  (void)p;
  const char *z = "unknown";
#endif
  strcpy(out, z);
}

static NOINLINE int record(const void *p, size_t size, enum section s, const char *label,
                           const char *via) {
  pthread_mutex_lock(&g_records_lock);
  int i = g_nrecords++;
  if (i >= MAX_RECORDS) abort();
  struct record *r = &g_records[i];
  r->enc = (uintptr_t)p ^ ENC;
  r->size = size;
  r->section = s;
  r->label = label;
  r->via = via;
  r->leak = NULL;
  r->cycle = 0;
  r->held = 0;
  if (s != FREED) zone_of(p, r->zone);
  else strcpy(r->zone, "");
  pthread_mutex_unlock(&g_records_lock);
  return i;
}

static NOINLINE void *xcalloc(size_t size) {
  void *p = calloc(1, size);
  if (!p) abort();
  return p;
}

// Overwrites the dead part of the stack below the caller, where earlier callees left pointers.
static NOINLINE void clear_stack(void) {
  char buf[64 * 1024];
  memset(buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

// ---- reachable shapes -----------------------------------------------------------------------------

struct node {
  struct node *next;
  struct node *other;
  uintptr_t payload[2];
};

void *g_single;               // a block held by one global pointer
struct node *g_list;          // head of a 3-node list
char *g_interior;             // points 24 bytes into a block, never at its start
void *g_memaligned;           // posix_memalign(64, ...)
void *g_big;                  // mmapped chunk, reachable
void *g_arena_keep;           // allocated by the arena thread, in its own arena
void **g_load;                // --blocks N: array of N pointers
size_t g_load_count;
static __thread void *t_main_tls;  // main thread's static TLS

static NOINLINE void make_reachable(void) {
  g_single = xcalloc(48);
  record(g_single, 48, REACHABLE, "global pointer", "data");

  static const char *labels[3] = {"list node 1 (global head)", "list node 2", "list node 3"};
  struct node *prev = NULL;
  for (int i = 0; i < 3; i++) {
    struct node *n = xcalloc(sizeof *n);
    if (prev) prev->next = n;
    else g_list = n;
    record(n, sizeof *n, REACHABLE, labels[i], i == 0 ? "data" : "heap");
    prev = n;
  }

  char *b = xcalloc(64);
  g_interior = b + 24;
  record(b, 64, REACHABLE, "interior pointer only (global points at +24)", "data");

  void *m = NULL;
  if (posix_memalign(&m, 64, 200) != 0) abort();
  memset(m, 0, 200);
  g_memaligned = m;
  record(m, 200, REACHABLE, "posix_memalign(64, 200)", "data");

  g_big = xcalloc(300 * 1024);
  record(g_big, 300 * 1024, REACHABLE, "big mmapped block (300 KiB)", "data");

  t_main_tls = xcalloc(56);
  record(t_main_tls, 56, REACHABLE, "main thread __thread variable", "tls");
}

// ---- leaked shapes --------------------------------------------------------------------------------

static NOINLINE void make_leaks(void) {
  // Orphan: nothing points to it.
  record(xcalloc(40), 40, LEAKED, "orphan", NULL);

  // Two-block cycle held by nobody.
  struct node *a = xcalloc(sizeof *a), *b = xcalloc(sizeof *b);
  a->next = b;
  b->next = a;
  g_records[record(a, sizeof *a, LEAKED, "2-cycle member a", NULL)].cycle = 1;
  g_records[record(b, sizeof *b, LEAKED, "2-cycle member b", NULL)].cycle = 1;

  // Cycle with a tail: c1 <-> c2, c2 -> t1 -> t2.
  struct node *c1 = xcalloc(sizeof *c1), *c2 = xcalloc(sizeof *c2);
  struct node *t1 = xcalloc(72), *t2 = xcalloc(88);
  c1->next = c2;
  c2->next = c1;
  c2->other = t1;
  t1->next = t2;
  g_records[record(c1, sizeof *c1, LEAKED, "tailed cycle member c1", NULL)].cycle = 2;
  g_records[record(c2, sizeof *c2, LEAKED, "tailed cycle member c2", NULL)].cycle = 2;
  g_records[record(t1, 72, LEAKED, "cycle tail t1", NULL)].held = 1;
  g_records[record(t2, 88, LEAKED, "cycle tail t2", NULL)].held = 1;

  // Orphan parent holding a child.
  struct node *parent = xcalloc(sizeof *parent);
  parent->other = xcalloc(120);
  record(parent, sizeof *parent, LEAKED, "orphan parent", NULL);
  g_records[record(parent->other, 120, LEAKED, "child of orphan parent", NULL)].held = 1;

  // Big mmapped block, leaked.
  record(xcalloc(400 * 1024), 400 * 1024, LEAKED, "big mmapped block (400 KiB)", NULL);

  // posix_memalign block, leaked.
  void *m = NULL;
  if (posix_memalign(&m, 256, 1000) != 0) abort();
  memset(m, 0, 1000);
  record(m, 1000, LEAKED, "posix_memalign(256, 1000)", NULL);
}

// Direct: no leaked block outside its own cycle points to it; for a cycle nothing holds, only the
// lowest-addressed member is direct.
static NOINLINE void finish_leak_kinds(void) {
  for (int i = 0; i < g_nrecords; i++) {
    struct record *r = &g_records[i];
    if (r->section != LEAKED) continue;
    if (r->held) {
      r->leak = "indirect";
    } else if (r->cycle) {
      uintptr_t lowest = UINTPTR_MAX;
      for (int j = 0; j < g_nrecords; j++)
        if (g_records[j].cycle == r->cycle && (g_records[j].enc ^ ENC) < lowest)
          lowest = g_records[j].enc ^ ENC;
      r->leak = (r->enc ^ ENC) == lowest ? "direct" : "indirect";
    } else {
      r->leak = "direct";
    }
  }
}

static NOINLINE void make_load(size_t n) {
  if (n == 0) return;
  g_load = xcalloc(n * sizeof *g_load);
  g_load_count = n;
  for (size_t i = 0; i < n; i++) g_load[i] = xcalloc(16 + (i % 16) * 8);
}

// Freed blocks of one size: the first 7 fill the tcache bin, the rest go to a fastbin. They are not
// allocations and must not be reported at all.
#define NFREED 9
static NOINLINE void make_freed(void) {
  void *p[NFREED];
  for (int i = 0; i < NFREED; i++) p[i] = malloc(40);
  for (int i = 0; i < NFREED; i++) {
    record(p[i], 40, FREED, "freed", i < 7 ? "tcache" : "fastbin");
    free(p[i]);
  }
  memset(p, 0, sizeof p);
}

// ---- threads --------------------------------------------------------------------------------------

static int g_thread_ready[3];
static void *g_stack_handoff;
static void *g_reg_handoff __attribute__((unused));  // used only on Linux x86_64

static NOINLINE void wait_flag(int *flag) {
  struct timespec ts = {0, 1000000};
  while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) nanosleep(&ts, NULL);
}

static NOINLINE void block_forever(void) {
  for (;;) pause();
}

// Thread 0: one block held only by its __thread variable, one only by a local in its blocked frame.
static __thread void *t_tls_block;

static NOINLINE void tls_thread_alloc(void) {
  t_tls_block = xcalloc(136);
  record(t_tls_block, 136, REACHABLE, "pthread __thread variable", "tls");
  g_stack_handoff = xcalloc(152);
  record(g_stack_handoff, 152, REACHABLE, "local variable in a blocked pthread's frame", "stack");
}

static NOINLINE void hold_on_stack(void) {
  clear_stack();
  void *volatile keep = g_stack_handoff;
  g_stack_handoff = NULL;
  __atomic_store_n(&g_thread_ready[0], 1, __ATOMIC_RELEASE);
  for (;;) {
    pause();
    (void)keep;
  }
}

static void *tls_thread(void *arg) {
  (void)arg;
  tls_thread_alloc();
  hold_on_stack();
  return NULL;
}

// Thread 1: its first malloc gives it its own arena; one block leaked there, one reachable.
static NOINLINE void arena_thread_alloc(void) {
  void *churn[64];
  for (int i = 0; i < 64; i++) churn[i] = xcalloc(200 + i * 16);
  // The leak first: the arena's `top` field then points past the reachable block, not into the
  // leak's last 8 bytes (a heap chunk's usable size borrows the next header's prev_size word).
  record(xcalloc(168), 168, LEAKED, "orphan in a thread arena", NULL);
  g_arena_keep = xcalloc(104);
  record(g_arena_keep, 104, REACHABLE, "block in a thread arena (global pointer)", "data");
  for (int i = 0; i < 64; i++) free(churn[i]);
  memset(churn, 0, sizeof churn);
}

static void *arena_thread(void *arg) {
  (void)arg;
  arena_thread_alloc();
  clear_stack();
  __atomic_store_n(&g_thread_ready[1], 1, __ATOMIC_RELEASE);
  block_forever();
  return NULL;
}

// Thread 2: the only reference lives in callee-saved register r12 while the thread sits in
// pause(2) forever. The whole sequence is one asm block so the compiler never spills the value.
// ptrace reads r12 from the saved user registers of the blocked syscall, so this is reliable as
// long as no signal handler runs on this thread (all signals are blocked here). Linux x86_64 only:
// elsewhere the shape is left out.
static NOINLINE void hold_in_register(void) {
#if defined(__linux__) && defined(__x86_64__)
  __asm__ volatile(
      "movq %0, %%r12\n\t"
      "movq $0, %0\n\t"
      "movl $1, %1\n\t"
      "1:\n\t"
      "movl %2, %%eax\n\t"
      "syscall\n\t"
      "jmp 1b\n\t"
      : "+m"(g_reg_handoff), "+m"(g_thread_ready[2])
      : "i"(SYS_pause)
      : "rax", "rcx", "r11", "r12", "memory");
#else
  __atomic_store_n(&g_thread_ready[2], 1, __ATOMIC_RELEASE);
  block_forever();
#endif
}

static void *register_thread(void *arg) {
  (void)arg;
  clear_stack();
  hold_in_register();
  return NULL;
}

static NOINLINE void make_register_block(void) {
#if defined(__linux__) && defined(__x86_64__)
  g_reg_handoff = xcalloc(184);
  record(g_reg_handoff, 184, REACHABLE, "only in register r12 of a blocked pthread", "register");
#endif
}

static NOINLINE void start_threads(void) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // threads inherit "everything blocked"
  void *(*fns[3])(void *) = {tls_thread, arena_thread, register_thread};
  for (int i = 0; i < 3; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, fns[i], NULL) != 0) abort();
    pthread_detach(t);
    wait_flag(&g_thread_ready[i]);  // one at a time: arenas and records stay deterministic
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

// ---- output ---------------------------------------------------------------------------------------

static NOINLINE void print_section(enum section s) {
  int first = 1;
  for (int i = 0; i < g_nrecords; i++) {
    struct record *r = &g_records[i];
    if (r->section != s) continue;
    printf("%s{\"address\":\"0x%lx\",\"size\":%zu,\"label\":\"%s\"", first ? "" : ",",
           (unsigned long)(r->enc ^ ENC), r->size, r->label);
    if (s == LEAKED) printf(",\"leak\":\"%s\"", r->leak);
    if (s == REACHABLE) printf(",\"via\":\"%s\"", r->via);
    if (s == FREED) printf(",\"bin\":\"%s\"", r->via);
    if (s != FREED) printf(",\"zone\":\"%s\"", r->zone);
    printf("}");
    first = 0;
  }
}

static NOINLINE void print_expect(void) {
  printf("{\"expect\":{\"reachable\":[");
  print_section(REACHABLE);
  printf("],\"leaked\":[");
  print_section(LEAKED);
  printf("],\"cycles\":[");
  for (int c = 1; c <= 2; c++) {
    printf("%s[", c == 1 ? "" : ",");
    int first = 1;
    for (int i = 0; i < g_nrecords; i++) {
      if (g_records[i].cycle != c) continue;
      printf("%s\"0x%lx\"", first ? "" : ",", (unsigned long)(g_records[i].enc ^ ENC));
      first = 0;
    }
    printf("]");
  }
  printf("],\"freed\":[");
  print_section(FREED);
  printf("],\"load\":{\"blocks\":%zu,\"array\":\"0x%lx\",\"arraySize\":%zu,\"blockSizes\":"
         "\"16 + (i %% 16) * 8\"}}}\n",
         g_load_count, (unsigned long)(uintptr_t)g_load, g_load_count * sizeof(void *));
  printf("READY\n");
  fflush(stdout);
}

static NOINLINE void wait_for_stdin_eof(void) {
  char buf[256];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

static void usage(void) {
  fprintf(stderr, "usage: leaky [--blocks N] [--stdin]\n"
                  "  --blocks N  also allocate N small reachable blocks held by a global array\n"
                  "  --stdin     exit 0 when standard input closes (default: block until killed)\n");
  exit(2);
}

int main(int argc, char **argv) {
  size_t blocks = 0;
  int until_stdin_eof = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc) {
      char *end;
      errno = 0;
      blocks = strtoull(argv[++i], &end, 10);
      if (errno || *end) usage();
    } else if (strcmp(argv[i], "--stdin") == 0) {
      until_stdin_eof = 1;
    } else {
      usage();
    }
  }
  // The first printf allocates stdout's buffer now, so no large malloc later consolidates the
  // fastbins that make_freed() fills.
  printf("{\"pid\":%d}\n", (int)getpid());
  fflush(stdout);

  make_reachable();
  make_leaks();
  make_load(blocks);
  make_register_block();
  start_threads();
  finish_leak_kinds();
  make_freed();  // last: nothing may malloc 40 bytes (or consolidate) after this
  print_expect();

  clear_stack();
  if (until_stdin_eof) {
    wait_for_stdin_eof();
    return 0;
  }
  for (;;) pause();
}
