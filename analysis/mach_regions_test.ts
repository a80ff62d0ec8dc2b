// Tests for naming macOS regions by user_tag and picking out the malloc regions.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { darwinHeapRanges, isMallocTag, machRegion } from "./mach_regions.ts";

Deno.test("machRegion() builds perms from VM_PROT bits and names by tag", () => {
  assertEquals(machRegion(0x1000, 0x2000, 3, 7), {
    start: 0x1000,
    end: 0x2000,
    perms: "rw-p",
    offset: 0,
    inode: 0,
    path: "[malloc tiny]",
  });
  assertEquals(machRegion(0, 1, 5, 0, "/usr/lib/dyld").perms, "r-xp");
  assertEquals(machRegion(0, 1, 5, 0, "/usr/lib/dyld").path, "/usr/lib/dyld");
  assertEquals(machRegion(0, 1, 3, 30).path, "[stack]");
  assertEquals(machRegion(0, 1, 0, 99).path, "");
  assertEquals(machRegion(0, 1, 0, 99).perms, "---p");
});

Deno.test("isMallocTag() covers every VM_MEMORY_MALLOC_* tag and nothing else", () => {
  const malloc = [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13];
  for (let tag = 0; tag < 256; tag++) {
    assertEquals(isMallocTag(tag), malloc.includes(tag), `${tag}`);
  }
});

Deno.test("darwinHeapRanges() returns the malloc regions only", () => {
  const regions = [
    machRegion(0x1_0000_0000, 0x1_0000_4000, 5, 0, "/tmp/leaky"),
    machRegion(0x1_0000_4000, 0x1_0000_8000, 3, 0, "/tmp/leaky"),
    machRegion(0x6000_0000_0000, 0x6000_0080_0000, 3, 11),
    machRegion(0x1_4a00_0000, 0x1_4a10_0000, 3, 7),
    machRegion(0x1_6f00_0000, 0x1_6f80_0000, 3, 30),
    machRegion(0x1_6f80_0000, 0x1_6f80_4000, 0, 31),
  ];
  assertEquals(darwinHeapRanges(regions), [
    { start: 0x6000_0000_0000, end: 0x6000_0080_0000 },
    { start: 0x1_4a00_0000, end: 0x1_4a10_0000 },
  ]);
});
