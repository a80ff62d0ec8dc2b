// Direct tests of reachability, classification, cycle entries and attribution on graphs built by hand.

import assert from "node:assert/strict";
import { attributeLeaks, classify, floodFill, reachability } from "./classify.ts";
import { EDGE_INTERIOR, EDGE_WEAK, type HeapGraph } from "./graph.ts";
import { rng } from "./testdata/graphs.ts";
import {
  LEAK_DIRECT,
  LEAK_INDIRECT,
  STATUS_CYCLE,
  STATUS_LEAKED,
  STATUS_POSSIBLE,
  STATUS_REACHABLE,
} from "./types.ts";

/** A graph of n nodes at 0x1000 + 0x100·i, edges [source, target, flags], roots [target, flags]. */
function graph(
  n: number,
  edges: [number, number, number?][],
  roots: [number, number?][],
): HeapGraph {
  const sorted = [...edges].sort((a, b) => a[0] - b[0]);
  const start = new Uint32Array(n + 1);
  for (const [s] of sorted) start[s + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  return {
    nodes: {
      count: n,
      address: Float64Array.from({ length: n }, (_, i) => 0x1000 + 0x100 * i),
      size: new Float64Array(n).fill(64),
      zone: new Uint16Array(n),
      zoneNames: ["z"],
      type: new Int32Array(n).fill(-1),
      typeNames: [],
      flags: new Uint8Array(n),
    },
    edges: {
      start,
      target: Uint32Array.from(sorted, (e) => e[1]),
      offset: new Uint32Array(sorted.length),
      flags: Uint8Array.from(sorted, (e) => e[2] ?? 0),
    },
    roots: {
      entries: [{ kind: "data" }],
      entry: new Uint32Array(roots.length),
      where: Float64Array.from(roots, (_, i) => 0x100 + 8 * i),
      target: Uint32Array.from(roots, (r) => r[0]),
      flags: Uint8Array.from(roots, (r) => r[1] ?? 0),
    },
    warnings: [],
  };
}

Deno.test("floodFill() records the first retainer and skips flagged edges", () => {
  const g = graph(4, [[0, 1], [1, 2, EDGE_WEAK], [0, 3]], []);
  assert.deepEqual([...floodFill(4, g.edges, [0])], [-1, 0, 1, 0]);
  assert.deepEqual([...floodFill(4, g.edges, [0], EDGE_WEAK)], [-1, 0, -2, 0]);
});

Deno.test("reachability() tells reachable, possible (weak evidence only) and leaked apart", () => {
  // 0 ← strong root; 0 → 1 weak; 2 ← weak root; 3 nothing.
  const g = graph(4, [[0, 1, EDGE_WEAK]], [[0], [2, EDGE_WEAK]]);
  const r = reachability(g);
  assert.deepEqual([...r.state], [
    STATUS_REACHABLE,
    STATUS_POSSIBLE,
    STATUS_POSSIBLE,
    STATUS_LEAKED,
  ]);
  assert.deepEqual([...r.rootRef], [0, -1, 1, -1], "root refs only for nodes roots hold directly");
  assert.deepEqual([...r.via], [-1, 0, -1, -2]);
});

Deno.test("classify() finds direct, indirect, cycles and a held cycle's members all indirect", () => {
  // 0: reachable. 1: orphan → 2. 3 ↔ 4 unheld cycle → 5. 6 → (7 ↔ 8): held cycle. 9 → 9 self loop.
  const g = graph(10, [[1, 2], [3, 4], [4, 3], [4, 5], [6, 7], [7, 8], [8, 7], [9, 9]], [[0]]);
  const c = classify(g.edges, reachability(g).state, { addresses: g.nodes.address });
  const kinds = [...c.leak].map((k, i) => `${i}:${c.status[i]}/${k}`);
  assert.deepEqual(kinds, [
    `0:${STATUS_REACHABLE}/0`,
    `1:${STATUS_LEAKED}/${LEAK_DIRECT}`,
    `2:${STATUS_LEAKED}/${LEAK_INDIRECT}`,
    `3:${STATUS_CYCLE}/${LEAK_DIRECT}`, // lowest address of the unheld cycle
    `4:${STATUS_CYCLE}/${LEAK_INDIRECT}`,
    `5:${STATUS_LEAKED}/${LEAK_INDIRECT}`,
    `6:${STATUS_LEAKED}/${LEAK_DIRECT}`,
    `7:${STATUS_CYCLE}/${LEAK_INDIRECT}`,
    `8:${STATUS_CYCLE}/${LEAK_INDIRECT}`,
    `9:${STATUS_CYCLE}/${LEAK_DIRECT}`,
  ]);
  assert.deepEqual(c.cycles, [[3, 4], [7, 8], [9]]);
  assert.deepEqual([c.direct, c.indirect], [4, 5]);
});

Deno.test("classify() picks a cycle's entry: first allocated, else the header's owner, else an object", () => {
  // 0 ↔ 1 ↔ 2: 2 is pointed into (interior) by both, never at its start: the owner.
  const owner = graph(
    3,
    [[0, 1], [1, 0], [0, 2, EDGE_INTERIOR], [1, 2, EDGE_INTERIOR], [2, 0]],
    [],
  );
  const st = reachability(owner).state;
  const byOwner = classify(owner.edges, st, { addresses: owner.nodes.address });
  assert.equal(byOwner.leak[2], LEAK_DIRECT);
  // With allocation times the first allocated wins over the owner rule.
  const timed = classify(owner.edges, st, {
    addresses: owner.nodes.address,
    allocatedAt: [30, 10, 20],
  });
  assert.equal(timed.leak[1], LEAK_DIRECT);
  // Without an owner: a preferred node (a C++ object) over the lowest address.
  const plain = graph(3, [[0, 1], [1, 2], [2, 0]], []);
  const pst = reachability(plain).state;
  assert.equal(classify(plain.edges, pst, { addresses: plain.nodes.address }).leak[0], LEAK_DIRECT);
  const pref = classify(plain.edges, pst, { addresses: plain.nodes.address, preferred: [0, 0, 1] });
  assert.equal(pref.leak[2], LEAK_DIRECT);
});

Deno.test("attributeLeaks() counts each leaked block under exactly one direct leak", () => {
  // Two direct leaks 0 and 1 both point to 2 (shared); 2 → 3.
  const g = graph(4, [[0, 2], [1, 2], [2, 3]], []);
  const c = classify(g.edges, reachability(g).state, { addresses: g.nodes.address });
  const owner = attributeLeaks(g.edges, c.status, c.leak);
  assert.deepEqual([...owner], [0, 1, 0, 0]);
  const totals = new Map<number, number>();
  for (const o of owner) totals.set(o, (totals.get(o) ?? 0) + 1);
  assert.equal([...totals.values()].reduce((a, b) => a + b, 0), 4, "the totals add up");
});

Deno.test("classify() and attributeLeaks() on random graphs: components, entries and owners by brute force", () => {
  const random = rng(17);
  for (let t = 0; t < 200; t++) {
    const n = 1 + Math.floor(random() * 40);
    // A fifth of the references interior (not to the target's start): an owner of its cycle.
    const edges: [number, number, number][] = [];
    for (let k = Math.floor(random() * n * 2.5); k > 0; k--) {
      const flags = random() < 0.2 ? EDGE_INTERIOR : 0;
      edges.push([Math.floor(random() * n), Math.floor(random() * n), flags]);
    }
    const g = graph(n, edges, []);
    // Any mix of states: classification only splits the leaked nodes.
    const state = Uint8Array.from(
      { length: n },
      () => random() < 0.5 ? STATUS_LEAKED : random() < 0.5 ? STATUS_REACHABLE : STATUS_POSSIBLE,
    );
    const c = classify(g.edges, state, { addresses: g.nodes.address });
    // Reference: v and w share a component when each reaches the other over leaked nodes.
    const reach = (from: number) => {
      const seen = new Set([from]), queue = [from];
      while (queue.length) {
        const v = queue.shift()!;
        for (const [a, b] of edges) {
          if (a === v && state[b] === STATUS_LEAKED && !seen.has(b)) seen.add(b), queue.push(b);
        }
      }
      return seen;
    };
    const leaked = [...state.keys()].filter((v) => state[v] === STATUS_LEAKED);
    const reaches = new Map(leaked.map((v) => [v, reach(v)]));
    const component = (v: number) =>
      leaked.filter((w) => reaches.get(v)!.has(w) && reaches.get(w)!.has(v));
    const cycles: number[][] = [];
    for (const v of leaked) {
      const members = component(v);
      const inCycle = members.length > 1 || edges.some(([a, b]) => a === v && b === v);
      // Held: a leaked node outside the component points into it. Entry: the lowest owner (a
      // member others of its component point into, never at its start), else the lowest address.
      const held = edges.some(([a, b]) =>
        state[a] === STATUS_LEAKED && !members.includes(a) && members.includes(b)
      );
      const inner = (w: number, interior: boolean) =>
        edges.some(([a, b, f]) =>
          b === w && a !== w && members.includes(a) && (f === EDGE_INTERIOR) === interior
        );
      const owners = members.length > 1
        ? members.filter((w) => inner(w, true) && !inner(w, false))
        : [];
      const entry = owners[0] ?? members[0];
      assert.equal(c.status[v], inCycle ? STATUS_CYCLE : STATUS_LEAKED, `graph ${t} node ${v}`);
      assert.equal(
        c.leak[v],
        !held && entry === v ? LEAK_DIRECT : LEAK_INDIRECT,
        `graph ${t}`,
      );
      if (inCycle && members[0] === v) cycles.push(members);
    }
    for (let v = 0; v < n; v++) {
      if (state[v] !== STATUS_LEAKED) assert.equal(c.status[v], state[v]);
    }
    assert.deepEqual(c.cycles.map((m) => [...m].sort((x, y) => x - y)), cycles, `graph ${t}`);
    assert.deepEqual([...c.leaked], leaked);
    assert.deepEqual(
      attributeLeaks(g.edges, c.status, c.leak, c.leaked),
      attributeLeaks(g.edges, c.status, c.leak),
      `graph ${t}: owners`,
    );
  }
});
