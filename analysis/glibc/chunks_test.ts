// Unit tests of walkSegment() and resumeAfterFenceposts() on chunk headers laid out as glibc writes them.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { MemoryImage } from "../memory.ts";
import { HeapColumns, resumeAfterFenceposts, walkSegment } from "./chunks.ts";
import { FakeProcess } from "./testdata/fake_heap.ts";
import { WordViews } from "./word_views.ts";

const H = 0x555555559000; // a heap segment start
const hex = (n: number) => "0x" + n.toString(16);

/** A process with one rw segment [H, H + len) (copied), and views over it. */
function segment(len = 0x2000, extra?: (p: FakeProcess) => void) {
  const p = new FakeProcess();
  p.map(H, H + len, "rw-p", "[heap]");
  extra?.(p);
  return { p, views: () => new WordViews(new MemoryImage(p.snapshot().memory)) };
}

/** Lays chunks out back to back from H: [size, flags] pairs; returns their headers. */
function lay(p: FakeProcess, sizes: [number, number][]): number[] {
  const at: number[] = [];
  let a = H;
  for (const [size, flags] of sizes) {
    p.chunk(a, size | flags);
    at.push(a);
    a += size;
  }
  return at;
}

function walk(views: WordViews, start: number, end: number, top = -1, cap = 1024) {
  const out = new HeapColumns(cap);
  const w = walkSegment(views, { start, end, top, zone: "test" }, out);
  return { w, chunks: [...out.address.subarray(0, out.length)].map((a, i) => [a, out.usable[i]]) };
}

Deno.test("walkSegment() lists in-use chunks (next chunk's P bit) with usable size, stops at top", () => {
  const { p, views } = segment();
  const [a, b, c, d, top] = lay(p, [[0x20, 1], [0x30, 1], [0x100, 1], [0x40, 0], [0x1000, 1]]);
  p.w64(d!, 0x100); // c is free: d's prev_size is c's size (the footer)
  const { w, chunks } = walk(views(), H, H + 0x2000, top!);
  assertEquals(w.stop, "top");
  assertEquals(w.at, top);
  assertEquals(w.warnings, []);
  // c is free (d's P clear); d is followed by top, whose P is set.
  assertEquals(chunks, [[a! + 16, 0x18], [b! + 16, 0x28], [d! + 16, 0x38]]);
  assertEquals(w.chunks, 3);
  void c;
});

Deno.test("walkSegment() warns about a free chunk whose footer disagrees", () => {
  const { p, views } = segment();
  const [, b, top] = lay(p, [[0x20, 1], [0x30, 0], [0x1000, 1]]);
  p.w64(b!, 0x40); // the free 0x20 chunk's footer (b's prev_size) should be 0x20
  const { w } = walk(views(), H, H + 0x2000, top!);
  assertEquals(w.warnings, [`free chunk at ${hex(H)} in test: footer 0x40 != size 0x20`]);
});

for (
  const [what, size] of [
    ["not a multiple of 16", 0x28],
    ["below MINSIZE", 0x10 + 0x8],
    ["past the segment end", 0x4000],
    ["a 64-bit size", 2 ** 40 + 0x20],
  ] as const
) {
  Deno.test(`walkSegment() stops at a corrupt size (${what}) and keeps what came before`, () => {
    const { p, views } = segment();
    const [a, bad] = lay(p, [[0x20, 1], [0x20, 1]]);
    p.w64(bad! + 8, size + 1); // PREV_INUSE (`+`, not `|`: sizes may pass 32 bits)
    const { w, chunks } = walk(views(), H, H + 0x2000);
    assertEquals(w.stop, "corrupt");
    assertEquals(w.at, bad);
    assertEquals(w.warnings, [`corrupt chunk at ${hex(bad!)} in test: size ${hex(size + 1)}`]);
    // The first chunk's next header is the corrupt one, whose P bit is set: still in use.
    assertEquals(chunks, [[a! + 16, 0x18]]);
  });
}

Deno.test("walkSegment() ends at a thread heap's tail: fencepost 0x10|P then a size-0 header", () => {
  const { p, views } = segment();
  const [a, , fence] = lay(p, [[0x20, 1], [0x20, 1], [0x10, 1]]);
  p.chunk(fence! + 0x10, 1); // 0|P
  const { w, chunks } = walk(views(), H, H + 0x2000);
  assertEquals(w.stop, "marker");
  assertEquals(w.at, fence! + 0x10);
  // The chunk before the fencepost is in use (the fencepost's P is set); the fencepost is not a chunk.
  assertEquals(chunks, [[a! + 16, 0x18], [a! + 0x30, 0x18]]);
});

Deno.test("walkSegment() stops after a main-arena fencepost pair with more segment after it", () => {
  const { p, views } = segment();
  const [a, f1, f2] = lay(p, [[0x20, 1], [0x10, 1], [0x10, 1]]);
  void f1;
  const { w, chunks } = walk(views(), H, H + 0x2000);
  assertEquals(w.stop, "fenceposts");
  assertEquals(w.at, f2! + 0x10);
  assertEquals(chunks, [[a! + 16, 0x18]]);
  // The same pair at the very end of the segment is simply its end.
  const end = walk(views(), H, f2! + 0x10);
  assertEquals([end.w.stop, end.w.at], ["end", f2! + 0x10]);
});

