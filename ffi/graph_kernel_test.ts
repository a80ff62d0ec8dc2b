// The native dominator tree (shim/graph_kernel.c) against the TypeScript one it must equal word
// for word: idom, retained sizes, the preorder and the reachable size, on seeded random graphs of
// several shapes (cycles, duplicate edges, self-loops, unreachable parts, duplicate roots), a
// 10^6-node chain, and the same errors for bad input.

import assert from "node:assert/strict";
import { type CsrGraph, dominatorTree } from "../analysis/dominators.ts";
import {
  nativeCompact,
  nativeDominatorTree,
  nativeFloodFill,
  nativeUnpackOffsets,
} from "./graph_kernel.ts";
import { compactEdges } from "../analysis/build_graph.ts";
import {
  ONE_SEGMENT_BYTES,
  SegmentList,
  SegmentWriter,
  unpackOffsets,
} from "../analysis/edge_words.ts";
import { floodFill } from "../analysis/classify.ts";
import { EDGE_INTERIOR, EDGE_WEAK } from "../analysis/graph.ts";
import { csr, rng } from "../analysis/testdata/graphs.ts";

const native = nativeDominatorTree();

/** A heap-like graph: mostly a forest with back edges, cross edges and some dense spots. */
function randomGraph(n: number, r: () => number, density: number) {
  const edges: [number, number][] = [];
  for (let v = 1; v < n; v++) {
    if (r() < 0.9) edges.push([Math.floor(r() * v), v]); // a parent before it
    const extra = Math.floor(r() * density);
    for (let k = 0; k < extra; k++) edges.push([v, Math.floor(r() * n)]); // anywhere, cycles too
    if (r() < 0.05) edges.push([v, v]);
  }
  const roots: number[] = [];
  const k = 1 + Math.floor(r() * 4);
  for (let i = 0; i < k; i++) roots.push(Math.floor(r() * n));
  if (r() < 0.3) roots.push(roots[0]!); // a duplicate root
  const sizes = new Float64Array(n);
  for (let v = 0; v < n; v++) sizes[v] = 16 + Math.floor(r() * 4096);
  return { g: csr(n, edges), roots, sizes };
}

function assertSame(g: CsrGraph, roots: number[], sizes: Float64Array, what: string) {
  const want = dominatorTree(g, roots, sizes);
  const got = native!(g, roots, sizes);
  assert.deepEqual([...got.idom], [...want.idom], `${what}: idom`);
  assert.deepEqual([...got.retained], [...want.retained], `${what}: retained`);
  assert.deepEqual([...got.preorder], [...want.preorder], `${what}: preorder`);
  assert.equal(got.reachableSize, want.reachableSize, `${what}: reachable size`);
}

Deno.test("the shim has the native dominator tree", () => {
  assert.ok(native, "hs_dominators missing from build/libheapscope.so: run `make shim`");
});

Deno.test("native dominators equal the TypeScript ones on 600 random graphs", () => {
  let checked = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 300);
    const { g, roots, sizes } = randomGraph(n, r, seed % 3 === 0 ? 6 : 2);
    assertSame(g, roots, sizes, `seed ${seed} n ${n}`);
    checked++;
  }
  assert.equal(checked, 600);
});

Deno.test("native dominators equal the TypeScript ones on 2·10^5 nodes and a 10^6 chain", () => {
  const { g, roots, sizes } = randomGraph(200_000, rng(77), 2);
  assertSame(g, roots, sizes, "2·10^5 nodes");
  const n = 1_000_000;
  const start = new Uint32Array(n + 1), target = new Uint32Array(n - 1);
  for (let v = 0; v < n; v++) start[v + 1] = Math.min(v + 1, n - 1);
  for (let v = 0; v < n - 1; v++) target[v] = v + 1;
  const chain = native!({ start, target }, [0], new Float64Array(n).fill(8));
  assert.equal(chain.idom[n - 1], n - 2);
  assert.equal(chain.retained[0], 8 * n);
  assert.equal(chain.preorder.length, n);
});

Deno.test("native dominators: no roots, and the TypeScript errors for bad edges and roots", () => {
  const g = csr(3, [[0, 1], [1, 1]]);
  assertSame(g, [], new Float64Array(3), "no roots");
  assertSame(g, [0, 0], Float64Array.of(1, 2, 4), "a duplicate root");
  assert.throws(
    () => native!({ start: Uint32Array.of(0, 1), target: Uint32Array.of(5) }, [0], [1]),
    /edge 0 goes to 5, past 0/,
  );
  assert.throws(() => native!(g, [7], new Float64Array(3)), /root 7 is not a node/);
  assert.throws(() => native!(g, [0], new Float64Array(2)), /3 nodes but 2 sizes/);
});

