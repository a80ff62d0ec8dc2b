// Unit tests of enumerateGlibc() on synthetic glibc 2.36 heaps built byte by byte.

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { enumerateGlibc } from "./mod.ts";
import {
  buildFixture,
  HEAP,
  HEAP_END,
  MAIN_ARENA,
  MMAP,
  MP,
  TARENA,
  THEAP,
} from "./testdata/fake_heap.ts";
import { protect } from "./safe_link.ts";

const hex = (n: number) => "0x" + n.toString(16);

Deno.test("enumerateGlibc() lists exactly the live chunks of every arena and mmapped chunk", () => {
  const { process, expected } = buildFixture();
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.allocator, "glibc 2.36 malloc");
  assertEquals(heap.allocations.toArray(), expected);
  assertEquals(heap.warnings, [`main_arena found by bin signature at ${hex(MAIN_ARENA)}`]);
});

Deno.test("enumerateGlibc() excludes allocator metadata and reports heap ranges", () => {
  const { process, c } = buildFixture();
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.excluded.map((e) => [e.start, e.end]), [
    [HEAP, HEAP + 0x290],
    [THEAP, THEAP + 0x30],
    [TARENA, TARENA + 0x898],
    [c.ttcache!, c.ttcache! + 0x290],
    [MP, MP + 0x88],
    [MAIN_ARENA, MAIN_ARENA + 0x898],
  ]);
  assertEquals(heap.excluded[0]!.why, "tcache of thread 100");
  assertEquals(heap.excluded[3]!.why, "tcache of thread 101");
  assertEquals(heap.heapRanges, [
    { start: HEAP, end: HEAP_END },
    { start: THEAP, end: THEAP + 0x21000 },
    { start: MMAP, end: MMAP + 0x2000 },
    { start: MMAP + 0x2000, end: MMAP + 0x23000 },
  ]);
});

Deno.test("enumerateGlibc() uses the main_arena symbol when present and reads no version without rodata", () => {
  const { process, expected } = buildFixture();
  process.images[0]!.symbols = { main_arena: MAIN_ARENA, mp_: MP };
  const snap = process.snapshot();
  snap.memory = snap.memory.filter((m) => m.start !== 0x7ffff7800000); // drop the r-- banner page
  const heap = enumerateGlibc(snap);
  assertEquals(heap.allocator, "glibc malloc");
  assertEquals(heap.allocations.toArray(), expected);
  assertEquals(heap.warnings, ["glibc version unknown: assuming the 2.36 layout"]);
});

Deno.test("enumerateGlibc() finds the tcache by TLS scan when libc has no GOT TPOFF slot", () => {
  const { process, expected } = buildFixture();
  process.w64(0x7ffff7801d78, 0);
  process.w64(0x7ffff7801d70, 0);
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.allocations.toArray(), expected);
  assert(heap.warnings.includes("tcache TLS slot found by TLS scan heuristic"));
});

Deno.test("enumerateGlibc() reports a corrupt chunk size and still analyses the rest", () => {
  const { process, expected, c } = buildFixture();
  process.chunk(c.d!, 0x12345678);
  const heap = enumerateGlibc(process.snapshot());
  assert(heap.warnings.includes(`corrupt chunk at ${hex(c.d!)} in main-arena: size 0x12345678`));
  // Chunks before the corrupt one, the thread arena and the mmapped chunks are all still there.
  assertEquals(
    heap.allocations.toArray(),
    expected.filter((a) => a.address < c.d! || a.address > HEAP_END),
  );
});

Deno.test("enumerateGlibc() stops at a tcache list cycle with a warning", () => {
  const { process, expected, c } = buildFixture();
  process.w64(c.t1! + 16, protect(c.t1! + 16, c.t2! + 16)); // t1 -> t2 -> t1 -> ...
  const heap = enumerateGlibc(process.snapshot());
  assert(
    heap.warnings.some((w) => w.includes(`cycle at ${hex(c.t2! + 16)}`)),
    heap.warnings.join("; "),
  );
  assertEquals(heap.allocations.toArray(), expected);
});

Deno.test("enumerateGlibc() stops at a fastbin cycle with a warning", () => {
  const { process, expected, c } = buildFixture();
  process.w64(c.fast! + 16, protect(c.fast! + 16, c.fast!));
  const heap = enumerateGlibc(process.snapshot());
  assert(
    heap.warnings.some((w) => w.includes(`fastbin 5 of main-arena: cycle at ${hex(c.fast!)}`)),
  );
  assertEquals(heap.allocations.toArray(), expected);
});

Deno.test("enumerateGlibc() keeps an orphan tcache struct's entries free and excludes the struct", () => {
  const { process, expected, c } = buildFixture();
  process.threads.pop(); // thread 101 is gone (e.g. a fork child): its struct is orphaned
  const heap = enumerateGlibc(process.snapshot());
  assertEquals(heap.allocations.toArray(), expected);
  assert(
    heap.warnings.includes(
      `orphan tcache struct at ${hex(c.ttcache! + 16)} (no live thread points to it)`,
    ),
  );
});

