// Unit tests of findMmappedChunks() on mmapped chunk headers as ≤ 2.42 and 2.43 write them.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MemoryImage } from "../memory.ts";
import { layoutFor } from "./layout.ts";
import { findMmappedChunks } from "./mmapped.ts";
import { FakeProcess } from "./testdata/fake_heap.ts";
import { WordViews } from "./word_views.ts";

const M = 0x7ffff7a00000;
const L36 = layoutFor("2.36").layout, L43 = layoutFor("2.43").layout;

function find(p: FakeProcess, layout = L36, skip: { start: number; end: number }[] = []) {
  const s = p.snapshot();
  return findMmappedChunks(new WordViews(new MemoryImage(s.memory)), s.regions, skip, 4096, layout);
}

Deno.test("findMmappedChunks() finds plain and memalign'd chunks merged in one VMA (≤ 2.42)", () => {
  const p = new FakeProcess();
  p.map(M, M + 0x26000, "rw-p");
  p.chunk(M, 0x2002, 0); // malloc(8000)
  p.chunk(M + 0x2000, 0x21002, 0); // stale header of a posix_memalign(4096, ...) mapping
  p.chunk(M + 0x2ff0, (0x21000 - 0xff0) | 2, 0xff0); // its real header: lead 0xff0
  p.w64(M + 0x23000, 0x1234); // not a chunk (e.g. TLS), then another chunk
  p.chunk(M + 0x24000, 0x2002, 0);
  assertEquals(find(p), [
    { mapStart: M, mapEnd: M + 0x2000, header: M, size: 0x2000, usable: 0x1ff0 },
    {
      mapStart: M + 0x2000,
      mapEnd: M + 0x23000,
      header: M + 0x2ff0,
      size: 0x21000 - 0xff0,
      usable: 0x21000 - 0xff0 - 16,
    },
    {
      mapStart: M + 0x24000,
      mapEnd: M + 0x26000,
      header: M + 0x24000,
      size: 0x2000,
      usable: 0x1ff0,
    },
  ]);
});

Deno.test("findMmappedChunks() reads 2.43's headers: size = length − offset − 16, MMAP_HP in prev_size", () => {
  const p = new FakeProcess();
  p.map(M, M + 0x25000, "rw-p");
  p.chunk(M, (0x2000 - 16) | 2, 0);
  p.chunk(M + 0x2000, (0x21000 - 16) | 2, 1); // a huge-page mapping (MMAP_HP), stale memalign base
  p.chunk(M + 0x2ff0, (0x21000 - 0xff0 - 16) | 2, 0xff0 | 1);
  p.chunk(M + 0x23000, (0x2000 - 16) | 2, 0);
  assertEquals(find(p, L43).map((c) => [c.header - M, c.size, c.usable, c.mapEnd - c.mapStart]), [
    [0, 0x1ff0, 0x1fe8, 0x2000],
    [0x2ff0, 0x21000 - 0xff0 - 16, 0x21000 - 0xff0 - 24, 0x21000],
    [0x23000, 0x1ff0, 0x1fe8, 0x2000],
  ]);
  // The ≤ 2.42 reading of the same bytes finds nothing: no size is a page multiple.
  assertEquals(find(p, L36), []);
});

Deno.test("findMmappedChunks() rejects what is not a chunk: prev_size set, odd sizes, too long, file mappings, skipped ranges", () => {
  const p = new FakeProcess();
  p.map(M, M + 0x8000, "rw-p");
  p.chunk(M, 0x1002, 8); // prev_size must be 0 at a mapping start
  p.chunk(M + 0x1000, 0x1802, 0); // not a page multiple
  p.chunk(M + 0x2000, 0x10002, 0); // runs past the VMA
  p.chunk(M + 0x3000, 0x1003, 0); // PREV_INUSE too: a heap chunk's flags
  p.chunk(M + 0x4000, 0x1002, 0); // fine
  p.map(M + 0x10000, M + 0x11000, "rw-p", "/tmp/file");
  p.chunk(M + 0x10000, 0x1002, 0); // in a file mapping
  assertEquals(find(p).map((c) => c.header), [M + 0x4000]);
  assertEquals(find(p, L36, [{ start: M + 0x4000, end: M + 0x5000 }]), []);
});
