// heap_pieces: a main heap in several pieces: an mprotect'ed page, a blocked break, a foreign sbrk.
//
// Usage: heap_pieces [--protect none|read] [--blocked-brk] [--foreign-sbrk]   (default: all three,
//        --protect none)
//   --protect P     a 64 KiB block in [heap] gets one interior page mprotect'ed PROT_NONE or
//                   PROT_READ: /proc/PID/maps then shows [heap] as three mappings, and the
//                   snapshot has no copy of that page (not readable, or not writable).
//   --blocked-brk   a PROT_NONE page is mapped right at the break, so sysmalloc's sbrk fails and
//                   main_arena continues in mmap'd memory (1 MiB segments, non-contiguous, the old
//                   top closed by fenceposts); two such segments are filled, the page is unmapped,
//                   and the heap goes back to growing the break.
//   --foreign-sbrk  the program moves the break itself by 8240 bytes (8192 after --blocked-brk)
//                   and keeps the only pointer to one block there; malloc's next segment starts
//                   past it.
// Each step leaves live blocks (held by globals or by the foreign memory) and one leaked block
// after it. Printed (expect.h): live, leaked.
#define _GNU_SOURCE
#include <sys/mman.h>

#include "expect.h"

#define PAGE 4096
#define MAX_KEEP 8192

// Not static: the compiler must keep the stores (nothing in the program reads these back).
void *g_keep[MAX_KEEP];
int g_nkeep;

static NOINLINE void keep(size_t n, const char *label) {
  void *p = xmalloc(n);
  g_keep[g_nkeep++] = p;
  record(p, n, LIVE, label);
}

static NOINLINE void leak(size_t n, const char *label) {
  void *p = xmalloc(n);
  record(p, n, LEAKED, label);
}

static NOINLINE void protect_page(int prot) {
  // 64 KiB: below the mmap threshold (128 KiB), so it comes from [heap].
  char *big = xmalloc(64 << 10);
  g_keep[g_nkeep++] = big;
  record(big, 64 << 10, LIVE, "block with an mprotect'ed page");
  char *page = (char *)(((uintptr_t)big + 2 * PAGE) & ~(uintptr_t)(PAGE - 1));
  if (mprotect(page, PAGE, prot) != 0) abort();
  for (int i = 0; i < 8; i++) keep(32 + 16 * i, "block after the mprotect'ed page");
  leak(88, "leaked block after the mprotect'ed page");
}

static NOINLINE void blocked_brk(void) {
  // A page right at the break: brk cannot grow, so sysmalloc falls back to mmap.
  char *brk_end = sbrk(0);
  char *at = (char *)(((uintptr_t)brk_end + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
  void *blocker = mmap(at, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (blocker != at) abort();
  // About 2.5 MiB of 1 KiB blocks: the rest of the brk top, then two 1 MiB mmap segments, and into a
  // third; below the mmap threshold, so each is a main-arena chunk.
  for (int i = 0; i < 2500; i++) {
    if (i % 500 == 250) leak(1000, "leaked block in a non-contiguous main arena");
    else keep(1000, "block in a non-contiguous main arena");
  }
  munmap(blocker, PAGE);
  // The break can grow again: the next segment is back in [heap], after the old one's fenceposts.
  for (int i = 0; i < 300; i++) keep(1000, "block after the break grew again");
  leak(104, "leaked block after the break grew again");
}

static NOINLINE void foreign_sbrk(int noncontiguous) {
  // The program's own memory, right after malloc's: 8 KiB + 48 bytes, not page-aligned (sysmalloc
  // then aligns its next segment). A non-contiguous main arena cannot take that: it would start
  // its next segment at the unaligned break and later abort on a top that does not end on a page
  // (sysmalloc's assertion), so then the program takes whole pages.
  size_t n = noncontiguous ? 8192 : 8192 + 48;
  void **mine = sbrk(n);
  if (mine == (void *)-1) abort();
  memset(mine, 0, n);
  void *held = xmalloc(136);
  record(held, 136, LIVE, "block held only from sbrk'd memory");
  mine[100] = held;
  // Enough to exhaust the top: malloc's next sbrk starts after the program's bytes.
  for (int i = 0; i < 300; i++) keep(1000, "block after a foreign sbrk");
  leak(120, "leaked block after a foreign sbrk");
}

int main(int argc, char **argv) {
  int prot = PROT_NONE, do_protect = 1, do_blocked = 1, do_foreign = 1, picked = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--protect") == 0 && i + 1 < argc) {
      const char *p = argv[++i];
      if (strcmp(p, "none") == 0) prot = PROT_NONE;
      else if (strcmp(p, "read") == 0) prot = PROT_READ;
      else goto usage;
      if (!picked) do_protect = do_blocked = do_foreign = 0;
      picked = do_protect = 1;
    } else if (strcmp(argv[i], "--blocked-brk") == 0) {
      if (!picked) do_protect = do_blocked = do_foreign = 0;
      picked = do_blocked = 1;
    } else if (strcmp(argv[i], "--foreign-sbrk") == 0) {
      if (!picked) do_protect = do_blocked = do_foreign = 0;
      picked = do_foreign = 1;
    } else {
      goto usage;
    }
  }
  print_pid();
  keep(40, "first block");
  if (do_protect) protect_page(prot);
  if (do_blocked) blocked_brk();
  if (do_foreign) foreign_sbrk(do_blocked);
  keep(24, "last block");
  print_expect();
  clear_stack();
  for (;;) pause();
usage:
  fprintf(stderr, "usage: heap_pieces [--protect none|read] [--blocked-brk] [--foreign-sbrk]\n");
  return 2;
}
