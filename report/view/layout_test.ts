// Tests for the precomputed graph layout: the reachable context stays compact whatever its shape
// (a long list must not stretch the first view), nodes never sit on each other, depth grows outward.

import { ok as assert } from "node:assert/strict";
import { layoutGraph, type LayoutInput } from "./layout.ts";

/** A graph of `reachable` nodes under their `parent` (-1: a root), then `leaks` chains of 5. */
function input(parent: number[], leaks: number): LayoutInput {
  const r = parent.length, n = r + 5 * leaks;
  const leaked = new Uint8Array(n), direct = new Uint8Array(n);
  const outStart = new Int32Array(n + 1), targets: number[] = [];
  const order: number[] = [];
  for (let b = 0; b < n; b++) {
    outStart[b] = targets.length;
    if (b >= r) {
      leaked[b] = 1;
      const k = (b - r) % 5;
      if (k === 0) {
        direct[b] = 1;
        order.push(b);
      }
      if (k < 4) targets.push(b + 1);
    } else {
      for (let c = 0; c < r; c++) if (parent[c] === b) targets.push(c);
    }
  }
  outStart[n] = targets.length;
  return {
    leaked,
    direct,
    cycle: new Int32Array(n).fill(-1),
    outStart,
    outTarget: Int32Array.from(targets),
    parent: Int32Array.from([...parent, ...new Array(5 * leaks).fill(-1)]),
    order,
    labels: order.map((_, i) => `leak ${i}`),
  };
}

function check(parent: number[], label: string) {
  const inp = input(parent, 20);
  const { x, y, regions } = layoutGraph(inp);
  const reach = regions.find((g) => g.kind === "reachable")!;
  const r = parent.length;
  // No two reachable nodes closer than most of their spacing (10 world units).
  for (let a = 0; a < r; a++) {
    for (let b = a + 1; b < r; b++) {
      const d = Math.hypot(x[a]! - x[b]!, y[a]! - y[b]!);
      assert(d >= 9, `${label}: nodes ${a} and ${b} ${d.toFixed(1)} apart`);
    }
  }
  // Depth never comes nearer the centre than the depth before it.
  const cx = reach.x + reach.w / 2, cy = reach.y + reach.h / 2;
  const depth = (b: number): number => parent[b]! < 0 ? 0 : 1 + depth(parent[b]!);
  const radius = (b: number) => Math.hypot(x[b]! - cx, y[b]! - cy);
  for (let b = 0; b < r; b++) {
    const p = parent[b]!;
    if (p >= 0) {
      assert(radius(b) >= radius(p) - 1e-6, `${label}: ${b} (depth ${depth(b)}) inside its holder`);
    }
  }
  return reach;
}

Deno.test("a long reachable list winds round the roots instead of running out in a line", () => {
  const parent = Array.from({ length: 200 }, (_, i) => i - 1);
  const reach = check(parent, "list");
  // As a line it was 2 × 200 × 10 units across; packed, about the square root of that.
  assert(reach.w < 400 && reach.h < 400, `the region is ${reach.w} × ${reach.h}`);
});

Deno.test("a broad reachable tree keeps a ring per depth", () => {
  // One root, 5 children, 3 grandchildren each.
  const parent = [-1];
  for (let c = 0; c < 5; c++) parent.push(0);
  for (let c = 0; c < 5; c++) for (let g = 0; g < 3; g++) parent.push(1 + c);
  const inp = input(parent, 20);
  const { x, y } = layoutGraph(inp);
  const reach = check(parent, "tree");
  const cx = reach.x + reach.w / 2, cy = reach.y + reach.h / 2;
  const radius = (b: number) => Math.hypot(x[b]! - cx, y[b]! - cy);
  // Every child on one ring, every grandchild beyond it.
  const children = parent.flatMap((p, b) => p === 0 ? [b] : []);
  const grand = parent.flatMap((p, b) => p > 0 ? [b] : []);
  const rc = children.map(radius);
  assert(Math.max(...rc) - Math.min(...rc) < 1e-6, "children on one ring");
  assert(Math.min(...grand.map(radius)) > Math.max(...rc), "grandchildren beyond the children");
});

Deno.test("a leaked chain's cell is its line and its label, not the circle around it", () => {
  const inp = input([-1], 20);
  const { x, y, regions } = layoutGraph(inp);
  const cells = regions.filter((g) => g.kind === "leaked");
  assert(cells.length === 20, `${cells.length} cells`);
  for (const [i, c] of cells.entries()) {
    // Five nodes in a line, 16 units apart: one node's height, the label's room and the gap (a
    // square around the circle was 162 × 162 units).
    assert(c.h <= 48 && c.w <= 100, `cell ${i}: ${c.w} × ${c.h}`);
    // Its nodes inside it, below its label's room.
    for (let k = 0; k < 5; k++) {
      const b = inp.order[i]! + k;
      assert(x[b]! > c.x && x[b]! < c.x + c.w, `cell ${i}: node ${k} x outside`);
      assert(y[b]! > c.y + 14 && y[b]! < c.y + c.h, `cell ${i}: node ${k} y outside`);
    }
    // No two cells overlap.
    for (const d of cells.slice(i + 1)) {
      const apart = d.x >= c.x + c.w || c.x >= d.x + d.w || d.y >= c.y + c.h || c.y >= d.y + d.h;
      assert(apart, `cells ${c.label} and ${d.label} overlap`);
    }
  }
});
