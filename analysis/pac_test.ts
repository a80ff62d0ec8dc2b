// Tests for PAC stripping on signed arm64e pointers of the shapes macOS crash reports show.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { MemoryImage } from "./memory.ts";
import { PAC_MASK, readStrippedPointer, stripPac, stripPacHalves } from "./pac.ts";

// Signed return addresses into the arm64e shared cache (0x18xxxxxxx), as in `lr:` lines of crash
// logs: PAC in bits 47..54 and 56..63, bit 55 clear.
const SIGNED: [bigint, number][] = [
  [0x5d7a_0001_89a2_b2acn, 0x1_89a2_b2ac],
  [0x2a0e_8001_9c3c_1d2cn, 0x1_9c3c_1d2c],
  [0xb46f_0001_8f2a_5b3cn, 0x1_8f2a_5b3c],
  // a signed pointer into the main executable's __TEXT (0x1000xxxxx) and into a heap region
  [0x7c1b_8001_0000_3f40n, 0x1_0000_3f40],
  [0x0013_0000_6000_0210n, 0x6000_0210],
];

Deno.test("stripPac() keeps the 47 address bits of signed arm64e pointers", () => {
  for (const [signed, plain] of SIGNED) assertEquals(stripPac(signed), plain);
});

Deno.test("stripPac() leaves unsigned user pointers unchanged (arm64 and x86_64)", () => {
  for (const p of [0n, 0x1_0000_4000n, 0x6000_0000_0010n, 0x7ff7_bfef_f8a0n, 0x7fff_ffff_fff8n]) {
    assertEquals(stripPac(p), Number(p));
  }
  assertEquals(PAC_MASK, (1n << 47n) - 1n);
});

Deno.test("stripPac() removes a top-byte (TBI) tag", () => {
  assertEquals(stripPac(0xb400_0001_2345_6780n), 0x1_2345_6780);
});

Deno.test("stripPacHalves() agrees with stripPac() without BigInt", () => {
  for (const [signed, plain] of SIGNED) {
    const lo = Number(signed & 0xffff_ffffn);
    const hi = Number(signed >> 32n);
    assertEquals(stripPacHalves(lo, hi), plain);
  }
});

Deno.test("readStrippedPointer() reads a signed word out of copied memory", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(8, 0x5d7a_0001_89a2_b2acn, true);
  const mem = new MemoryImage([{ start: 0x1000, bytes }]);
  assertEquals(readStrippedPointer(mem, 0x1008), 0x1_89a2_b2ac);
  assertEquals(readStrippedPointer(mem, 0x100c), undefined);
});
