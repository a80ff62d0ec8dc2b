// Tests of reveal()/protect() on full 47-bit addresses.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { protect, reveal } from "./safe_link.ts";

Deno.test("reveal() undoes PROTECT_PTR for high addresses and maps NULL to pos >> 12", () => {
  const pos = 0x7fffe8000b70, target = 0x7fffe8000ba0;
  // (0x7fffe8000b70 >> 12) ^ 0x7fffe8000ba0, computed by hand with BigInt.
  const stored = Number((BigInt(pos) >> 12n) ^ BigInt(target));
  assertEquals(protect(pos, target), stored);
  assertEquals(reveal(pos, stored), target);
  assertEquals(protect(pos, 0), Math.floor(pos / 4096));
  assertEquals(reveal(pos, Math.floor(pos / 4096)), 0);
});
