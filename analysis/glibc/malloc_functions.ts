// Which glibc malloc function a program counter is in: is a stopped thread inside the allocator?
//
// The ranges come from the symbols and sizes of libc's .symtab (libc6-dbg) or .dynsym (the exported
// __libc_* entry points only). O(functions) per lookup; there are a few dozen.

import type { Image } from "../types.ts";

/**
 * The functions of glibc's malloc.o (2.36 .symtab names, and those 2.43 added; compiler suffixes
 * included as they appear there) that read or change arena, bin or tcache state. A thread stopped
 * in one of them may be half-way through an update. Names missing from a given build are simply not
 * found.
 */
export const MALLOC_FUNCTIONS = [
  "__libc_malloc",
  "__libc_free",
  "__libc_calloc",
  "__libc_realloc",
  "__libc_memalign",
  "__libc_valloc",
  "__libc_pvalloc",
  "__posix_memalign",
  "__malloc_trim",
  "__malloc_arena_thread_freeres",
  "_int_malloc",
  "_int_free",
  "_int_realloc",
  "_int_memalign",
  "_mid_memalign",
  "_mid_memalign.constprop.0",
  "malloc_consolidate",
  "sysmalloc",
  "sysmalloc_mmap",
  "sysmalloc_mmap.constprop.0",
  "sysmalloc_mmap_fallback",
  "sysmalloc_mmap_fallback.constprop.0",
  "systrim",
  "systrim.constprop.0",
  "munmap_chunk",
  "unlink_chunk",
  "unlink_chunk.constprop.0",
  "tcache_init",
  "tcache_init.part.0",
  "tcache_thread_shutdown",
  "arena_get2",
  "arena_get_retry",
  "_int_new_arena",
  "new_heap",
  "alloc_new_heap",
  "grow_heap",
  "shrink_heap",
  "heap_trim",
  "detach_arena",
  "detach_arena.part.0",
  "ptmalloc_init",
  "ptmalloc_init.part.0",
  "__malloc_fork_lock_parent",
  "__malloc_fork_unlock_parent",
  "__malloc_fork_unlock_child",
  // 2.43 (Debian sid's libc6-dbg 2.43-7): the split of _int_free, the lazy tcache.
  "__libc_malloc2",
  "__libc_calloc2",
  "_int_free_chunk",
  "_int_free_create_chunk",
  "_int_free_merge_chunk",
  "_int_free_maybe_trim",
  "unlink_chunk.isra.0",
  "tcache_free_init",
  "tcache_double_free_verify",
] as const;

/** [start, end) of each malloc function found in `images`, with its name. */
export interface MallocFunctionRange {
  start: number;
  end: number;
  name: string;
}

/** The text ranges of MALLOC_FUNCTIONS that `images` carry symbols (with sizes) for. */
export function mallocFunctionRanges(images: readonly Image[]): MallocFunctionRange[] {
  const out: MallocFunctionRange[] = [];
  for (const img of images) {
    for (const name of MALLOC_FUNCTIONS) {
      const start = img.symbols?.[name], size = img.symbolSizes?.[name];
      if (start === undefined || size === undefined || size <= 0) continue;
      out.push({
        start,
        end: start + size,
        name: name.replace(/\.(part|constprop|isra)\.\d+$/, ""),
      });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The malloc function `pc` is in, or undefined. */
export function mallocFunctionAt(
  ranges: readonly MallocFunctionRange[],
  pc: number,
): string | undefined {
  return ranges.find((r) => pc >= r.start && pc < r.end)?.name;
}
