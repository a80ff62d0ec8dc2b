// Precomputed graph layout: leaked structures as small radial drawings packed in a grid, the
// reachable context as a dense radial tree around the roots. Deterministic, no simulation.
//
// Why not a force layout: at 2,000 nodes d3-force needs ~300 ticks (seconds on a loaded 2-core
// machine) to settle, the camera cannot be fitted before it has, and the picture it settles into
// (a flower of reachable blocks with leaks scattered in it) explains nothing. Here each leaked
// structure is drawn by itself around its direct leak (a cycle as a ring, a chain as a line, a tree
// as rings of depth), largest first, and the reachable blocks sit in rings of their depth from the
// roots, children near their holder. O(n log n) in the drawn nodes.

import type { GraphRegion } from "./payload.ts";

/** World units between neighbouring nodes on a ring (nodes are drawn with radius 2.5–9). */
const SPACING = 16;
/** Closer packing for the reachable context: its nodes are drawn smaller (radius 2.5–5). */
const REACHABLE_SPACING = 10;
/** Gap between packed cells, and around the reachable region. */
const GAP = 18;
/** Room above a labelled cell's nodes for its label (drawn at the box's top left). */
const LABEL_ROOM = 14;
/** Narrowest labelled cell: room for a few words of its label ("404 KiB blocks"). */
const MIN_LABELLED_W = 72;

export interface LayoutInput {
  /** Drawn nodes: leaked or not, direct or not, cycle id (-1 when none), size. */
  leaked: Uint8Array;
  direct: Uint8Array;
  cycle: Int32Array;
  /** Out-edges between drawn nodes (CSR over drawn indices). */
  outStart: Int32Array;
  outTarget: Int32Array;
  /** Drawn holder of each reachable node (its `via`, or the nearest drawn ancestor), -1 at a root. */
  parent: Int32Array;
  /** Direct leaks in drawing order (largest structure first) and a label for each one's cell. */
  order: number[];
  labels: string[];
}

export interface Layout {
  x: Float64Array;
  y: Float64Array;
  regions: GraphRegion[];
}

