/* heapscope shim, Linux backend: stop every thread with ptrace, copy registers and memory, resume.
 *
 * All calls must come from one thread (Deno's main thread): ptrace ties a tracee to the thread that
 * seized it. No PTRACE_O_EXITKILL on purpose: if heapscope dies, the kernel detaches and resumes the
 * target instead of killing it.
 */
#define _GNU_SOURCE
#include "heapscope.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#endif
#ifndef PTRACE_INTERRUPT
#define PTRACE_INTERRUPT 0x4207
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef NT_ARM_TLS
#define NT_ARM_TLS 0x401
#endif
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define PF_KTHREAD_FLAG 0x00200000u
/* Largest byte count handed to one process_vm_readv call (the kernel caps a call at MAX_RW_COUNT). */
#define HS_BATCH_BYTES (1ull << 30)

typedef struct {
  pid_t tid;
  int stopped; /* in a ptrace-stop we caused, may be detached */
  int sig;     /* signal caught in a signal-delivery-stop, re-injected at detach */
} hs_thread;

struct hs_target {
  pid_t pid;
  int attached;
  int exited;
  int mem_fd; /* /proc/PID/mem, opened lazily for the last-resort read */
  long page;
  hs_thread *threads;
  uint32_t count, cap;
};

static __thread char hs_err[1024] = "no error";

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(hs_err, sizeof hs_err, fmt, ap);
  va_end(ap);
}

int32_t hs_abi_version(void) { return HS_ABI_VERSION; }

const char *hs_last_error(void) { return hs_err; }

/* ---- /proc helpers ---------------------------------------------------------------------------- */

/* TracerPid of /proc/PID/task/TID/status, 0 when untraced, -1 when unreadable. */
static long tracer_of(pid_t pid, pid_t tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  long tracer = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "TracerPid:", 10) == 0) {
      tracer = strtol(line + 10, NULL, 10);
      break;
    }
  }
  fclose(f);
  return tracer;
}

/* State letter and flags from /proc/PID/stat; returns 0 when the process does not exist. */
static int proc_state(pid_t pid, char *state, unsigned long *flags) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
  if (!p || p[1] != ' ') return 0;
  p += 2;
  *state = *p;
  /* fields after state: ppid pgrp session tty_nr tpgid flags */
  unsigned long v[6] = {0};
  if (sscanf(p + 1, " %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    /* tpgid can be -1: parse as signed */
    long s[6];
    if (sscanf(p + 1, " %ld %ld %ld %ld %ld %ld", &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]) != 6) {
      return 0;
    }
    v[5] = (unsigned long)s[5];
  }
  *flags = v[5];
  return 1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- thread bookkeeping ----------------------------------------------------------------------- */

static hs_thread *find_thread(hs_target *t, pid_t tid) {
  for (uint32_t i = 0; i < t->count; i++) {
    if (t->threads[i].tid == tid) return &t->threads[i];
  }
  return NULL;
}

static hs_thread *add_thread(hs_target *t, pid_t tid) {
  if (t->count == t->cap) {
    uint32_t cap = t->cap ? t->cap * 2 : 16;
    hs_thread *n = realloc(t->threads, cap * sizeof *n);
    if (!n) return NULL;
    t->threads = n;
    t->cap = cap;
  }
  hs_thread *th = &t->threads[t->count++];
  th->tid = tid;
  th->stopped = 0;
  th->sig = 0;
  return th;
}

static void drop_thread(hs_target *t, pid_t tid) {
  for (uint32_t i = 0; i < t->count; i++) {
    if (t->threads[i].tid == tid) {
      t->threads[i] = t->threads[t->count - 1];
      t->count--;
      return;
    }
  }
}

/* Wait until `th` reports a stop. Returns 1 stopped, 0 thread gone, -1 timeout/error. */
static int wait_stop(hs_thread *th, uint64_t deadline) {
  unsigned sleep_us = 50;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(th->tid, &status, __WALL | WNOHANG);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) return 0; /* not our tracee any more: it died */
      return -1;
    }
    if (r == th->tid) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) return 0;
      if (WIFSTOPPED(status)) {
        int event = (unsigned)status >> 16;
        if (event == 0 && WSTOPSIG(status) != SIGTRAP) {
          /* A signal-delivery-stop beat our interrupt: keep the signal for the detach. The interrupt
           * stays pending and is discarded by the detach. */
          th->sig = WSTOPSIG(status);
        } else if (event == 0 && WSTOPSIG(status) == SIGTRAP) {
          th->sig = SIGTRAP; /* a real SIGTRAP (e.g. breakpoint) arrived first */
        }
        th->stopped = 1;
        return 1;
      }
      continue;
    }
    if (now_ms() >= deadline) return -1;
    struct timespec ts = {0, (long)sleep_us * 1000};
    nanosleep(&ts, NULL);
    if (sleep_us < 2000) sleep_us *= 2;
  }
}

