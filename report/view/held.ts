// What each direct leak holds: the file's `held` (v3), else the same attribution computed here.

import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";

/**
 * Blocks and bytes counted under each direct leak, by block. Version 3 files carry `held`;
 * for older files every leaked block is attributed to the first direct leak (largest first) that
 * reaches it through leaked blocks, so that the totals add up to the leaked total as in v3.
 * O(leaked nodes + leaked edges).
 */
export function heldByDirect(
  leaks: LeaksFile,
  adj: Adjacency,
): Map<number, { blocks: number; bytes: number }> {
  const nodes = leaks.nodes;
  const out = new Map<number, { blocks: number; bytes: number }>();
  const direct: number[] = [];
  let withHeld = 0;
  nodes.forEach((node, b) => {
    if (node.leak !== "direct") return;
    direct.push(b);
    if (node.held) {
      withHeld++;
      out.set(b, { blocks: node.held.blocks, bytes: node.held.bytes });
    }
  });
  if (withHeld === direct.length) return out;
  out.clear();
  const leaked = (b: number) => nodes[b]!.status === "leaked" || nodes[b]!.status === "cycle";
  const owner = new Int32Array(nodes.length).fill(-1);
  direct.sort((a, b) => nodes[b]!.size - nodes[a]!.size || a - b);
  for (const d of direct) {
    const h = { blocks: 0, bytes: 0 };
    out.set(d, h);
    owner[d] = d;
    const stack = [d];
    while (stack.length) {
      const b = stack.pop()!;
      h.blocks++;
      h.bytes += nodes[b]!.size;
      for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
        const t = adj.outTarget[k]!;
        if (owner[t]! < 0 && leaked(t) && nodes[t]!.leak !== "direct") {
          owner[t] = d;
          stack.push(t);
        }
      }
    }
  }
  return out;
}
