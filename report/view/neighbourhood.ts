// A block that is not drawn, drawn on demand: itself, the path from a root that holds it, and its
// neighbours, placed next to what is drawn already (pure: the viewer adds the result to the canvas).

import {
  blockAddress,
  type BlockIndex,
  blockStatus,
  DIRECT,
  INDIRECT,
  ROOTED,
} from "./block_index.ts";
import type { GraphNode } from "./payload.ts";

/** Neighbours drawn each way at most (a hub can have thousands). */
const MAX_NEIGHBOURS = 16;
/** Steps of the path from a root followed at most. */
const MAX_PATH = 32;
/** World units between the new nodes (the layout's spacing). */
const STEP = 24;

export interface Neighbourhood {
  nodes: GraphNode[];
  /** Edges to add, between blocks (drawn or new). */
  links: { source: number; target: number; offset: number }[];
}

/** The GraphNode of block `b` of the index at (x, y). */
export function indexNode(index: BlockIndex, b: number, x: number, y: number): GraphNode {
  const flags = index.flags[b]!;
  const node: GraphNode = {
    block: b,
    id: index.id[b]!,
    address: blockAddress(index, b),
    size: index.size[b]!,
    zone: index.zones[index.zone[b]!] ?? "?",
    status: blockStatus(index, b),
    x,
    y,
    inDegree: index.inStart[b + 1]! - index.inStart[b]!,
    outDegree: index.outStart[b + 1]! - index.outStart[b]!,
  };
  if (flags & DIRECT) node.leak = "direct";
  else if (flags & INDIRECT) node.leak = "indirect";
  if (flags & ROOTED) node.rooted = true;
  if (index.site[b]! >= 0) node.site = index.site[b]!;
  if (index.requested[b]! >= 0) node.requested = index.requested[b]!;
  if (index.type[b]! >= 0) node.type = index.types[index.type[b]!]!;
  if (index.retained[b]! >= 0) node.retained = index.retained[b]!;
  const bytes = index.bytes.get(b);
  if (bytes) node.bytes = bytes;
  return node;
}

/**
 * What to add to draw block `b`: its path from a root (up to the first drawn block), itself, and up
 * to `maxNeighbours` blocks each way, placed outward from the first drawn block on the path (or next
 * to the drawing when none is drawn). `drawn` maps drawn blocks to positions. O(path + degree).
 */
export function selectNeighbourhood(
  index: BlockIndex,
  b: number,
  drawn: ReadonlyMap<number, { x: number; y: number }>,
  maxNeighbours = MAX_NEIGHBOURS,
): Neighbourhood {
  if (drawn.has(b)) return { nodes: [], links: [] };
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const p of drawn.values()) {
    minX = Math.min(minX, p.x), maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y), maxY = Math.max(maxY, p.y);
  }
  if (!Number.isFinite(minX)) {
    minX =
      maxX =
      minY =
      maxY =
        0;
  }
  const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;

  // The path: b, its holder, its holder's holder … up to a drawn block or a root.
  const path = [b];
  let anchor: { x: number; y: number } | undefined;
  for (let at = index.via[b]!, k = 0; at >= 0 && k < MAX_PATH; at = index.via[at]!, k++) {
    const p = drawn.get(at);
    if (p) {
      anchor = p;
      break;
    }
    if (path.includes(at)) break;
    path.push(at);
  }
  const around: number[] = [];
  const add = (t: number) => {
    if (t !== b && !drawn.has(t) && !path.includes(t) && !around.includes(t)) around.push(t);
  };
  for (
    let k = index.outStart[b]!;
    k < Math.min(index.outStart[b + 1]!, index.outStart[b]! + maxNeighbours);
    k++
  ) {
    add(index.outTarget[k]!);
  }
  for (
    let k = index.inStart[b]!;
    k < Math.min(index.inStart[b + 1]!, index.inStart[b]! + maxNeighbours);
    k++
  ) {
    add(index.inSource[k]!);
  }
  if (!anchor) {
    for (let k = index.inStart[b]!; k < index.inStart[b + 1]! && !anchor; k++) {
      anchor = drawn.get(index.inSource[k]!);
    }
    for (let k = index.outStart[b]!; k < index.outStart[b + 1]! && !anchor; k++) {
      anchor = drawn.get(index.outTarget[k]!);
    }
  }
  // Nothing of it is drawn: below the drawing, in open space.
  const start = anchor ?? { x: cx, y: maxY + STEP * 4 };
  let dx = start.x - cx, dy = start.y - cy;
  const len = Math.hypot(dx, dy) || 1;
  dx /= len, dy /= len;
  if (!anchor) dx = 0, dy = 1;

  const nodes: GraphNode[] = [];
  const placed = new Map<number, { x: number; y: number }>();
  // Outermost holder first, nearest the anchor; b last.
  path.slice().reverse().forEach((blk, i) => {
    const x = start.x + dx * STEP * (i + 1), y = start.y + dy * STEP * (i + 1);
    placed.set(blk, { x, y });
    nodes.push(indexNode(index, blk, x, y));
  });
  const at = placed.get(b)!;
  around.forEach((t, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, around.length);
    const r = STEP * 1.6;
    const x = at.x + r * Math.cos(a), y = at.y + r * Math.sin(a);
    placed.set(t, { x, y });
    nodes.push(indexNode(index, t, x, y));
  });

  const links: Neighbourhood["links"] = [];
  const known = (t: number) => placed.has(t) || drawn.has(t);
  for (const s of placed.keys()) {
    for (let k = index.outStart[s]!; k < index.outStart[s + 1]!; k++) {
      const t = index.outTarget[k]!;
      if (known(t)) links.push({ source: s, target: t, offset: index.outOffset[k]! });
    }
    for (let k = index.inStart[s]!; k < index.inStart[s + 1]!; k++) {
      const src = index.inSource[k]!;
      if (drawn.has(src)) links.push({ source: src, target: s, offset: index.inOffset[k]! });
    }
  }
  return { nodes, links };
}
