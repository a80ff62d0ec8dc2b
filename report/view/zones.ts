// The zones table's payload: blocks, bytes and leaks per allocator zone.

import type { LeaksFile } from "../schema.ts";
import type { ZoneRow } from "./payload.ts";

/** Per-zone count, bytes and leaked (leaked and cycle), largest zone first. O(nodes). */
export function selectZones(leaks: LeaksFile): ZoneRow[] {
  const zones = new Map<string, ZoneRow>();
  for (const node of leaks.nodes) {
    let row = zones.get(node.zone);
    if (!row) {
      zones.set(
        node.zone,
        row = { zone: node.zone, count: 0, bytes: 0, leaked: 0, leakedBytes: 0 },
      );
    }
    row.count++;
    row.bytes += node.size;
    if (node.status === "leaked" || node.status === "cycle") {
      row.leaked++;
      row.leakedBytes += node.size;
    }
  }
  return [...zones.values()].sort((a, b) => b.bytes - a.bytes || a.zone.localeCompare(b.zone));
}
