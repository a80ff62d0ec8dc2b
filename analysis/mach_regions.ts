// macOS VM regions as Snapshot regions: names from the kernel's user_tag, and which of them are heap.
//
// hs_regions returns (start, end, protection, user_tag). libmalloc tags every region it maps
// (VM_MEMORY_MALLOC_* in <mach/vm_statistics.h>), so the tag tells heap from the rest: malloc
// regions must never be scanned as roots (the allocations inside them are the graph's nodes, and
// libmalloc's own tables there would keep every block alive). O(regions).

import type { Region } from "./types.ts";

/** user_tag → region name; malloc regions are "[malloc …]", threads' stacks "[stack]". */
const TAG_NAMES: Record<number, string> = {
  1: "[malloc]",
  2: "[malloc small]",
  3: "[malloc large]",
  4: "[malloc huge]",
  5: "[sbrk]",
  6: "[malloc realloc]",
  7: "[malloc tiny]",
  8: "[malloc large reusable]",
  9: "[malloc large reused]",
  10: "[analysis tool]",
  11: "[malloc nano]",
  12: "[malloc medium]",
  13: "[malloc guard]",
  20: "[mach msg]",
  21: "[iokit]",
  30: "[stack]",
  31: "[guard]",
  32: "[shared pmap]",
  33: "[dylib]",
  35: "[unshared pmap]",
  60: "[dyld]",
  61: "[dyld malloc]",
};

/** Tags of the regions libmalloc maps for zone memory (VM_MEMORY_MALLOC .. MALLOC_PROB_GUARD). */
export function isMallocTag(tag: number): boolean {
  return (tag >= 1 && tag <= 4) || (tag >= 6 && tag <= 9) || (tag >= 11 && tag <= 13);
}

/** The Snapshot region for one hs_regions record; `path` (an image file) wins over the tag name. */
export function machRegion(
  start: number,
  end: number,
  prot: number,
  tag: number,
  path = "",
): Region {
  const perms = `${prot & 1 ? "r" : "-"}${prot & 2 ? "w" : "-"}${prot & 4 ? "x" : "-"}p`;
  return { start, end, perms, offset: 0, inode: 0, path: path || (TAG_NAMES[tag] ?? "") };
}

/** Ranges of malloc regions (named by machRegion) that a root scan must skip. */
export function darwinHeapRanges(regions: readonly Region[]): { start: number; end: number }[] {
  return regions.filter((r) => r.path.startsWith("[malloc")).map((r) => ({
    start: r.start,
    end: r.end,
  }));
}
