// Tests for the native recognise pass (shim/recognise_kernel.c): what it finds equals what the
// TypeScript loops find (slackWords, collectCandidates, the vtable, red-black node and hashtable
// checks), on the glibc fixture and mutations of it, on random heaps with holes and blocks across
// chunk ends, and on captured real processes (C++ with strings, vectors, maps, unordered_maps and
// vtables on the real libstdc++; python3). Small batches make the pass stop and resume often.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  AllocationIndex,
  analyze,
  CandidateList,
  enumerateHeap,
  MemoryImage,
  type RecogniseKernel,
  type ScanKernel,
  TS_SCAN_KERNEL,
} from "../analysis/mod.ts";
import { scanReferences, slackWords } from "../analysis/analyze.ts";
import { collectCandidates, recogniseContainers } from "../analysis/containers.ts";
import { finishTypes, inferTypes } from "../analysis/block_types.ts";
import { ImageIndex } from "../analysis/image_index.ts";
import { demangle, loadDemangler } from "../analysis/demangle.ts";
import type { HeapEnumeration, ImageFiles, MemoryChunk, Snapshot } from "../analysis/types.ts";
import { getHeapBase } from "../analysis/testdata/fuzz_targets.ts";
import { mutateSnapshot, Rng } from "../analysis/testdata/mutate.ts";
import { heapOf } from "../analysis/testdata/synthetic.ts";
import { captureSnapshot } from "./mod.ts";
import { diskImageFiles } from "./image_files.ts";
import { nativeRecogniseKernel } from "./recognise_kernel.ts";
import { nativeScanKernel } from "./scan_kernel.ts";
import { kill, spawnDetached, until, withCapturedSessions } from "../tests/procs.ts";

function pass(batch?: number): RecogniseKernel {
  const k = nativeRecogniseKernel(batch);
  assert(k, "the shim has no recognise pass: run `make shim`");
  return k;
}

function candidateColumns(c: CandidateList) {
  const n = c.count;
  return {
    r: c.r.slice(0, n),
    x: c.x.slice(0, n),
    kind: c.kind.slice(0, n),
    a: c.a.slice(0, n),
    b: c.b.slice(0, n),
  };
}

interface Counts {
  candidates: number;
  vtables: number;
  rbNodes: number;
  hashRefs: number;
  textBlocks: number;
  footed: number;
}

/**
 * The pass against the TypeScript loops on one heap: slack, candidates, and inferTypes' result
 * with and without what the pass found. Returns how much was found (for the callers to assert
 * that the layouts were there to compare).
 */
function assertSamePass(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  label: string,
  opts: { batch?: number; requested?: Float64Array; imageFiles?: ImageFiles } = {},
): Counts {
  const memory = new MemoryImage(snapshot.memory);
  const allocations = heap.allocations;
  const index = new AllocationIndex(allocations);
  const edges = TS_SCAN_KERNEL.scanBlocks(memory, index, allocations);
  const ranges = snapshot.regions.map((r) => ({ start: r.start, end: r.end }));
  const hits = TS_SCAN_KERNEL.scanRanges(memory, index, ranges);
  const refs = scanReferences(allocations, edges, hits);
  const images = new ImageIndex(snapshot.images, snapshot.regions, opts.imageFiles);
  const found = pass(opts.batch)({
    memory,
    allocations,
    requested: opts.requested,
    regions: {
      starts: Float64Array.from(snapshot.regions, (r) => r.start),
      ends: Float64Array.from(snapshot.regions, (r) => r.end),
    },
    spans: images.fileSpans(),
    refs: refs.raw!,
  });
  const slack = slackWords(allocations, memory, snapshot.regions, opts.requested);
  assertEquals(found.slack, slack, `${label}: slack differs`);
  const candidates = new CandidateList();
  collectCandidates(memory, allocations.addresses, allocations.sizes, refs, candidates);
  assertEquals(
    candidateColumns(found.candidates),
    candidateColumns(candidates),
    `${label}: container candidates differ`,
  );
  const limits = recogniseContainers(
    memory,
    allocations.addresses,
    allocations.sizes,
    allocations.sizes,
    refs,
    slack,
  );
  const input = {
    memory,
    addresses: allocations.addresses,
    sizes: allocations.sizes,
    images,
    demangle: opts.imageFiles ? demangle : undefined,
    bodies: limits.bodies,
    blockAt: (a: number) => index.lookup(a),
    refs,
  };
  const dense = inferTypes(input);
  assertEquals(inferTypes({ ...input, found }), dense, `${label}: types differ`);
  // The sparse form (id + 1, nothing written for an unknown block) ends as the dense one.
  const sparse = inferTypes({ ...input, found, sparse: true });
  finishTypes(sparse);
  assertEquals({ ...sparse, type: Array.from(sparse.type) }, {
    ...dense,
    sparse: false,
    type: Array.from(dense.type),
  }, `${label}: sparse types differ`);
  let textBlocks = 0, footed = 0;
  for (let i = 0; i < slack.length; i++) {
    const size = allocations.sizes[i]!;
    if (slack[i]! < size - 8) textBlocks++;
    if (size >= 56 && memory.u64(allocations.addresses[i]! + size - 8) === size + 8) footed++;
  }
  return {
    candidates: found.candidates.count,
    vtables: found.vtables.block.length,
    rbNodes: found.rbNodes.block.length,
    hashRefs: found.hashRefs.length,
    textBlocks,
    footed,
  };
}

