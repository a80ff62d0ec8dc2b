/* glibc's own entry points behind malloc & co, exported without dlsym (GLIBC_2.2.5 on x86_64).
 * Interposers forward to these so that looking up the "next" malloc can never recurse into them.
 * Used by the recorder (shim/recorder_linux.c) and the test interposers. */
#ifndef HEAPSCOPE_LIBC_MALLOC_H
#define HEAPSCOPE_LIBC_MALLOC_H
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#endif
