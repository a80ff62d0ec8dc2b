// Direct tests of reachability, classification, cycle entries and attribution on graphs built by hand.

import assert from "node:assert/strict";
import { attributeLeaks, classify, floodFill, reachability } from "./classify.ts";
import { EDGE_INTERIOR, EDGE_WEAK, type HeapGraph } from "./graph.ts";
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
