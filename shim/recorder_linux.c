// librecorder.so: an LD_PRELOAD malloc recorder that keeps, for every live block, its call stack,
// thread id and time, in tables heapscope reads from the copied memory or from a dump file.
//
// Interposed: malloc, calloc, realloc, free, memalign, posix_memalign, aligned_alloc, valloc,
// pvalloc (C++ new/delete and strdup go through malloc; libc's reallocarray calls realloc). Each
// forwards to glibc's exported __libc_* entry points, never dlsym(RTLD_NEXT), which can allocate
// and recurse (design/glibc-heap.md §7).
//
// Stack capture, decided by measurement (bench/recorder_bench.sh, 10^7 malloc/free pairs on 4
// threads, 2 cores; baseline 0.29 s): libgcc's _Unwind_Backtrace took 29.9 s (it re-parses the
// CIE/FDE of every frame on every call), heaptrack 7.95 s, frame pointers 0.78 s, libunwind's
// unw_backtrace with its per-thread cache of unwind recipes 1.30 s (single runs; best of 3 in the
// bench script: baseline 0.06 s, libunwind 0.84 s = +79 ns per pair, fp 0.52 s, heaptrack 4.06 s).
// Frame pointers are cheapest but not reliable: Debian's libc and most distro libraries are built
// without them, so a walk silently drops the caller of every libc function that allocates (strdup,
// fopen, getline, ...). So the default is libunwind (libunwind.so.8, dlopen'ed from the constructor
// as heaptrack does; the first mallocs, before the constructor, use _Unwind_Backtrace); without
// libunwind it is _Unwind_Backtrace. HEAPSCOPE_UNWIND=fp|dwarf|libunwind forces one (fp is bounded
// by the thread's stack, for programs built with -fno-omit-frame-pointer). Depth: HEAPSCOPE_DEPTH
// (default 32, max 128). The recorder's own frames are dropped by address (its hot code is in
// section "hs_text").
//
// Fill (HEAPSCOPE_FILL=0 turns it off, for measuring): glibc hands out recycled memory as it was,
// so the unwritten part of a new block can hold a pointer from an earlier, freed object, which keeps
// dead structures "reachable" to heapscope's conservative scan. Every new block's requested bytes
// (and the grown part of a realloc: from the old requested size on) are filled with 0xbe, as ASan
// does: 0xbebebebebebebebe is a non-canonical address, and a word that keeps a fill byte in any of
// its top three bytes is at or above 2^47, outside user space, so a partly written word is no
// pointer either.
// Fill on allocation, not on free: glibc writes fd/bk, tcache next/key, chunk headers and footers
// into freed memory after any free-time fill, and a recycled small-bin or consolidated chunk keeps
// them; only a fill when the block is handed out covers every word. It also costs nothing for
// blocks that are never reused. calloc is zeroed already. What is fresh is skipped so that pages the
// program has not touched stay untouched: mmapped chunks (IS_MMAPPED, bit 1 of the size word before
// the block) come zeroed from the kernel and glibc before 2.42 never recycles them; in a heap block
// of HS_FILL_CHECK_MIN bytes or more, whole pages that /proc/self/pagemap shows neither present nor
// swapped read as zeros and are skipped. Cost (bench/recorder_bench.sh: 10^7 malloc/free pairs of
// 16–520 bytes, 2-core VM at load average 8–14, configurations interleaved, best of 3): 4 threads
// +212 ns per pair with the fill, +215 without (noise), heaptrack +399; 1 thread, 2·10^6 pairs,
// best of 6: 168 ns per pair with, 159 without, 14 unrecorded, so the fill adds ~9 ns, the memset
// of the mean 268-byte request, about 6% of the recorder's cost.
//
// Tables (all mmap'd, never in the heap they describe, so they are not heap blocks to heapscope):
// - blocks: HS_STRIPES lock-striped open-addressing hash tables (linear probing, backward-shift
//   deletion, doubling at 1/2 load) of struct hs_block. A stripe never goes past half load: when it
//   cannot grow (mmap failed), a new record is dropped and counted in the exported header
//   (dropped_count, dropped_bytes), so every probe ends at an empty slot. Pointers are stored
//   XOR-encoded with HS_KEY, whose top bits are set: an encoded value is never a user-space address,
//   so the table cannot act as a root for heapscope's conservative scan.
// - stacks: deduplicated call stacks, id → entry, in segments of doubling size (segment k holds
//   HS_SEG0 << k entries, allocated on demand and never moved, so readers never lock). A fixed
//   open-addressing index hash(PCs) → id is filled lock-free with compare-and-swap. Id 0 means "no
//   stack" (recorder re-entered, table full). Each entry carries the site's live/peak/total counts.
// - timeline: live bytes and live blocks sampled every HS_SAMPLE_NS (10 ms, only when the program
//   allocates); when the ring is full every other sample is dropped and the interval doubles, so
//   it always covers the whole run.
// The exported `heapscope_recorder` (struct hs_recorder) holds magic, version, the XOR key and the
// addresses and sizes of those tables: `heapscope <pid>` finds it through the ELF symbol table and
// reads everything from the copied memory (ffi/recorder_table.ts). Fields are only ever appended;
// header_size says which a reader may use.
//
// Threads, fork, exec: stripes are pthread mutexes; per-thread state (tid, re-entrancy guard,
// stack bounds) is initial-exec TLS. pthread_atfork: prepare takes every lock, parent and child
// release them; the child resets its cached tid and stops talking to heapscope (its table is a
// valid copy of the parent's, as its heap is). An exec'd image loads the recorder again
// (LD_PRELOAD is inherited) and starts with fresh tables. When the tables cannot be mapped or
// pthread_atfork fails, start-up undoes what it did, says so on stderr, records why in the header
// (init_error, init_errno) and the program runs unrecorded.
//
// Talking to `heapscope run`: HEAPSCOPE_CONTROL names a Unix socket. The process that heapscope
// started (getppid() == HEAPSCOPE_PARENT_PID) connects at start-up and sends one byte per
// snapshot request: 'E' at exit (from a destructor, after the program's own destructors), 'S' on
// the signal HEAPSCOPE_SNAPSHOT_SIGNAL names (a number; nothing is installed when it is unset).
// Daemons own SIGUSR1/SIGUSR2 (memcached shuts down on USR1, nginx upgrades on USR2), so the user
// picks a signal the program does not use, typically a real-time one. Refused, with a message on
// stderr and no handler: signals that cannot be caught (KILL, STOP), that report a fault in the
// program (SEGV, BUS, ILL, FPE, TRAP, SYS, ABRT: a handler that returns re-runs the faulting
// instruction or hides the crash), that the system sends uninvited (CHLD, CONT, TSTP, TTIN, TTOU),
// glibc's reserved 32 and 33, and numbers that are not signals (cli/signals.ts refuses the same).
// No chaining: when the program installs its own handler for that signal later, the program's
// wins and snapshots on that signal stop. For a daemon that is the safe side: its signal keeps
// exactly the meaning it gave it (the recorder would otherwise have to interpose sigaction and
// emulate SA_SIGINFO, SA_RESETHAND and masks, and still miss sigwait/signalfd users, and the
// program would read back a disposition it never set). The destructor records a replaced handler
// in the header (signal_state 4) so heapscope can say why the snapshots stopped. The handler
// sends the request and waits (poll, 600 s at most) for one byte back: heapscope attaches with
// ptrace and copies the memory meanwhile, so the snapshot is the state at the request. A signal
// that lands while its thread is inside an interposed function (holding a stripe lock or an arena
// lock) is deferred to the end of that call, so the waiting thread never holds a lock the copy
// needs released. The handler only uses write/poll/read, which are async-signal-safe.
//
// Dump file: at exit, when HEAPSCOPE_RECORD_DIR is set, $HEAPSCOPE_RECORD_DIR/record.<pid> (written
// as .tmp and renamed), little-endian:
//   header  8 bytes magic "HSDUMP1\0", u32 version (2), u32 depth, u64 pid, u64 start_ns,
//           u64 now_ns (CLOCK_MONOTONIC), u64 stack_count, u64 block_count, u64 sample_count,
//           u64 maps_length, u64 dropped_count, u64 dropped_bytes, u32 unwinder, u32 fill
//                                                         (96 bytes; version 1 stopped at 72)
//   stacks  stack_count × { u32 id, u32 frames, u64 live_count, live_bytes, peak_count,
//           peak_bytes, total_count, total_bytes, frames × u64 return address }
//   blocks  block_count × { u64 address, u64 size, u32 stack, u32 tid, u64 time_ns }
//   samples sample_count × { u64 time_ns, u64 live_bytes, u64 live_count }
//   maps    maps_length bytes: the text of /proc/self/maps at exit
// Times are CLOCK_MONOTONIC_COARSE nanoseconds (a few ms resolution, ~5 ns to read).
//
// Test builds (mk/recorder.mk, never the shipped library): -DHS_FAULT_INJECTION makes table growth
// fail after HEAPSCOPE_FAULT_GROWS grows, the HEAPSCOPE_FAULT_MAP-th table mapping fail and, with
// HEAPSCOPE_FAULT_ATFORK=1, pthread_atfork fail;
// -DHS_HARNESS leaves out the interposed functions, constructor and destructor and takes table
// memory from calloc, so that tests/recorder/table_harness.c can drive the table code under
// AddressSanitizer (which then checks every table access against the table's bounds).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "libc_malloc.h"