Deno.test("the recognise pass equals the TypeScript loops on the glibc fixture and mutations of it", () => {
  const base = getHeapBase();
  assertSamePass(base.snapshot, enumerateHeap(base.snapshot), "fixture");
  assertSamePass(base.snapshot, enumerateHeap(base.snapshot), "fixture, batch 3", { batch: 3 });
  let compared = 0;
  for (let i = 0; i < 200; i++) {
    const rng = new Rng(5000 + i);
    const m = mutateSnapshot(rng, base.snapshot, base.hints, 6);
    let heap: HeapEnumeration;
    try {
      heap = enumerateHeap(m.value);
    } catch {
      continue;
    }
    // Every other mutation with a recorder's sizes: some known (smaller), some not.
    const requested = i % 2 === 0 ? undefined : Float64Array.from(
      heap.allocations.sizes,
      (s, k) => k % 3 === 0 ? -1 : Math.max(0, s - (k % 17)),
    );
    assertSamePass(m.value, heap, `mutation ${i} (${m.ops.join(", ")})`, {
      batch: i % 4 === 1 ? 3 : undefined,
      requested,
    });
    compared++;
  }
  assert(compared > 50, `only ${compared} mutations enumerated`);
});

/**
 * Random blocks over several chunks with holes, filled with the words the recognisers look for:
 * string objects (heap and inline), vectors, bump pools, red-black links, hashtable objects,
 * C strings, and random words and pointers.
 */
function layoutHeap(seed: number, blocks: number): { snapshot: Snapshot; heap: HeapEnumeration } {
  const rng = new Rng(seed);
  const base = 0x5555_0000_0000;
  const addrs: number[] = [], sizes: number[] = [];
  let at = base + 16;
  for (let i = 0; i < blocks; i++) {
    const size = rng.int(8) === 0 ? 24 : 8 * rng.int(40) + (rng.int(10) === 0 ? 3 : 0);
    addrs.push(at);
    sizes.push(size);
    at += Math.ceil((size + 8) / 16) * 16;
  }
  const span = at - base;
  const bytes = new Uint8Array(span);
  const view = new DataView(bytes.buffer);
  const put = (a: number, v: number) => {
    const off = a - base;
    if (off < 0 || off + 8 > span) return;
    view.setUint32(off, v % 4294967296, true);
    view.setUint32(off + 4, Math.floor(v / 4294967296), true);
  };
  const block = () => rng.int(blocks);
  for (let i = 0; i < blocks; i++) {
    const a = addrs[i]!, size = sizes[i]!;
    for (let w = a; w + 8 <= a + size; w += 8) {
      const t = block(), kind = rng.int(12);
      const ta = addrs[t]!, ts = sizes[t]!;
      if (kind === 0) { // heap string {p, len, cap}
        const cap = Math.max(16, ts - 1 - rng.int(3));
        put(w, ta);
        put(w + 8, rng.int(cap + 1));
        put(w + 16, cap);
        w += 16;
      } else if (kind === 1) { // vector {begin, end, end_of_storage}
        put(w, ta);
        put(w + 8, ta + 8 * rng.int(Math.max(1, ts / 8)));
        put(w + 16, ta + ts - rng.int(16));
        w += 16;
      } else if (kind === 2) { // bump pool {free, end}
        put(w, ta + 1 + rng.int(Math.max(1, ts)));
        put(w + 8, ta + ts - rng.int(32));
        w += 8;
      } else if (kind === 3) { // inline string {x + 16, len, buf…} pointing into a block
        put(w, w + 16);
        put(w + 8, rng.int(16));
        put(w + 16, rng.int(3) === 0 ? 0 : ta + 8);
        w += 16;
      } else if (kind === 4) { // red-black links {color, parent, left, right}
        put(w, rng.int(2));
        put(w + 8, ta);
        put(w + 16, rng.int(2) ? 0 : addrs[block()]!);
        put(w + 24, rng.int(2) ? 0 : addrs[block()]!);
        put(ta + 16, a);
        w += 24;
      } else if (kind === 5) { // hashtable {buckets, count, before_begin, elements, load}
        put(w, ta);
        put(w + 8, Math.max(1, Math.floor(ts / 8)));
        put(w + 16, addrs[block()]!);
        put(w + 24, rng.int(5));
        view.setFloat32(w + 32 - base, rng.int(2) ? 1.0 : 1000, true);
        w += 32;
      } else if (kind === 6) { // C text
        for (let k = 0; k < 8; k++) bytes[w - base + k] = rng.int(4) === 0 ? 0 : 65 + rng.int(26);
      } else if (kind < 9) put(w, ta + rng.int(Math.max(1, ts)));
      else put(w, rng.int(2 ** 40));
    }
    // glibc's foot (the chunk's size in the last word: the chunk came whole from a bin), on
    // small blocks too, where it changes nothing.
    if (size >= 8 && rng.int(5) === 0) put(a + size - 8, size + 8);
  }
  const memory: MemoryChunk[] = [];
  for (let off = 0; off < span;) {
    const len = Math.min(span - off, 4096 * (1 + rng.int(64)));
    if (rng.int(10) !== 0) {
      memory.push({ start: base + off, bytes: bytes.subarray(off, off + len) });
    }
    off += len;
  }
  return heapOf("layouts", base, at, memory, addrs, sizes);
}

