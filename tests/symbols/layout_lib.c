// The shared library half of layout.c: returns a return address inside itself.
#include "layout_lib.h"

__attribute__((noinline)) void *layout_lib_call(void *(*here)(void)) {
  void *pc = here(); /* LINE layout_lib_call */
  __asm__ volatile("" ::: "memory"); // keeps the call from becoming a tail call
  return pc;
}