#define EXPORT __attribute__((visibility("default")))
#define HOT __attribute__((section("hs_text"), noinline))
#define TLS __attribute__((tls_model("initial-exec")))

#define HS_MAGIC "HSRECMEM"
#define HS_VERSION 1u
#define HS_KEY 0xd1b54a32d192ed03ull
#define HS_STRIPES 64u
#define HS_STRIPE_BITS 6
#define HS_STRIPE_CAP0 256u
#define HS_SEG0 1024u
#define HS_SEGMENTS 24u
#define HS_INDEX_SLOTS (1u << 18)
#define HS_MAX_DEPTH 128u
#define HS_TIMELINE 4096u
#define HS_SAMPLE_NS 10000000ull
#define HS_STACK_WORDS 8u /* words before the PCs in a stack entry */
/* ASan's malloc fill byte: 0xbebe... is non-canonical on x86_64 and above any aarch64 user address. */
#define HS_FILL_BYTE 0xbe
/* Blocks from this size on ask /proc/self/pagemap which pages are backed before filling: glibc's
 * default M_MMAP_THRESHOLD, so such a block is normally mmapped (skipped outright) and comes from
 * the heap only once the dynamic threshold has risen. Measured on the 2-core CI VM: open + pread +
 * close of pagemap 9.4 µs, memset of 128 KiB already touched 1.4 µs, first touch of a fresh page
 * 16 µs; so the check costs at most ~7x the fill of a recycled block and saves 32 page faults and
 * 128 KiB of RSS per fresh one. */
#define HS_FILL_CHECK_MIN (128u << 10)
/* pagemap entries per pread: 1 KiB on the stack, 512 KiB of memory with 4 KiB pages. */
#define HS_PAGEMAP_BATCH 128u
#define HS_PM_PRESENT (1ull << 63)
#define HS_PM_SWAP (1ull << 62)
/* glibc's IS_MMAPPED bit in the size word before a block. */
#define HS_IS_MMAPPED 2u

/* One live block: 32 bytes. */
struct hs_block {
  uint64_t enc;   /* address ^ HS_KEY; 0 = empty slot */
  uint64_t size;  /* requested size */
  uint32_t stack; /* stack id */
  uint32_t tid;
  uint64_t time_ns;
};

/* One stripe: 128 bytes; the fields the reader needs come first at fixed offsets. */
struct hs_stripe {
  uint64_t table;      /* struct hs_block * */
  uint64_t cap;        /* slots, a power of two */
  uint64_t count;      /* live blocks, at most cap / 2 */
  uint64_t live_bytes; /* their requested bytes */
  pthread_mutex_t lock;
  char pad[128 - 32 - sizeof(pthread_mutex_t)];
};
_Static_assert(sizeof(struct hs_stripe) == 128, "stripe is 128 bytes");

/* Stack entry: HS_STACK_WORDS words, then `depth` PCs (return addresses). */
struct hs_stack {
  uint64_t hash;
  uint32_t frames;
  uint32_t published;
  _Atomic uint64_t live_count, live_bytes, peak_count, peak_bytes, total_count, total_bytes;
  uint64_t pcs[];
};

struct hs_sample {
  uint64_t time_ns, live_bytes, live_count;
};

/* signal_state values. */
enum { HS_SIG_NONE, HS_SIG_INSTALLED, HS_SIG_REFUSED, HS_SIG_FAILED, HS_SIG_REPLACED };
/* init_error values. */
enum { HS_INIT_OK, HS_INIT_MAP, HS_INIT_ATFORK };

/* What heapscope reads; every field has a fixed offset (u64 for pointers). */
struct hs_recorder {
  char magic[8];                /* 0  "HSRECMEM" */
  uint32_t version;             /* 8 */
  uint32_t header_size;         /* 12 sizeof(struct hs_recorder) */
  uint64_t key;                 /* 16 XOR key of block addresses */
  uint32_t depth;               /* 24 PCs per stack entry */
  uint32_t stripe_count;        /* 28 */
  uint64_t stripes;             /* 32 struct hs_stripe[stripe_count] */
  uint32_t stripe_size;         /* 40 */
  uint32_t block_size;          /* 44 */
  uint64_t segments;            /* 48 uint64_t[segment_count], segment k holds seg0 << k entries */
  uint32_t segment_count;       /* 56 */
  uint32_t seg0;                /* 60 */
  uint32_t stack_size;          /* 64 bytes per stack entry */
  uint32_t ready;               /* 68 1 once the tables exist */
  _Atomic uint64_t stack_count; /* 72 ids handed out, id 0 included */
  uint64_t timeline;            /* 80 struct hs_sample[timeline_cap] */
  uint32_t timeline_cap;        /* 88 */
  uint32_t timeline_count;      /* 92 */
  uint64_t timeline_interval;   /* 96 ns */
  uint64_t start_ns;            /* 104 */
  _Atomic uint64_t now_ns;      /* 112 last time seen (sample, request, exit) */
  uint64_t pid;                 /* 120 */
  uint32_t unwinder;            /* 128 0 dwarf, 1 frame pointers, 2 libunwind */
  uint32_t requests;            /* 132 snapshot requests sent to heapscope */
  /* header_size >= 176 from here on */
  _Atomic uint64_t dropped_count; /* 136 allocations the block table could not hold (never recorded) */
  _Atomic uint64_t dropped_bytes; /* 144 their requested bytes */
  int32_t snapshot_signal;        /* 152 signal number asked for (0 none) */
  uint32_t signal_state;          /* 156 HS_SIG_* */
  uint32_t fill;                  /* 160 1 when new blocks' requested bytes are filled */
  uint32_t init_error;            /* 164 HS_INIT_*: why start-up failed (ready stays 0) */
  int32_t init_errno;             /* 168 errno of that failure */
  uint32_t reserved;              /* 172 */
  /* header_size >= 184 from here on */
  uint64_t exit_sp; /* 176 at the exit snapshot: where the stack of the recorder's destructor's
                       caller starts; below it only the recorder's frames (0 otherwise) */
};
_Static_assert(sizeof(struct hs_recorder) == 184, "header layout read by ffi/recorder_table.ts");

