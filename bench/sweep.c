// Raw physical limit for heapscope's copy: one sweep of a process's writable memory with process_vm_readv.
//
// Usage: sweep PID [--passes K] [--all]
// Reads /proc/PID/maps, takes every readable+writable region (not [vvar]/[vsyscall]) and, of those,
// the pages that exist (present or swapped, from the PAGEMAP_SCAN ioctl; --all or a kernel without
// it: every page — reading an absent page allocates it in the target), allocates one fresh
// destination buffer of 4 KiB pages (as a plain malloc would) and reads everything with
// process_vm_readv in batches of up to IOV_MAX iovecs of at most 64 MiB each. No ptrace stop: as
// root (or with CAP_SYS_PTRACE) the PTRACE_MODE_ATTACH check passes without attaching.
// Prints: regions, bytes, ms and GB/s of the first (cold: destination pages fault in) and later
// (warm: destination already mapped and copied into once) passes. O(bytes).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define PIECE (64UL << 20)
// Bytes per process_vm_readv call: the kernel caps one call at MAX_RW_COUNT (2 GiB - 4 KiB) and
// returns a short count past it.
#define BATCH (1UL << 30)

struct range {
  uint64_t start, end;
};

// PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h), as in shim/heapscope_linux.c.
struct page_region {
  uint64_t start, end, categories;
};
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1u << 3)
#define PAGE_IS_SWAPPED (1u << 4)

// The parts of [s, e) whose pages exist, appended to *r (growing it). Returns 0 when the kernel
// has no PAGEMAP_SCAN (then the caller takes the whole range).
static int resident(int fd, uint64_t s, uint64_t e, struct range **r, size_t *nr, size_t *cap) {
  struct page_region vec[256];
  while (s < e) {
    struct pm_scan_arg a = {sizeof a, 0, s, e, 0, (uint64_t)(uintptr_t)vec, 256, 0, 0, 0,
                            PAGE_IS_PRESENT | PAGE_IS_SWAPPED, PAGE_IS_PRESENT | PAGE_IS_SWAPPED};
    long got = ioctl(fd, PAGEMAP_SCAN_IOCTL, &a);
    if (got < 0) return 0;
    for (long i = 0; i < got; i++) {
      if (*nr == *cap) {
        struct range *n = realloc(*r, (*cap *= 2) * sizeof **r);
        if (!n) abort();
        *r = n;
      }
      (*r)[(*nr)++] = (struct range){vec[i].start, vec[i].end};
    }
    if (a.walk_end <= s) break;
    s = a.walk_end;
  }
  return 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// One pass: returns the bytes read (a batch stops at the first unreadable page, as the syscall does).
static uint64_t flush(pid_t pid, struct iovec *local, struct iovec *remote, size_t k) {
  if (k == 0) return 0;
  ssize_t got = process_vm_readv(pid, local, k, remote, k, 0);
  if (got < 0) {
    fprintf(stderr, "sweep: process_vm_readv(%d): %s\n", (int)pid, strerror(errno));
    exit(1);
  }
  return (uint64_t)got;
}

static uint64_t sweep(pid_t pid, const struct range *r, size_t nr, uint8_t *dst) {
  static struct iovec local[IOV_MAX], remote[IOV_MAX];
  uint64_t total = 0, off = 0, batch_start = 0;
  size_t k = 0;
  for (size_t i = 0; i < nr; i++) {
    for (uint64_t a = r[i].start; a < r[i].end;) {
      uint64_t len = r[i].end - a < PIECE ? r[i].end - a : PIECE;
      local[k].iov_base = dst + off;
      local[k].iov_len = len;
      remote[k].iov_base = (void *)(uintptr_t)a;
      remote[k].iov_len = len;
      off += len;
      a += len;
      if (++k == IOV_MAX || off - batch_start >= BATCH) {
        total += flush(pid, local, remote, k);
        k = 0;
        batch_start = off;
      }
    }
  }
  return total + flush(pid, local, remote, k);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PID [--passes K]\n", argv[0]);
    return 2;
  }
  pid_t pid = (pid_t)atoi(argv[1]);
  int passes = 2, all = 0;
  for (int a = 2; a < argc; a++) {
    if (strcmp(argv[a], "--passes") == 0 && a + 1 < argc) passes = atoi(argv[++a]);
    else if (strcmp(argv[a], "--all") == 0) all = 1;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
  int pm = all ? -1 : open(path, O_RDONLY);
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "sweep: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  size_t cap = 256, nr = 0;
  struct range *r = malloc(cap * sizeof *r);
  char line[4096];
  uint64_t bytes = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long s, e;
    char perms[8] = {0};
    int name_at = 0;
    if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &s, &e, perms, &name_at) < 3) continue;
    if (perms[0] != 'r' || perms[1] != 'w') continue;
    const char *name = name_at ? line + name_at : "";
    if (strncmp(name, "[vvar", 5) == 0 || strncmp(name, "[vsyscall]", 10) == 0) continue;
    size_t before = nr;
    if (pm < 0 || !resident(pm, s, e, &r, &nr, &cap)) {
      nr = before;
      if (nr == cap) r = realloc(r, (cap *= 2) * sizeof *r);
      if (!r) abort();
      r[nr].start = s;
      r[nr].end = e;
      nr++;
    }
    for (size_t i = before; i < nr; i++) bytes += r[i].end - r[i].start;
  }
  fclose(f);
  if (pm >= 0) close(pm);
  uint8_t *dst = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED) {
    fprintf(stderr, "sweep: cannot map %llu bytes\n", (unsigned long long)bytes);
    return 1;
  }
  printf("regions %zu\nbytes %llu\nresident_only %d\n", nr, (unsigned long long)bytes, pm >= 0);
  for (int p = 0; p < passes; p++) {
    double t0 = now_ms();
    uint64_t got = sweep(pid, r, nr, dst);
    double ms = now_ms() - t0;
    const char *label = p == 0 ? "cold" : "warm";
    printf("%s_read %llu\n%s_ms %.2f\n%s_gbps %.2f\n", label, (unsigned long long)got, label, ms,
           label, ms > 0 ? got / ms / 1e6 : 0.0);
  }
  return 0;
}
