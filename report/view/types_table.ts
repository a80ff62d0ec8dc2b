// The by-type table (as Chrome DevTools' "Summary"): blocks and bytes per type, in all and by status.

import type { LeaksFile } from "../schema.ts";
import type { TypeRow } from "./payload.ts";

/** Rows by bytes, or null when the file has no `types` table. O(types log types). */
export function selectTypes(leaks: LeaksFile): TypeRow[] | null {
  const types = leaks.types;
  if (!types || types.length === 0) return null;
  return types.map((t) => ({
    type: t.name,
    count: t.count,
    bytes: t.bytes,
    reachableCount: Math.max(0, t.count - t.leakedCount - t.possibleCount),
    reachableBytes: Math.max(0, t.bytes - t.leakedBytes - t.possibleBytes),
    leakedCount: t.leakedCount,
    leakedBytes: t.leakedBytes,
    possibleCount: t.possibleCount,
    possibleBytes: t.possibleBytes,
  })).sort((a, b) => b.bytes - a.bytes || a.type.localeCompare(b.type));
}