EXPORT struct hs_recorder heapscope_recorder = {
    .magic = HS_MAGIC, .version = HS_VERSION, .header_size = sizeof(struct hs_recorder)};

static struct hs_recorder *const R = &heapscope_recorder;
static struct hs_stripe *g_stripes;
static uint64_t *g_segments;
static _Atomic uint32_t *g_index;
static struct hs_sample *g_timeline;
static pthread_mutex_t g_seg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_timeline_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t g_last_sample;
static _Atomic int g_state; /* HS_STATE_* */
enum { HS_STATE_NEW, HS_STATE_STARTING, HS_STATE_READY, HS_STATE_OFF };
static unsigned g_depth = 32;
static int g_use_fp;
/* libunwind's unw_backtrace, when libunwind.so.8 can be dlopen'ed (from the constructor). */
static int (*g_unw_backtrace)(void **, int);
static int g_control_fd = -1;
static char g_dir[512];
/* Fill state: on until start-up reads HEAPSCOPE_FILL (blocks allocated before that are filled). */
static int g_fill = 1;
static int g_mmapped_fresh = 1; /* glibc < 2.42: an mmapped chunk is never handed out twice */
static uintptr_t g_page = 4096;
static int g_signal; /* the snapshot signal installed, 0 none */

static __thread int t_inside TLS;
/* Interposed calls in progress on this thread, and a snapshot request deferred to their end. */
static __thread volatile int t_busy TLS;
static __thread volatile sig_atomic_t t_pending TLS;
static __thread uint32_t t_tid TLS;
static __thread uintptr_t t_stack_lo TLS, t_stack_hi TLS;

extern char __start_hs_text[], __stop_hs_text[];

#ifdef HS_FAULT_INJECTION
static long g_fault_grows = -1; /* stripe grows that succeed before every further one fails */
static long g_fault_map;        /* the n-th table mapping fails (1-based); 0 never */
static int g_fault_atfork;      /* pthread_atfork "fails" with ENOMEM */
static _Atomic long g_maps_done;
#endif
#ifdef HS_HARNESS
static _Atomic long g_live_maps; /* table mappings not yet released */
#endif

/* ---- memory for the tables ---- */

static void *hs_map(size_t bytes) {
#ifdef HS_FAULT_INJECTION
  if (g_fault_map > 0 && atomic_fetch_add(&g_maps_done, 1) + 1 == g_fault_map) {
    errno = ENOMEM;
    return NULL;
  }
#endif
#ifdef HS_HARNESS
  void *p = calloc(1, bytes);
  if (p) atomic_fetch_add(&g_live_maps, 1);
  return p;
#else
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
#endif
}

static void hs_unmap(void *p, size_t bytes) {
  if (!p) return;
#ifdef HS_HARNESS
  (void)bytes;
  atomic_fetch_sub(&g_live_maps, 1);
  free(p);
#else
  munmap(p, bytes);
#endif
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t current_tid(void) {
  if (t_tid == 0) t_tid = (uint32_t)syscall(SYS_gettid);
  return t_tid;
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);
static void on_signal(int sig);

static unsigned env_uint(const char *name, unsigned dflt, unsigned lo, unsigned hi) {
  const char *s = getenv(name);
  if (!s || !*s) return dflt;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || v < lo || v > hi) return dflt;
  return (unsigned)v;
}

/* ---- messages on stderr (no malloc, no stdio: they run inside malloc and at exit) ---- */

static void put_num(char *dst, uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0) *dst++ = tmp[--n];
  *dst = 0;
}

static size_t append(char *line, size_t n, size_t cap, const char *s) {
  size_t len = strlen(s);
  if (len > cap - n) len = cap - n;
  memcpy(line + n, s, len);
  return n + len;
}

/* Writes "heapscope recorder: " and the NULL-terminated list of strings to stderr as one line. */
static void say(const char *first, ...) {
  char line[1024];
  size_t cap = sizeof line - 1, n = append(line, 0, cap, "heapscope recorder: ");
  __builtin_va_list ap;
  __builtin_va_start(ap, first);
  for (const char *s = first; s; s = __builtin_va_arg(ap, const char *)) n = append(line, n, cap, s);
  __builtin_va_end(ap);
  line[n++] = '\n';
  ssize_t w;
  do w = write(2, line, n);
  while (w < 0 && errno == EINTR);
}

static const char *errno_name(int e) {
  const char *s = strerrorname_np(e);
  return s ? s : "unknown error";
}

/* ---- snapshot signal ---- */

/* Why `sig` cannot carry snapshot requests, or NULL when it can. */
static const char *refused_signal(long sig) {
  switch (sig) {
  case SIGKILL:
  case SIGSTOP:
    return "it cannot be caught";
  case SIGSEGV:
  case SIGBUS:
  case SIGILL:
  case SIGFPE:
  case SIGTRAP:
  case SIGSYS:
  case SIGABRT:
    return "it reports a fault in the program (a handler that returns re-runs the faulting "
           "instruction or hides the crash)";
  case SIGCHLD:
  case SIGCONT:
  case SIGTSTP:
  case SIGTTIN:
  case SIGTTOU:
    return "the system sends it (child status, job control): snapshots would come uninvited and "
           "the program's own handling would change";
  default:
    break;
  }
  if (sig < 1 || sig > SIGRTMAX) return "it is not a signal number";
  if (sig >= 32 && sig < SIGRTMIN) return "glibc reserves it for its thread library";
  return NULL;
}