/* Detach every stopped thread, re-injecting caught signals. Returns the number that failed. */
static int detach_all(hs_target *t) {
  int failed = 0;
  for (uint32_t i = 0; i < t->count; i++) {
    hs_thread *th = &t->threads[i];
    if (!th->stopped) {
      /* Seized but never reported a stop (timeout): stop it now so that it can be detached. */
      ptrace(PTRACE_INTERRUPT, th->tid, 0, 0);
      if (wait_stop(th, now_ms() + 1000) != 1) {
        if (tracer_of(t->pid, th->tid) > 0) failed++;
        continue;
      }
    }
    if (ptrace(PTRACE_DETACH, th->tid, 0, (void *)(intptr_t)th->sig) < 0) {
      if (errno != ESRCH) {
        failed++;
      } else {
        /* Killed while stopped: reap the ptrace zombie so that its real parent can. */
        int status;
        waitpid(th->tid, &status, __WALL | WNOHANG);
      }
    }
    th->stopped = 0;
  }
  t->count = 0;
  return failed;
}

/* ---- attach ----------------------------------------------------------------------------------- */

static int32_t seize_error(hs_target *t, pid_t tid, int err) {
  if (err == EPERM || err == EACCES) {
    long tracer = tracer_of(t->pid, tid);
    if (tracer > 0) {
      set_error("PTRACE_SEIZE of thread %d of process %d: %s: already traced by process %ld", tid,
                t->pid, strerror(err), tracer);
      return HS_ERR_BUSY;
    }
    set_error("PTRACE_SEIZE of thread %d of process %d: %s", tid, t->pid, strerror(err));
    return HS_ERR_PERMISSION;
  }
  set_error("PTRACE_SEIZE of thread %d of process %d: %s", tid, t->pid, strerror(err));
  return HS_ERR_INTERNAL;
}

/* One pass over /proc/PID/task: seize and interrupt every thread not yet stopped.
 * Returns the number of new threads (>= 0) or an hs_status. */
static int32_t attach_pass(hs_target *t, uint64_t deadline) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", t->pid);
  DIR *d = opendir(path);
  if (!d) {
    if (errno == ENOENT) {
      set_error("process %d exited while attaching (opendir %s: %s)", t->pid, path, strerror(errno));
      return HS_ERR_EXITED;
    }
    set_error("opendir %s: %s", path, strerror(errno));
    return errno == EACCES ? HS_ERR_PERMISSION : HS_ERR_INTERNAL;
  }
  int32_t added = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long tid = strtol(e->d_name, &end, 10);
    if (*end || tid <= 0) continue;
    if (find_thread(t, (pid_t)tid)) continue;
    if (ptrace(PTRACE_SEIZE, (pid_t)tid, 0, 0) < 0) {
      int err = errno;
      if (err == ESRCH) continue; /* the thread exited meanwhile */
      closedir(d);
      return seize_error(t, (pid_t)tid, err);
    }
    hs_thread *th = add_thread(t, (pid_t)tid);
    if (!th) {
      closedir(d);
      ptrace(PTRACE_DETACH, (pid_t)tid, 0, 0); /* not stopped yet: a seized running thread */
      set_error("out of memory tracking thread %ld", tid);
      return HS_ERR_INTERNAL;
    }
    if (ptrace(PTRACE_INTERRUPT, (pid_t)tid, 0, 0) < 0) {
      if (errno == ESRCH) {
        drop_thread(t, (pid_t)tid);
        continue;
      }
      int err = errno;
      closedir(d);
      set_error("PTRACE_INTERRUPT of thread %ld of process %d: %s", tid, t->pid, strerror(err));
      return HS_ERR_INTERNAL;
    }
    int w = wait_stop(th, deadline);
    if (w == 0) {
      drop_thread(t, (pid_t)tid);
      continue;
    }
    if (w < 0) {
      closedir(d);
      set_error("thread %ld of process %d did not stop in time (waitpid: %s)", tid, t->pid,
                errno ? strerror(errno) : "timeout");
      return HS_ERR_INTERNAL;
    }
    added++;
  }
  closedir(d);
  return added;
}

