// A program that keeps allocating on two threads while tests/recorder_c_test.ts sends it the
// recorder's snapshot signal from outside, and that can take that signal over for itself.
//
// Usage: snapshot_signal. Keeps 5 blocks of 77 bytes (keep_five), starts the threads, prints
// "READY", then obeys lines on stdin:
//   own <n>   installs the program's own handler on signal n, prints "INSTALLED <n>"
//   wait-own  waits until that handler has run, prints "OWN <n>"
//   quit      stops the threads, frees the kept blocks, prints "DONE 1" (the threads ran), exits 0
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int g_stop;
static atomic_long g_rounds;
static int g_own_pipe[2]; /* the handler writes the signal number: a self-pipe, no lost wake-up */
static void *g_kept[5];

__attribute__((noinline)) static void keep_five(void) {
  for (int i = 0; i < 5; i++) {
    g_kept[i] = malloc(77);
    memset(g_kept[i], 1, 77);
  }
}

/* malloc, realloc and free back to back: most of a signal's chances land inside them. */
static void *churn(void *arg) {
  (void)arg;
  void *window[16] = {0};
  for (unsigned i = 0; !atomic_load(&g_stop); i++) {
    unsigned k = i % 16;
    free(window[k]);
    window[k] = malloc(16 + i % 200);
    window[k] = realloc(window[k], 32 + i % 300);
    atomic_fetch_add(&g_rounds, 1);
  }
  for (int k = 0; k < 16; k++) free(window[k]);
  return NULL;
}

static void own_handler(int sig) {
  unsigned char b = (unsigned char)sig;
  if (write(g_own_pipe[1], &b, 1) != 1) _exit(5);
}

int main(void) {
  if (pipe(g_own_pipe) != 0) return 6;
  keep_five();
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn, NULL);
  printf("READY\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    int n;
    if (sscanf(line, "own %d", &n) == 1) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = own_handler;
      sa.sa_flags = SA_RESTART; /* stdin reads go on */
      sigaction(n, &sa, NULL);
      printf("INSTALLED %d\n", n);
      fflush(stdout);
    } else if (strncmp(line, "wait-own", 8) == 0) {
      unsigned char b = 0;
      while (read(g_own_pipe[0], &b, 1) != 1) {
      }
      printf("OWN %d\n", b);
      fflush(stdout);
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    }
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 5; i++) free(g_kept[i]);
  printf("DONE %ld\n", atomic_load(&g_rounds) > 0 ? 1L : 0L);
  return 0;
}
