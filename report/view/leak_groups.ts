// The leaks table's payload: direct leaks grouped like the CLI, each group expandable to its blocks.

import { formatBytes } from "../format.ts";
import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";
import { heldByDirect } from "./held.ts";
import type { LeakBlockRow, LeakGroup, LeakGroupsPayload, PossibleRow } from "./payload.ts";
import { possibleStructures, waysText } from "../../analysis/possible_structures.ts";

/**
 * Direct leaks grouped by allocation site when recorded, else by type, size and zone (and cycle
 * membership, as report/summary.ts groups them); each group's blocks and bytes are those of the
 * structures its direct leaks hold, so the groups add up to the leaked total. Groups by bytes,
 * blocks in a group by held bytes; at most `maxRows` blocks are listed (the groups' totals count
 * them all). `siteLabel` names a site (the one label of site_label.ts).
 * O(leaked nodes log leaked nodes).
 */
export function selectLeakGroups(
  leaks: LeaksFile,
  adj: Adjacency,
  siteLabel: (site: number) => { label: string; location: string },
  maxRows = 200_000,
  maxPossible = 100,
): LeakGroupsPayload {
  const nodes = leaks.nodes;
  const typeName = (t: number | undefined) => t === undefined ? undefined : leaks.types?.[t]?.name;
  const held = heldByDirect(leaks, adj);
  const groups = new Map<string, LeakGroup>();
  let direct = 0;
  nodes.forEach((node, b) => {
    if (node.leak !== "direct" || (node.status !== "leaked" && node.status !== "cycle")) return;
    direct++;
    const inCycle = node.status === "cycle";
    const site = node.site !== undefined && node.site >= 0 ? node.site : undefined;
    const type = typeName(node.type);
    let key: string, by: LeakGroup["by"];
    if (site !== undefined) [key, by] = [`site ${site}`, "site"];
    else if (node.type) {
      [key, by] = [`type ${node.type} ${node.size} ${node.zone} ${inCycle}`, "type"];
    } else [key, by] = [`size ${node.size} ${node.zone} ${inCycle}`, "size"];
    let g = groups.get(key);
    if (!g) {
      const named = site !== undefined ? siteLabel(site) : undefined;
      g = {
        key,
        by,
        label: named?.label ??
          (node.type
            ? `${node.type} (${formatBytes(node.size)})`
            : `${formatBytes(node.size)} blocks`),
        location: named?.location ?? "",
        zone: node.zone,
        inCycle,
        count: 0,
        blocks: 0,
        bytes: 0,
        directBytes: 0,
        retained: 0,
        retainedKnown: true,
        rows: [],
      };
      if (site !== undefined) g.site = site;
      if (type) g.type = type;
      groups.set(key, g);
    }
    if (g.zone !== node.zone) g.zone = "several";
    if (inCycle) g.inCycle = true;
    const h = held.get(b) ?? { blocks: 1, bytes: node.size };
    g.count++;
    g.blocks += h.blocks;
    g.bytes += h.bytes;
    g.directBytes += node.size;
    if (node.retained !== undefined) g.retained += node.retained;
    else {
      g.retainedKnown = false;
      g.retained += h.bytes;
    }
    const row: LeakBlockRow = {
      block: b,
      address: node.address,
      size: node.size,
      zone: node.zone,
      inCycle,
      heldBlocks: h.blocks,
      heldBytes: h.bytes,
    };
    if (node.requested !== undefined) row.requested = node.requested;
    if (node.retained !== undefined) row.retained = node.retained;
    if (node.thread !== undefined) row.thread = node.thread;
    if (node.ageMs !== undefined) row.ageMs = node.ageMs;
    g.rows.push(row);
  });
  const sorted = [...groups.values()].sort((a, b) =>
    b.bytes - a.bytes || b.count - a.count || a.key.localeCompare(b.key)
  );
  let listed = 0, bytes = 0;
  for (const g of sorted) {
    bytes += g.bytes;
    g.rows.sort((x, y) => y.heldBytes - x.heldBytes || y.size - x.size || x.block - y.block);
    const room = Math.max(0, maxRows - listed);
    if (g.rows.length > room) g.rows.length = room;
    listed += g.rows.length;
  }
  const possible = selectPossible(leaks, adj);
  return {
    groups: sorted,
    direct,
    listed,
    bytes,
    possible: possible.slice(0, maxPossible),
    possibleOmitted: Math.max(0, possible.length - maxPossible),
  };
}

/**
 * The possible structures of a leaks file, as the CLI's summary lists them (the same grouping:
 * analysis/possible_structures.ts), block positions for ids. O(possible blocks' edges · log).
 */
export function selectPossible(leaks: LeaksFile, adj: Adjacency): PossibleRow[] {
  const nodes = leaks.nodes;
  const ids: number[] = [];
  nodes.forEach((node, b) => {
    if (node.status === "possible") ids.push(b);
  });
  const structures = possibleStructures({
    ids,
    isPossible: (b) => nodes[b]?.status === "possible",
    forEachTarget: (b, f) => {
      for (let e = adj.outStart[b]!; e < adj.outStart[b + 1]!; e++) {
        if (adj.outTarget[e]! >= 0) f(adj.outTarget[e]!);
      }
    },
    size: (b) => nodes[b]!.size,
    weight: (b) => nodes[b]!.retained ?? nodes[b]!.size,
    // No `via`: a root reached it. A `via` not in the file is a live block (a --graph leaked file
    // keeps every possible block).
    reachedFrom: (b) =>
      nodes[b]!.via === undefined
        ? "root"
        : adj.via[b]! >= 0 && nodes[adj.via[b]!]!.status === "possible"
        ? "possible"
        : "live",
    weakLink: (b) => nodes[b]!.weakLink,
  });
  return structures.map((s) => ({
    blocks: s.blocks,
    bytes: s.bytes,
    kept: waysText(s.ways),
    entry: s.entry,
    address: s.entry >= 0 ? nodes[s.entry]!.address : "",
  }));
}
