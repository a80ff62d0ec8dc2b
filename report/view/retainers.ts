// The top-retainers tree: what keeps the most alive (a global, a stack frame, a shared block) and,
// under each, the blocks it dominates, each expandable to the blocks they dominate.

import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";
import type { RetainerRow } from "./payload.ts";

/** Children listed per row at most (biggest first; the rest are in leaks.json). */
const MAX_CHILDREN = 50;
/** Levels of the tree embedded (a dominator chain can be as long as a list). */
const MAX_DEPTH = 6;

/** The tree, or null when the file has no `retainers`. O(nodes + listed rows). */
export function selectRetainers(leaks: LeaksFile, adj: Adjacency): RetainerRow[] | null {
  const list = leaks.retainers;
  if (!list || list.length === 0) return null;
  const nodes = leaks.nodes;
  const byHolder = new Map<number, number[]>(), byIdom = new Map<number, number[]>();
  nodes.forEach((node, b) => {
    if (node.heldBy !== undefined) _push(byHolder, node.heldBy, b);
    if (node.idom !== undefined && node.idom >= 0) _push(byIdom, adj.at(node.idom), b);
  });
  const typeName = (b: number) => {
    const t = nodes[b]!.type;
    return t !== undefined ? leaks.types?.[t]?.name : undefined;
  };
  const blockRow = (b: number, depth: number): RetainerRow => {
    const node = nodes[b]!;
    return {
      block: b,
      label: `${typeName(b) ?? "block"} ${node.address}`,
      retained: node.retained ?? node.size,
      blocks: 0,
      children: depth >= MAX_DEPTH
        ? []
        : _top(byIdom.get(b), nodes).map((c) => blockRow(c, depth + 1)),
    };
  };
  return list.map((r): RetainerRow => {
    const b = r.node >= 0 ? adj.at(r.node) : -1;
    const kids = b >= 0
      ? byIdom.get(b)
      : r.holder !== undefined
      ? byHolder.get(r.holder)
      : undefined;
    return {
      block: b,
      label: r.name,
      retained: r.bytes,
      blocks: r.blocks,
      children: _top(kids, nodes).map((c) => blockRow(c, 1)),
    };
  });
}

function _push(map: Map<number, number[]>, key: number, value: number) {
  let list = map.get(key);
  if (!list) map.set(key, list = []);
  list.push(value);
}

function _top(list: number[] | undefined, nodes: LeaksFile["nodes"]): number[] {
  if (!list) return [];
  const size = (b: number) => nodes[b]!.retained ?? nodes[b]!.size;
  return list.slice().sort((a, b) => size(b) - size(a) || a - b).slice(0, MAX_CHILDREN);
}
