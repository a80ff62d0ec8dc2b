// Direct tests of the libstdc++ layouts and bump pools recognised in memory laid out by hand.

import assert from "node:assert/strict";
import { listReferences, recogniseContainers, type References } from "./containers.ts";
import { MemoryImage } from "./memory.ts";

const BASE = 0x10000;

/** Memory at BASE with 64-bit words `words` (index → value) and bytes `bytes` (address → byte). */
function memory(words: Map<number, number>, bytes: Map<number, number> = new Map()): MemoryImage {
  const buf = new Uint8Array(0x1000).fill(0x41); // 'A': text, not pointers
  const view = new DataView(buf.buffer);
  for (const [a, v] of words) view.setBigUint64(a - BASE, BigInt(v), true);
  for (const [a, b] of bytes) buf[a - BASE] = b;
  return new MemoryImage([{ start: BASE, bytes: buf }]);
}

function refs(list: [where: number, holder: number, target: number][]): References {
  return listReferences(list.map((r) => r[0]), list.map((r) => r[1]), list.map((r) => r[2]));
}

// Blocks: 0 the holder (at BASE, 256 B), 1 a string body / vector storage (at BASE+0x400, 104 B).
const addresses = Float64Array.of(BASE, BASE + 0x400);
const sizes = Float64Array.of(256, 104);

Deno.test("recogniseContainers() narrows a heap string body to its chars and skips its unused word", () => {
  // At BASE+0x20: { p = body, len = 10, cap = 100 } (body of 101 bytes in a 104-byte block).
  const m = memory(
    new Map([[BASE + 0x20, BASE + 0x400], [BASE + 0x28, 10], [BASE + 0x30, 100]]),
    new Map([[BASE + 0x400 + 10, 0]]),
  );
  const r = recogniseContainers(m, addresses, sizes, sizes.slice(), refs([[BASE + 0x20, 0, 1]]));
  assert.equal(r.scanSize[1], 11, "len + the NUL");
  assert.ok(r.skipped.has(BASE + 0x38), "the second word of the inline buffer");
  assert.equal(r.bodies.get(1), "string");
});

Deno.test("recogniseContainers() narrows vector storage to [begin, end)", () => {
  const m = memory(
    new Map([[BASE + 0x40, BASE + 0x400], [BASE + 0x48, BASE + 0x430], [
      BASE + 0x50,
      BASE + 0x468,
    ]]),
  );
  const r = recogniseContainers(m, addresses, sizes, sizes.slice(), refs([[BASE + 0x40, 0, 1]]));
  assert.equal(r.scanSize[1], 0x30);
  assert.equal(r.bodies.get(1), "vector");
});

Deno.test("recogniseContainers() ignores a triple that does not hold a real layout's checks", () => {
  // cap far from the block's end (a {ptr, n, m} struct, not a string); end past the block.
  for (
    const words of [
      [[BASE + 0x20, BASE + 0x400], [BASE + 0x28, 6], [BASE + 0x30, 40]],
      [[BASE + 0x20, BASE + 0x400], [BASE + 0x28, BASE + 0x410], [BASE + 0x30, BASE + 0x600]],
    ] as [number, number][][]
  ) {
    const m = memory(new Map(words), new Map([[BASE + 0x406, 0]]));
    const r = recogniseContainers(m, addresses, sizes, sizes.slice(), refs([[BASE + 0x20, 0, 1]]));
    assert.equal(r.scanSize[1], 104);
    assert.equal(r.skipped.size, 0);
  }
});

Deno.test("recogniseContainers() skips the spare bytes of an inline string, not its chars", () => {
  // An inline string at BASE+0x60: { p = BASE+0x70, len = 3 } "abc\0": the words at +0x70 (partly
  // chars, partly stale) and +0x78 are spare; a stale pointer in either holds nothing.
  const m = memory(
    new Map([[BASE + 0x60, BASE + 0x70], [BASE + 0x68, 3], [BASE + 0x78, BASE + 0x400]]),
    new Map([[BASE + 0x73, 0]]),
  );
  const r = recogniseContainers(m, addresses, sizes, sizes.slice(), refs([[BASE + 0x78, 0, 1]]));
  assert.ok(r.skipped.has(BASE + 0x78));
});

