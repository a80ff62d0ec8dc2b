// Tests of fallbackSegments(): the main arena's segments outside [heap], searched for in copied
// memory only.

import assert from "node:assert/strict";
import { MemoryImage } from "../memory.ts";
import type { Region } from "../types.ts";
import { fallbackSegments } from "./segments.ts";
import { WordViews } from "./word_views.ts";

/** WordViews that count the words read, and stop a search that reads more than 10^4. */
class CountingViews extends WordViews {
  reads = 0;
  override u64(addr: number): number | undefined {
    if (++this.reads > 10_000) throw new Error(`more than 10^4 words read (at ${addr})`);
    return super.u64(addr);
  }
}

const PAGE = 4096;

/** A copied stretch at `at`: `pages` pages whose first holds a top chunk of `topSize` bytes. */
function stretch(at: number, pages: number, topSize: number) {
  const bytes = new Uint8Array(pages * PAGE);
  const dv = new DataView(bytes.buffer);
  dv.setBigUint64(0, 0n, true); // prev_size
  dv.setBigUint64(8, BigInt(topSize | 1), true); // size | PREV_INUSE
  return { start: at, bytes };
}

Deno.test("fallbackSegments() reads only the copied pages of a huge reservation (a sanitizer's shadow)", () => {
  // 16 TiB of rw anonymous address space (AddressSanitizer reserves such a shadow), 3 pages copied:
  // a page-by-page search of the whole range would read ~4·10^9 words.
  const base = 0x1000_0000_0000;
  const region: Region = {
    start: base,
    end: base + 2 ** 44,
    perms: "rw-p",
    offset: 0,
    inode: 0,
    path: "",
  };
  const top = base + 2 ** 43;
  const views = new CountingViews(new MemoryImage([stretch(top, 3, 2 * PAGE)]));
  const found = fallbackSegments(views, [region], [], top, PAGE);
  assert.deepEqual(found, [{ start: top, end: top + 2 * PAGE }]);
  assert(views.reads < 100, `${views.reads} words read`);
});

Deno.test("fallbackSegments() finds a segment in each copied part of a region, and none in skipped regions", () => {
  const base = 0x7f00_0000_0000;
  const region: Region = {
    start: base,
    end: base + 64 * PAGE,
    perms: "rw-p",
    offset: 0,
    inode: 0,
    path: "",
  };
  const skipped: Region = { ...region, start: base + 64 * PAGE, end: base + 128 * PAGE };
  const top = base + 40 * PAGE;
  const mem = new MemoryImage([
    stretch(base + 8 * PAGE, 2, 4 * PAGE), // ends past its copied part: walked on to 12 pages in
    stretch(top, 4, 4 * PAGE),
    stretch(base + 64 * PAGE, 2, PAGE),
  ]);
  // The first stretch's chunk ends at a page boundary beyond what was copied: its walk stops
  // there ("end" at an unreadable header), which is not a segment; the top chunk is one.
  const found = fallbackSegments(new WordViews(mem), [region, skipped], [skipped], top, PAGE);
  assert.deepEqual(found, [{ start: top, end: top + 4 * PAGE }]);
});
