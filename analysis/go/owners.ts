// ownersOf(): the objects that point to an object, their owners, and so on to a depth, as a tree
// rooted at the object (heapspurs --owners N; -1: back to every anchor).
//
// Backward breadth-first search: each owner appears once, under the first object it was found to
// own, with the root entries that point to it directly. With depth -1, owners that no root reaches
// (cycles on no path from an anchor) are left out, since they explain nothing about why the
// object is alive. O(V + E + R) time and memory.

import type { HeapGraph } from "../graph.ts";
import { reverseEdges } from "./anchors.ts";

export interface OwnerLine {
  /** 0 for the object itself, 1 for its owners, ... */
  depth: number;
  /** A node, or a root entry (index into `g.roots.entries`) when `anchor` is set. */
  node: number;
  anchor?: boolean;
  /** Offset of the pointer in this owner (or address of the root word) that points to its parent. */
  via?: number;
}

export interface OwnersResult {
  /** Depth-first preorder: each line's owners follow it at depth + 1. */
  lines: OwnerLine[];
  /** Nodes in the tree, the object included. */
  nodes: number[];
  /** Lines left out by `limit`. */
  omitted: number;
  /** Owners left out by depth -1 because no root reaches them. */
  unanchored: number;
}

/** The owner tree of `node` to `depth` levels (-1: all). At most `limit` lines. */
export function ownersOf(g: HeapGraph, node: number, depth: number, limit = 10_000): OwnersResult {
  const n = g.nodes.count;
  if (node < 0 || node >= n) throw new RangeError(`No node ${node} (the graph has ${n})`);
  const maxDepth = depth < 0 ? Infinity : depth;
  const rooted = depth < 0 ? reachableFromRoots(g) : undefined;
  const rev = reverseEdges(g);
  const level = new Int32Array(n).fill(-1);
  const parent = new Int32Array(n).fill(-1);
  const via = new Uint32Array(n);
  const order: number[] = [node];
  level[node] = 0;
  let unanchored = 0;
  for (let head = 0; head < order.length; head++) {
    const v = order[head]!;
    if (level[v]! >= maxDepth) continue;
    for (let k = rev.start[v]!; k < rev.start[v + 1]!; k++) {
      const u = rev.source[k]!;
      if (level[u] !== -1) continue;
      level[u] = level[v]! + 1;
      if (rooted && !rooted[u]) {
        unanchored++;
        continue;
      }
      parent[u] = v;
      via[u] = rev.offset[k]!;
      order.push(u);
    }
  }
  // Children lists in discovery order, then anchors of each node.
  const children = new Map<number, number[]>();
  for (const u of order) {
    if (parent[u] === -1) continue;
    let c = children.get(parent[u]!);
    if (!c) children.set(parent[u]!, c = []);
    c.push(u);
  }
  const inTree = new Set(order);
  const anchorsOf = new Map<number, { entry: number; where: number }[]>();
  if (maxDepth > 0) {
    const seen = new Set<string>();
    for (let r = 0; r < g.roots.target.length; r++) {
      const t = g.roots.target[r]!;
      if (!inTree.has(t) || level[t]! >= maxDepth) continue;
      const e = g.roots.entry[r]!;
      const key = `${t}:${e}`;
      if (seen.has(key)) continue;
      seen.add(key);
      let a = anchorsOf.get(t);
      if (!a) anchorsOf.set(t, a = []);
      a.push({ entry: e, where: g.roots.where[r]! });
    }
  }
  const lines: OwnerLine[] = [];
  let total = 0;
  const stack: OwnerLine[] = [{ depth: 0, node }];
  while (stack.length > 0) {
    const line = stack.pop()!;
    total++;
    if (lines.length < limit) lines.push(line);
    if (line.anchor) continue;
    const kids: OwnerLine[] = [];
    for (const u of children.get(line.node) ?? []) {
      kids.push({ depth: line.depth + 1, node: u, via: via[u]! });
    }
    for (const a of anchorsOf.get(line.node) ?? []) {
      kids.push({ depth: line.depth + 1, node: a.entry, anchor: true, via: a.where });
    }
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return { lines, nodes: order, omitted: total - lines.length, unanchored };
}

/** 1 for every node some root (of any kind) reaches. O(V + E). */
export function reachableFromRoots(g: HeapGraph): Uint8Array {
  const n = g.nodes.count;
  const seen = new Uint8Array(n);
  const queue = new Uint32Array(n);
  let tail = 0;
  for (const t of g.roots.target) {
    if (!seen[t]) {
      seen[t] = 1;
      queue[tail++] = t;
    }
  }
  for (let head = 0; head < tail; head++) {
    const v = queue[head]!;
    for (let e = g.edges.start[v]!; e < g.edges.start[v + 1]!; e++) {
      const w = g.edges.target[e]!;
      if (!seen[w]) {
        seen[w] = 1;
        queue[tail++] = w;
      }
    }
  }
  return seen;
}