Deno.test("recogniseContainers() marks a bump pool's spare part weak, a triple inside spare memory stale", () => {
  // Block 1 is a pool: { next, free = +0x40, end = its end − 8 } at its own start.
  const pool = memory(new Map([[BASE + 0x408, BASE + 0x440], [BASE + 0x410, BASE + 0x400 + 96]]));
  const r = recogniseContainers(
    pool,
    addresses,
    sizes,
    sizes.slice(),
    refs([[BASE + 0x408, 1, 1]]),
  );
  assert.equal(r.weakFrom[1], 0x40);
  assert.equal(r.scanSize[1], 104, "weak, not removed");
  // free = +0x43 (the last string's NUL at +0x42): the word at +0x40 is partly spare, weak too.
  const mid = memory(new Map([[BASE + 0x408, BASE + 0x443], [BASE + 0x410, BASE + 0x400 + 96]]));
  const p = recogniseContainers(mid, addresses, sizes, sizes.slice(), refs([[BASE + 0x408, 1, 1]]));
  assert.equal(p.weakFrom[1], 0x40);
  // A vector triple found in the holder's spare part (past its live bytes) is ignored.
  const m = memory(
    new Map([[BASE + 0xf0, BASE + 0x400], [BASE + 0xf8, BASE + 0x400], [
      BASE + 0x100,
      BASE + 0x468,
    ]]),
  );
  const initial = Float64Array.of(0x80, 104); // the holder's live bytes end at +0x80
  const stale = recogniseContainers(m, addresses, sizes, initial, refs([[BASE + 0xf0, 0, 1]]));
  assert.equal(stale.scanSize[1], 104);
});

// Blocks for the arrays below: 0 the holder (256 B), 1-3 three string buffers of 40 B each.
const arrayAddresses = Float64Array.of(BASE, BASE + 0x400, BASE + 0x440, BASE + 0x480);
const arraySizes = Float64Array.of(256, 40, 40, 40);

Deno.test("recogniseContainers() skips no word after {p, len, cap} triples 24 bytes apart (Rust's Vec<String>)", () => {
  // At BASE+0x20, +0x38, +0x50: { p, len = 30, cap = 30 }, each buffer "…" with its byte 30 zero:
  // an array of 24-byte strings. The second's pointer lies where a libstdc++ string at +0x20
  // would have its unused word.
  const words = new Map<number, number>(), bytes = new Map<number, number>();
  for (let k = 0; k < 3; k++) {
    words.set(BASE + 0x20 + 24 * k, BASE + 0x400 + 0x40 * k);
    words.set(BASE + 0x28 + 24 * k, 30);
    words.set(BASE + 0x30 + 24 * k, 30);
    bytes.set(BASE + 0x400 + 0x40 * k + 30, 0);
  }
  const list = refs([0, 1, 2].map((k) => [BASE + 0x20 + 24 * k, 0, 1 + k]));
  const m = memory(words, bytes);
  const r = recogniseContainers(m, arrayAddresses, arraySizes, arraySizes.slice(), list);
  assert.equal(r.skipped.size, 0, [...r.skipped].map((w) => (w - BASE).toString(16)).join());
  assert.deepEqual([...r.scanSize.slice(1)], [31, 31, 31], "each buffer narrowed to its chars");
  // One such triple alone is a libstdc++ string: its fourth word is skipped.
  const one = recogniseContainers(
    m,
    arrayAddresses,
    arraySizes,
    arraySizes.slice(),
    refs([[BASE + 0x50, 0, 3]]),
  );
  assert.ok(one.skipped.has(BASE + 0x68));
});

