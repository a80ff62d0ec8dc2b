// The graph's payload: which blocks to draw (leaked structures first, then their reachable context
// and the paths that hold it), their edges, and their precomputed positions (layout.ts).

import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";
import { heldByDirect } from "./held.ts";
import { layoutGraph } from "./layout.ts";
import type { AggregateRow, GraphLink, GraphNode, GraphPayload } from "./payload.ts";
import { SIZE_CLASSES, sizeClassOf } from "./size_class.ts";

/** Share of the cap spent on leaked structures; the rest shows what they point into. */
const LEAKED_SHARE = 0.7;
/** Steps of a `via` chain followed to show how a context block is held (roots are rarely deep). */
const PATH_STEPS = 6;

/**
 * Pick what to draw: whole leaked structures (direct leak and everything it holds), largest first;
 * the reachable blocks they point to and the `via` path that holds each; then reachable blocks
 * breadth-first from the roots until `cap`. The rest is aggregated per zone and size class.
 * `labelOf(block)` names a direct leak's cell. O(nodes + edges + drawn log drawn).
 */
export function selectGraph(
  leaks: LeaksFile,
  adj: Adjacency,
  labelOf: (block: number) => string,
  cap = 2000,
  maxLinks = cap * 4,
): GraphPayload {
  const nodes = leaks.nodes;
  const n = nodes.length;
  const chosen = new Uint8Array(n);
  const order: number[] = [];
  const take = (b: number) => {
    if (b < 0 || chosen[b] || order.length >= cap) return false;
    chosen[b] = 1;
    order.push(b);
    return true;
  };
  const isLeaked = (b: number) => nodes[b]!.status === "leaked" || nodes[b]!.status === "cycle";

  // Leaked structures, largest first: a direct leak and the leaked blocks it holds.
  const held = heldByDirect(leaks, adj);
  const direct: number[] = [];
  for (let b = 0; b < n; b++) if (nodes[b]!.leak === "direct" && isLeaked(b)) direct.push(b);
  direct.sort((a, b) => (held.get(b)?.bytes ?? 0) - (held.get(a)?.bytes ?? 0) || a - b);
  const budget = Math.floor(cap * LEAKED_SHARE);
  const drawnDirect: number[] = [];
  for (const d of direct) {
    if (order.length >= budget) break;
    take(d);
    drawnDirect.push(d);
    const stack = [d];
    while (stack.length && order.length < budget) {
      const b = stack.pop()!;
      for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
        const t = adj.outTarget[k]!;
        if (!chosen[t] && isLeaked(t) && nodes[t]!.leak !== "direct" && take(t)) stack.push(t);
      }
    }
  }
  // Possibly hidden blocks are leaks-in-waiting: draw some of them too.
  for (let b = 0; b < n && order.length < budget; b++) {
    if (nodes[b]!.status === "possible") take(b);
  }

  // Context: reachable blocks the drawn leaks point to, and the path from a root that holds each.
  const leakedDrawn = order.slice();
  for (const b of leakedDrawn) {
    for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
      let t = adj.outTarget[k]!;
      if (isLeaked(t)) continue;
      for (let step = 0; step < PATH_STEPS && t >= 0; step++) {
        if (!take(t) && chosen[t]) break;
        t = adj.via[t]!;
      }
    }
  }
  // Fill with reachable memory, breadth-first from the roots.
  if (order.length < cap) {
    const queue: number[] = [];
    const seen = new Uint8Array(n);
    for (const root of leaks.roots) {
      const b = adj.at(root.target);
      if (b >= 0 && !seen[b]) {
        seen[b] = 1;
        queue.push(b);
      }
    }
    for (let q = 0; q < queue.length && order.length < cap; q++) {
      const b = queue[q]!;
      take(b);
      for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
        const t = adj.outTarget[k]!;
        if (!seen[t]) {
          seen[t] = 1;
          queue.push(t);
        }
      }
    }
    for (let b = 0; b < n && order.length < cap; b++) take(b);
  }

  // Drawn indices, links between drawn blocks, degrees over the whole file.
  const position = new Int32Array(n).fill(-1);
  order.forEach((b, p) => (position[b] = p));
  const links: GraphLink[] = [];
  let linksNotDrawn = 0;
  const m = order.length;
  const dStart = new Int32Array(m + 1);
  for (let b = 0; b < n; b++) {
    const ps = position[b]!;
    for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
      const pt = position[adj.outTarget[k]!]!;
      if (ps >= 0 && pt >= 0 && links.length < maxLinks) {
        const link: GraphLink = { source: ps, target: pt, offset: adj.outOffset[k]! };
        if (adj.outInterior[k]) link.interior = true;
        links.push(link);
        dStart[ps + 1]!++;
      } else linksNotDrawn++;
    }
  }
  for (let i = 0; i < m; i++) dStart[i + 1]! += dStart[i]!;
  const dTarget = new Int32Array(links.length);
  const fill = dStart.slice(0, m);
  for (const l of links) dTarget[fill[l.source]!++] = l.target;
  const rooted = new Uint8Array(n);
  for (const root of leaks.roots) {
    const b = adj.at(root.target);
    if (b >= 0) rooted[b] = 1;
  }

  // Layout input over drawn indices.
  const leakedFlag = new Uint8Array(m), directFlag = new Uint8Array(m);
  const cycle = new Int32Array(m).fill(-1), parent = new Int32Array(m).fill(-1);
  const cycleOf = new Map<number, number>();
  leaks.cycles.forEach((ids, c) => {
    for (const id of ids) cycleOf.set(adj.at(id), c);
  });
  order.forEach((b, p) => {
    const node = nodes[b]!;
    if (node.status !== "reachable") leakedFlag[p] = 1;
    if (node.leak === "direct") directFlag[p] = 1;
    cycle[p] = cycleOf.get(b) ?? -1;
    let v = adj.via[b]!;
    for (let step = 0; step < 64 && v >= 0 && position[v]! < 0; step++) v = adj.via[v]!;
    parent[p] = v >= 0 ? position[v]! : -1;
  });
  const layout = layoutGraph({
    leaked: leakedFlag,
    direct: directFlag,
    cycle,
    outStart: dStart,
    outTarget: dTarget,
    parent,
    order: drawnDirect.map((b) => position[b]!),
    labels: drawnDirect.map((b) => labelOf(b)),
  });

  const inDeg = (b: number) => adj.inStart[b + 1]! - adj.inStart[b]!;
  const outDeg = (b: number) => adj.outStart[b + 1]! - adj.outStart[b]!;
  const graphNodes: GraphNode[] = order.map((b, p) => {
    const node = nodes[b]!;
    const g: GraphNode = {
      block: b,
      id: node.id,
      address: node.address,
      size: node.size,
      zone: node.zone,
      status: node.status,
      x: Math.round(layout.x[p]! * 10) / 10,
      y: Math.round(layout.y[p]! * 10) / 10,
      inDegree: inDeg(b),
      outDegree: outDeg(b),
    };
    if (node.leak) g.leak = node.leak;
    if (node.bytes) g.bytes = node.bytes;
    if (rooted[b]) g.rooted = true;
    if (node.site !== undefined && node.site >= 0) {
      g.site = node.site;
      if (node.thread !== undefined) g.thread = node.thread;
      if (node.ageMs !== undefined && node.ageMs >= 0) g.ageMs = node.ageMs;
    }
    if (node.requested !== undefined) g.requested = node.requested;
    if (node.type !== undefined && leaks.types?.[node.type]) g.type = leaks.types[node.type]!.name;
    if (node.retained !== undefined) g.retained = node.retained;
    return g;
  });

  const agg = new Map<string, AggregateRow>();
  let notDrawnBytes = 0, notDrawnLeaked = 0;
  for (let b = 0; b < n; b++) {
    if (chosen[b]) continue;
    const node = nodes[b]!;
    const sizeClass = sizeClassOf(node.size);
    const key = node.zone + "\0" + sizeClass;
    let row = agg.get(key);
    if (!row) agg.set(key, row = { zone: node.zone, sizeClass, count: 0, bytes: 0, leaked: 0 });
    row.count++;
    row.bytes += node.size;
    notDrawnBytes += node.size;
    if (isLeaked(b)) {
      row.leaked++;
      notDrawnLeaked++;
    }
  }
  const absent = Math.max(0, leaks.summary.allocations - n);
  const classOrder = SIZE_CLASSES.map((c) => c.label);
  return {
    nodes: graphNodes,
    links,
    regions: layout.regions.slice(0, 200),
    cap,
    notDrawn: n - order.length + absent,
    notDrawnBytes: notDrawnBytes + (leaks.omitted?.bytes ?? 0),
    notDrawnLeaked,
    linksNotDrawn: linksNotDrawn + (leaks.omitted?.edges ?? 0),
    aggregates: [...agg.values()].sort((a, b) =>
      a.zone.localeCompare(b.zone) ||
      classOrder.indexOf(a.sizeClass) - classOrder.indexOf(b.sizeClass)
    ),
    absentFromFile: absent,
  };
}
