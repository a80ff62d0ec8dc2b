// libkeep_sigusr2.so: LD_PRELOADed before build/libtruth.so, keeps the interposer's SIGUSR2 dump
// handler installed in programs that take SIGUSR2 for themselves (nginx: binary upgrade).
//
// The first sigaction(SIGUSR2, act) of the process (libtruth.so's constructor, which runs before
// the program) goes through; later ones that would change the handler are answered with success
// and the handler in place, so the truth can still be dumped with SIGUSR2. Every other call is
// glibc's own __sigaction.
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>

extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

static int g_installed;

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act,
                                                     struct sigaction *old) {
  if (sig == SIGUSR2 && act != NULL) {
    if (__atomic_exchange_n(&g_installed, 1, __ATOMIC_ACQ_REL)) return __sigaction(sig, NULL, old);
  }
  return __sigaction(sig, act, old);
}
