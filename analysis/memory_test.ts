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