int32_t hs_attach(int32_t pid, uint32_t timeout_ms, hs_target **out) {
  if (!out) {
    set_error("hs_attach: out is NULL");
    return HS_ERR_ARG;
  }
  *out = NULL;
  if (pid <= 0) {
    set_error("hs_attach: invalid pid %d", pid);
    return HS_ERR_ARG;
  }
  if (pid == getpid()) {
    set_error("refusing to attach to process %d: it is heapscope itself", pid);
    return HS_ERR_ARG;
  }
  char state = 0;
  unsigned long flags = 0;
  if (!proc_state(pid, &state, &flags)) {
    set_error("process %d does not exist (/proc/%d/stat: %s)", pid, pid, strerror(errno));
    return HS_ERR_NO_PROCESS;
  }
  if (state == 'Z' || state == 'X') {
    set_error("process %d is a zombie (state %c)", pid, state);
    return HS_ERR_ZOMBIE;
  }
  if (flags & PF_KTHREAD_FLAG) {
    set_error("process %d is a kernel thread", pid);
    return HS_ERR_ZOMBIE;
  }

  hs_target *t = calloc(1, sizeof *t);
  if (!t) {
    set_error("hs_attach: out of memory");
    return HS_ERR_INTERNAL;
  }
  t->pid = pid;
  t->mem_fd = -1;
  t->page = sysconf(_SC_PAGESIZE);
  uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);

  int32_t rc;
  for (;;) {
    rc = attach_pass(t, deadline);
    if (rc < 0) break;
    if (rc == 0) break; /* a full pass found no new thread: the world is stopped */
  }
  if (rc == 0 && t->count == 0) {
    set_error("process %d has no thread left to stop: it exited while attaching", pid);
    rc = HS_ERR_NO_PROCESS;
  }
  if (rc < 0) {
    char saved[sizeof hs_err];
    memcpy(saved, hs_err, sizeof saved);
    int failed = detach_all(t);
    if (failed) {
      snprintf(hs_err, sizeof hs_err, "%s (and %d thread(s) could not be detached)", saved, failed);
    } else {
      memcpy(hs_err, saved, sizeof saved);
    }
    free(t->threads);
    free(t);
    return rc;
  }
  t->attached = 1;
  *out = t;
  return HS_OK;
}

/* ---- threads and registers -------------------------------------------------------------------- */

int32_t hs_thread_count(hs_target *t, uint32_t *count) {
  if (!t || !count) {
    set_error("hs_thread_count: NULL argument");
    return HS_ERR_ARG;
  }
  *count = t->attached ? t->count : 0;
  return HS_OK;
}

int32_t hs_thread_ids(hs_target *t, int64_t *ids, uint32_t cap, uint32_t *count) {
  if (!t || !count || (!ids && cap)) {
    set_error("hs_thread_ids: NULL argument");
    return HS_ERR_ARG;
  }
  uint32_t n = t->attached ? t->count : 0;
  *count = n;
  if (cap < n) {
    set_error("hs_thread_ids: buffer holds %u ids, %u threads", cap, n);
    return HS_ERR_ARG;
  }
  for (uint32_t i = 0; i < n; i++) ids[i] = t->threads[i].tid;
  return HS_OK;
}

static int32_t getregset(hs_target *t, hs_thread *th, int nt, void *buf, size_t cap, size_t *len) {
  struct iovec iov = {buf, cap};
  if (ptrace(PTRACE_GETREGSET, th->tid, (void *)(intptr_t)nt, &iov) < 0) {
    int err = errno;
    if (err == ESRCH && tracer_of(t->pid, th->tid) < 0) {
      t->exited = 1;
      set_error("PTRACE_GETREGSET(%#x) of thread %d: %s: the thread exited", nt, th->tid,
                strerror(err));
      return HS_ERR_EXITED;
    }
    set_error("PTRACE_GETREGSET(%#x) of thread %d of process %d: %s", nt, th->tid, t->pid,
              strerror(err));
    return err == EINVAL || err == ENODEV ? HS_ERR_UNSUPPORTED : HS_ERR_INTERNAL;
  }
  *len = iov.iov_len;
  return HS_OK;
}