Deno.test("walkSegment() walks across pages that were not copied inside a chunk, stops at one holding a header", () => {
  // [H, H+0x1000) copied, [H+0x1000, H+0x2000) not (an mprotect'ed page), [H+0x2000, H+0x3000) copied.
  const p = new FakeProcess();
  p.map(H, H + 0x1000, "rw-p", "[heap]");
  p.map(H + 0x1000, H + 0x2000, "---p", "[heap]", 0, false);
  p.map(H + 0x2000, H + 0x3000, "rw-p", "[heap]");
  p.chunk(H, 0x20 | 1);
  p.chunk(H + 0x20, 0x2000 | 1); // spans the hole
  p.chunk(H + 0x2020, 0x40 | 1);
  p.chunk(H + 0x2060, (0x3000 - 0x2060) | 1); // top
  const views = new WordViews(new MemoryImage(p.snapshot().memory));
  const { w, chunks } = walk(views, H, H + 0x3000, H + 0x2060);
  assertEquals(w.stop, "top");
  assertEquals(chunks, [[H + 0x10, 0x18], [H + 0x30, 0x1ff8], [H + 0x2030, 0x38]]);
  // A chunk whose successor's header lies in the hole: the walk reports it and stops there.
  p.chunk(H + 0x20, 0x1000 | 1);
  const v2 = new WordViews(new MemoryImage(p.snapshot().memory));
  const r = walk(v2, H, H + 0x3000, H + 0x2060);
  assertEquals(r.w.stop, "unreadable");
  assertEquals(r.w.warnings, [
    `unreadable chunk header at ${hex(H + 0x1020)} in test: walk stopped`,
  ]);
  assertEquals(r.chunks, [[H + 0x10, 0x18]]); // the chunk before the hole: its successor unreadable
});

Deno.test("walkSegment() grows its columns past their first capacity", () => {
  const { p, views } = segment(0x10000);
  const sizes: [number, number][] = [];
  for (let i = 0; i < 500; i++) sizes.push([0x20 + 16 * (i % 3), 1]);
  const at = lay(p, sizes);
  const { chunks } = walk(views(), H, H + 0x10000, -1, 16);
  // Every chunk but the last (its successor header is zero: size 0, not in use).
  assertEquals(chunks.length, 499);
  assertEquals(chunks[498]![0], at[498]! + 16);
});

Deno.test("walkSegment() without columns checks a chain for at most maxSteps chunks", () => {
  const { p, views } = segment();
  lay(p, [[0x20, 1], [0x20, 1], [0x20, 1], [0x20, 1]]);
  const w = walkSegment(
    views(),
    { start: H, end: H + 0x2000, top: -1, zone: "t" },
    undefined,
    0,
    2,
  );
  assertEquals([w.stop, w.at, w.chunks], ["budget", H + 0x40, 2]);
});

Deno.test("resumeAfterFenceposts() finds the next segment at once, past foreign bytes, or not at all", () => {
  const { p, views } = segment(0x4000);
  // Old segment: one chunk, fencepost pair ending at H+0x40.
  lay(p, [[0x20, 1], [0x10, 1], [0x10, 1]]);
  const from = H + 0x40;
  // Right after: a new segment's first chunk (P set), then top.
  p.chunk(from, 0x30 | 1);
  p.chunk(from + 0x30, (0x4000 - 0x70) | 1);
  assertEquals(resumeAfterFenceposts(views(), from, H + 0x4000, from + 0x30, "t"), from);
  // A program's sbrk'd bytes first (zeros, an address, a stray odd word), then malloc's segment.
  p.chunk(from, 0);
  p.chunk(from + 0x30, 0);
  p.w64(from + 0x18, H + 0x10); // a pointer: not a size with PREV_INUSE alone
  p.w64(from + 0x28, 0x31); // looks like a chunk, but its chain runs into zeros: rejected
  const seg = from + 0x1000;
  p.chunk(seg, 0x40 | 1);
  p.chunk(seg + 0x40, (H + 0x4000 - seg - 0x40) | 1);
  assertEquals(resumeAfterFenceposts(views(), from, H + 0x4000, seg + 0x40, "t"), seg);
  // Nothing of malloc's after the pair.
  p.chunk(seg, 0);
  p.chunk(seg + 0x40, 0);
  assertEquals(resumeAfterFenceposts(views(), from, H + 0x4000, seg + 0x40, "t"), undefined);
});

Deno.test("HeapColumns.indexOfHeader() finds chunks by header in address order", () => {
  const c = new HeapColumns(4);
  for (const a of [0x1010, 0x1040, 0x1100, 0x2000, 0x2100]) c.push(a, 8);
  assertEquals(c.indexOfHeader(0x1030), 1);
  assertEquals(c.indexOfHeader(0x20f0), 4);
  assertEquals(c.indexOfHeader(0x1038), -1);
  assert(c.address.length >= 5);
});
