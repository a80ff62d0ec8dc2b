// The 16-bit edge words (offset and flags of a native heap's edges until the copy is dropped), and
// the native graph's compaction of them: the segment list renumbered when edges go.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { AllocationTable } from "./allocation_table.ts";
import { nativeGraph } from "./build_graph.ts";
import {
  edgeWord,
  firstWord,
  ONE_SEGMENT_BYTES,
  SegmentList,
  SegmentWriter,
  unpackFlags,
  unpackOffsets,
  wordOffset,
} from "./edge_words.ts";
import { EDGE_INTERIOR, EDGE_WEAK } from "./graph.ts";
import { MemoryImage } from "./memory.ts";
import type { EdgeSet } from "./scan.ts";

const SEG = ONE_SEGMENT_BYTES / 8; // words in a segment

Deno.test("edgeWord(): the word's index mod 2^14 above the flags; firstWord() of odd blocks", () => {
  assertEquals(edgeWord(0, 0), 0);
  assertEquals(edgeWord(1, EDGE_INTERIOR), (1 << 2) | EDGE_INTERIOR);
  assertEquals(edgeWord(SEG - 1, EDGE_WEAK) >>> 2, SEG - 1);
  assertEquals(edgeWord(SEG + 5, 3), (5 << 2) | 3);
  assertEquals(edgeWord(2 ** 29 - 1, 0) < 0x10000, true);
  assertEquals([0x1000, 0x1001, 0x1004, 0x1007].map(firstWord), [0, 7, 4, 1]);
});

Deno.test("SegmentWriter, wordOffset() and unpackOffsets(): offsets past 128 KiB from the list", () => {
  // Block 0 small (at an odd address), block 1 of 3 segments and a bit, block 2 of one segment.
  const addresses = Float64Array.from([0x1001, 0x2000, 0x100000]);
  const sizes = [64, 3 * ONE_SEGMENT_BYTES + 64, ONE_SEGMENT_BYTES];
  const ks = [[0, 3], [2, SEG + 1, SEG + 9, 3 * SEG + 7], [SEG - 1]];
  const flags = [[0, EDGE_INTERIOR], [EDGE_WEAK, 0, 3, 0], [EDGE_INTERIOR]];
  const list = new SegmentList(1); // grown on the way
  const writer = new SegmentWriter(list);
  const words: number[] = [], start = [0];
  ks.forEach((block, v) => {
    block.forEach((k, j) => words.push(writer.word(words.length, v, k) | flags[v]![j]!));
    start.push(words.length);
  });
  // Block 1's second edge enters segment 1, its fourth segment 3 (segment 2 has no edge).
  assertEquals([...list.edge.subarray(0, list.count)], [3, 5]);
  assertEquals([...list.segment.subarray(0, list.count)], [1, 3]);
  const w = Uint16Array.from(words), st = Uint32Array.from(start);
  const expected = ks.flatMap((block, v) => block.map((k) => firstWord(addresses[v]!) + 8 * k));
  const got = ks.flatMap((block, v) =>
    block.map((_, j) => wordOffset(w, list, st, v, addresses[v]!, sizes[v]!, st[v]! + j))
  );
  assertEquals(got, expected);
  const offset = new Uint32Array(words.length), flagsOut = new Uint8Array(words.length);
  unpackOffsets(w, list, st, addresses, offset);
  unpackFlags(w, flagsOut);
  assertEquals([...offset], expected);
  assertEquals([...flagsOut], flags.flat());
});

Deno.test("nativeGraph(): dropped edges, the segment list renumbered; flags then offsets", () => {
  const H = 0x5555_0000_0000;
  const BIG = 4 * ONE_SEGMENT_BYTES;
  // A (64 B) at H, B (512 KiB) at H + 0x100, C (32 B) after B.
  const C = H + 0x100 + BIG + 0x10;
  const allocations = AllocationTable.from([
    { address: H, size: 64, zone: "z" },
    { address: H + 0x100, size: BIG, zone: "z" },
    { address: C, size: 32, zone: "z" },
  ]);
  // A: words 0 (kept), 5 (past its live 40 bytes: dropped), 7 (skipped: dropped).
  // B: word 1; SEG (segment 1, dropped: skipped); SEG + 2 (segment 1, kept, weak from there);
  // 3 SEG (segment 3, kept); 4 SEG - 1 (past its live bytes: dropped). C: word 0 → B.
  const edges: [number, number, number, number][] = [
    [0, 1, 0, 0],
    [0, 2, 5, EDGE_INTERIOR],
    [0, 2, 7, 0],
    [1, 0, 1, 0],
    [1, 2, SEG, 0],
    [1, 2, SEG + 2, EDGE_INTERIOR],
    [1, 0, 3 * SEG, 0],
    [1, 2, 4 * SEG - 1, 0],
    [2, 1, 0, 0],
  ];
  const list = new SegmentList();
  const writer = new SegmentWriter(list);
  const word = new Uint16Array(edges.length), target = new Uint32Array(edges.length);
  edges.forEach(([v, t, k, f], e) => {
    target[e] = t;
    word[e] = writer.word(e, v, k) | f;
  });
  assertEquals([...list.edge.subarray(0, list.count)], [4, 6]);
  const blockEdges: EdgeSet = {
    target,
    word,
    segments: list,
    start: Uint32Array.from([0, 3, 8, 9]),
    unreadable: 0,
    bytesScanned: 0,
  };
  const packed = nativeGraph({
    memory: new MemoryImage([]),
    allocations,
    blockEdges,
    rootHits: {
      range: new Uint32Array(0),
      address: new Float64Array(0),
      target: new Uint32Array(0),
    },
    rootRanges: [],
    registerHits: [],
    scanSize: Float64Array.from([40, BIG - 8, 32]),
    weakFrom: Uint32Array.from([64, 8 * (SEG + 2), 32]),
    skipped: new Set([H + 56, H + 0x100 + 8 * SEG]),
  });
  const g = packed.graph;
  assertEquals([...g.edges.start], [0, 1, 4, 5]);
  assertEquals([...g.edges.target], [1, 0, 2, 0, 1]);
  // Until unpacked, the words: segment 1 now enters at edge 2, segment 3 at edge 3.
  assertEquals([...packed.segments.edge.subarray(0, packed.segments.count)], [2, 3]);
  assertEquals([...packed.segments.segment.subarray(0, packed.segments.count)], [1, 3]);
  const offsets = [0, 8, 8 * (SEG + 2), 8 * 3 * SEG, 0];
  const where = [0, 1, 1, 1, 2];
  assertEquals(
    where.map((v, e) =>
      wordOffset(
        packed.word,
        packed.segments,
        g.edges.start,
        v,
        g.nodes.address[v]!,
        g.nodes.size[v]!,
        e,
      )
    ),
    offsets,
  );
  packed.unpackFlags();
  assertEquals([...g.edges.flags!], [0, 0, EDGE_INTERIOR | EDGE_WEAK, EDGE_WEAK, 0]);
  packed.unpackOffsets();
  assertEquals([...g.edges.offset], offsets);
  assertEquals([...g.edges.flags!], [0, 0, EDGE_INTERIOR | EDGE_WEAK, EDGE_WEAK, 0]);
});
