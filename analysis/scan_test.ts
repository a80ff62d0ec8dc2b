// Direct tests of the TypeScript scan kernel: block edges with offsets, interior pointers, words
// that straddle nothing, partly copied blocks, and root ranges.

import assert from "node:assert/strict";
import { AllocationIndex } from "./alloc_index.ts";
import { AllocationTable } from "./allocation_table.ts";
import { MemoryImage } from "./memory.ts";
import { edgeSources, scanBlocks, scanRanges, SourceCursor } from "./scan.ts";
import { wordOffset } from "./edge_words.ts";

const H = 0x5555_0000_0000;

function setup() {
  // Blocks A (0x20 bytes), B (0x30), C (0x20) at H+0x10, H+0x40, H+0x80.
  const t = AllocationTable.from([
    { address: H + 0x10, size: 0x20, zone: "z" },
    { address: H + 0x40, size: 0x30, zone: "z" },
    { address: H + 0x80, size: 0x20, zone: "z" },
  ]);
  const buf = new Uint8Array(0x100);
  const view = new DataView(buf.buffer);
  const put = (a: number, v: number) => view.setBigUint64(a - H, BigInt(v), true);
  put(H + 0x10, H + 0x40); // A+0 → B (start)
  put(H + 0x18, H + 0x58); // A+8 → B+0x18 (interior)
  put(H + 0x48, H + 0xa0); // B+8 → just past C's end: nothing
  put(H + 0x80, H + 0x80); // C+0 → C (self)
  put(H + 0xc0, H + 0x10); // outside every block (a root range)
  return { t, memory: new MemoryImage([{ start: H, bytes: buf }]), index: new AllocationIndex(t) };
}

Deno.test("scanBlocks() finds every block→block word with its offset, interior pointers included", () => {
  const { t, memory, index } = setup();
  const e = scanBlocks(memory, index, t);
  const edges = [...edgeSources(e.start)].map((
    s,
    i,
  ) => [
    s,
    e.target[i],
    wordOffset(e.word, e.segments, e.start, s, t.addresses[s]!, t.sizes[s]!, i),
  ]);
  assert.deepEqual(edges, [[0, 1, 0], [0, 1, 8], [2, 2, 0]]);
  assert.deepEqual([...e.start], [0, 2, 2, 3]);
  assert.equal(e.unreadable, 0);
  assert.equal(e.bytesScanned, 0x20 + 0x30 + 0x20);
});

Deno.test("scanBlocks() scans the copied part of a block that was not wholly copied", () => {
  const { t, index } = setup();
  const buf = new Uint8Array(0x10);
  new DataView(buf.buffer).setBigUint64(0, BigInt(H + 0x80), true);
  // Only B's first 16 bytes were copied.
  const e = scanBlocks(new MemoryImage([{ start: H + 0x40, bytes: buf }]), index, t);
  assert.deepEqual([...e.target], [2]);
  assert.equal(e.unreadable, 3);
});

Deno.test("scanRanges() reports each root word's address and block", () => {
  const { memory, index } = setup();
  const hits = scanRanges(memory, index, [{ start: H + 0xc0, end: H + 0xd0 }, {
    start: H + 0x10,
    end: H + 0x20,
  }]);
  assert.deepEqual([...hits.range], [0, 1, 1]);
  assert.deepEqual([...hits.address].map((a) => a - H), [0xc0, 0x10, 0x18]);
  assert.deepEqual([...hits.target], [0, 1, 1]);
});

Deno.test("SourceCursor finds each edge's source as edgeSources does, in order, backwards and by jumps", () => {
  // Blocks 0, 3, 4 and 7 have no edges; block 6 has many (more than the cursor steps over).
  const counts = [0, 2, 1, 0, 0, 3, 20, 0, 1];
  const start = new Uint32Array(counts.length + 1);
  for (let v = 0; v < counts.length; v++) start[v + 1] = start[v]! + counts[v]!;
  const m = start[counts.length]!;
  const want = edgeSources(start);
  assert.deepEqual(
    [...want],
    counts.flatMap((c, v) => Array<number>(c).fill(v)),
  );
  const inOrder = new SourceCursor(start);
  assert.deepEqual(Array.from({ length: m }, (_, e) => inOrder.of(e)), [...want]);
  const backwards = new SourceCursor(start);
  assert.deepEqual(
    Array.from({ length: m }, (_, e) => backwards.of(m - 1 - e)),
    [...want].reverse(),
  );
  // A fixed pseudo-random order of jumps.
  const jumps = new SourceCursor(start);
  for (let k = 0, e = 7; k < 200; k++, e = (e * 17 + 5) % m) assert.equal(jumps.of(e), want[e]);
});
