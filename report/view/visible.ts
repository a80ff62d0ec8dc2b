// Which drawn nodes the graph shows under the filter, zone, site and address search (viewer state).

import type { Filter, GraphNode, GraphPayload } from "./payload.ts";

export interface ViewState {
  filter: Filter;
  zone: string | null;
  search: string;
  /** Show only the blocks of this allocation site. */
  site?: number | null;
}

export interface Visible {
  /** 1 where the node is drawn. */
  mask: Uint8Array;
  counts: { reachable: number; leaked: number; cycle: number; possible: number };
  /** Node indices whose address matches the search (empty when no search). */
  matches: number[];
}

/** The mask, counts and matches of a view. O(nodes). */
export function selectVisible(graph: GraphPayload, view: ViewState): Visible {
  const mask = new Uint8Array(graph.nodes.length);
  const counts = { reachable: 0, leaked: 0, cycle: 0, possible: 0 };
  const matches: number[] = [];
  const needle = normalizeAddressQuery(view.search);
  graph.nodes.forEach((node, i) => {
    if (!matchesFilter(node, view.filter)) return;
    if (view.zone !== null && node.zone !== view.zone) return;
    if (view.site != null && node.site !== view.site) return;
    if (needle) {
      if (!node.address.toLowerCase().slice(2).includes(needle)) return;
      matches.push(i);
    }
    mask[i] = 1;
    counts[node.status]++;
  });
  return { mask, counts, matches };
}

export function matchesFilter(node: Pick<GraphNode, "status">, filter: Filter): boolean {
  switch (filter) {
    case "all":
      return true;
    case "reachable":
      return node.status === "reachable";
    case "leaked":
      return node.status === "leaked" || node.status === "cycle";
    case "cycle":
      return node.status === "cycle";
    case "possible":
      return node.status === "possible";
  }
}

/** "0x7F3A", "7f3a", " 0x7f3a " → "7f3a"; "" when not a hex query. */
export function normalizeAddressQuery(query: string): string {
  const q = query.trim().toLowerCase().replace(/^0x/, "");
  return /^[0-9a-f]+$/.test(q) ? q : "";
}