/* Installs the snapshot handler on HEAPSCOPE_SNAPSHOT_SIGNAL, or says why not. */
static void install_snapshot_signal(void) {
  const char *s = getenv("HEAPSCOPE_SNAPSHOT_SIGNAL");
  if (!s || !*s) return;
  char *end;
  errno = 0;
  long sig = strtol(s, &end, 10);
  const char *why = (*end || errno) ? "it is not a signal number" : refused_signal(sig);
  R->snapshot_signal = *end || errno || sig < 0 || sig > 1024 ? -1 : (int32_t)sig;
  char num[24], rtmin[24], example[24];
  put_num(rtmin, (uint64_t)SIGRTMIN);
  put_num(example, (uint64_t)SIGRTMIN + 6);
  const char *hint = "Hint: choose a signal the program does not use, e.g. a real-time one: ";
  if (why) {
    R->signal_state = HS_SIG_REFUSED;
    say("HEAPSCOPE_SNAPSHOT_SIGNAL=\"", s, "\" refused: ", why, "; no snapshot handler installed",
        "\n", hint, example, " (SIGRTMIN+6; SIGRTMIN is ", rtmin, " here)", NULL);
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* the program's interrupted system calls go on as without us */
  sigemptyset(&sa.sa_mask);
  if (sigaction((int)sig, &sa, NULL) != 0) {
    int e = errno;
    R->signal_state = HS_SIG_FAILED;
    put_num(num, (uint64_t)sig);
    say("cannot install the snapshot handler for signal ", num, ": sigaction failed (",
        errno_name(e), ")\n", hint, example, NULL);
    return;
  }
  g_signal = (int)sig;
  R->signal_state = HS_SIG_INSTALLED;
}

/* At exit: has the program put its own handler on the snapshot signal since? */
static void check_snapshot_signal(void) {
  struct sigaction cur;
  if (g_signal && sigaction(g_signal, NULL, &cur) == 0 && cur.sa_handler != on_signal) {
    R->signal_state = HS_SIG_REPLACED;
  }
}

static void connect_control(void) {
  const char *path = getenv("HEAPSCOPE_CONTROL");
  const char *parent = getenv("HEAPSCOPE_PARENT_PID");
  if (!path || !parent || (pid_t)strtol(parent, NULL, 10) != getppid()) return;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return;
  }
  g_control_fd = fd;
  install_snapshot_signal();
}

/* ---- start-up ---- */

/* Unmap every table (start-up failed part way; the test harness starts over). */
static void release_tables(void) {
  if (g_stripes) {
    for (unsigned i = 0; i < HS_STRIPES; i++) {
      hs_unmap((void *)(uintptr_t)g_stripes[i].table, sizeof(struct hs_block) * g_stripes[i].cap);
    }
  }
  hs_unmap(g_stripes, sizeof(struct hs_stripe) * HS_STRIPES);
  for (unsigned k = 0; g_segments && k < HS_SEGMENTS; k++) {
    hs_unmap((void *)(uintptr_t)g_segments[k], (size_t)R->stack_size * ((size_t)HS_SEG0 << k));
  }
  hs_unmap(g_segments, sizeof(uint64_t) * HS_SEGMENTS);
  hs_unmap((void *)g_index, sizeof(uint32_t) * HS_INDEX_SLOTS);
  hs_unmap(g_timeline, sizeof(struct hs_sample) * HS_TIMELINE);
  g_stripes = NULL;
  g_segments = NULL;
  g_index = NULL;
  g_timeline = NULL;
}

/* Start-up failed: nothing stays mapped, the program runs unrecorded, the header says why. */
static int init_failed(int stage, int e) {
  release_tables();
  R->init_error = (uint32_t)stage;
  R->init_errno = e;
  char pid[24];
  put_num(pid, (uint64_t)getpid());
  if (stage == HS_INIT_MAP) {
    say("cannot start in process ", pid, ": mapping its tables failed (", errno_name(e),
        "); the program runs unrecorded\nHint: free memory or raise the address-space limit "
        "(ulimit -v), then run it again",
        NULL);
  } else {
    say("cannot start in process ", pid, ": pthread_atfork failed (", errno_name(e),
        "); the program runs unrecorded (a fork while a table lock is held would deadlock the "
        "child)\nHint: free memory, then run it again",
        NULL);
  }
  atomic_store_explicit(&g_state, HS_STATE_OFF, memory_order_release);
  t_inside--;
  return 0;
}

/* glibc 2.42 added large tcache bins; from then on a freed mmapped chunk may be handed out again. */
static int mmapped_chunks_fresh(void) {
  const char *v = gnu_get_libc_version();
  char *end;
  long major = strtol(v, &end, 10), minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
  return major < 2 || (major == 2 && minor < 42);
}

/* Create the tables. Runs once, from the constructor or from the first malloc, whichever is first. */
static int ensure_init(void) {
  int s = atomic_load_explicit(&g_state, memory_order_acquire);
  if (s == HS_STATE_READY) return 1;
  if (s != HS_STATE_NEW) return 0; /* someone else is on it, or it failed */
  int expected = HS_STATE_NEW;
  if (!atomic_compare_exchange_strong(&g_state, &expected, HS_STATE_STARTING)) return 0;
  t_inside++;
#ifdef HS_FAULT_INJECTION
  const char *fg = getenv("HEAPSCOPE_FAULT_GROWS"), *fm = getenv("HEAPSCOPE_FAULT_MAP");
  if (fg && *fg) g_fault_grows = strtol(fg, NULL, 10);
  if (fm && *fm) g_fault_map = strtol(fm, NULL, 10);
  const char *fa = getenv("HEAPSCOPE_FAULT_ATFORK");
  if (fa && *fa) g_fault_atfork = strcmp(fa, "1") == 0;
#endif
  g_depth = env_uint("HEAPSCOPE_DEPTH", 32, 1, HS_MAX_DEPTH);
  const char *uw = getenv("HEAPSCOPE_UNWIND");
  g_use_fp = uw && strcmp(uw, "fp") == 0;
  const char *fill = getenv("HEAPSCOPE_FILL");
  g_fill = !(fill && strcmp(fill, "0") == 0);
  g_mmapped_fresh = mmapped_chunks_fresh();
  long page = sysconf(_SC_PAGESIZE);
  if (page > 0) g_page = (uintptr_t)page;
  const char *dir = getenv("HEAPSCOPE_RECORD_DIR");
  if (dir && strlen(dir) < sizeof g_dir - 32) strcpy(g_dir, dir);
  g_stripes = hs_map(sizeof(struct hs_stripe) * HS_STRIPES);
  g_segments = hs_map(sizeof(uint64_t) * HS_SEGMENTS);
  g_index = hs_map(sizeof(uint32_t) * HS_INDEX_SLOTS);
  g_timeline = hs_map(sizeof(struct hs_sample) * HS_TIMELINE);
  if (!g_stripes || !g_segments || !g_index || !g_timeline) return init_failed(HS_INIT_MAP, errno);
  for (unsigned i = 0; i < HS_STRIPES; i++) {
    pthread_mutex_init(&g_stripes[i].lock, NULL);
    struct hs_block *t = hs_map(sizeof(struct hs_block) * HS_STRIPE_CAP0);
    if (!t) return init_failed(HS_INIT_MAP, errno);
    g_stripes[i].table = (uint64_t)(uintptr_t)t;
    g_stripes[i].cap = HS_STRIPE_CAP0;
  }
  /* Last, and checked: without it a fork while a table lock is held would deadlock the child. */
#ifdef HS_FAULT_INJECTION
  int e = g_fault_atfork ? ENOMEM : pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
#else
  int e = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
#endif
  if (e != 0) return init_failed(HS_INIT_ATFORK, e);
  R->key = HS_KEY;
  R->depth = g_depth;
  R->stripe_count = HS_STRIPES;
  R->stripes = (uint64_t)(uintptr_t)g_stripes;
  R->stripe_size = sizeof(struct hs_stripe);
  R->block_size = sizeof(struct hs_block);
  R->segments = (uint64_t)(uintptr_t)g_segments;
  R->segment_count = HS_SEGMENTS;
  R->seg0 = HS_SEG0;
  R->stack_size = (uint32_t)(sizeof(uint64_t) * (HS_STACK_WORDS + g_depth));
  atomic_store(&R->stack_count, 1); /* id 0: no stack */
  R->timeline = (uint64_t)(uintptr_t)g_timeline;
  R->timeline_cap = HS_TIMELINE;
  R->timeline_interval = HS_SAMPLE_NS;
  R->start_ns = now_ns();
  atomic_store(&R->now_ns, R->start_ns);
  R->pid = (uint64_t)getpid();
  R->unwinder = g_use_fp ? 1 : 0;
  R->fill = (uint32_t)g_fill;
  connect_control();
  R->ready = 1;
  atomic_store_explicit(&g_state, HS_STATE_READY, memory_order_release);
  t_inside--;
  return 1;
}

