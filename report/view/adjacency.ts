// Node ids of a leaks file mapped to list positions once, and the edges as CSR adjacency both ways.

import type { LeaksFile } from "../schema.ts";

/** Positions in `leaks.nodes` ("blocks") and the edges between them. */
export interface Adjacency {
  /** Node id → block (position in leaks.nodes), -1 when absent. */
  at(id: number): number;
  /** Out-edges of block b: outTarget[outStart[b] .. outStart[b+1]), with their offsets. */
  outStart: Int32Array;
  outTarget: Int32Array;
  outOffset: Uint32Array;
  outInterior: Uint8Array;
  /** 1 where the edge is weak evidence (leaks.json's `weak`). */
  outWeak: Uint8Array;
  inStart: Int32Array;
  inSource: Int32Array;
  inOffset: Uint32Array;
  /** Block → its holder in the flood fill (`via`), -1 when a root holds it or it is leaked. */
  via: Int32Array;
}

/** Build the id map and both CSR adjacencies. O(nodes + edges). */
export function buildAdjacency(leaks: LeaksFile): Adjacency {
  const nodes = leaks.nodes;
  const n = nodes.length;
  let dense = true;
  for (let i = 0; i < n; i++) {
    if (nodes[i]!.id !== i) {
      dense = false;
      break;
    }
  }
  let at: (id: number) => number;
  if (dense) at = (id) => (id >= 0 && id < n && Number.isInteger(id) ? id : -1);
  else {
    const map = new Map<number, number>();
    nodes.forEach((node, i) => map.set(node.id, i));
    at = (id) => map.get(id) ?? -1;
  }
  const outStart = new Int32Array(n + 1), inStart = new Int32Array(n + 1);
  const src = new Int32Array(leaks.edges.length), dst = new Int32Array(leaks.edges.length);
  let kept = 0;
  leaks.edges.forEach((e) => {
    const s = at(e.source), t = at(e.target);
    src[kept] = s;
    dst[kept] = t;
    if (s >= 0 && t >= 0) {
      outStart[s + 1]!++;
      inStart[t + 1]!++;
    }
    kept++;
  });
  for (let i = 0; i < n; i++) {
    outStart[i + 1]! += outStart[i]!;
    inStart[i + 1]! += inStart[i]!;
  }
  const m = outStart[n]!;
  const outTarget = new Int32Array(m), outOffset = new Uint32Array(m);
  const outInterior = new Uint8Array(m), outWeak = new Uint8Array(m);
  const inSource = new Int32Array(m), inOffset = new Uint32Array(m);
  const fo = outStart.slice(0, n), fi = inStart.slice(0, n);
  leaks.edges.forEach((e, k) => {
    const s = src[k]!, t = dst[k]!;
    if (s < 0 || t < 0) return;
    const o = fo[s]!++;
    outTarget[o] = t;
    outOffset[o] = e.offset;
    if (e.interior) outInterior[o] = 1;
    if (e.weak) outWeak[o] = 1;
    const p = fi[t]!++;
    inSource[p] = s;
    inOffset[p] = e.offset;
  });
  const via = new Int32Array(n).fill(-1);
  nodes.forEach((node, i) => {
    if (node.via !== undefined) via[i] = at(node.via);
  });
  return {
    at,
    outStart,
    outTarget,
    outOffset,
    outInterior,
    outWeak,
    inStart,
    inSource,
    inOffset,
    via,
  };
}
