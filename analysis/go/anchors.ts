// findAnchors(): which roots keep an object alive, each with its shortest path (heapspurs
// --anchors). Works on any HeapGraph: a Go dump's named roots or a native heap's.
//
// One backward breadth-first search from the object over reversed edges, then one pass over the
// root references. O(V + E + R) time and O(V + E) memory for the reversed edges.

import type { HeapGraph, RootEntry } from "../graph.ts";

/** Reversed edges in CSR form: the owners of v are source[start[v] .. start[v+1]). */
export interface ReverseEdges {
  start: Uint32Array;
  source: Uint32Array;
  /** Offset of the pointer inside the source. */
  offset: Uint32Array;
}

const cache = new WeakMap<HeapGraph, ReverseEdges>();

/** The graph's edges reversed (built once per graph, then cached). O(V + E). */
export function reverseEdges(g: HeapGraph): ReverseEdges {
  const hit = cache.get(g);
  if (hit) return hit;
  const n = g.nodes.count, { start: fs, target, offset } = g.edges;
  const start = new Uint32Array(n + 1);
  for (let e = 0; e < target.length; e++) start[target[e]! + 1]!++;
  for (let v = 0; v < n; v++) start[v + 1]! += start[v]!;
  const fill = start.slice(0, n);
  const source = new Uint32Array(target.length), off = new Uint32Array(target.length);
  for (let v = 0; v < n; v++) {
    for (let e = fs[v]!; e < fs[v + 1]!; e++) {
      const k = fill[target[e]!]!++;
      source[k] = v;
      off[k] = offset[e]!;
    }
  }
  const r = { start, source, offset: off };
  cache.set(g, r);
  return r;
}

export interface Anchor {
  /** Index into `g.roots.entries`, and the entry. */
  entryIndex: number;
  entry: RootEntry;
  /** Address of the root word (0 for a register or a runtime root with no address). */
  where: number;
  /** Nodes from the one the root points to, down to the object asked about. */
  path: number[];
  /** Per step of the path: the offset of the pointer in path[i] that points to path[i + 1]. */
  offsets: number[];
}

export interface AnchorsResult {
  anchors: Anchor[];
  /** Anchors left out by `limit`. */
  omitted: number;
  /** How many objects reach the object (its owners at any depth). */
  ownerCount: number;
}

/** Every root entry that reaches `node`, with a shortest path; nearest first. */
export function findAnchors(g: HeapGraph, node: number, limit = 100): AnchorsResult {
  const n = g.nodes.count;
  if (node < 0 || node >= n) throw new RangeError(`No node ${node} (the graph has ${n})`);
  const rev = reverseEdges(g);
  const dist = new Int32Array(n).fill(-1);
  const next = new Int32Array(n).fill(-1); // next node toward `node`
  const via = new Uint32Array(n); // offset of the pointer in v that points to next[v]
  const queue = new Uint32Array(n);
  let head = 0, tail = 0;
  dist[node] = 0;
  queue[tail++] = node;
  while (head < tail) {
    const v = queue[head++]!;
    for (let k = rev.start[v]!; k < rev.start[v + 1]!; k++) {
      const u = rev.source[k]!;
      if (dist[u] !== -1) continue;
      dist[u] = dist[v]! + 1;
      next[u] = v;
      via[u] = rev.offset[k]!;
      queue[tail++] = u;
    }
  }
  // Best root reference per entry: the shortest path, then the first in root order.
  const best = new Map<number, number>();
  const { entry, target } = g.roots;
  for (let r = 0; r < target.length; r++) {
    const d = dist[target[r]!]!;
    if (d < 0) continue;
    const e = entry[r]!;
    const b = best.get(e);
    if (b === undefined || d < dist[target[b]!]!) best.set(e, r);
  }
  const refs = [...best.entries()].sort((a, b) =>
    dist[target[a[1]]!]! - dist[target[b[1]]!]! || a[0] - b[0]
  );
  const anchors = refs.slice(0, limit).map(([e, r]) => {
    const path: number[] = [], offsets: number[] = [];
    for (let v = target[r]!; v !== -1; v = next[v]!) {
      path.push(v);
      if (next[v] !== -1) offsets.push(via[v]!);
    }
    return { entryIndex: e, entry: g.roots.entries[e]!, where: g.roots.where[r]!, path, offsets };
  });
  return { anchors, omitted: Math.max(0, refs.length - limit), ownerCount: tail - 1 };
}
