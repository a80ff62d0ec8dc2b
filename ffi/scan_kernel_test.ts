// Tests for the native scan kernel: the same edges and root hits as the TypeScript one, on synthetic
// heaps (hand-laid, glibc fixture, mutated, random with blocks across chunk boundaries) and on a
// real captured process.

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import {
  AllocationIndex,
  AllocationTable,
  analyze,
  analyzeHeap,
  edgeSources,
  enumerateHeap,
  MemoryImage,
  type ScanKernel,
  TS_SCAN_KERNEL,
} from "../analysis/mod.ts";
import type { Analysis, HeapEnumeration, MemoryChunk, Snapshot } from "../analysis/types.ts";
import { buildSynthetic, heapOf } from "../analysis/testdata/synthetic.ts";
import { getHeapBase } from "../analysis/testdata/fuzz_targets.ts";
import { mutateSnapshot, Rng } from "../analysis/testdata/mutate.ts";
import { captureSnapshot } from "./mod.ts";
import { nativeScanKernel, scanKernel } from "./scan_kernel.ts";
import { ONE_SEGMENT_BYTES, wordOffset } from "../analysis/edge_words.ts";
import { EDGE_INTERIOR } from "../analysis/graph.ts";
import { kill, spawnDetached, until } from "../tests/procs.ts";

function native(): ScanKernel {
  const k = nativeScanKernel();
  assert(k, "the shim has no scan kernel: run `make shim`");
  return k;
}

/** Both kernels' edges and root hits on the same heap, compared field by field. */
/** Asserts the two kernels agree; returns how many block edges they found. */
function assertSameScan(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  label: string,
  c = native(),
): number {
  const memory = new MemoryImage(snapshot.memory);
  const index = new AllocationIndex(heap.allocations);
  const a = TS_SCAN_KERNEL.scanBlocks(memory, index, heap.allocations);
  const b = c.scanBlocks(memory, index, heap.allocations);
  assertEquals(b, a, `${label}: edges differ`);
  // exact: the word is its target's start (checked against the memory itself).
  const addresses = heap.allocations.addresses;
  const source = edgeSources(a.start);
  for (let e = 0; e < a.target.length; e++) {
    const v = source[e]!, at = addresses[v]!, size = heap.allocations.sizes[v]!;
    const word = memory.u64(at + wordOffset(a.word, a.segments, a.start, v, at, size, e));
    // The offset is the word's: it points into the edge's target.
    if (word === undefined || index.lookup(word) !== a.target[e]) {
      assert(false, `${label}: edge ${e}'s word ${word} is not into block ${a.target[e]}`);
    }
    const want = word === addresses[a.target[e]!] ? 0 : EDGE_INTERIOR;
    const got = a.word[e]! & EDGE_INTERIOR;
    if (got !== want) assert(false, `${label}: edge ${e} interior ${got}, word ${word}`);
  }
  const ranges = snapshot.regions.map((r) => ({ start: r.start, end: r.end }));
  assertEquals(
    c.scanRanges(memory, index, ranges),
    TS_SCAN_KERNEL.scanRanges(memory, index, ranges),
    `${label}: root hits differ`,
  );
  return a.target.length;
}

/** What an analysis found, as data (its graph carries functions, which compare by reference). */
function findings(a: Analysis) {
  const { status, leak, via, rootRef, cycles, owner, idom, retained, edgeSource, edgeTarget } = a;
  return {
    status,
    leak,
    via,
    rootRef,
    cycles,
    owner,
    idom,
    retained,
    edgeSource,
    edgeTarget,
    edgeOffset: a.edgeOffset,
    roots: a.roots,
  };
}

/** Both kernels through analyzeHeap: everything but the timings is equal. */
function assertSameAnalysis(snapshot: Snapshot, heap: HeapEnumeration, label: string): void {
  const run = (k: ScanKernel) => findings(analyzeHeap(snapshot, heap, { kernel: k }));
  assertEquals(run(native()), run(TS_SCAN_KERNEL), `${label}: analyses differ`);
}

Deno.test("native scanBlocks()/scanRanges() equal the TypeScript kernel on the hand-laid heap", () => {
  const { snapshot, enumeration } = buildSynthetic();
  assertSameScan(snapshot, enumeration, "synthetic");
  assertSameAnalysis(snapshot, enumeration, "synthetic");
});