/* ---- stack capture ---- */

struct uw_state {
  uint64_t *pcs;
  unsigned n, max;
};

static _Unwind_Reason_Code uw_step(struct _Unwind_Context *ctx, void *arg) {
  struct uw_state *st = arg;
  uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  if (ip >= (uintptr_t)__start_hs_text && ip < (uintptr_t)__stop_hs_text) return _URC_NO_REASON;
  if (st->n >= st->max) return _URC_END_OF_STACK;
  st->pcs[st->n++] = ip;
  return _URC_NO_REASON;
}

static void stack_bounds(void) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      t_stack_lo = (uintptr_t)addr;
      t_stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
  }
  if (t_stack_hi == 0) t_stack_hi = 1; /* unknown: the walk stops at once */
}

/* Frame-pointer walk from the caller of the interposed function; every frame must lie above the
 * previous one and inside this thread's stack. */
HOT static unsigned fp_walk(uint64_t *pcs, unsigned max) {
  if (t_stack_hi == 0) stack_bounds();
  uintptr_t *fp = __builtin_frame_address(0);
  unsigned n = 0;
  while (n < max) {
    uintptr_t f = (uintptr_t)fp;
    if (f < t_stack_lo || f + 16 > t_stack_hi || (f & 7)) break;
    uintptr_t ret = fp[1];
    uintptr_t next = fp[0];
    if (ret < 4096) break;
    if (!(ret >= (uintptr_t)__start_hs_text && ret < (uintptr_t)__stop_hs_text)) pcs[n++] = ret;
    if (next <= f) break;
    fp = (uintptr_t *)next;
  }
  return n;
}

HOT static unsigned capture(uint64_t *pcs) {
  if (g_use_fp) return fp_walk(pcs, g_depth);
  if (g_unw_backtrace) {
    void *buf[HS_MAX_DEPTH + 8];
    int got = g_unw_backtrace(buf, (int)g_depth + 8);
    unsigned n = 0;
    for (int i = 0; i < got && n < g_depth; i++) {
      uintptr_t ip = (uintptr_t)buf[i];
      if (ip >= (uintptr_t)__start_hs_text && ip < (uintptr_t)__stop_hs_text) continue;
      pcs[n++] = ip;
    }
    return n;
  }
  struct uw_state st = {pcs, 0, g_depth};
  _Unwind_Backtrace(uw_step, &st);
  return st.n;
}

/* ---- stack table ---- */

static struct hs_stack *stack_entry(uint32_t id) {
  uint32_t q = id / HS_SEG0 + 1;
  unsigned k = 31u - (unsigned)__builtin_clz(q);
  uint64_t base = g_segments[k];
  if (!base) return NULL;
  uint64_t off = (uint64_t)id - (uint64_t)HS_SEG0 * ((1ull << k) - 1);
  return (struct hs_stack *)(uintptr_t)(base + off * R->stack_size);
}

