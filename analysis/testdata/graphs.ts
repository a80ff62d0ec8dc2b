// Helpers for tests, benchmarks and sample data: a seeded PRNG and a CSR graph builder.

import type { CsrGraph } from "../dominators.ts";

/** Seeded PRNG (mulberry32): the same sequence on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A CSR graph of `n` nodes from an edge list (edges of one source keep their order). */
export function csr(n: number, edges: [number, number][]): CsrGraph {
  const start = new Uint32Array(n + 1);
  for (const [a] of edges) start[a + 1]! += 1;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const target = new Uint32Array(edges.length);
  for (const [a, b] of edges) target[fill[a]!++] = b;
  return { start, target };
}
