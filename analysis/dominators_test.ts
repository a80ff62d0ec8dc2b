// Tests of dominatorTree() and topRetainers() against a brute-force reference (remove a node, see
// what becomes unreachable) on seeded random graphs of many shapes, and on long chains.

import assert from "node:assert/strict";
import {
  type CsrGraph,
  dominatorTree,
  topRetainers,
  UNREACHABLE,
  VIRTUAL_ROOT,
} from "./dominators.ts";
import { csr, rng } from "./testdata/graphs.ts";

/** Nodes reachable from `roots` when `removed` is taken out (-1: nothing removed). O(V + E). */
function reachable(g: CsrGraph, roots: number[], removed: number): Uint8Array {
  const n = g.start.length - 1;
  const seen = new Uint8Array(n);
  const stack: number[] = [];
  for (const r of roots) {
    if (r !== removed && !seen[r]) {
      seen[r] = 1;
      stack.push(r);
    }
  }
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (let e = g.start[v]!; e < g.start[v + 1]!; e++) {
      const w = g.target[e]!;
      if (w !== removed && !seen[w]) {
        seen[w] = 1;
        stack.push(w);
      }
    }
  }
  return seen;
}

/**
 * Reference by definition, O(V · (V + E)): d dominates v when removing d makes v unreachable. The
 * immediate dominator is the strict dominator that dominates the fewest nodes (dominators of a node
 * are nested); retained = own size + sizes of everything that goes with it.
 */
function reference(g: CsrGraph, roots: number[], sizes: Float64Array) {
  const n = g.start.length - 1;
  const all = reachable(g, roots, -1);
  const idom = new Int32Array(n).fill(UNREACHABLE);
  const best = new Float64Array(n).fill(Infinity);
  const retained = new Float64Array(n);
  for (let v = 0; v < n; v++) if (all[v]) idom[v] = VIRTUAL_ROOT;
  for (let d = 0; d < n; d++) {
    if (!all[d]) continue;
    const still = reachable(g, roots, d);
    const lost: number[] = [];
    for (let v = 0; v < n; v++) if (all[v] && v !== d && !still[v]) lost.push(v);
    retained[d] = sizes[d]! + lost.reduce((s, v) => s + sizes[v]!, 0);
    for (const v of lost) {
      if (lost.length < best[v]!) {
        best[v] = lost.length;
        idom[v] = d;
      }
    }
  }
  return { idom, retained };
}

type Shape = "sparse" | "dense" | "dag" | "chain" | "cycle" | "tree" | "multi";

/** A random graph of one shape: n nodes, edges, roots (some nodes left unreachable). */
function randomGraph(shape: Shape, n: number, r: () => number) {
  const edges: [number, number][] = [];
  const pick = () => Math.floor(r() * n);
  let roots = [0];
  switch (shape) {
    case "sparse":
      for (let i = 0; i < n * 2; i++) edges.push([pick(), pick()]);
      break;
    case "dense":
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (r() < 0.3) edges.push([a, b]);
      break;
    case "dag": // forward edges only, some long
      for (let a = 0; a < n - 1; a++) {
        const k = 1 + Math.floor(r() * 3);
        for (let j = 0; j < k; j++) {
          edges.push([a, a + 1 + Math.floor(r() * Math.min(8, n - a - 1))]);
        }
      }
      break;
    case "chain": // a path, a few shortcuts forward and back
      for (let a = 0; a < n - 1; a++) edges.push([a, a + 1]);
      for (let i = 0; i < n / 20; i++) edges.push([pick(), pick()]);
      break;
    case "cycle": // rings joined into a ring of rings, entered at several points
      for (let a = 0; a < n; a++) edges.push([a, (a + 1) % n]);
      for (let i = 0; i < n / 10; i++) edges.push([pick(), pick()]);
      roots = [0, pick(), pick()];
      break;
    case "tree": // a heap-like tree with cross and back references, duplicates and self-loops
      for (let a = 1; a < n; a++) edges.push([Math.floor(r() * a), a]);
      for (let i = 0; i < n / 5; i++) edges.push([pick(), pick()]);
      for (let i = 0; i < n / 20; i++) {
        const v = pick();
        edges.push([v, v]);
      }
      break;
    case "multi": // many roots, several separate components, some unreachable
      for (let i = 0; i < n * 1.5; i++) {
        const a = pick();
        edges.push([a, Math.min(n - 1, a + Math.floor(r() * 10))]);
      }
      roots = Array.from({ length: 1 + Math.floor(n / 15) }, pick);
      break;
  }
  // Duplicate edges in random order: the algorithm must not care.
  edges.sort(() => r() - 0.5);
  const sizes = Float64Array.from({ length: n }, () => 16 + Math.floor(r() * 200));
  return { g: csr(n, edges), roots, sizes };
}

const SHAPES: Shape[] = ["sparse", "dense", "dag", "chain", "cycle", "tree", "multi"];

Deno.test("dominatorTree() equals the remove-a-node reference on 700 random graphs of 7 shapes", () => {
  let checked = 0;
  for (const shape of SHAPES) {
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed * 7919 + shape.length);
      const n = 1 + Math.floor(r() * (shape === "dense" ? 40 : 120));
      const { g, roots, sizes } = randomGraph(shape, n, r);
      const got = dominatorTree(g, roots, sizes);
      const want = reference(g, roots, sizes);
      assert.deepEqual(got.idom, want.idom, `${shape} seed ${seed} n ${n}: idom`);
      assert.deepEqual(got.retained, want.retained, `${shape} seed ${seed}: retained`);
      checked++;
    }
  }
  assert.equal(checked, 700);
});

