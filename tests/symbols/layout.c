// Prints return addresses inside named functions of itself and of a shared library, and each
// image's load bias as the dynamic loader knows it, then waits: the symbolizer tests compare
// heapscope's names and biases for this live process with gdb, addr2line and ld.so.
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layout_lib.h"

__attribute__((noinline)) void *layout_here(void) { return __builtin_return_address(0); }

__attribute__((noinline)) void layout_outer(void) {
  void *pc = layout_here(); /* LINE layout_outer */
  printf("pc layout_outer %p\n", pc);
}

static int print_bias(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  // The main program has an empty name here: /proc/self/exe names it.
  char path[4096] = "";
  if (info->dlpi_name[0] == '\0') {
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) path[n] = '\0';
  } else {
    snprintf(path, sizeof path, "%s", info->dlpi_name);
  }
  if (path[0] == '/') printf("bias %s %#lx\n", path, (unsigned long)info->dlpi_addr);
  return 0;
}

int main(void) {
  layout_outer();
  void *pc = layout_lib_call(layout_here); /* LINE main */
  printf("pc layout_lib_call %p\n", pc);
  pc = layout_here(); /* LINE main2 */
  printf("pc main %p\n", pc);
  dl_iterate_phdr(print_bias, NULL);
  printf("READY\n");
  fflush(stdout);
  char buf[1];
  // Stay alive (and mapped) until the test closes stdin.
  while (read(0, buf, 1) > 0) {
  }
  return 0;
}
