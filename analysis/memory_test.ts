// Tests for MemoryImage reads and the walk over copied parts of a range.
import { deepEqual as assertEquals } from "node:assert/strict";
import { MemoryImage } from "./memory.ts";

const chunk = (start: number, len: number) => ({ start, bytes: new Uint8Array(len) });

Deno.test("MemoryImage.copiedParts() aligns, crosses adjacent chunks and skips holes", () => {
  const m = new MemoryImage([chunk(0x2000, 0x10), chunk(0x1000, 0x10), chunk(0x1010, 0x10)]);
  const parts = (a: number, b: number) =>
    [...m.copiedParts(a, b)].map((p) => [p.chunk.start, p.from, p.to]);
  assertEquals(parts(0x1004, 0x2008), [[0x1000, 0x1008, 0x1010], [0x1010, 0x1010, 0x1020], [
    0x2000,
    0x2000,
    0x2008,
  ]]);
  assertEquals(parts(0x0, 0x1008), [[0x1000, 0x1000, 0x1008]]);
  assertEquals(parts(0x1020, 0x2000), []);
  assertEquals(parts(0x3000, 0x4000), []);
});

Deno.test("MemoryImage.u64() reads little-endian words and refuses uncopied ones", () => {
  const c = chunk(0x1000, 16);
  new DataView(c.bytes.buffer).setBigUint64(8, 0x7fff_1234_5678n, true);
  const m = new MemoryImage([c]);
  assertEquals(m.u64(0x1008), 0x7fff_1234_5678);
  assertEquals(m.u64(0x100c), undefined);
  assertEquals(m.u64(0x0ff8), undefined);
});

Deno.test("MemoryImage.drop() forgets the chunks it is told of, asks once each, and keeps the rest", () => {
  const a = chunk(0x1000, 0x100), b = chunk(0x2000, 0x100), c = chunk(0x3000, 0x100);
  for (const [x, v] of [[a, 1], [b, 2], [c, 3]] as const) {
    new DataView(x.bytes.buffer).setUint32(8, v, true);
  }
  const m = new MemoryImage([c, a, b]);
  // Cache a window and the last chunk found in the chunk about to go.
  assertEquals(m.window(0x2008)?.start, 0x2000);
  assertEquals(m.u64(0x2008), 2);
  const asked: number[] = [];
  const gone = m.drop((x) => {
    asked.push(x.start);
    return x === b;
  });
  assertEquals(asked, [0x1000, 0x2000, 0x3000]);
  assertEquals(gone, [b]);
  assertEquals(m.chunks.map((x) => x.start), [0x1000, 0x3000]);
  assertEquals([m.u64(0x2008), m.window(0x2008), m.slice(0x2000, 8), m.has(0x20ff)], [
    undefined,
    undefined,
    undefined,
    false,
  ]);
  assertEquals([m.u64(0x1008), m.u64(0x3008), m.window(0x3008)?.start], [1, 3, 0x3000]);
  assertEquals([...m.copiedParts(0x1000, 0x3010)].map((p) => [p.from, p.to]), [
    [0x1000, 0x1100],
    [0x3000, 0x3010],
  ]);
  assertEquals(m.drop(() => false), []);
  assertEquals(m.chunks.length, 2);
});
