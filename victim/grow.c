// grow: a program whose cache grows when the test says so, for `heapscope diff` and `watch`.
//
// A global `g_cache` holds an array of entries (each a 48-byte struct and a 256-byte value, both
// allocated in cache_insert); leak_some() leaks 72-byte blocks. It prints {"pid":N} and READY, then
// reads commands on stdin, one per line, and answers each with a line:
//   grow N   insert N entries           → GREW <entries in the cache>
//   leak N   leak N blocks               → LEAKED <blocks leaked so far>
// It exits 0 at the end of its input.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct entry {
  long key;
  char *value;
  struct entry *next_free;  // unused: gives the struct the size of a real cache entry
  long hits, stamp, flags;
};

struct cache {
  struct entry **entries;
  size_t count, cap;
};

struct cache *g_cache;
static long g_leaked;

static NOINLINE struct cache *cache_new(void) { return calloc(1, sizeof(struct cache)); }

static NOINLINE void cache_insert(struct cache *c, long key) {
  if (c->count == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 16;
    c->entries = realloc(c->entries, c->cap * sizeof *c->entries);
  }
  struct entry *e = calloc(1, sizeof *e);
  e->key = key;
  e->value = malloc(256);
  snprintf(e->value, 256, "value of key %ld", key);
  c->entries[c->count++] = e;
}

static NOINLINE void leak_some(long n) {
  for (long i = 0; i < n; i++) {
    char *p = malloc(72);
    memset(p, 0x11, 72);
    g_leaked++;
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_cache = cache_new();
  cache_insert(g_cache, 0);
  printf("{\"pid\":%d}\nREADY\n", (int)getpid());
  char line[128];
  long key = 1;
  while (fgets(line, sizeof line, stdin)) {
    long n = 0;
    if (sscanf(line, "grow %ld", &n) == 1) {
      for (long i = 0; i < n; i++) cache_insert(g_cache, key++);
      printf("GREW %zu\n", g_cache->count);
    } else if (sscanf(line, "leak %ld", &n) == 1) {
      leak_some(n);
      printf("LEAKED %ld\n", g_leaked);
    }
  }
  return 0;
}
