// Bench of dominatorTree() + topRetainers() on heap-like graphs of 10^6 and 10^7 nodes: time and memory.
// Usage (under the shared lock: it needs ~2 GB and a core for a minute at 10^7):
//   flock /tmp/heapscope-heavy.lock node_modules/.bin/deno run -A --v8-flags=--max-old-space-size=8192 \
//     bench/dominators_bench.ts [nodes ...]        (default: 1000000 10000000)
// Goal: ≤ 1 s at 10^6 nodes.

import { dominatorTree, topRetainers } from "../analysis/dominators.ts";
import { rng } from "../analysis/testdata/graphs.ts";

/**
 * A heap-like graph of n nodes, ~1.6 edges per node (scans of real programs give 1 to 3):
 * - 60%: trees (each node owned by a node allocated shortly before it: allocator locality of
 *   4096 nodes), 60% with a pointer to anywhere (shared objects, caches), 30% with a pointer
 *   to a neighbour (back pointers, siblings);
 * - 25%: linked lists up to 10^5 long (a third doubly linked), a 10^6-long one at 10^7 nodes;
 * - 10%: hash tables, a bucket array of 1000 pointers each;
 * - 5%: unreachable (leaked) nodes pointing among themselves.
 * 1000 roots (globals, stacks) point at tree tops, list heads and tables.
 */
function heapGraph(n: number, seed: number) {
  const r = rng(seed);
  const cap = Math.ceil(n * 2.6) + 2_000_000;
  const src = new Uint32Array(cap), dst = new Uint32Array(cap);
  let m = 0;
  const edge = (a: number, b: number) => {
    src[m] = a;
    dst[m] = b;
    m++;
  };
  const roots: number[] = [];
  const treeEnd = Math.floor(n * 0.6), listEnd = Math.floor(n * 0.85);
  const tableEnd = Math.floor(n * 0.95);
  // Trees.
  for (let v = 0; v < treeEnd; v++) {
    if (v % 5000 === 0) roots.push(v);
    else edge(v - 1 - Math.floor(r() * Math.min(v, 4096)), v);
    if (r() < 0.6) edge(v, Math.floor(r() * n));
    if (r() < 0.3) edge(v, v - 1 - Math.floor(r() * Math.min(v, 64)));
  }
  // Lists.
  let head = treeEnd;
  for (let v = treeEnd; v < listEnd; v++) {
    const long = n >= 10_000_000 && v - treeEnd < 1_000_000;
    const len = long ? 1_000_000 : 1 + Math.floor(r() * 100_000);
    if (v === head) {
      edge(Math.floor(r() * treeEnd), v); // owned by a tree node
      if (r() < 0.1) roots.push(v);
      head = Math.min(listEnd, v + len);
    }
    if (v + 1 < head) {
      edge(v, v + 1);
      if (head % 3 === 0) edge(v + 1, v);
    }
  }
  // Hash tables: a bucket array (the first node) pointing at its entries.
  for (let t = listEnd; t < tableEnd; t += 1001) {
    roots.push(t);
    for (let v = t + 1; v < Math.min(t + 1001, tableEnd); v++) {
      edge(t, v);
      if (r() < 0.3) edge(v, Math.floor(r() * treeEnd));
    }
  }
  // Leaked nodes: pointed to only by each other.
  for (let v = tableEnd; v < n; v++) edge(v, tableEnd + Math.floor(r() * (n - tableEnd)));
  while (roots.length < 1000) roots.push(Math.floor(r() * treeEnd));

  const start = new Uint32Array(n + 1);
  for (let i = 0; i < m; i++) start[src[i]! + 1]! += 1;
  for (let v = 0; v < n; v++) start[v + 1]! += start[v]!;
  const fill = start.slice(0, n);
  const target = new Uint32Array(m);
  for (let i = 0; i < m; i++) target[fill[src[i]!]!++] = dst[i]!;
  const sizes = new Float64Array(n);
  for (let v = 0; v < n; v++) sizes[v] = 16 * (1 + Math.floor(r() * 16));
  return { graph: { start, target }, roots, sizes, edges: m };
}

const MB = 1024 * 1024;
const counts = Deno.args.length ? Deno.args.map(Number) : [1_000_000, 10_000_000];
console.log("nodes       edges       dominators(ms, median)  top100(ms)  rss(MB) Δrss(MB)");
for (const n of counts) {
  const g = heapGraph(n, 12345);
  const runs = n <= 1_000_000 ? 5 : 2;
  const times: number[] = [];
  let tree;
  let peak = 0;
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    tree = dominatorTree(g.graph, g.roots, g.sizes);
    times.push(performance.now() - t);
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }
  let t = performance.now();
  const top = topRetainers(tree!, 100);
  const topMs = performance.now() - t;
  t = performance.now();
  topRetainers(tree!, 100, { outermost: true });
  const outerMs = performance.now() - t;
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(
    `${String(n).padEnd(11)} ${String(g.edges).padEnd(11)} ${median.toFixed(0).padStart(9)}` +
      `  (min ${times[0]!.toFixed(0)}) ${topMs.toFixed(0).padStart(10)} ` +
      `${(peak / MB).toFixed(0).padStart(8)} ${((peak - before) / MB).toFixed(0).padStart(8)}` +
      `   reachable ${tree!.preorder.length}, largest retainer ${top[0]!.retained} B,` +
      ` outermost top100 ${outerMs.toFixed(0)} ms`,
  );
}