Deno.test("native floodFill equals the TypeScript search: strong, then resumed with weak edges", () => {
  const flood = nativeFloodFill();
  assert.ok(flood, "the shim has hs_flood_fill");
  const r = rng(33);
  for (let t = 0; t < 300; t++) {
    const n = 1 + Math.floor(r() * 400);
    const { g, roots } = randomGraph(n, r, 3);
    const flags = Uint8Array.from(g.target, () => r() < 0.3 ? EDGE_WEAK : 0);
    const edges = { ...g, flags };
    // Seeds past the last node and repeated ones are passed over alike.
    const seeds = [...roots, n + 3, roots[0]!];
    const weakSeeds = Array.from({ length: 3 }, () => Math.floor(r() * (n + 2)));
    const ts = floodFill(n, edges, seeds, EDGE_WEAK);
    const c = floodFill(n, edges, seeds, EDGE_WEAK, undefined, false, flood);
    assert.deepEqual(c, ts, `graph ${t}: strong`);
    // Resumed from the strong search, every edge followed: a copy, then in place.
    const tsAll = floodFill(n, edges, weakSeeds, 0, ts);
    assert.deepEqual(floodFill(n, edges, weakSeeds, 0, c, false, flood), tsAll, `graph ${t}: copy`);
    assert.deepEqual(floodFill(n, edges, weakSeeds, 0, c, true, flood), tsAll, `graph ${t}`);
    assert.deepEqual(c, tsAll, `graph ${t}: extended in place`);
  }
});

/**
 * A heap of up to `most` blocks with edge words as the scan writes them: sizes (a quarter over
 * 128 KiB, up to 8 segments), addresses (some unaligned), and per block 0-11 edges at ascending
 * word indices (interior or not), their targets and the addresses of their words.
 */
function wordHeap(r: () => number, most: number) {
  const n = 1 + Math.floor(r() * most);
  const sizes = Array.from(
    { length: n },
    () =>
      r() < 0.25
        ? ONE_SEGMENT_BYTES + Math.floor(r() * 7 * ONE_SEGMENT_BYTES)
        : 8 + Math.floor(r() * 4000),
  );
  const addresses = new Float64Array(n);
  let at = 0x5555_0000_0000 + Math.floor(r() * 8);
  for (let v = 0; v < n; v++) {
    addresses[v] = at;
    at += sizes[v]! + 16 + (r() < 0.2 ? Math.floor(r() * 8) : 0);
  }
  const list = new SegmentList(1);
  const writer = new SegmentWriter(list);
  const words: number[] = [], targets: number[] = [], start = [0], where: number[] = [];
  for (let v = 0; v < n; v++) {
    const count = r() < 0.2 ? 0 : Math.floor(r() * 12);
    const ks = Array.from({ length: count }, () => Math.floor(r() * (sizes[v]! / 8)))
      .sort((x, y) => x - y);
    for (const k of ks) {
      words.push(writer.word(words.length, v, k) | (r() < 0.3 ? EDGE_INTERIOR : 0));
      targets.push(Math.floor(r() * n));
      where.push(Math.ceil(addresses[v]! / 8) * 8 + 8 * k);
    }
    start.push(words.length);
  }
  return { n, sizes, addresses, end: at, list, words, targets, start, where };
}

Deno.test("native unpackOffsets equals edge_words.ts's: blocks past 128 KiB, odd addresses, no edges", () => {
  const unpack = nativeUnpackOffsets();
  assert.ok(unpack, "the shim has hs_unpack_offsets");
  const r = rng(41);
  for (let t = 0; t < 100; t++) {
    const { addresses, list, words, start } = wordHeap(r, 60);
    const w = Uint16Array.from(words), st = Uint32Array.from(start);
    const want = new Uint32Array(words.length), got = new Uint32Array(words.length);
    unpackOffsets(w, list, st, addresses, want);
    unpack(w, list, st, addresses, got);
    assert.deepEqual(got, want, `heap ${t}`);
  }
});

Deno.test("native graph pass equals compactEdges: live bytes, skipped words, weak flags, segments renumbered", () => {
  const compact = nativeCompact();
  assert.ok(compact, "the shim has hs_graph_compact");
  const r = rng(57);
  for (let t = 0; t < 100; t++) {
    const { n, sizes, addresses, end: at, list, words, targets, start, where } = wordHeap(r, 50);
    // Live bytes cut some blocks short; weak from somewhere inside; a fifth of the words skipped,
    // and some addresses skipped that are no edge's.
    const scanSize = Float64Array.from(sizes, (s) => r() < 0.3 ? Math.floor(r() * s) : s);
    const weakFrom = Uint32Array.from(sizes, (s) => r() < 0.5 ? Math.floor(r() * s) : s);
    const skip = Float64Array.from(
      [
        ...where.filter(() => r() < 0.2),
        ...Array.from({ length: 3 }, () => addresses[0]! + r() * (at - addresses[0]!)),
      ],
    ).sort();
    const edgeSet = () => ({
      target: Uint32Array.from(targets),
      word: Uint16Array.from(words),
      segments: { edge: list.edge.slice(), segment: list.segment.slice(), count: list.count },
      start: Uint32Array.from(start),
      unreadable: 0,
      bytesScanned: 0,
    });
    const ts = edgeSet(), c = edgeSet();
    const want = compactEdges(n, ts, addresses, scanSize, weakFrom, skip);
    const got: { edges: number; segments: number } = compact(
      n,
      c,
      addresses,
      scanSize,
      weakFrom,
      skip,
    );
    assert.deepEqual(got, want, `heap ${t}: counts`);
    assert.deepEqual(c.start, ts.start, `heap ${t}: starts`);
    assert.deepEqual(c.target.subarray(0, want.edges), ts.target.subarray(0, want.edges));
    assert.deepEqual(c.word.subarray(0, want.edges), ts.word.subarray(0, want.edges));
    assert.deepEqual(
      c.segments.edge.subarray(0, want.segments),
      ts.segments.edge.subarray(0, want.segments),
    );
    assert.deepEqual(
      c.segments.segment.subarray(0, want.segments),
      ts.segments.segment.subarray(0, want.segments),
    );
  }
});