Deno.test("enumerateGlibc() warns when mp_ and system_mem disagree with what was found", () => {
  const { process } = buildFixture();
  process.w64(MP + 0x50, 0x1000);
  process.w64(MAIN_ARENA + 0x888, 0x42000);
  const heap = enumerateGlibc(process.snapshot());
  assert(
    heap.warnings.includes("mp_.mmapped_mem is 0x1000 but the mmapped chunks found span 0x23000"),
  );
  assert(heap.warnings.includes("main_arena.system_mem 0x42000 != [heap] size 0x21000"));
});

Deno.test("enumerateGlibc() throws when main_arena cannot be found", () => {
  const { process } = buildFixture();
  for (let i = 1; i <= 127; i++) process.w64(MAIN_ARENA + 0x70 + 16 * (i - 1), 0);
  assertThrows(() => enumerateGlibc(process.snapshot()), /main_arena not found in .*libc\.so\.6/);
});

Deno.test("enumerateGlibc() refuses a jemalloc process", () => {
  const { process } = buildFixture();
  process.map(0x7ffff7600000, 0x7ffff7601000, "r--p", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
  assertThrows(
    () => enumerateGlibc(process.snapshot()),
    /uses jemalloc .*libjemalloc\.so\.2 is mapped/,
  );
});

Deno.test("enumerateGlibc() treats a thread heap's size-0 end marker and fenceposts as non-allocations", () => {
  const { process, expected, c } = buildFixture();
  // Turn the thread arena's top into an old-heap tail: fencepost 0x10|P then a 0|P header, with
  // the arena's top moved to a second (later) heap at a lower 64 MiB slot.
  process.chunk(c.ttop!, 0x11);
  process.chunk(c.ttop! + 0x10, 0x1);
  const second = THEAP - 0x4000000;
  process.map(second, second + 0x1000, "rw-p");
  process.w64(second, TARENA);
  process.w64(second + 0x8, THEAP);
  process.w64(second + 0x10, 0x1000);
  process.w64(second + 0x18, 0x1000);
  process.chunk(second + 0x30, 0x25);
  process.chunk(second + 0x50, (0x1000 - 0x50) | 1);
  process.w64(TARENA + 0x60, second + 0x50);
  process.w64(TARENA + 0x888, 0x22000);
  const heap = enumerateGlibc(process.snapshot());
  const zone = `arena ${hex(TARENA)}`;
  assertEquals(
    heap.allocations.toArray(),
    [...expected, { address: second + 0x40, size: 0x18, zone }].sort((a, b) =>
      a.address - b.address
    ),
  );
  assertEquals(heap.warnings, [`main_arena found by bin signature at ${hex(MAIN_ARENA)}`]);
});

/** Adds ld.so with _r_debug → link_maps (exe, libc with l_tls_offset) and libc's TLS symbols. */
function withLinkMap(f: ReturnType<typeof buildFixture>, lTlsOffset: number): void {
  const p = f.process, ld = 0x7ffff7fc0000;
  p.map(ld, ld + 0x1000, "rw-p", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0x33000);
  p.images.push({
    path: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    bias: ld - 0x33000,
    writable: [],
    symbols: { _r_debug: ld + 0x100 },
  });
  p.w64(ld + 0x108, ld + 0x200); // r_map
  p.w64(ld + 0x200, 0x555555554000); // exe link_map: l_addr
  p.w64(ld + 0x218, ld + 0x400); // l_next
  p.w64(ld + 0x400, 0x7ffff7800000); // libc link_map: l_addr = libc bias
  p.w64(ld + 0x400 + 1144, lTlsOffset);
  p.w64(0x7ffff7800600, 64 + 1 * 4294967296); // descriptor {bits 64, count 1, offset 1144}
  p.w64(0x7ffff7800608, 1144);
  p.images[0]!.symbols = { "tls:tcache": 0x48, _thread_db_link_map_l_tls_offset: 0x7ffff7800600 };
  p.w64(0x7ffff7801d78, 0); // no GOT slots: only the symbol route can find the slot
  p.w64(0x7ffff7801d70, 0);
}

Deno.test("enumerateGlibc() finds the tcache TLS slot from tls:tcache and libc's link_map", () => {
  const f = buildFixture();
  withLinkMap(f, 0x98);
  const heap = enumerateGlibc(f.process.snapshot());
  assertEquals(heap.allocations.toArray(), f.expected);
  assertEquals(heap.warnings, [`main_arena found by bin signature at ${hex(MAIN_ARENA)}`]);
});

Deno.test("enumerateGlibc() falls back to the TLS scan when the symbol slot does not validate", () => {
  const f = buildFixture();
  withLinkMap(f, 0x90);
  const heap = enumerateGlibc(f.process.snapshot());
  assertEquals(heap.allocations.toArray(), f.expected);
  assert(heap.warnings.includes("tcache TLS slot tp-72 from symbols does not validate"));
  assert(heap.warnings.includes("tcache TLS slot found by TLS scan heuristic"));
});