Deno.test("recogniseContainers() without libstdc++: buffers narrowed, no word skipped, no inline string", () => {
  // The heap string of the first test and an inline string {p = x + 16, len = 3, "abc\0", stale}.
  const m = memory(
    new Map([
      [BASE + 0x20, BASE + 0x400],
      [BASE + 0x28, 10],
      [BASE + 0x30, 100],
      [BASE + 0x60, BASE + 0x70],
      [BASE + 0x68, 3],
      [BASE + 0x78, BASE + 0x400],
    ]),
    new Map([[BASE + 0x400 + 10, 0], [BASE + 0x73, 0]]),
  );
  const list = refs([[BASE + 0x20, 0, 1], [BASE + 0x78, 0, 1]]);
  const c = recogniseContainers(
    m,
    addresses,
    sizes,
    sizes.slice(),
    list,
    undefined,
    undefined,
    false,
  );
  assert.equal(c.scanSize[1], 11, "a C string buffer {p, len, cap} is narrowed all the same");
  assert.equal(c.skipped.size, 0);
  const cxx = recogniseContainers(m, addresses, sizes, sizes.slice(), list);
  assert.ok(cxx.skipped.has(BASE + 0x38) && cxx.skipped.has(BASE + 0x78));
});

Deno.test("recogniseContainers() keeps the word of an 'empty inline string' that is a list node's neighbour", () => {
  // GLib's slices: a tail list node at +0x60 { data, next = 0 } whose `prev` (+0x70) is the node
  // at +0x80, 16 bytes on; that node's data (+0x80) points to a block at a 256-aligned address,
  // so its low byte reads as an empty string's NUL. The pointer is live: not skipped.
  const m = memory(
    new Map([[BASE + 0x70, BASE + 0x80], [BASE + 0x78, 0], [BASE + 0x80, BASE + 0x400]]),
  );
  const r = recogniseContainers(m, addresses, sizes, sizes.slice(), refs([[BASE + 0x80, 0, 1]]));
  assert.equal(r.skipped.size, 0);
  // One byte on (len 1, "x\0"): a real inline string's spare word, skipped.
  const s = memory(
    new Map([[BASE + 0x70, BASE + 0x80], [BASE + 0x78, 1], [BASE + 0x88, BASE + 0x400]]),
    new Map([[BASE + 0x80, 0x78], [BASE + 0x81, 0]]),
  );
  const t = recogniseContainers(s, addresses, sizes, sizes.slice(), refs([[BASE + 0x88, 0, 1]]));
  assert.ok(t.skipped.has(BASE + 0x88));
});

Deno.test("recogniseContainers() does not take a std::deque iterator at its chunk's start for an empty vector", () => {
  // At BASE+0x20: { cur = chunk, first = chunk, last = chunk's end, node = BASE+0x80 }, and the
  // map's slot at BASE+0x80 holds the chunk (block 1, 104 B): the chunk is full of elements.
  const deque = memory(
    new Map([
      [BASE + 0x20, BASE + 0x400],
      [BASE + 0x28, BASE + 0x400],
      [BASE + 0x30, BASE + 0x468],
      [BASE + 0x38, BASE + 0x80],
      [BASE + 0x80, BASE + 0x400],
    ]),
  );
  const r = recogniseContainers(
    deque,
    addresses,
    sizes,
    sizes.slice(),
    refs([[BASE + 0x20, 0, 1]]),
  );
  assert.equal(r.scanSize[1], 104);
  assert.equal(r.bodies.size, 0);
  // The same triple whose fourth word is no map slot of the chunk: an empty vector.
  const vector = memory(
    new Map([[BASE + 0x20, BASE + 0x400], [BASE + 0x28, BASE + 0x400], [
      BASE + 0x30,
      BASE + 0x468,
    ]]),
  );
  const v = recogniseContainers(
    vector,
    addresses,
    sizes,
    sizes.slice(),
    refs([[BASE + 0x20, 0, 1]]),
  );
  assert.equal(v.scanSize[1], 0);
});