Deno.test("the recognise pass equals the TypeScript loops on random heaps full of layouts", () => {
  for (const seed of [1, 2, 3, 4]) {
    const { snapshot, heap } = layoutHeap(seed, 4000);
    const c = assertSamePass(snapshot, heap, `seed ${seed}`, { batch: seed === 1 ? 3 : undefined });
    assert(
      c.candidates > 100 && c.rbNodes > 0 && c.textBlocks > 0 && c.footed > 100,
      JSON.stringify(c),
    );
  }
});

/** The whole analysis with the native scan kernel, with and without the pass: everything equal. */
function assertSameAnalysis(snapshot: Snapshot, imageFiles: ImageFiles, label: string): void {
  const native = nativeScanKernel();
  assert(native?.recognise, "the native scan kernel has no recognise pass");
  const { recognise: _, ...withoutPass } = native;
  const run = (kernel: ScanKernel) => {
    const a = analyze(snapshot, { kernel, imageFiles, demangle });
    return {
      status: a.status,
      via: a.via,
      idom: a.idom,
      retained: a.retained,
      type: a.graph.nodes.type,
      typeNames: a.graph.nodes.typeNames,
      flags: a.graph.edges.flags,
      target: a.graph.edges.target,
    };
  };
  assertEquals(run(native), run(withoutPass as ScanKernel), `${label}: analyses differ`);
}

Deno.test("the recognise pass equals the TypeScript loops on the captured C++ sessions program", async () => {
  await loadDemangler();
  await withCapturedSessions((snapshot, files) => {
    const heap = enumerateHeap(snapshot);
    const c = assertSamePass(snapshot, heap, "sessions", { imageFiles: files });
    // The layouts were there to compare: libstdc++ strings, vectors, maps and unordered_maps,
    // and objects with vtables.
    assert(
      c.candidates > 100 && c.vtables > 10 && c.rbNodes > 10 && c.hashRefs > 10,
      JSON.stringify(c),
    );
    assertSamePass(snapshot, heap, "sessions, batch 3", { imageFiles: files, batch: 3 });
    assertSameAnalysis(snapshot, files, "sessions");
  });
});

Deno.test("the recognise pass equals the TypeScript loops on a captured python process", async () => {
  const ready = Deno.makeTempFileSync({ prefix: "hs_recognise_ready_" });
  const pid = await spawnDetached(`exec python3 -c '
import time
keep = [bytearray(b"text %d" % i) + bytearray(600 + i % 40) for i in range(20000)]
table = {i: bytearray(600 + i % 200) for i in range(5000)}
open("${ready}", "w").write("READY")
time.sleep(60)'`);
  try {
    await until(() => Deno.readTextFileSync(ready) === "READY", 10_000, "the python target");
    const snapshot = await captureSnapshot(pid);
    const files = diskImageFiles(snapshot);
    try {
      const heap = enumerateHeap(snapshot);
      // A real heap's volume (its blocks hold Python objects' buffers, not C++ layouts).
      assert(heap.allocations.length > 25000, `${heap.allocations.length} allocations`);
      const c = assertSamePass(snapshot, heap, "python", { imageFiles: files });
      assert(c.textBlocks > 10000, JSON.stringify(c));
      assertSameAnalysis(snapshot, files, "python");
    } finally {
      files.close();
    }
  } finally {
    kill(pid);
    Deno.removeSync(ready);
  }
});
