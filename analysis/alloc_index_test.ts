// Tests for the address → block index.
import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { AllocationIndex as Index } from "./alloc_index.ts";
import { AllocationTable } from "./allocation_table.ts";
import type { Allocation } from "./types.ts";

/** The index of a list of blocks (tests write them as objects). */
class AllocationIndex extends Index {
  constructor(allocations: Allocation[]) {
    super(AllocationTable.from(allocations));
  }
}

Deno.test("AllocationIndex.lookup() maps start, interior and end addresses", () => {
  const base = 0x7f00_0000_0000;
  const idx = new AllocationIndex([
    { address: base + 0x10, size: 24, zone: "z" },
    { address: base + 0x30, size: 0x2000, zone: "z" }, // spans pages
    { address: base + 0x5000, size: 0, zone: "z" }, // malloc(0)
  ]);
  assertEquals(idx.lookup(base + 0x10), 0);
  assertEquals(idx.lookup(base + 0x10 + 23), 0);
  assertEquals(idx.lookup(base + 0x10 + 24), -1);
  assertEquals(idx.lookup(base + 0x30 + 0x1fff), 1);
  assertEquals(idx.lookup(base + 0x1800), 1);
  assertEquals(idx.lookup(base + 0x5000), 2);
  assertEquals(idx.lookup(base + 0x5001), -1);
  assertEquals(idx.lookup(base), -1);
  assertEquals(idx.lookup(0), -1);
});

Deno.test("AllocationIndex agrees with a linear search on a dense random heap", () => {
  const allocs: { address: number; size: number; zone: string }[] = [];
  let addr = 0x5555_0000_0010;
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 5000; i++) {
    const size = 24 + Math.floor(rand() * 600) * 8;
    allocs.push({ address: addr, size, zone: "z" });
    addr += Math.ceil((size + 8) / 16) * 16 + (rand() < 0.2 ? 4096 : 0);
  }
  const idx = new AllocationIndex(allocs);
  const values: number[] = [];
  for (let k = 0; k < 20000; k++) {
    const v = allocs[0]!.address + Math.floor(rand() * (addr - allocs[0]!.address));
    const expect: number = allocs.findIndex((a) => v >= a.address && v < a.address + a.size);
    assertEquals(idx.lookup(v), expect, `value 0x${v.toString(16)}`);
    assertEquals(idx.search(v), expect, `search, value 0x${v.toString(16)}`);
    values.push(v);
  }
  // search() reads only the allocations' columns: the same answers once the table is gone.
  const before = values.map((v) => idx.search(v));
  idx.release();
  assertEquals(values.map((v) => idx.search(v)), before);
  assertEquals(idx.search(allocs[0]!.address - 1), -1);
  assertEquals(idx.search(addr + 1e6), -1);
});

Deno.test("AllocationIndex rejects overlapping blocks", () => {
  assertThrows(() =>
    new AllocationIndex([
      { address: 0x1000, size: 64, zone: "z" },
      { address: 0x1020, size: 64, zone: "z" },
    ])
  );
});

Deno.test("AllocationIndex.release() leaves an index that finds nothing", () => {
  const base = 0x7f00_0000_0000;
  const idx = new AllocationIndex([{ address: base + 0x10, size: 24, zone: "z" }]);
  assertEquals(idx.lookup(base + 0x10), 0);
  idx.release();
  assertEquals(idx.lookup(base + 0x10), -1);
  assertEquals(idx.starts.length, 1); // the allocations' own column stays
});
