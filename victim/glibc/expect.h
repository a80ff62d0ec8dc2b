// Shared by the victim/glibc programs: records what a correct analysis must find and prints it.
//
// Output (stdout, one JSON value per line), then the program blocks until killed:
//   {"pid":N,"glibc":"2.36"}
//   {"expect":{"live":[…],"leaked":[…],"freed":[…]}}
//   READY
// Every block is {"address":"0x…","size":requested,"label":"…"}. "live": blocks the program still
// points to (reachable); "leaked": blocks nothing points to (direct leaks); "freed": blocks freed
// into a glibc cache (tcache) that must not be reported as allocations at all.
//
// Addresses are recorded XOR-encoded (bits 48..63 set: never a pointer to a conservative scanner),
// so the record is not a root; output goes through write(2) from a static buffer, so printing does
// not allocate (some victims print while a thread holds an arena lock).
#ifndef HEAPSCOPE_VICTIM_GLIBC_EXPECT_H
#define HEAPSCOPE_VICTIM_GLIBC_EXPECT_H

#include <gnu/libc-version.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define ENC ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

enum section { LIVE, LEAKED, FREED };

struct record {
  uintptr_t enc;  // address ^ ENC
  size_t size;    // requested size
  enum section section;
  const char *label;
};

// 8192 records: the largest victim (heap_pieces) records about 3200 blocks.
#define MAX_RECORDS 8192
static struct record g_records[MAX_RECORDS];
static int g_nrecords;

static NOINLINE void record(const void *p, size_t size, enum section s, const char *label) {
  int i = __atomic_fetch_add(&g_nrecords, 1, __ATOMIC_RELAXED);
  if (i >= MAX_RECORDS) abort();
  g_records[i] = (struct record){(uintptr_t)p ^ ENC, size, s, label};
}

// Output: formatted into a static buffer, written with write(2).
static char g_out[1 << 20];
static size_t g_out_len;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(g_out + g_out_len, sizeof g_out - g_out_len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof g_out - g_out_len) abort();
  g_out_len += (size_t)n;
}

static void out_flush(void) {
  size_t off = 0;
  while (off < g_out_len) {
    ssize_t n = write(1, g_out + off, g_out_len - off);
    if (n <= 0) abort();
    off += (size_t)n;
  }
  g_out_len = 0;
}

static NOINLINE void print_pid(void) {
  out("{\"pid\":%d,\"glibc\":\"%s\"}\n", (int)getpid(), gnu_get_libc_version());
  out_flush();
}

static void print_section(enum section s) {
  int first = 1;
  for (int i = 0; i < g_nrecords; i++) {
    const struct record *r = &g_records[i];
    if (r->section != s) continue;
    out("%s{\"address\":\"0x%lx\",\"size\":%zu,\"label\":\"%s\"}", first ? "" : ",",
        (unsigned long)(r->enc ^ ENC), r->size, r->label);
    first = 0;
  }
}

static NOINLINE void print_expect(void) {
  out("{\"expect\":{\"live\":[");
  print_section(LIVE);
  out("],\"leaked\":[");
  print_section(LEAKED);
  out("],\"freed\":[");
  print_section(FREED);
  out("]}}\nREADY\n");
  out_flush();
}

// Overwrites the dead part of the stack below the caller, where earlier callees left pointers.
static NOINLINE void clear_stack(void) {
  char buf[64 * 1024];
  memset(buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

static NOINLINE void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) abort();
  memset(p, 0, n);
  return p;
}

#endif