Deno.test("native kernel equals the TypeScript kernel on the glibc fixture and mutations of it: scans and analyses", () => {
  const base = getHeapBase();
  assertSameScan(base.snapshot, enumerateHeap(base.snapshot), "fixture");
  let compared = 0;
  for (let i = 0; i < 200; i++) {
    const rng = new Rng(1000 + i);
    const m = mutateSnapshot(rng, base.snapshot, base.hints, 6);
    let heap: HeapEnumeration;
    try {
      heap = enumerateHeap(m.value);
    } catch (e) {
      // The native walk's steps give the same refusal.
      assertThrows(() => enumerateHeap(m.value, native()), { message: (e as Error).message });
      continue;
    }
    // The chunk walk with its common steps in C: the same allocations, zones and warnings.
    assertEquals(enumerateHeap(m.value, native()), heap, `mutation ${i}: enumeration differs`);
    assertSameScan(m.value, heap, `mutation ${i} (${m.ops.join(", ")})`);
    // And the whole analysis: the index, the graph's pass, the offsets and the searches in C too.
    assertSameAnalysis(m.value, heap, `mutation ${i} (${m.ops.join(", ")})`);
    compared++;
  }
  assert(compared > 50, `only ${compared} mutations enumerated`);
});

/**
 * Random blocks and pointers over several chunks, some blocks across chunk ends or not copied;
 * `pointers`: the share of words that point into a block.
 */
function randomHeap(
  seed: number,
  blocks: number,
  pointers = 0.3,
  big?: { sizes: number[]; wholeCopy: boolean },
): { snapshot: Snapshot; heap: HeapEnumeration } {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const base = 0x5555_0000_0000;
  const addrs: number[] = [], sizes: number[] = [];
  let at = base + 16;
  for (let i = 0; i < blocks; i++) {
    const size = big && i >= 1 && i <= big.sizes.length
      ? big.sizes[i - 1]!
      : rand() < 0.05
      ? 0
      : 8 * Math.floor(rand() * 40) + (rand() < 0.1 ? 3 : 0);
    addrs.push(at);
    sizes.push(size);
    at += Math.ceil((size + 8) / 16) * 16 + (rand() < 0.003 ? 1 << 20 : 0); // some new segments
  }
  const span = at - base;
  const bytes = new Uint8Array(span);
  const view = new DataView(bytes.buffer);
  for (let off = 0; off + 8 <= span; off += 8) {
    const r = rand();
    const v = r < pointers
      ? addrs[Math.floor(rand() * blocks)]! + Math.floor(rand() * 24)
      : r < pointers + 0.05
      ? base + Math.floor(rand() * span)
      : Math.floor(rand() * 2 ** 40);
    view.setUint32(off, v % 4294967296, true);
    view.setUint32(off + 4, Math.floor(v / 4294967296), true);
  }
  // Copied in 4 KiB-aligned pieces with holes: blocks across a piece end go the slow path.
  const memory: MemoryChunk[] = [];
  for (let off = 0; off < span;) {
    const len = big?.wholeCopy ? span : Math.min(span - off, 4096 * (1 + Math.floor(rand() * 64)));
    if (rand() > 0.1) memory.push({ start: base + off, bytes: bytes.subarray(off, off + len) });
    off += len;
  }
  return heapOf("random", base, at, memory, addrs, sizes);
}

Deno.test("native kernel equals the TypeScript kernel on random heaps (edge buffers regrown)", () => {
  for (const seed of [1, 2, 3]) {
    const { snapshot, heap } = randomHeap(seed, 5_000);
    assertSameScan(snapshot, heap, `seed ${seed}`);
  }
  // Over 6 edges per block: past the lists' first size (ffi/scan_kernel.ts), so they are grown.
  for (const seed of [4, 5]) {
    const { snapshot, heap } = randomHeap(seed, 5_000, 0.6);
    const edges = assertSameScan(snapshot, heap, `seed ${seed}, dense`);
    assert(edges > 6 * 5_000, `${edges} edges: the lists were not grown`);
  }
});

