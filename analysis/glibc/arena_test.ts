// Tests of the arena ring walk and main_arena lookup: broken rings, the [heap] fallback, locked arenas.

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { enumerateGlibc } from "./mod.ts";
import { collectRoots } from "../roots.ts";
import { MemoryImage } from "../memory.ts";
import { buildFixture, HEAP, MAIN_ARENA, TARENA, THEAP } from "./testdata/fake_heap.ts";

const hex = (n: number) => "0x" + n.toString(16);
const inTheap = (a: number) => a >= THEAP && a < THEAP + 0x4000000;

Deno.test("enumerateGlibc() trusts the main_arena symbol and analyses the arenas before a ring cycle", () => {
  const { process, expected } = buildFixture();
  process.images[0]!.symbols = { main_arena: MAIN_ARENA };
  process.w64(TARENA + 0x870, TARENA); // the thread arena's next points to itself
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.allocations.toArray(), expected);
  const broken = heap.warnings.filter((w) => w.startsWith("arena ring broken"));
  assertEquals(broken.length, 1, String(heap.warnings));
  assert(broken[0]!.startsWith(`arena ring broken at ${hex(TARENA)} (its next ${hex(TARENA)}`));
  assert(/arenas after it are not analysed; their blocks are missing, not leaked/.test(broken[0]!));
});

Deno.test("enumerateGlibc() keeps the heaps of arenas after a broken link out of allocations and roots", () => {
  const { process, expected } = buildFixture();
  process.images[0]!.symbols = { main_arena: MAIN_ARENA };
  process.w64(MAIN_ARENA + 0x870, 0x12345670); // main_arena.next: not an arena
  const snap = process.snapshot();
  const heap = enumerateGlibc(snap);
  // Main arena and mmapped chunks as before; nothing from the unreached thread arena.
  assertEquals(heap.allocations.toArray(), expected.filter((a) => !inTheap(a.address)));
  assert(
    heap.warnings.some((w) =>
      w.startsWith(`arena ring broken at ${hex(MAIN_ARENA)} (its next 0x12345670 is `)
    ),
    String(heap.warnings),
  );
  assert(
    heap.warnings.includes(
      `heap ${hex(THEAP)}-${
        hex(THEAP + 0x21000)
      } belongs to an arena the ring does not reach: not analysed`,
    ),
    String(heap.warnings),
  );
  assert(heap.heapRanges.some((r) => r.start === THEAP && r.end === THEAP + 0x21000));
  const roots = collectRoots(snap, new MemoryImage(snap.memory), heap);
  const leaking = roots.ranges.filter((r) => r.start < THEAP + 0x21000 && r.end > THEAP);
  assertEquals(leaking, []);
});

Deno.test("enumerateGlibc() without symbols accepts a signature match whose top ends the [heap] when the ring is broken", () => {
  const { process, expected } = buildFixture();
  process.w64(MAIN_ARENA + 0x870, 0x12345670);
  const heap = enumerateGlibc(process.snapshot());
  assert(
    heap.warnings[0]!.startsWith(
      `main_arena found by bin signature at ${hex(MAIN_ARENA)}, validated by its top chunk`,
    ),
    String(heap.warnings),
  );
  assertEquals(heap.allocations.toArray(), expected.filter((a) => !inTheap(a.address)));
});

Deno.test("enumerateGlibc() without symbols refuses a signature match with neither a ring nor a fitting top", () => {
  const { process } = buildFixture();
  process.w64(MAIN_ARENA + 0x870, 0x12345670);
  process.w64(MAIN_ARENA + 0x60, HEAP + 0x1000); // top no longer ends at the [heap] end
  assertThrows(
    () => enumerateGlibc(process.snapshot()),
    /^AnalysisError: Cannot enumerate allocations of process 4242: main_arena not found/,
  );
});

Deno.test("enumerateGlibc() warns about a locked arena in a multithreaded copy only", () => {
  const { process } = buildFixture();
  process.w64(TARENA, 1); // mutex of the thread arena (the int at offset 0)
  const two = enumerateGlibc(process.snapshot());
  assert(
    two.warnings.some((w) => w.startsWith(`arena ${hex(TARENA)} was locked (mutex 1)`)),
    String(two.warnings),
  );
  process.threads.splice(1);
  const one = enumerateGlibc(process.snapshot());
  assert(!one.warnings.some((w) => / was locked /.test(w)), String(one.warnings));
});
