// The cycle list's payload: leaked cycles by bytes, each with its members' blocks.

import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";
import type { CycleRow, CyclesPayload } from "./payload.ts";

/** Cycles, largest (bytes) first, capped at `max`. O(cycle members + cycles log cycles). */
export function selectCycles(leaks: LeaksFile, adj: Adjacency, max = 5000): CyclesPayload {
  const rows: CycleRow[] = leaks.cycles.map((ids, index) => {
    let bytes = 0, first = "", firstNum = Infinity;
    const blocks: number[] = [];
    for (const id of ids) {
      const b = adj.at(id);
      if (b < 0) continue;
      const node = leaks.nodes[b]!;
      blocks.push(b);
      bytes += node.size;
      const a = parseInt(node.address.slice(2), 16);
      if (a < firstNum) {
        firstNum = a;
        first = node.address;
      }
    }
    return { index, size: ids.length, bytes, firstAddress: first, blocks };
  });
  rows.sort((a, b) => b.bytes - a.bytes || b.size - a.size || a.index - b.index);
  return { rows: rows.slice(0, max), total: rows.length, omitted: Math.max(0, rows.length - max) };
}