Deno.test("dominatorTree() equals the reference on graphs of 10^4 nodes", () => {
  for (const shape of ["tree", "sparse", "chain"] as const) {
    const { g, roots, sizes } = randomGraph(shape, 10_000, rng(42));
    const got = dominatorTree(g, roots, sizes);
    const want = reference(g, roots, sizes);
    assert.deepEqual(got.idom, want.idom, shape);
    assert.deepEqual(got.retained, want.retained, shape);
  }
});

Deno.test("dominatorTree() retained sizes add up: each node is its size plus its children's", () => {
  for (const shape of SHAPES) {
    const n = shape === "dense" ? 300 : 3000;
    const { g, roots, sizes } = randomGraph(shape, n, rng(shape.length * 31));
    const t = dominatorTree(g, roots, sizes);
    const children = new Float64Array(sizes.length);
    let top = 0, reachableSum = 0;
    for (let v = 0; v < sizes.length; v++) {
      if (t.idom[v] === UNREACHABLE) {
        assert.equal(t.retained[v], 0);
        continue;
      }
      reachableSum += sizes[v]!;
      if (t.idom[v] === VIRTUAL_ROOT) top += t.retained[v]!;
      else children[t.idom[v]!]! += t.retained[v]!;
    }
    for (let v = 0; v < sizes.length; v++) {
      if (t.idom[v] !== UNREACHABLE) assert.equal(t.retained[v], sizes[v]! + children[v]!);
    }
    // The virtual root retains everything reachable.
    assert.equal(t.reachableSize, reachableSum);
    assert.equal(top, reachableSum);
    assert.equal(t.preorder.length, t.idom.filter((d) => d !== UNREACHABLE).length);
  }
});

Deno.test("dominatorTree() runs a 10^6-node chain and a 10^6-node ring without recursion", () => {
  const n = 1_000_000;
  const start = Uint32Array.from({ length: n + 1 }, (_, i) => Math.min(i, n - 1));
  const chain = { start, target: Uint32Array.from({ length: n - 1 }, (_, i) => i + 1) };
  const sizes = new Float64Array(n).fill(8);
  const t = dominatorTree(chain, [0], sizes);
  assert.equal(t.idom[0], VIRTUAL_ROOT);
  assert.equal(t.idom[n - 1], n - 2);
  assert.equal(t.retained[0], 8 * n);
  assert.equal(t.retained[n / 2], 8 * (n / 2));
  // A ring entered at 0 and at n/2: each half is dominated by its own entry's chain, and the
  // entries by the virtual root.
  const ringStart = Uint32Array.from({ length: n + 1 }, (_, i) => i);
  const ring = { start: ringStart, target: Uint32Array.from({ length: n }, (_, i) => (i + 1) % n) };
  const r = dominatorTree(ring, [0, n / 2], sizes);
  assert.equal(r.idom[0], VIRTUAL_ROOT);
  assert.equal(r.idom[n / 2], VIRTUAL_ROOT);
  assert.equal(r.idom[n / 2 - 1], n / 2 - 2);
  assert.equal(r.retained[0], 8 * (n / 2));
});

Deno.test("dominatorTree() handles no roots, isolated nodes, and rejects bad edges and roots", () => {
  const g = csr(3, [[0, 1], [1, 1]]);
  const none = dominatorTree(g, [], new Float64Array(3));
  assert.deepEqual([...none.idom], [UNREACHABLE, UNREACHABLE, UNREACHABLE]);
  assert.equal(none.reachableSize, 0);
  const some = dominatorTree(g, [0, 0], Float64Array.of(1, 2, 4));
  assert.deepEqual([...some.idom], [VIRTUAL_ROOT, 0, UNREACHABLE]);
  assert.deepEqual([...some.retained], [3, 2, 0]);
  assert.throws(
    () => dominatorTree({ start: Uint32Array.of(0, 1), target: Uint32Array.of(5) }, [0], [1]),
    /edge 0 goes to 5/,
  );
  assert.throws(() => dominatorTree(g, [7], new Float64Array(3)), /root 7 is not a node/);
});

Deno.test("topRetainers() lists the largest retainers, optionally one per dominator subtree", () => {
  // 0 → 1 → {2, 3}; 4 alone; 5 unreachable.
  const g = csr(6, [[0, 1], [1, 2], [1, 3]]);
  const t = dominatorTree(g, [0, 4], Float64Array.of(1, 10, 100, 5, 50, 1000));
  assert.deepEqual(topRetainers(t, 3), [
    { node: 0, retained: 116 },
    { node: 1, retained: 115 },
    { node: 2, retained: 100 },
  ]);
  assert.deepEqual(topRetainers(t, 3, { outermost: true }), [
    { node: 0, retained: 116 },
    { node: 4, retained: 50 },
  ]);
  assert.deepEqual(topRetainers(t, 0), []);
  // Against a full sort on a random graph.
  const { g: big, roots, sizes } = randomGraph("tree", 5000, rng(9));
  const bt = dominatorTree(big, roots, sizes);
  const sorted = [...bt.preorder].sort((a, b) => bt.retained[b]! - bt.retained[a]! || a - b);
  assert.deepEqual(topRetainers(bt, 25).map((x) => x.node), sorted.slice(0, 25));
});
