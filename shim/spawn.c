/* A child process whose standard output is read later, synchronously (Linux and macOS).
 *
 * Why in C: the analysis is one synchronous pass, and the symbolizer that names stack roots' lines
 * (ffi/symbolize.ts) takes ~0.3 s, most of it starting up and loading images. Started before the
 * analysis, it runs on the other core meanwhile; when the analysis needs its answer it reads the
 * pipe, blocking, without leaving the synchronous pass. Deno can spawn a child and read its output
 * only asynchronously (Deno.Command), which an analysis in one synchronous call cannot wait for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapscope.h"

#ifdef __APPLE__
#include <crt_externs.h>
/* A dylib has no `environ` of its own on macOS: the process's comes through _NSGetEnviron. */
#define child_environ (*_NSGetEnviron())
#else
extern char **environ;
#define child_environ environ
#endif

int32_t hs_spawn_reader(const char *file, const char *args, uint64_t args_len, int32_t *pid_out,
                        int32_t *fd_out) {
  if (!file || !args || !pid_out || !fd_out || args_len == 0 || args[args_len - 1] != 0)
    return HS_ERR_ARG;
  *pid_out = -1;
  *fd_out = -1;
  /* args: NUL-terminated strings back to back, the first being argv[0]. */
  uint64_t count = 0;
  for (uint64_t i = 0; i < args_len; i++)
    if (args[i] == 0) count++;
  char **argv = calloc(count + 1, sizeof *argv);
  if (!argv) return HS_ERR_INTERNAL;
  for (uint64_t i = 0, k = 0; i < args_len && k < count; k++) {
    argv[k] = (char *)(uintptr_t)(args + i);
    i += strlen(args + i) + 1;
  }
  int p[2];
  if (pipe(p) < 0) {
    free(argv);
    return HS_ERR_IO;
  }
  (void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&fa, p[1]);
  /* The child starts with default signal handling and nothing blocked, whatever Deno set. */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int err = posix_spawnp(&pid, file, &fa, &attr, argv, child_environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free(argv);
  close(p[1]);
  if (err != 0) {
    close(p[0]);
    return HS_ERR_IO;
  }
  *pid_out = (int32_t)pid;
  *fd_out = p[0];
  return HS_OK;
}

int32_t hs_read_fd(int32_t fd, uint8_t *buf, uint64_t cap, double *got) {
  if (fd < 0 || !buf || !got) return HS_ERR_ARG;
  *got = 0;
  uint64_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return HS_ERR_IO;
    if (r == 0) {
      *got = (double)n;
      return HS_OK; /* end of file */
    }
    n += (uint64_t)r;
  }
  *got = (double)n;
  return 1; /* the buffer is full: call again */
}

int32_t hs_reap(int32_t pid, int32_t fd, int32_t *status) {
  if (fd >= 0) close(fd);
  if (!status || pid <= 0) return HS_ERR_ARG;
  *status = -1;
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid, &st, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return HS_ERR_IO;
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return HS_OK;
}
