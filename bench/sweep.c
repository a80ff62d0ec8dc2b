// Raw physical limit for heapscope's copy: one sweep of a process's writable memory with process_vm_readv.
//
// Usage: sweep PID [--passes K]
// Reads /proc/PID/maps, takes every readable+writable region (not [vvar]/[vsyscall]), allocates one
// fresh destination buffer (as a snapshot must) and reads everything with process_vm_readv in
// batches of up to IOV_MAX iovecs of at most 64 MiB each. No ptrace stop: as root (or with
// CAP_SYS_PTRACE) the PTRACE_MODE_ATTACH check of process_vm_readv passes without attaching.
// Prints: regions, bytes, ms and GB/s of the first (cold: destination pages fault in) and later
// (warm: destination already mapped) passes. O(bytes).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define PIECE (64UL << 20)

struct range {
  uint64_t start, end;
};

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
  uint64_t total = 0, off = 0;
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
      if (++k == IOV_MAX) {
        total += flush(pid, local, remote, k);
        k = 0;
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
  int passes = 2;
  if (argc >= 4 && strcmp(argv[2], "--passes") == 0) passes = atoi(argv[3]);
  char path[64];
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
    if (nr == cap) r = realloc(r, (cap *= 2) * sizeof *r);
    r[nr].start = s;
    r[nr].end = e;
    nr++;
    bytes += e - s;
  }
  fclose(f);
  uint8_t *dst = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED) {
    fprintf(stderr, "sweep: cannot map %llu bytes\n", (unsigned long long)bytes);
    return 1;
  }
  printf("regions %zu\nbytes %llu\n", nr, (unsigned long long)bytes);
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