Deno.test("blocks over 128 KiB: their later segments listed, the same in both kernels", () => {
  // Whole in one chunk (the C loop, its segment list regrown from 2 entries), then copied in
  // pieces (the big blocks through the TypeScript slow path).
  const kernel = nativeScanKernel({ segmentListCap: 2 })!;
  for (const wholeCopy of [true, false]) {
    const { snapshot, heap } = randomHeap(7, 2_000, 0.6, {
      sizes: [1 << 20, 300 << 10, ONE_SEGMENT_BYTES, ONE_SEGMENT_BYTES + 4096],
      wholeCopy,
    });
    const label = wholeCopy ? "whole" : "in pieces";
    assertSameScan(snapshot, heap, label, kernel);
    const index = new AllocationIndex(heap.allocations);
    const e = kernel.scanBlocks(new MemoryImage(snapshot.memory), index, heap.allocations);
    if (wholeCopy) {
      // 7 later segments of the 1 MiB block, 2 of the 300 KiB one, 1 of the last (512 words past
      // 128 KiB), none of the 128 KiB one.
      const sources = edgeSources(e.start);
      const perBlock = [...e.segments.edge.subarray(0, e.segments.count)].map((x) => sources[x]);
      assertEquals(perBlock, [1, 1, 1, 1, 1, 1, 1, 2, 2, 4], label);
      assertEquals([...e.segments.segment], [1, 2, 3, 4, 5, 6, 7, 1, 2, 1], label);
    }
    // The same analysis with either kernel; the graph's offsets, once unpacked, are the words'
    // own: every edge of the big blocks.
    const a = analyzeHeap(snapshot, heap, { kernel });
    assertEquals(
      findings(a),
      findings(analyzeHeap(snapshot, heap, { kernel: TS_SCAN_KERNEL })),
      `${label}: analyses differ`,
    );
    const memory = new MemoryImage(snapshot.memory);
    let checked = 0;
    for (const big of [1, 2, 3, 4]) {
      for (let k = a.graph.edges.start[big]!; k < a.graph.edges.start[big + 1]!; k++) {
        const w = memory.u64(heap.allocations.addresses[big]! + a.edgeOffset[k]!);
        assertEquals(w !== undefined && index.lookup(w), a.edgeTarget[k], `${label}: edge ${k}`);
        checked++;
      }
    }
    assert(checked > 50_000, `${label}: ${checked} edges of the big blocks`);
  }
});

Deno.test("scanKernel() picks the kernel asked for (HEAPSCOPE_SCAN=ts|c), else C", () => {
  assertEquals(scanKernel("ts").name, "ts");
  assertEquals(scanKernel("c").name, "c");
  assertEquals(scanKernel(undefined).name, "c");
});

Deno.test("native kernel equals the TypeScript kernel on a captured python process", async () => {
  const ready = Deno.makeTempFileSync({ prefix: "hs_scan_ready_" });
  const pid = await spawnDetached(`exec python3 -c '
import time
keep = [bytearray(600 + i % 300) for i in range(20000)]
open("${ready}", "w").write("READY")
time.sleep(60)'`);
  try {
    await until(() => Deno.readTextFileSync(ready) === "READY", 10_000, "the python target");
    const snapshot = await captureSnapshot(pid);
    const heap = enumerateHeap(snapshot);
    assert(heap.allocations.length > 20000, `${heap.allocations.length} allocations`);
    assertEquals(enumerateHeap(snapshot, native()), heap, "python: enumeration differs");
    assertSameScan(snapshot, heap, "python");
    const run = (k: ScanKernel) => findings(analyze(snapshot, { kernel: k }));
    assertEquals(run(native()), run(TS_SCAN_KERNEL));
  } finally {
    kill(pid);
    Deno.removeSync(ready);
  }
});

Deno.test("native AllocationIndex loops: the same segments and bucket tables as TypeScript's", () => {
  const kernel = native().index;
  assert(kernel, "the shim has hs_index_segments and hs_index_fill");
  const same = (blocks: { address: number; size: number; zone: string }[]) => {
    const table = AllocationTable.from(blocks);
    const ts = new AllocationIndex(table), c = new AllocationIndex(table, kernel);
    assertEquals(c.segStart, ts.segStart);
    assertEquals(c.segEnd, ts.segEnd);
    assertEquals(c.segTable, ts.segTable);
    assertEquals(c.table, ts.table);
    assertEquals([c.min, c.max], [ts.min, ts.max]);
    return ts;
  };
  const random = new Rng(21);
  for (const segments of [1, 3, 1500]) {
    // Blocks of 0-4 KiB (zero-size ones own their address), gaps of 0-300 B inside a segment,
    // 1 MiB or more between segments (1500: past the kernel's first list of 1024); unaligned
    // starts included.
    const blocks: { address: number; size: number; zone: string }[] = [];
    let at = 0x5555_0000_0000 + random.int(16);
    for (let s = 0; s < segments; s++) {
      for (let k = 1 + random.int(segments > 100 ? 5 : 2000); k > 0; k--) {
        const size = random.int(8) === 0 ? 0 : random.int(4096);
        blocks.push({ address: at, size, zone: "z" });
        at += Math.max(size, 1) + random.int(300);
      }
      at += (1 << 20) + random.int(1 << 20);
    }
    const ts = same(blocks);
    assertEquals(ts.segStart.length, segments);
  }
  same([]);
  // Overlapping blocks: both refuse them, naming the same block.
  const bad = [{ address: 0x1000, size: 64, zone: "z" }, { address: 0x1020, size: 8, zone: "z" }];
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  const table = AllocationTable.from(bad);
  assertEquals(
    message(() => new AllocationIndex(table, kernel)),
    message(() => new AllocationIndex(table)),
  );
  assert(message(() => new AllocationIndex(table)).includes("0x1020"));
});
