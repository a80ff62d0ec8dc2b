// The `why` model of a saved leaks.json: the blocks it holds (every block with --graph all, else
// the leaked ones and their context), their references, the first root of each root-held block,
// the first bytes it kept of leaked blocks. O(nodes + edges) to build.

import type { WhyEdge, WhyModel } from "../analysis/why.ts";
import type { LeaksFile } from "./schema.ts";

export function leaksWhyModel(leaks: LeaksFile): WhyModel {
  const nodes = [...leaks.nodes].sort((a, b) => parseInt(a.address, 16) - parseInt(b.address, 16));
  const dense = new Map<number, number>();
  nodes.forEach((n, i) => dense.set(n.id, i));
  const refs: WhyEdge[][] = nodes.map(() => []);
  for (const e of leaks.edges) {
    const s = dense.get(e.source), t = dense.get(e.target);
    if (s === undefined || t === undefined) continue;
    refs[s]!.push({
      node: t,
      offset: e.offset,
      ...(e.interior ? { interior: true } : {}),
      ...(e.weak ? { weak: true } : {}),
    });
  }
  const roots = new Map<number, string[]>();
  for (const r of leaks.roots) {
    const t = dense.get(r.target);
    if (t === undefined) continue;
    const name = r.name ??
      `${r.kind} ${r.address}${r.thread !== undefined ? ` of thread ${r.thread}` : ""}`;
    roots.set(t, [...(roots.get(t) ?? []), name]);
  }
  const addresses = nodes.map((n) => parseInt(n.address, 16));
  return {
    count: nodes.length,
    address: (i) => addresses[i]!,
    size: (i) => nodes[i]!.size,
    status: (i) => nodes[i]!.status,
    leak: (i) => nodes[i]!.leak,
    typeName: (i) => {
      const t = nodes[i]!.type;
      return t !== undefined ? leaks.types?.[t]?.name : undefined;
    },
    via: (i) => {
      const n = nodes[i]!;
      if (n.status === "leaked" || n.status === "cycle") return -2;
      if (n.via === undefined) return roots.has(i) ? -1 : -2;
      return dense.get(n.via) ?? -2;
    },
    rootNames: (i) => roots.get(i) ?? [],
    weakLink: (i) => nodes[i]!.weakLink,
    references: (i) => refs[i]!,
    retained: (i) => {
      const r = nodes[i]!.retained;
      return r === undefined ? undefined : { bytes: r };
    },
    idom: (i) => {
      const d = nodes[i]!.idom;
      return d === undefined ? -2 : d < 0 ? d : dense.get(d) ?? -2;
    },
    bytes: (i) => {
      const hex = nodes[i]!.bytes;
      if (!hex) return undefined;
      const out = new Uint8Array(hex.length >> 1);
      for (let k = 0; k < out.length; k++) out[k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
      return out;
    },
  };
}