int32_t hs_thread_regs(hs_target *t, uint32_t index, uint32_t kind, uint8_t *buf, uint32_t cap,
                       uint32_t *len) {
  if (!t || !buf || !len) {
    set_error("hs_thread_regs: NULL argument");
    return HS_ERR_ARG;
  }
  if (!t->attached) {
    set_error("hs_thread_regs: target %d is not stopped (resumed already)", t->pid);
    return HS_ERR_STATE;
  }
  if (index >= t->count) {
    set_error("hs_thread_regs: thread index %u out of range (%u threads)", index, t->count);
    return HS_ERR_ARG;
  }
  hs_thread *th = &t->threads[index];
  size_t n = 0;
  int32_t rc;
  switch (kind) {
  case 0:
    rc = getregset(t, th, NT_PRSTATUS, buf, cap, &n);
    break;
  case 1:
    rc = getregset(t, th, NT_PRFPREG, buf, cap, &n);
    break;
  case 2: {
    uint64_t tp = 0;
#if defined(__x86_64__)
    struct user_regs_struct regs;
    rc = getregset(t, th, NT_PRSTATUS, &regs, sizeof regs, &n);
    if (rc == HS_OK) tp = regs.fs_base;
#elif defined(__aarch64__)
    rc = getregset(t, th, NT_ARM_TLS, &tp, sizeof tp, &n);
#else
    rc = HS_ERR_UNSUPPORTED;
    set_error("hs_thread_regs: thread pointer not supported on this architecture");
#endif
    if (rc != HS_OK) return rc;
    if (cap < sizeof tp) {
      set_error("hs_thread_regs: buffer of %u bytes is too small for the thread pointer", cap);
      return HS_ERR_ARG;
    }
    memcpy(buf, &tp, sizeof tp);
    n = sizeof tp;
    break;
  }
  default:
    set_error("hs_thread_regs: unknown register kind %u", kind);
    return HS_ERR_ARG;
  }
  if (rc != HS_OK) return rc;
  *len = (uint32_t)n;
  return HS_OK;
}

/* ---- stepping out of a function --------------------------------------------------------------- */

static int32_t read_pc(hs_target *t, hs_thread *th, uint64_t *pc) {
  struct user_regs_struct regs;
  size_t n = 0;
  int32_t rc = getregset(t, th, NT_PRSTATUS, &regs, sizeof regs, &n);
  if (rc != HS_OK) return rc;
#if defined(__x86_64__)
  *pc = regs.rip;
#elif defined(__aarch64__)
  *pc = regs.pc;
#else
  set_error("hs_step_out: not supported on this architecture");
  return HS_ERR_UNSUPPORTED;
#endif
  return HS_OK;
}

static int in_ranges(uint64_t pc, const uint64_t *ranges, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (pc >= ranges[2 * i] && pc < ranges[2 * i + 1]) return 1;
  }
  return 0;
}

