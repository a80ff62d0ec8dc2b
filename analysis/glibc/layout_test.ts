// Unit tests of the per-release layouts: offsets glibc's own headers give, and the tcache chunk sizes.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { layoutFor, request2size, tcacheBinSizes, tcacheChunkSizes } from "./layout.ts";

Deno.test("layoutFor() picks each release's malloc_state, malloc_par and tcache layout", () => {
  const pick = (v: string) => {
    const l = layoutFor(v).layout;
    return [l.top, l.next, l.heapInfoSize, l.mpSbrkBase, l.tcacheEntries, l.tcacheStructSize];
  };
  assertEquals(pick("2.26"), [0x58, 0x868, 0x20, 0x48, 0x40, 0x240]);
  assertEquals(pick("2.28"), [0x60, 0x870, 0x20, 0x48, 0x40, 0x240]);
  assertEquals(pick("2.31"), [0x60, 0x870, 0x20, 0x48, 0x80, 0x280]);
  assertEquals(pick("2.36"), [0x60, 0x870, 0x30, 0x60, 0x80, 0x280]);
  assertEquals(pick("2.41"), [0x60, 0x870, 0x30, 0x60, 0x80, 0x280]);
  assertEquals(pick("2.42"), [0x60, 0x870, 0x30, 0x60, 0x98, 0x2f8]);
  // 2.43 as gdb's `ptype /o` shows it in Debian sid's libc6-dbg 2.43-7.
  assertEquals(pick("2.43"), [0x8, 0x818, 0x30, 0x68, 0x98, 0x2f8]);
  assertEquals(layoutFor("2.31").layout.safeLinking, false);
  assertEquals(layoutFor("2.32").layout.safeLinking, true);
  assertEquals(layoutFor("2.33").layout.tcacheKey, "struct");
  assertEquals(layoutFor("2.34").layout.tcacheKey, "random");
  assertEquals(layoutFor("2.43").layout.fastbinsY, undefined);
});

Deno.test("layoutFor() warns about unknown and unsupported releases and takes the nearest", () => {
  assertEquals(layoutFor(undefined).warning, "glibc version unknown: assuming the 2.36 layout");
  const newer = layoutFor("2.45");
  assertEquals(newer.layout.release, "2.43");
  assert(/2\.45 is not a supported release \(2\.26–2\.43\)/.test(newer.warning!));
  assertEquals(layoutFor("2.17").layout.release, "2.26");
});

Deno.test("tcacheChunkSizes() lists nb and the whole chunk one size up (2.43: also nb twice rounded)", () => {
  assertEquals(request2size(0x280), 0x290);
  assertEquals(tcacheChunkSizes(layoutFor("2.28").layout), [0x250, 0x260]);
  assertEquals(tcacheChunkSizes(layoutFor("2.36").layout), [0x290, 0x2a0]);
  assertEquals(tcacheChunkSizes(layoutFor("2.42").layout), [0x300, 0x310]);
  assertEquals(tcacheChunkSizes(layoutFor("2.43").layout), [0x300, 0x310, 0x320]);
});

Deno.test("tcacheBinSizes() gives small bins one size and 2.42's large bins a power-of-two range", () => {
  assertEquals(tcacheBinSizes(0), { min: 0x20, max: 0x21 });
  assertEquals(tcacheBinSizes(63), { min: 0x410, max: 0x411 });
  assertEquals(tcacheBinSizes(64), { min: 0x420, max: 0x800 });
  assertEquals(tcacheBinSizes(75), { min: 0x200000, max: 0x400000 });
});