/** Place every drawn node (see the header). */
export function layoutGraph(input: LayoutInput): Layout {
  const n = input.leaked.length;
  const x = new Float64Array(n), y = new Float64Array(n);
  const placed = new Uint8Array(n);
  const regions: GraphRegion[] = [];

  // 1. Leaked structures, each in its own cell.
  // Each cell is the bounding box of its drawing (a chain is a line, not the circle around it),
  // with room for its label; (x0, y0) is where the drawing's origin sits in it.
  interface Cell {
    members: number[];
    px: Float64Array;
    py: Float64Array;
    w: number;
    h: number;
    x0: number;
    y0: number;
    label: string;
  }
  const cells: Cell[] = [];
  const structure = (start: number, label: string) => {
    const members: number[] = [];
    const depth: number[] = [];
    const parentAngle: number[] = [];
    const ring: number[] = [];
    // A direct leak in a cycle: the cycle is the ring the rest hangs off.
    if (input.cycle[start]! >= 0) {
      let at = start;
      const id = input.cycle[start]!;
      do {
        ring.push(at);
        placed[at] = 1;
        let next = -1;
        for (let k = input.outStart[at]!; k < input.outStart[at + 1]!; k++) {
          const t = input.outTarget[k]!;
          if (input.cycle[t] === id && !placed[t]) {
            next = t;
            break;
          }
        }
        at = next;
      } while (at >= 0);
    } else {
      ring.push(start);
      placed[start] = 1;
    }
    for (const m of ring) {
      members.push(m);
      depth.push(0);
      parentAngle.push(0);
    }
    // Breadth-first over leaked out-edges: depth 1, 2, … around the ring.
    for (let q = 0; q < members.length; q++) {
      const b = members[q]!;
      for (let k = input.outStart[b]!; k < input.outStart[b + 1]!; k++) {
        const t = input.outTarget[k]!;
        if (placed[t] || !input.leaked[t] || input.direct[t]) continue;
        placed[t] = 1;
        members.push(t);
        depth.push(depth[q]! + 1);
        parentAngle.push(q);
      }
    }
    const px = new Float64Array(members.length), py = new Float64Array(members.length);
    const angle = new Float64Array(members.length);
    // The ring: one node sits at the centre; two or more go round a circle.
    let radius = 0;
    if (ring.length > 1) {
      radius = Math.max(SPACING, (ring.length * SPACING) / (2 * Math.PI));
      ring.forEach((_, k) => {
        angle[k] = (2 * Math.PI * k) / ring.length;
        px[k] = radius * Math.cos(angle[k]!);
        py[k] = radius * Math.sin(angle[k]!);
      });
    }
    let k = ring.length;
    while (k < members.length) {
      const d = depth[k]!;
      let end = k;
      while (end < members.length && depth[end] === d) end++;
      const layer: number[] = [];
      for (let i = k; i < end; i++) layer.push(i);
      layer.sort((a, b) => angle[parentAngle[a]!]! - angle[parentAngle[b]!]! || a - b);
      radius = Math.max(radius + SPACING, (layer.length * SPACING) / (2 * Math.PI));
      layer.forEach((i, j) => {
        // A lone child continues its parent's direction: chains come out as straight lines.
        const a = layer.length === 1
          ? angle[parentAngle[i]!]!
          : angle[parentAngle[layer[0]!]!]! + (2 * Math.PI * j) / layer.length;
        angle[i] = a;
        px[i] = radius * Math.cos(a);
        py[i] = radius * Math.sin(a);
      });
      k = end;
    }
    let minX = 0, maxX = 0, minY = 0, maxY = 0;
    for (let i = 0; i < members.length; i++) {
      minX = Math.min(minX, px[i]!);
      maxX = Math.max(maxX, px[i]!);
      minY = Math.min(minY, py[i]!);
      maxY = Math.max(maxY, py[i]!);
    }
    const drawnW = maxX - minX + SPACING;
    const w = label ? Math.max(drawnW, MIN_LABELLED_W) : drawnW;
    const top = label ? LABEL_ROOM : 0;
    cells.push({
      members,
      px,
      py,
      w,
      h: maxY - minY + SPACING + top,
      x0: (w - drawnW) / 2 + SPACING / 2 - minX,
      y0: top + SPACING / 2 - minY,
      label,
    });
  };
  input.order.forEach((d, i) => {
    if (!placed[d]) structure(d, input.labels[i] ?? "");
  });
  // Leaked nodes no direct leak reached (a drawn indirect leak whose holder was not drawn).
  for (let b = 0; b < n; b++) if (input.leaked[b] && !placed[b]) structure(b, "");

  let area = 0;
  for (const c of cells) area += (c.w + GAP) * (c.h + GAP);
  const width = Math.max(600, Math.sqrt(area) * 1.3);
  let cx = 0, cy = 0, rowH = 0;
  for (const c of cells) {
    const w = c.w + GAP, h = c.h + GAP;
    if (cx > 0 && cx + w > width) {
      cx = 0;
      cy += rowH;
      rowH = 0;
    }
    const ox = cx + GAP / 2 + c.x0, oy = cy + GAP / 2 + c.y0;
    c.members.forEach((b, i) => {
      x[b] = ox + c.px[i]!;
      y[b] = oy + c.py[i]!;
    });
    if (c.label) regions.push({ label: c.label, x: cx, y: cy, w, h, kind: "leaked" });
    cx += w;
    rowH = Math.max(rowH, h);
  }
  const leakHeight = cy + rowH;

  // 2. Reachable context: rings by depth from the roots, children in their holder's direction.
  const reach: number[] = [];
  for (let b = 0; b < n; b++) if (!input.leaked[b]) reach.push(b);
  if (reach.length > 0) {
    const depth = new Int32Array(n).fill(-1);
    const depthOf = (b: number): number => {
      const chain: number[] = [];
      let at = b;
      while (at >= 0 && depth[at]! < 0 && chain.length <= n) {
        chain.push(at);
        at = input.parent[at]!;
      }
      let d = at >= 0 ? depth[at]! : -1;
      for (let i = chain.length - 1; i >= 0; i--) depth[chain[i]!] = ++d;
      return depth[b]!;
    };
    for (const b of reach) depthOf(b);
    reach.sort((a, b) => depth[a]! - depth[b]! || a - b);
    const angle = new Float64Array(n);
    // The ring being filled: its radius, its slots, the slots taken, and the angle of slot 0.
    let radius = 0, capacity = 0, used = 0, from = 0, i = 0;
    const put = (b: number, slot: number, slots = capacity) => {
      const a = from + (2 * Math.PI * slot) / slots;
      angle[b] = a;
      x[b] = radius * Math.cos(a);
      y[b] = radius * Math.sin(a);
    };
    while (i < reach.length) {
      const d = depth[reach[i]!]!;
      let end = i;
      while (end < reach.length && depth[reach[end]!] === d) end++;
      const layer = reach.slice(i, end).sort((a, b) => {
        const pa = input.parent[a]!, pb = input.parent[b]!;
        return (pa >= 0 ? angle[pa]! : 0) - (pb >= 0 ? angle[pb]! : 0) || a - b;
      });
      let j = 0;
      while (j < layer.length) {
        // A small layer shares a ring that is less than half full, after what it holds: a
        // long chain (a linked list) winds round and round instead of running out in a line
        // as long as the list, which would make the first view fit it and nothing else.
        const rest = layer.length - j;
        if (used > 0 && used <= capacity / 2 && rest <= capacity - used) {
          for (let t = 0; t < rest; t++) put(layer[j + t]!, used + t);
          used += rest;
          j += rest;
          continue;
        }
        radius = radius === 0 && d === 0 && layer.length === 1 ? 0 : radius + REACHABLE_SPACING;
        capacity = radius === 0 ? 1 : Math.floor((2 * Math.PI * radius) / REACHABLE_SPACING);
        const take = Math.min(rest, capacity);
        if (take > capacity / 2 || radius === 0) {
          // Spread round the whole ring (it is full for the layers after).
          from = 0;
          for (let t = 0; t < take; t++) put(layer[j + t]!, t, take);
          used = capacity;
        } else {
          // Few: side by side from their holder's direction, the rest of the ring left free.
          const p = input.parent[layer[j]!]!;
          from = p >= 0 ? angle[p]! : 0;
          for (let t = 0; t < take; t++) put(layer[j + t]!, t);
          used = take;
        }
        j += take;
      }
      i = end;
    }
    // Left of the leaks, vertically centred on them.
    const r = radius + GAP;
    const shiftX = -r - GAP * 2, shiftY = Math.max(r, leakHeight / 2);
    for (const b of reach) {
      x[b]! += shiftX;
      y[b]! += shiftY;
    }
    regions.unshift({
      label: "reachable from the roots",
      x: shiftX - r,
      y: shiftY - r,
      w: 2 * r,
      h: 2 * r,
      kind: "reachable",
    });
  }
  return { x, y, regions };
}
