// Allocates more blocks than the recorder's table holds once its growth fails (the fault-injection
// build with HEAPSCOPE_FAULT_GROWS), frees them all, and makes a realloc fail, saying where its
// blocks are so that tests/recorder_c_test.ts can compare the table with what the program has.
//
// Usage: grow_fail <count>   (count 0: just "READY idle", for start-up failure tests)
// Prints, waiting for a line on stdin after each READY (heapscope copies the memory meanwhile):
//   BLOCKS <address of g_blocks> <count>, READY alloc     count blocks of 40 bytes are live
//   READY free                                           all freed
//   KEPT <address>, READY realloc                        a 100-byte block whose realloc failed
//   SUM <n>                                              a checksum of the work, then exit 0
// Output goes through write(2) from a stack buffer: no allocation of its own between phases, so
// every record the recorder drops is one of the program's blocks.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCKS 200000

static void *g_blocks[MAX_BLOCKS];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char line[128];
  __builtin_va_list ap;
  __builtin_va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  __builtin_va_end(ap);
  if (write(1, line, (size_t)n) != n) _exit(3);
}

static void wait_line(void) {
  char c;
  while (read(0, &c, 1) == 1 && c != '\n') {
  }
}

__attribute__((noinline)) static void *alloc_block(void) { return malloc(40); }

__attribute__((noinline)) static void *alloc_kept(void) { return malloc(100); }

int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 0;
  if (count <= 0) {
    char *s = strdup("idle");
    say("READY %s\n", s);
    free(s);
    wait_line();
    return 0;
  }
  if (count > MAX_BLOCKS) count = MAX_BLOCKS;
  uint64_t sum = 0;
  for (long i = 0; i < count; i++) {
    g_blocks[i] = alloc_block();
    memset(g_blocks[i], (int)i, 40);
    sum += (uint64_t)((unsigned char *)g_blocks[i])[7];
  }
  say("BLOCKS %p %ld\n", (void *)g_blocks, count);
  say("READY alloc\n");
  wait_line();
  for (long i = 0; i < count; i++) free(g_blocks[i]);
  say("READY free\n");
  wait_line();
  char *kept = alloc_kept();
  memset(kept, 7, 100);
  char *bigger = realloc(kept, (size_t)1 << 62); /* cannot succeed: kept stays live */
  if (bigger) return 4;
  say("KEPT %p\n", (void *)kept);
  say("READY realloc\n");
  wait_line();
  sum += (uint64_t)kept[99];
  free(kept);
  say("SUM %llu\n", (unsigned long long)sum);
  return 0;
}