int32_t hs_step_out(hs_target *t, uint32_t index, const uint64_t *ranges, uint32_t n,
                    uint32_t max_steps, uint32_t timeout_ms, uint32_t *steps, uint32_t *inside) {
  if (!t || (!ranges && n) || !steps || !inside) {
    set_error("hs_step_out: NULL argument");
    return HS_ERR_ARG;
  }
  *steps = 0;
  *inside = 1;
  if (!t->attached) {
    set_error("hs_step_out: target %d is not stopped (resumed already)", t->pid);
    return HS_ERR_STATE;
  }
  if (index >= t->count) {
    set_error("hs_step_out: thread index %u out of range (%u threads)", index, t->count);
    return HS_ERR_ARG;
  }
  hs_thread *th = &t->threads[index];
  /* A signal waiting for delivery would run its handler on the first step: leave that thread. */
  if (!th->stopped || th->sig != 0) return HS_OK;
  uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 50);
  for (;;) {
    uint64_t pc = 0;
    int32_t rc = read_pc(t, th, &pc);
    if (rc != HS_OK) return rc;
    if (!in_ranges(pc, ranges, n)) {
      *inside = 0;
      return HS_OK;
    }
    if (*steps >= max_steps || now_ms() >= deadline) return HS_OK;
    if (ptrace(PTRACE_SINGLESTEP, th->tid, 0, 0) < 0) {
      set_error("PTRACE_SINGLESTEP of thread %d of process %d: %s", th->tid, t->pid,
                strerror(errno));
      if (errno == ESRCH) t->exited = 1;
      return errno == ESRCH ? HS_ERR_EXITED : HS_ERR_INTERNAL;
    }
    th->stopped = 0;
    (*steps)++;
    /* A step takes microseconds: spin on WNOHANG, then back off; past the deadline (a step into
     * a blocking system call) interrupt the thread to get it stopped again. */
    unsigned spins = 0;
    for (;;) {
      int status = 0;
      pid_t r = waitpid(th->tid, &status, __WALL | WNOHANG);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (r == th->tid && (WIFEXITED(status) || WIFSIGNALED(status)))) {
        t->exited = 1;
        set_error("hs_step_out: thread %d exited while stepping", th->tid);
        return HS_ERR_EXITED;
      }
      if (r == th->tid && WIFSTOPPED(status)) {
        th->stopped = 1;
        int event = (unsigned)status >> 16;
        if (event == 0 && WSTOPSIG(status) != SIGTRAP) {
          th->sig = WSTOPSIG(status); /* a real signal: delivered at the detach */
          return HS_OK;
        }
        break;
      }
      if (now_ms() >= deadline + 100) {
        ptrace(PTRACE_INTERRUPT, th->tid, 0, 0);
        int w = wait_stop(th, now_ms() + 1000);
        if (w == 0) {
          t->exited = 1;
          return HS_ERR_EXITED;
        }
        if (th->sig == SIGTRAP) th->sig = 0; /* the step's own trap, not the program's */
        return w == 1 ? HS_OK : HS_ERR_INTERNAL;
      }
      if (++spins > 200) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
      }
    }
  }
}

/* ---- memory ----------------------------------------------------------------------------------- */

static int target_gone(hs_target *t) {
  if (t->exited) return 1;
  if (kill(t->pid, 0) < 0 && errno == ESRCH) return t->exited = 1;
  char state = 0;
  unsigned long flags = 0;
  if (!proc_state(t->pid, &state, &flags) || state == 'Z' || state == 'X') return t->exited = 1;
  return 0;
}

/* Read [addr, addr+len) page by page: process_vm_readv, then pread on /proc/PID/mem, else zeros.
 * Returns HS_OK or HS_ERR_EXITED. */
static int32_t read_slow(hs_target *t, uint64_t addr, uint64_t len, uint8_t *dst, uint64_t *missing) {
  uint64_t page = (uint64_t)t->page;
  while (len > 0) {
    uint64_t n = page - (addr % page);
    if (n > len) n = len;
    struct iovec local = {dst, n};
    struct iovec remote = {(void *)(uintptr_t)addr, n};
    ssize_t r = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
    if (r < 0 && errno == ESRCH) {
      t->exited = 1;
      set_error("process %d exited while its memory was read (process_vm_readv at %#llx)", t->pid,
                (unsigned long long)addr);
      return HS_ERR_EXITED;
    }
    if (r < 0) r = 0;
    if ((uint64_t)r < n) {
      if (t->mem_fd < 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/mem", t->pid);
        t->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
      }
      ssize_t p = t->mem_fd >= 0 ? pread(t->mem_fd, dst + r, n - (uint64_t)r, (off_t)(addr + (uint64_t)r))
                                 : -1;
      if (p < 0) p = 0;
      uint64_t got = (uint64_t)r + (uint64_t)p;
      if (got < n) {
        memset(dst + got, 0, n - got);
        *missing += n - got;
      }
    }
    addr += n;
    dst += n;
    len -= n;
  }
  return HS_OK;
}

