// The `why` model of a live analysis: every block, every reference, every root reference, the
// copied bytes (until they are released) and symbol names. O(root references) to build.

import type { Analysis } from "./types.ts";
import { EDGE_INTERIOR, EDGE_WEAK } from "./graph.ts";
import { LEAK_KIND, NODE_STATUS } from "./types.ts";
import type { WhyEdge, WhyModel } from "./why.ts";

export function analysisWhyModel(a: Analysis): WhyModel {
  const nodes = a.graph.nodes, edges = a.graph.edges, roots = a.graph.roots;
  const rootsOf = new Map<number, number[]>();
  for (let r = 0; r < roots.target.length; r++) {
    const t = roots.target[r]!;
    const list = rootsOf.get(t);
    if (list) list.push(r);
    else rootsOf.set(t, [r]);
  }
  return {
    count: nodes.count,
    address: (i) => nodes.address[i]!,
    size: (i) => nodes.size[i]!,
    status: (i) => NODE_STATUS[a.status[i]!]!,
    leak: (i) => LEAK_KIND[a.leak[i]!],
    typeName: (i) => nodes.type[i]! >= 0 ? nodes.typeNames[nodes.type[i]!] : undefined,
    via: (i) => a.via[i]!,
    rootNames: (i) => {
      const refs = rootsOf.get(i) ?? [];
      // The reference the path starts from first (the flood fill's), then the others.
      const first = a.rootRef[i]!;
      const ordered = first >= 0 ? [first, ...refs.filter((r) => r !== first)] : refs;
      return [...new Set(ordered.map((r) => a.names?.root(r) ?? `root ${r}`))];
    },
    references: (i) => {
      const out: WhyEdge[] = [];
      for (let e = edges.start[i]!; e < edges.start[i + 1]!; e++) {
        const f = edges.flags?.[e] ?? 0;
        out.push({
          node: edges.target[e]!,
          offset: edges.offset[e]!,
          ...(f & EDGE_INTERIOR ? { interior: true } : {}),
          ...(f & EDGE_WEAK ? { weak: true } : {}),
        });
      }
      return out;
    },
    retained: (i) =>
      a.retained && a.retainedCount && a.idom && a.idom[i]! !== -2
        ? { bytes: a.retained[i]!, blocks: a.retainedCount[i]! }
        : undefined,
    idom: (i) => a.idom?.[i] ?? -2,
    bytes: (i) =>
      a.graph.bytes?.(i, nodes.size[i]!) ??
        a.leakedPrefix.get(i),
    symbolAt: (address) => a.names?.symbol(address),
    weakLink: (i) => a.weakLinks.get(i),
  };
}
