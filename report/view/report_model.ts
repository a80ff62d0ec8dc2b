// Every payload of the report in one bounded model: what report/html.ts embeds as JSON (the block
// index goes beside it, compressed: block_index.ts).

import type { LeaksFile } from "../schema.ts";
import { type Adjacency, buildAdjacency } from "./adjacency.ts";
import { selectCycles } from "./cycles.ts";
import { selectFlame } from "./flame.ts";
import { selectGraph } from "./graph.ts";
import { selectHeader } from "./header.ts";
import { selectLeakGroups } from "./leak_groups.ts";
import { selectMethod } from "./method.ts";
import type { ModelOptions, ReportModel } from "./payload.ts";
import { selectRetainers } from "./retainers.ts";
import { selectRoots } from "./roots.ts";
import { siteLabels } from "./site_label.ts";
import { selectSites } from "./sites.ts";
import { selectStats } from "./stats.ts";
import { selectTimeline } from "./timeline.ts";
import { selectTypes } from "./types_table.ts";
import { selectZones } from "./zones.ts";

/** The model, and the adjacency it was built on (for the block index). O(nodes + edges). */
export function selectReportModel(
  leaks: LeaksFile,
  options: ModelOptions = {},
  adj: Adjacency = buildAdjacency(leaks),
): ReportModel {
  const sites = selectSites(leaks, options);
  const labelCache = new Map<number, { label: string; location: string }>();
  const siteLabel = (site: number) => {
    let l = labelCache.get(site);
    if (!l) {
      const text = sites?.labels[site];
      if (text !== undefined) {
        const row = sites!.rows.find((r) => r.site === site);
        l = row ? { label: row.label, location: row.location } : { label: text, location: "" };
      } else {
        const own = siteLabels(leaks.stacks ?? [], [site]).get(site)!;
        l = { label: own.label, location: own.location };
      }
      labelCache.set(site, l);
    }
    return l;
  };
  const groups = selectLeakGroups(leaks, adj, siteLabel, options.maxLeakRows ?? 200_000);
  const cellLabel = new Map<number, string>();
  for (const g of groups.groups) {
    const text = g.location ? `${g.label} ${g.location}` : g.label;
    for (const r of g.rows) cellLabel.set(r.block, text);
  }
  const graph = selectGraph(
    leaks,
    adj,
    (b) => cellLabel.get(b) ?? "",
    options.maxNodes ?? 2000,
    options.maxLinks,
  );
  const cycles = selectCycles(leaks, adj, options.maxCycles ?? 5000);
  const drawnAt = new Map<number, number>();
  graph.nodes.forEach((node, i) => drawnAt.set(node.block, i));
  cycles.rows.forEach((row, k) => {
    for (const b of row.blocks) {
      const at = drawnAt.get(b);
      if (at !== undefined) graph.nodes[at]!.cycle = k;
    }
  });
  const roots = selectRoots(leaks, adj, options.maxRoots ?? 50_000);
  return {
    header: selectHeader(leaks),
    stats: selectStats(leaks),
    graph,
    groups,
    zones: selectZones(leaks),
    cycles,
    method: selectMethod(leaks),
    roots: roots.roots,
    rootsOmitted: roots.omitted,
    weakLinks: selectWeakLinks(leaks),
    sites,
    timeline: selectTimeline(leaks, options.maxTimelinePoints ?? 600),
    flame: selectFlame(leaks),
    types: selectTypes(leaks),
    retainers: selectRetainers(leaks, adj),
  };
}

/** Most weak-link reasons embedded (possible blocks are few; a pathological file is capped). */
export const MAX_WEAK_LINKS = 20_000;

/** Block (position in leaks.nodes) → its `weakLink`, for the card's path. O(nodes). */
function selectWeakLinks(leaks: LeaksFile): Record<number, string> {
  const out: Record<number, string> = {};
  let count = 0;
  for (let b = 0; b < leaks.nodes.length && count < MAX_WEAK_LINKS; b++) {
    const link = leaks.nodes[b]!.weakLink;
    if (link === undefined) continue;
    out[b] = link;
    count++;
  }
  return out;
}
