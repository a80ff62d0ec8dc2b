// registers: blocks whose only reference is a register, in a thread blocked in a system call and in
// a thread running user code, so a test can check which registers heapscope counts as roots.
//
//   syscall thread: blocks in read(2) on a pipe nobody writes, issued with the syscall instruction,
//                   with "syscall-xmm" only in xmm2, "syscall-r8" only in r8 (caller-saved: dead
//                   across a call) and "syscall-r12" only in r12 (callee-saved: live for a caller).
//   user thread:    spins in user code with "user-xmm" only in xmm3 and "user-r13" only in r13.
//
// Prints one JSON line with each block's address and both threads' ids, then READY (the test
// waits until /proc says the syscall thread is in read(2)); exits when stdin closes. x86_64 only.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ENC 0xa5a5a5a5a5a5a5a5ull // printed addresses are stored encoded: no root holds them

// Encoded (^ ENC): not pointers. Not static: the inline assembly names them.
uintptr_t g_syscall_xmm, g_syscall_r8, g_syscall_r12, g_user_xmm, g_user_r13;
static int g_pipe[2];
static volatile int g_ready;
static volatile pid_t g_syscall_tid, g_user_tid;

static void *fresh(size_t n) {
  void *p = malloc(n);
  memset(p, 0x11, n);
  return p;
}

// Decodes the three blocks straight into xmm2, r8 and r12 (no other register or stack slot ever
// holds them decoded) and blocks in read(2) with the raw syscall instruction.
static void *syscall_thread(void *arg) {
  (void)arg;
  char buf[8];
  g_syscall_tid = (pid_t)syscall(SYS_gettid);
  __atomic_add_fetch(&g_ready, 1, __ATOMIC_SEQ_CST);
  __asm__ volatile(
      "movabsq $0xa5a5a5a5a5a5a5a5, %%rcx\n\t"
      "movq g_syscall_xmm(%%rip), %%rax\n\t"
      "xorq %%rcx, %%rax\n\t"
      "movq %%rax, %%xmm2\n\t"
      "movq g_syscall_r8(%%rip), %%r8\n\t"
      "xorq %%rcx, %%r8\n\t"
      "movq g_syscall_r12(%%rip), %%r12\n\t"
      "xorq %%rcx, %%r12\n\t"
      "xorl %%eax, %%eax\n\t" // SYS_read: rax and rcx no longer hold a block
      "xorl %%ecx, %%ecx\n\t"
      "syscall\n\t"
      :
      : "D"((long)g_pipe[0]), "S"(buf), "d"(1L)
      : "rax", "rcx", "r11", "r8", "r12", "xmm2", "memory");
  return NULL;
}

// Spins in user code with one block in xmm3 and one in r13, decoded there and nowhere else.
static void *user_thread(void *arg) {
  (void)arg;
  g_user_tid = (pid_t)syscall(SYS_gettid);
  __atomic_add_fetch(&g_ready, 1, __ATOMIC_SEQ_CST);
  __asm__ volatile(
      "movabsq $0xa5a5a5a5a5a5a5a5, %%rcx\n\t"
      "movq g_user_xmm(%%rip), %%rax\n\t"
      "xorq %%rcx, %%rax\n\t"
      "movq %%rax, %%xmm3\n\t"
      "movq g_user_r13(%%rip), %%r13\n\t"
      "xorq %%rcx, %%r13\n\t"
      "xorl %%eax, %%eax\n\t"
      "1: pause\n\t"
      "jmp 1b\n\t"
      :
      :
      : "rax", "rcx", "r13", "xmm3", "memory");
  return NULL;
}

int main(void) {
  if (pipe(g_pipe) != 0) return 1;
  g_syscall_xmm = (uintptr_t)fresh(72) ^ ENC;
  g_syscall_r8 = (uintptr_t)fresh(88) ^ ENC;
  g_syscall_r12 = (uintptr_t)fresh(104) ^ ENC;
  g_user_xmm = (uintptr_t)fresh(120) ^ ENC;
  g_user_r13 = (uintptr_t)fresh(136) ^ ENC;
  pthread_t t1, t2;
  pthread_create(&t1, NULL, syscall_thread, NULL);
  pthread_create(&t2, NULL, user_thread, NULL);
  while (__atomic_load_n(&g_ready, __ATOMIC_SEQ_CST) < 2) sched_yield();
  printf("{\"syscall-xmm\":\"0x%lx\",\"syscall-r8\":\"0x%lx\",\"syscall-r12\":\"0x%lx\","
         "\"user-xmm\":\"0x%lx\",\"user-r13\":\"0x%lx\",\"syscallTid\":%d,\"userTid\":%d}\n",
         (unsigned long)(g_syscall_xmm ^ ENC), (unsigned long)(g_syscall_r8 ^ ENC),
         (unsigned long)(g_syscall_r12 ^ ENC), (unsigned long)(g_user_xmm ^ ENC),
         (unsigned long)(g_user_r13 ^ ENC), (int)g_syscall_tid, (int)g_user_tid);
  printf("READY\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  _exit(0);
}
