// Tests for the iterative Tarjan SCC.
import { deepEqual as assertEquals } from "node:assert/strict";
import { stronglyConnected } from "./scc.ts";

function csr(n: number, edges: [number, number][]) {
  const start = new Uint32Array(n + 1);
  for (const [s] of edges) start[s + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const adj = new Uint32Array(edges.length);
  for (const [s, t] of edges) adj[fill[s]!++] = t;
  return { nodeCount: n, start, adj };
}

Deno.test("stronglyConnected() groups a two-block cycle and leaves its tail alone", () => {
  // 0 <-> 1, 1 -> 2 (tail), 3 alone, 4 -> 4 self loop
  const g = csr(5, [[0, 1], [1, 0], [1, 2], [4, 4]]);
  const { comp, count } = stronglyConnected(g, new Uint8Array(5).fill(1));
  assertEquals(count, 4);
  assertEquals(comp[0], comp[1]);
  assertEquals(new Set([comp[0], comp[2], comp[3], comp[4]]).size, 4);
  // Reverse topological order: the tail (reached from the cycle) is numbered first.
  assertEquals(comp[2]! < comp[0]!, true);
});

Deno.test("stronglyConnected() ignores non-members", () => {
  const g = csr(3, [[0, 1], [1, 2], [2, 0]]);
  const member = Uint8Array.from([1, 0, 1]);
  const { comp, count } = stronglyConnected(g, member);
  assertEquals(count, 2);
  assertEquals(comp[1], -1);
  assertEquals(comp[0] !== comp[2], true);
});

Deno.test("stronglyConnected() handles a million-node chain and a million-node ring without recursion", () => {
  const n = 1_000_000;
  const chain: [number, number][] = [];
  for (let i = 0; i + 1 < n; i++) chain.push([i, i + 1]);
  const a = stronglyConnected(csr(n, chain), new Uint8Array(n).fill(1));
  assertEquals(a.count, n);
  chain.push([n - 1, 0]);
  const b = stronglyConnected(csr(n, chain), new Uint8Array(n).fill(1));
  assertEquals(b.count, 1);
  assertEquals(b.comp[0], b.comp[n - 1]);
});
