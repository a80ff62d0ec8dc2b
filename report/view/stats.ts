// The stat cards' payload: the summary's counts, bytes split into direct, indirect and possible.

import type { LeaksFile } from "../schema.ts";
import type { StatsPayload } from "./payload.ts";

/** Counts from `summary` (the one source of truth), bytes by kind from the nodes. O(nodes). */
export function selectStats(leaks: LeaksFile): StatsPayload {
  const s = leaks.summary;
  let directBytes = 0, indirectBytes = 0, cycleBlocks = 0;
  for (const node of leaks.nodes) {
    if (node.status === "reachable" || node.status === "possible") continue;
    if (node.status === "cycle") cycleBlocks++;
    if (node.leak === "direct") directBytes += node.size;
    else indirectBytes += node.size;
  }
  const possibleBytes = s.possibleBytes ?? 0;
  return {
    allocations: s.allocations,
    bytes: s.bytes,
    reachable: s.reachable,
    reachableBytes: Math.max(0, s.bytes - s.leakedBytes - possibleBytes),
    leaked: s.leaked,
    leakedBytes: s.leakedBytes,
    direct: s.direct,
    directBytes,
    indirect: s.indirect,
    indirectBytes,
    cycles: s.cycles,
    cycleBlocks,
    possible: s.possible ?? 0,
    possibleBytes,
  };
}