int32_t hs_read_ranges(hs_target *t, const uint64_t *ranges, uint32_t n, uint8_t *dst,
                       uint64_t *missing) {
  if (!t || (!ranges && n) || (!dst && n) || !missing) {
    set_error("hs_read_ranges: NULL argument");
    return HS_ERR_ARG;
  }
  *missing = 0;
  if (!t->attached) {
    set_error("hs_read_ranges: target %d is not stopped (resumed already)", t->pid);
    return HS_ERR_STATE;
  }
  struct iovec remote[IOV_MAX];
  uint32_t i = 0;
  uint8_t *out = dst;
  while (i < n) {
    /* One batch: up to IOV_MAX ranges and HS_BATCH_BYTES bytes, one local iovec. */
    uint32_t k = 0;
    uint64_t total = 0;
    while (i + k < n && k < IOV_MAX) {
      uint64_t len = ranges[2 * (i + k) + 1];
      if (k > 0 && total + len > HS_BATCH_BYTES) break;
      remote[k].iov_base = (void *)(uintptr_t)ranges[2 * (i + k)];
      remote[k].iov_len = len;
      total += len;
      k++;
    }
    struct iovec local = {out, total};
    ssize_t r = total ? process_vm_readv(t->pid, &local, 1, remote, k, 0) : 0;
    if (r < 0 && errno == ESRCH) {
      t->exited = 1;
      set_error("process %d exited while its memory was read (process_vm_readv: %s)", t->pid,
                strerror(ESRCH));
      return HS_ERR_EXITED;
    }
    if (r < 0 && errno == EPERM) {
      set_error("process_vm_readv of process %d: %s", t->pid, strerror(EPERM));
      return HS_ERR_PERMISSION;
    }
    if (r < 0) r = 0;
    if ((uint64_t)r == total) {
      out += total;
      i += k;
      continue;
    }
    /* Short read: everything before byte r is good. Find the range holding byte r, read its rest
     * page by page, then continue batching from the next range. */
    uint64_t done = (uint64_t)r;
    uint32_t j = 0;
    while (j < k && done >= remote[j].iov_len) {
      done -= remote[j].iov_len;
      out += remote[j].iov_len;
      j++;
    }
    uint64_t base = (uint64_t)(uintptr_t)remote[j].iov_base;
    uint64_t len = remote[j].iov_len;
    int32_t rc = read_slow(t, base + done, len - done, out + done, missing);
    if (rc != HS_OK) return rc;
    if (*missing && target_gone(t)) {
      set_error("process %d exited while its memory was read", t->pid);
      return HS_ERR_EXITED;
    }
    out += len;
    i += j + 1;
  }
  return HS_OK;
}

/* ---- not on Linux ----------------------------------------------------------------------------- */

int32_t hs_regions(hs_target *t, uint64_t *records, uint32_t cap, uint32_t *count) {
  (void)t, (void)records, (void)cap;
  if (count) *count = 0;
  set_error("hs_regions: not supported on Linux (read /proc/PID/maps)");
  return HS_ERR_UNSUPPORTED;
}

int32_t hs_zone_allocations(hs_target *t, uint64_t *records, uint64_t cap, uint64_t *count,
                            char *zone_names, uint32_t names_cap) {
  (void)t, (void)records, (void)cap, (void)zone_names, (void)names_cap;
  if (count) *count = 0;
  set_error("hs_zone_allocations: not supported on Linux (glibc heaps are parsed from memory)");
  return HS_ERR_UNSUPPORTED;
}

int32_t hs_images(hs_target *t, uint8_t *buf, uint32_t cap, uint32_t *len, uint32_t *count) {
  (void)t, (void)buf, (void)cap;
  if (len) *len = 0;
  if (count) *count = 0;
  set_error("hs_images: not supported on Linux (images come from /proc/PID/maps)");
  return HS_ERR_UNSUPPORTED;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

int32_t hs_alive(hs_target *t) {
  if (!t) return 0;
  return target_gone(t) ? 0 : 1;
}

int32_t hs_resume(hs_target *t) {
  if (!t) {
    set_error("hs_resume: NULL target");
    return HS_ERR_ARG;
  }
  if (!t->attached) return HS_OK;
  t->attached = 0;
  int failed = detach_all(t);
  if (t->mem_fd >= 0) {
    close(t->mem_fd);
    t->mem_fd = -1;
  }
  if (failed && !target_gone(t)) {
    set_error("could not detach %d thread(s) of process %d: %s", failed, t->pid, strerror(errno));
    return HS_ERR_INTERNAL;
  }
  return HS_OK;
}

void hs_close(hs_target *t) {
  if (!t) return;
  hs_resume(t);
  free(t->threads);
  free(t);
}