static struct hs_stack *stack_entry_alloc(uint32_t id) {
  uint32_t q = id / HS_SEG0 + 1;
  unsigned k = 31u - (unsigned)__builtin_clz(q);
  if (k >= HS_SEGMENTS) return NULL;
  if (!__atomic_load_n(&g_segments[k], __ATOMIC_ACQUIRE)) {
    pthread_mutex_lock(&g_seg_lock);
    if (!g_segments[k]) {
      void *seg = hs_map((size_t)R->stack_size * ((size_t)HS_SEG0 << k));
      if (seg) __atomic_store_n(&g_segments[k], (uint64_t)(uintptr_t)seg, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_seg_lock);
    if (!g_segments[k]) return NULL;
  }
  return stack_entry(id);
}

static uint64_t hash_pcs(const uint64_t *pcs, unsigned n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  for (unsigned i = 0; i < n; i++) {
    h ^= pcs[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return h | 1;
}

/* Id of this stack, inserting it if new. Lock-free: an entry is filled before its id is published
 * in the index with a CAS; a loser's entry stays unpublished (published = 0). At most
 * HS_INDEX_SLOTS / 2 probes: the index is never more than half full. */
HOT static uint32_t stack_id(const uint64_t *pcs, unsigned n) {
  uint64_t h = hash_pcs(pcs, n);
  uint32_t mine = 0;
  for (uint32_t probe = 0, slot = (uint32_t)(h >> 20) & (HS_INDEX_SLOTS - 1);
       probe < HS_INDEX_SLOTS / 2; probe++, slot = (slot + 1) & (HS_INDEX_SLOTS - 1)) {
    uint32_t id = atomic_load_explicit(&g_index[slot], memory_order_acquire);
    if (id == 0) {
      if (mine == 0) {
        uint64_t next = atomic_fetch_add(&R->stack_count, 1);
        if (next >= HS_INDEX_SLOTS / 2) return 0; /* table full */
        struct hs_stack *e = stack_entry_alloc((uint32_t)next);
        if (!e) return 0;
        e->hash = h;
        e->frames = n;
        memcpy(e->pcs, pcs, n * sizeof *pcs);
        mine = (uint32_t)next;
      }
      uint32_t zero = 0;
      if (atomic_compare_exchange_strong_explicit(&g_index[slot], &zero, mine, memory_order_acq_rel,
                                                  memory_order_acquire)) {
        stack_entry(mine)->published = 1;
        return mine;
      }
      id = zero;
    }
    struct hs_stack *e = stack_entry(id);
    if (e && e->hash == h && e->frames == n && memcmp(e->pcs, pcs, n * sizeof *pcs) == 0) return id;
  }
  return 0;
}

/* A block became live at its site; `allocated` says whether it is a new allocation (counted in the
 * totals) or a block put back (a failed realloc's old block, counted once already). */
static void site_add(uint32_t id, uint64_t size, int allocated) {
  struct hs_stack *e = stack_entry(id);
  if (!e) return;
  uint64_t c = atomic_fetch_add_explicit(&e->live_count, 1, memory_order_relaxed) + 1;
  uint64_t b = atomic_fetch_add_explicit(&e->live_bytes, size, memory_order_relaxed) + size;
  if (allocated) {
    atomic_fetch_add_explicit(&e->total_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->total_bytes, size, memory_order_relaxed);
  }
  uint64_t p = atomic_load_explicit(&e->peak_count, memory_order_relaxed);
  while (c > p && !atomic_compare_exchange_weak_explicit(&e->peak_count, &p, c, memory_order_relaxed,
                                                         memory_order_relaxed)) {
  }
  p = atomic_load_explicit(&e->peak_bytes, memory_order_relaxed);
  while (b > p && !atomic_compare_exchange_weak_explicit(&e->peak_bytes, &p, b, memory_order_relaxed,
                                                         memory_order_relaxed)) {
  }
}

static void site_remove(uint32_t id, uint64_t size) {
  struct hs_stack *e = stack_entry(id);
  if (!e) return;
  atomic_fetch_sub_explicit(&e->live_count, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&e->live_bytes, size, memory_order_relaxed);
}

/* ---- block table ---- */

static inline uint64_t mix_ptr(uintptr_t p) {
  uint64_t h = (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 31);
}

static inline struct hs_stripe *stripe_of(uint64_t h) {
  return &g_stripes[h >> (64 - HS_STRIPE_BITS)];
}

/* Double the stripe's table (its lock held); 0 when the new table cannot be mapped. */
static int stripe_grow(struct hs_stripe *s) {
#ifdef HS_FAULT_INJECTION
  if (g_fault_grows >= 0 && __atomic_fetch_sub(&g_fault_grows, 1, __ATOMIC_RELAXED) <= 0) {
    __atomic_store_n(&g_fault_grows, 0, __ATOMIC_RELAXED);
    return 0;
  }
#endif
  uint64_t cap = s->cap * 2;
  struct hs_block *nt = hs_map(sizeof(struct hs_block) * cap);
  if (!nt) return 0;
  struct hs_block *old = (struct hs_block *)(uintptr_t)s->table;
  for (uint64_t i = 0; i < s->cap; i++) {
    if (!old[i].enc) continue;
    uint64_t j = mix_ptr((uintptr_t)(old[i].enc ^ HS_KEY)) & (cap - 1);
    while (nt[j].enc) j = (j + 1) & (cap - 1);
    nt[j] = old[i];
  }
  uint64_t oldcap = s->cap;
  __atomic_store_n(&s->table, (uint64_t)(uintptr_t)nt, __ATOMIC_RELEASE);
  s->cap = cap;
  hs_unmap(old, sizeof(struct hs_block) * oldcap);
  return 1;
}

/* Slot of `enc` in the table, or of the empty slot that ends its probe chain. Terminates because
 * a stripe is never more than half full. */
static inline uint64_t probe_slot(const struct hs_block *tab, uint64_t mask, uint64_t h,
                                  uint64_t enc) {
  uint64_t j = h & mask;
  while (tab[j].enc && tab[j].enc != enc) j = (j + 1) & mask;
  return j;
}

/* Store b (b->enc set) in its stripe; 1 when stored. A record the stripe cannot hold (half full and
 * growing failed) is dropped and counted in the header: past half load probes would get long, and
 * a full table would make them endless. An entry already there for the same address (freed behind
 * our back) is replaced and taken off its site. O(1) expected. */
HOT static int block_put(const struct hs_block *b) {
  uint64_t h = mix_ptr((uintptr_t)(b->enc ^ HS_KEY));
  struct hs_stripe *s = stripe_of(h);
  pthread_mutex_lock(&s->lock);
  int full = (s->count + 1) * 2 > s->cap && !stripe_grow(s);
  struct hs_block *tab = (struct hs_block *)(uintptr_t)s->table;
  uint64_t j = probe_slot(tab, s->cap - 1, h, b->enc);
  struct hs_block stale = tab[j];
  if (stale.enc) {
    s->count--;
    s->live_bytes -= stale.size;
  } else if (full) {
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add_explicit(&R->dropped_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&R->dropped_bytes, b->size, memory_order_relaxed);
    return 0;
  }
  tab[j] = *b;
  s->count++;
  s->live_bytes += b->size;
  pthread_mutex_unlock(&s->lock);
  if (stale.enc) site_remove(stale.stack, stale.size);
  return 1;
}

/* Remove p; returns 1 and its entry when it was recorded. */
HOT static int block_remove(void *p, struct hs_block *out) {
  uint64_t h = mix_ptr((uintptr_t)p);
  struct hs_stripe *s = stripe_of(h);
  uint64_t enc = (uint64_t)(uintptr_t)p ^ HS_KEY;
  pthread_mutex_lock(&s->lock);
  struct hs_block *tab = (struct hs_block *)(uintptr_t)s->table;
  uint64_t mask = s->cap - 1, j = probe_slot(tab, mask, h, enc);
  if (!tab[j].enc) {
    pthread_mutex_unlock(&s->lock);
    return 0;
  }
  *out = tab[j];
  s->count--;
  s->live_bytes -= tab[j].size;
  /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
  uint64_t hole = j, k = j;
  for (;;) {
    k = (k + 1) & mask;
    if (!tab[k].enc) break;
    uint64_t home = mix_ptr((uintptr_t)(tab[k].enc ^ HS_KEY)) & mask;
    if (((k - home) & mask) >= ((k - hole) & mask)) {
      tab[hole] = tab[k];
      hole = k;
    }
  }
  tab[hole].enc = 0;
  pthread_mutex_unlock(&s->lock);
  site_remove(out->stack, out->size);
  return 1;
}

/* ---- timeline ---- */

static void take_sample(uint64_t t) {
  if (pthread_mutex_trylock(&g_timeline_lock) != 0) return;
  uint64_t bytes = 0, count = 0;
  for (unsigned i = 0; i < HS_STRIPES; i++) {
    bytes += __atomic_load_n(&g_stripes[i].live_bytes, __ATOMIC_RELAXED);
    count += __atomic_load_n(&g_stripes[i].count, __ATOMIC_RELAXED);
  }
  if (R->timeline_count == HS_TIMELINE) { /* full: keep every other sample, halve the rate */
    for (unsigned i = 0; i < HS_TIMELINE / 2; i++) g_timeline[i] = g_timeline[2 * i + 1];
    R->timeline_count = HS_TIMELINE / 2;
    R->timeline_interval *= 2;
  }
  g_timeline[R->timeline_count] = (struct hs_sample){t - R->start_ns, bytes, count};
  __atomic_store_n(&R->timeline_count, R->timeline_count + 1, __ATOMIC_RELEASE);
  atomic_store(&R->now_ns, t);
  pthread_mutex_unlock(&g_timeline_lock);
}

static void maybe_sample(void) {
  uint64_t t = now_ns();
  uint64_t last = atomic_load_explicit(&g_last_sample, memory_order_relaxed);
  if (t - last < R->timeline_interval) return;
  if (!atomic_compare_exchange_strong(&g_last_sample, &last, t)) return;
  take_sample(t);
}

/* ---- fill ---- */

/* Fill [a, b) page run by page run, skipping whole pages the kernel has never backed: in the
 * anonymous private memory glibc's heaps live in, a page that is neither present nor swapped out
 * reads as zeros, so it holds no stale word, and writing it would fault in a page the program
 * has not touched. pagemap is opened per call, never kept: daemons close every descriptor when
 * they detach and the number may come back as one of the program's files, and a forked child's
 * descriptor would describe its parent's pages. Any failure fills everything. O(pages). */
static void fill_backed(char *a, char *b) {
  uintptr_t pa = ((uintptr_t)a + g_page - 1) & ~(g_page - 1), pb = (uintptr_t)b & ~(g_page - 1);
  int fd = pa < pb ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    memset(a, HS_FILL_BYTE, (size_t)(b - a));
    return;
  }
  memset(a, HS_FILL_BYTE, pa - (uintptr_t)a);
  memset((char *)pb, HS_FILL_BYTE, (uintptr_t)b - pb);
  uint64_t ents[HS_PAGEMAP_BATCH];
  uintptr_t run = 0; /* start of the current run of backed pages, 0 = none */
  for (uintptr_t pg = pa; pg < pb;) {
    size_t want = (pb - pg) / g_page;
    if (want > HS_PAGEMAP_BATCH) want = HS_PAGEMAP_BATCH;
    ssize_t got = pread(fd, ents, want * sizeof *ents, (off_t)(pg / g_page * sizeof *ents));
    if (got < (ssize_t)sizeof *ents) { /* cannot tell: fill the rest */
      memset((char *)(run ? run : pg), HS_FILL_BYTE, pb - (run ? run : pg));
      close(fd);
      return;
    }
    for (size_t i = 0; i < (size_t)got / sizeof *ents; i++, pg += g_page) {
      int backed = (ents[i] & (HS_PM_PRESENT | HS_PM_SWAP)) != 0;
      if (backed && !run) run = pg;
      if (!backed && run) {
        memset((char *)run, HS_FILL_BYTE, pg - run);
        run = 0;
      }
    }
  }
  if (run) memset((char *)run, HS_FILL_BYTE, pb - run);
  close(fd);
}

/* Fill bytes [from, to) of the new block p (see the header: what, why, and what is skipped). */
HOT static void fill_new(void *p, size_t from, size_t to) {
  if (!g_fill || to <= from) return;
  if (g_mmapped_fresh && (((const size_t *)p)[-1] & HS_IS_MMAPPED)) return;
  char *a = (char *)p + from;
  if (to - from < HS_FILL_CHECK_MIN) memset(a, HS_FILL_BYTE, to - from);
  else fill_backed(a, (char *)p + to);
}

/* ---- snapshot requests ---- */

/* Ask heapscope for a snapshot and wait until it has copied the memory. Async-signal-safe. */
static void request_snapshot(char what) {
  int fd = g_control_fd;
  if (fd < 0) return;
  atomic_store(&R->now_ns, now_ns());
  R->requests++;
  int saved = errno;
  if (write(fd, &what, 1) == 1) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char ack;
    for (;;) {
      int r = poll(&pfd, 1, 600000); /* 10 min: longer than any copy; never forever */
      if (r < 0 && errno == EINTR) continue;
      if (r == 1) {
        if (read(fd, &ack, 1) != 1) g_control_fd = -1; /* heapscope went away */
      }
      break;
    }
  }
  errno = saved;
}

static void on_signal(int sig) {
  (void)sig;
  if (t_busy) t_pending = 'S'; /* inside malloc & co: sent when the call ends (done()) */
  else request_snapshot('S');
}

/* ---- the interposed functions ---- */

HOT static void record(void *p, size_t size) {
  uint64_t pcs[HS_MAX_DEPTH];
  unsigned n = capture(pcs);
  struct hs_block b = {(uint64_t)(uintptr_t)p ^ HS_KEY, size, stack_id(pcs, n), current_tid(),
                       now_ns()};
  if (block_put(&b)) site_add(b.stack, size, 1);
  maybe_sample();
}

/* Recording allowed: tables ready and not re-entered (the unwinder or pthread may call malloc). */
static inline int enter(void) {
  if (t_inside) return 0;
  if (atomic_load_explicit(&g_state, memory_order_acquire) != HS_STATE_READY && !ensure_init()) {
    return 0;
  }
  t_inside = 1;
  return 1;
}

static inline void leave(void) { t_inside = 0; }

static inline void busy(void) {
  t_busy++;
  atomic_signal_fence(memory_order_seq_cst);
}

/* End of an interposed call: send a snapshot request a signal deferred while it ran. */
static inline void done(void) {
  atomic_signal_fence(memory_order_seq_cst);
  if (--t_busy == 0 && __builtin_expect(t_pending != 0, 0)) {
    char what = (char)t_pending;
    t_pending = 0;
    request_snapshot(what);
  }
}

/* The tail of every allocating function but realloc and calloc: fill, record. */
HOT static void *allocated(void *p, size_t n) {
  if (p) {
    fill_new(p, 0, n);
    if (enter()) {
      record(p, n);
      leave();
    }
  }
  done();
  return p;
}

#ifndef HS_HARNESS

HOT EXPORT void *malloc(size_t n) {
  busy();
  return allocated(__libc_malloc(n), n);
}

HOT EXPORT void free(void *p) {
  if (!p) return;
  busy();
  if (enter()) {
    struct hs_block b;
    block_remove(p, &b); /* before the real free: the address may be reused at once */
    leave();
  }
  __libc_free(p);
  done();
}

HOT EXPORT void *calloc(size_t n, size_t m) {
  busy();
  void *p = __libc_calloc(n, m);
  if (p && enter()) { /* zeroed by glibc: nothing to fill */
    record(p, n * m);
    leave();
  }
  done();
  return p;
}

HOT EXPORT void *realloc(void *old, size_t n) {
  busy();
  struct hs_block b;
  int rec = enter(), had = 0;
  if (rec) {
    had = old && block_remove(old, &b); /* before the real call: old may be reused at once */
    leave();
  }
  /* Bytes the program may have written: the old requested size, or all of an unrecorded block.
   * A heap chunk's unrequested tail was never filled and may hold a stale word; glibc copies the
   * whole old usable size when the block moves, into an mmapped chunk too, so that copied tail is
   * filled wherever the new block lives (an mmapped old chunk's tail is zero from the kernel). */
  size_t usable = old && g_fill ? malloc_usable_size(old) : 0;
  size_t kept = had ? b.size : usable;
  if (usable && g_mmapped_fresh && (((const size_t *)old)[-1] & HS_IS_MMAPPED)) usable = 0;
  void *p = __libc_realloc(old, n);
  if (p) {
    size_t copied = usable < n ? usable : n;
    if (g_fill && copied > kept) memset((char *)p + kept, HS_FILL_BYTE, copied - kept);
    fill_new(p, copied > kept ? copied : kept, n);
  }
  if (rec && enter()) {
    if (p) record(p, n);
    else if (had && n != 0 && block_put(&b)) site_add(b.stack, b.size, 0); /* failed: old lives */
    leave();
  }
  done();
  return p;
}

HOT EXPORT void *memalign(size_t align, size_t n) {
  busy();
  return allocated(__libc_memalign(align, n), n);
}

HOT EXPORT void *aligned_alloc(size_t align, size_t n) {
  busy();
  return allocated(__libc_memalign(align, n), n);
}

HOT EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  busy();
  void *p = allocated(__libc_memalign(align, n), n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

HOT EXPORT void *valloc(size_t n) {
  busy();
  return allocated(__libc_valloc(n), n);
}

/* pvalloc hands out whole pages: the program may use all of them, so all are "requested". */
HOT EXPORT void *pvalloc(size_t n) {
  busy();
  size_t rounded = n > SIZE_MAX - g_page ? n : (n + g_page - 1) & ~(size_t)(g_page - 1);
  return allocated(__libc_pvalloc(n), rounded);
}

#endif /* HS_HARNESS */

/* ---- fork ---- */

static void atfork_prepare(void) {
  t_inside++;
  pthread_mutex_lock(&g_timeline_lock);
  pthread_mutex_lock(&g_seg_lock);
  for (unsigned i = 0; i < HS_STRIPES; i++) pthread_mutex_lock(&g_stripes[i].lock);
}

static void atfork_parent(void) {
  for (unsigned i = 0; i < HS_STRIPES; i++) pthread_mutex_unlock(&g_stripes[i].lock);
  pthread_mutex_unlock(&g_seg_lock);
  pthread_mutex_unlock(&g_timeline_lock);
  t_inside--;
}

static void atfork_child(void) {
  for (unsigned i = 0; i < HS_STRIPES; i++) pthread_mutex_unlock(&g_stripes[i].lock);
  pthread_mutex_unlock(&g_seg_lock);
  pthread_mutex_unlock(&g_timeline_lock);
  t_tid = 0;
  t_stack_lo = t_stack_hi = 0;
  t_pending = 0;
  R->pid = (uint64_t)getpid();
  if (g_control_fd >= 0) close(g_control_fd); /* only the process heapscope started talks to it */
  g_control_fd = -1;
  t_inside--;
}

/* ---- dump file ---- */

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void dump_failed(const char *what, const char *path, int e) {
  say("cannot write the allocation dump ", path, ": ", what, " failed (", errno_name(e),
      ")\nHint: HEAPSCOPE_RECORD_DIR must name a writable folder with free space", NULL);
}

/* Write the dump file (format in the header comment). No malloc: fixed buffers and write(2). */
static void write_dump(void) {
  if (!g_dir[0]) return;
  char path[600], tmp[610], num[24];
  put_num(num, (uint64_t)getpid());
  strcpy(path, g_dir);
  strcat(path, "/record.");
  strcat(path, num);
  strcpy(tmp, path);
  strcat(tmp, ".tmp");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    dump_failed("open", tmp, errno);
    return;
  }
  atfork_prepare(); /* hold every lock: a consistent table */
  uint64_t nstacks = atomic_load(&R->stack_count);
  if (nstacks > HS_INDEX_SLOTS / 2) nstacks = HS_INDEX_SLOTS / 2;
  uint64_t published = 0, nblocks = 0;
  for (uint64_t id = 1; id < nstacks; id++) {
    struct hs_stack *e = stack_entry((uint32_t)id);
    if (e && e->published) published++;
  }
  for (unsigned i = 0; i < HS_STRIPES; i++) nblocks += g_stripes[i].count;
  /* maps: read up to 1 MiB of /proc/self/maps into a mapping (1 MiB: ~10^4 mappings) */
  size_t maps_cap = 1 << 20, maps_len = 0;
  char *maps = hs_map(maps_cap);
  int mfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (maps && mfd >= 0) {
    ssize_t r;
    while (maps_len < maps_cap && (r = read(mfd, maps + maps_len, maps_cap - maps_len)) > 0) {
      maps_len += (size_t)r;
    }
  }
  if (mfd >= 0) close(mfd);
  struct {
    char magic[8];
    uint32_t version, depth;
    uint64_t pid, start_ns, now_ns, stacks, blocks, samples, maps, dropped_count, dropped_bytes;
    uint32_t unwinder, fill;
  } hdr = {"HSDUMP1",
           2,
           g_depth,
           (uint64_t)getpid(),
           R->start_ns,
           now_ns(),
           published,
           nblocks,
           R->timeline_count,
           maps_len,
           atomic_load(&R->dropped_count),
           atomic_load(&R->dropped_bytes),
           R->unwinder,
           R->fill};
  _Static_assert(sizeof hdr == 96, "dump header layout read by ffi/recorder_table.ts");
  int ok = write_all(fd, &hdr, sizeof hdr) == 0;
  for (uint64_t id = 1; ok && id < nstacks; id++) {
    struct hs_stack *e = stack_entry((uint32_t)id);
    if (!e || !e->published) continue;
    struct {
      uint32_t id, frames;
      uint64_t c[6];
    } rec = {(uint32_t)id, e->frames,
             {e->live_count, e->live_bytes, e->peak_count, e->peak_bytes, e->total_count,
              e->total_bytes}};
    ok = write_all(fd, &rec, sizeof rec) == 0 && write_all(fd, e->pcs, e->frames * 8ull) == 0;
  }
  for (unsigned i = 0; ok && i < HS_STRIPES; i++) {
    struct hs_block *tab = (struct hs_block *)(uintptr_t)g_stripes[i].table;
    for (uint64_t j = 0; ok && j < g_stripes[i].cap; j++) {
      if (!tab[j].enc) continue;
      struct hs_block b = tab[j];
      b.enc ^= HS_KEY;
      ok = write_all(fd, &b, sizeof b) == 0;
    }
  }
  if (ok) ok = write_all(fd, g_timeline, sizeof(struct hs_sample) * R->timeline_count) == 0;
  if (ok && maps_len) ok = write_all(fd, maps, maps_len) == 0;
  int e = errno;
  atfork_parent();
  hs_unmap(maps, maps_cap);
  if (close(fd) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (!ok) {
    dump_failed("write", tmp, e);
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    dump_failed("rename", path, errno);
    unlink(tmp);
  }
}

#ifndef HS_HARNESS

/* libunwind (as heaptrack uses it): unw_backtrace with a per-thread cache of unwind recipes. Loaded
 * here, not in ensure_init: the first malloc can come from inside the dynamic loader. */
static void load_libunwind(void) {
  const char *uw = getenv("HEAPSCOPE_UNWIND");
  if (uw && strcmp(uw, "libunwind") != 0) return;
  t_inside++;
  void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (h) {
    int (*policy)(void *, int) = (int (*)(void *, int))dlsym(h, "_ULx86_64_set_caching_policy");
    void **space = dlsym(h, "_ULx86_64_local_addr_space");
    if (policy && space) policy(*space, 2 /* UNW_CACHE_PER_THREAD */);
    g_unw_backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
  }
  R->unwinder = g_unw_backtrace ? 2 : 0;
  t_inside--;
}

__attribute__((constructor)) static void recorder_start(void) {
  if (ensure_init() && !g_use_fp) load_libunwind();
}

__attribute__((destructor)) static void recorder_stop(void) {
  if (atomic_load(&g_state) != HS_STATE_READY) return;
  check_snapshot_signal();
  take_sample(now_ns());
  busy(); /* write_dump holds every lock: a snapshot signal now waits for it to finish */
  write_dump();
  done();
  /* The canonical frame address: the caller's stack starts there. What lies below is this
   * destructor's and its callees' (write_dump decodes every block's address; the last one stayed
   * in a local and kept a leaked structure alive at exit), none of it the program's. */
  R->exit_sp = (uint64_t)(uintptr_t)__builtin_frame_address(0) + 16;
  request_snapshot('E');
}

#endif /* HS_HARNESS */
