// Unit tests of walkFastbins() on fastbinsY lists laid out as glibc writes them (2.31, 2.36, 2.43).

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MemoryImage } from "../memory.ts";
import { walkFastbins } from "./fastbins.ts";
import { layoutFor } from "./layout.ts";
import { protect } from "./safe_link.ts";
import { FakeProcess } from "./testdata/fake_heap.ts";

const H = 0x555555559000, A = 0x7ffff7800c60; // heap, arena
const hex = (n: number) => "0x" + n.toString(16);

function setup(version: string) {
  const { layout } = layoutFor(version);
  const p = new FakeProcess();
  p.map(H, H + 0x10000, "rw-p", "[heap]");
  p.map(A - 0xc60, A - 0xc60 + 0x2000, "rw-p", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  const sizes = new Map<number, number>();
  /** Pushes chunk `c` (header) of size `csize` on fastbin `i`. */
  const push = (i: number, c: number, csize: number) => {
    const head = new MemoryImage(p.snapshot().memory).u64(A + layout.fastbinsY! + 8 * i)!;
    p.w64(c + 16, layout.safeLinking ? protect(c + 16, head) : head);
    p.w64(A + layout.fastbinsY! + 8 * i, c);
    sizes.set(c, csize);
  };
  const run = () => {
    const warnings: string[] = [];
    const out = walkFastbins(
      new MemoryImage(p.snapshot().memory),
      A,
      "main-arena",
      layout,
      (h) => sizes.get(h),
      warnings,
    );
    return { out, warnings };
  };
  return { p, push, run, sizes, layout };
}

Deno.test("walkFastbins() follows safe-linked fd chains to chunk headers (2.36)", () => {
  const f = setup("2.36");
  f.push(0, H + 0x100, 0x20);
  f.push(0, H + 0x200, 0x20);
  f.push(5, H + 0x300, 0x70);
  assertEquals(f.run(), { out: [H + 0x200, H + 0x100, H + 0x300], warnings: [] });
});

Deno.test("walkFastbins() reads raw fd pointers before safe-linking (2.31)", () => {
  const f = setup("2.31");
  f.push(1, H + 0x100, 0x30);
  f.push(1, H + 0x200, 0x30);
  assertEquals(f.run(), { out: [H + 0x200, H + 0x100], warnings: [] });
});

Deno.test("walkFastbins() stops a bin at a cycle, a wrong size or a misaligned pointer", () => {
  const f = setup("2.36");
  f.push(0, H + 0x100, 0x20);
  f.push(0, H + 0x200, 0x20);
  f.p.w64(H + 0x110, protect(H + 0x110, H + 0x200)); // tail -> head
  assertEquals(f.run(), {
    out: [H + 0x200, H + 0x100],
    warnings: [`fastbin 0 of main-arena: cycle at ${hex(H + 0x200)}`],
  });
  f.p.w64(H + 0x110, protect(H + 0x110, 0));
  f.sizes.set(H + 0x100, 0x30);
  assertEquals(f.run().warnings, [
    `fastbin 0 of main-arena: entry ${hex(H + 0x100)} is not a chunk of size 0x20`,
  ]);
  // An fd stored unmangled (or corrupted) reveals to a misaligned address.
  f.sizes.set(H + 0x100, 0x20);
  f.p.w64(H + 0x210, H + 0x100);
  const r = f.run();
  assertEquals(r.out, [H + 0x200]);
  assertEquals(r.warnings.length, 1);
});

Deno.test("walkFastbins() finds none in 2.43, which has no fastbins", () => {
  const f = setup("2.43");
  assertEquals(f.layout.fastbinsY, undefined);
  assertEquals(f.run(), { out: [], warnings: [] });
});
