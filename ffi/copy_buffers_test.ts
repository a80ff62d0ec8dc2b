// Tests for CopyBuffers: pre-touched blocks handed out in order, fresh memory once they are full.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CopyBuffers } from "./copy_buffers.ts";

Deno.test("CopyBuffers.take() hands out adjacent zeroed views of one prepared block", () => {
  const b = new CopyBuffers([8192, 100, 4096], 1000);
  assertEquals(b.preparedBytes, 8192 + 100 + 4096 + 1000);
  const x = b.take(8192), y = b.take(100), z = b.take(4096 + 600);
  assert(x.buffer === y.buffer && y.buffer === z.buffer);
  assertEquals([y.byteOffset - x.byteOffset, z.byteOffset - x.byteOffset], [8192, 8292]);
  const at = (v: Uint8Array) => Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(v)));
  assertEquals(at(x) % 4096, 0, "the block starts on a page");
  assert(z.every((v) => v === 0));
  assertEquals(b.coldBytes, 0);
});

Deno.test("CopyBuffers.take() falls back to fresh memory when the slack is used up", () => {
  const b = new CopyBuffers([4096], 16);
  b.take(4000);
  const fresh = b.take(200);
  assertEquals(fresh.length, 200);
  assertEquals(Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(fresh))) % 4096, 0);
  assertEquals(b.coldBytes, 200);
  // A smaller request still fits the room left in the block.
  const rest = b.take(100);
  assert(rest.buffer !== fresh.buffer);
  assertEquals(b.coldBytes, 200);
});

Deno.test("CopyBuffers of nothing prepares nothing and still serves requests", () => {
  const b = new CopyBuffers([], 0);
  assertEquals(b.preparedBytes, 0);
  assertEquals(b.take(10).length, 10);
  assertEquals(b.coldBytes, 10);
});
