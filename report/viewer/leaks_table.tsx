// Leaks table: direct leaks first, then by the bytes they hold, with the leaked subgraph each one holds.

import { formatBytes, formatCount } from "../selectors.ts";
import type { LeakRow, LeaksTablePayload } from "../selectors.ts";

export function LeaksTable(
  { leaks, onPick }: { leaks: LeaksTablePayload; onPick: (row: LeakRow) => void },
) {
  const shown = leaks.rows.slice(0, 200);
  return (
    <div class="card">
      <h3>
        Leaks <span class="muted">({formatCount(leaks.total)})</span>
      </h3>
      {leaks.total === 0
        ? <p class="muted">Every allocation is reachable from a root.</p>
        : (
          <table class="grid leaks">
            <thead>
              <tr>
                <th>address</th>
                <th>kind</th>
                <th>zone</th>
                <th class="num">size</th>
                <th class="num">holds blocks</th>
                <th class="num">holds bytes</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr
                  key={r.id}
                  class={r.node !== null ? "clickable" : ""}
                  onClick={() => onPick(r)}
                >
                  <td class="mono">
                    <span class={`dot ${r.inCycle ? "cycle" : "leaked"}`} /> {r.address}
                  </td>
                  <td>{r.leak}{r.inCycle ? ", cycle" : ""}</td>
                  <td>{r.zone}</td>
                  <td class="num">{formatBytes(r.size)}</td>
                  <td class="num">{r.leak === "direct" ? formatCount(r.heldBlocks) : ""}</td>
                  <td class="num">{r.leak === "direct" ? formatBytes(r.heldBytes) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      {leaks.total > shown.length && (
        <p class="muted small">
          Omitting {formatCount(leaks.total - shown.length)} more leaks
          {leaks.omitted > 0
            ? ` (${formatCount(leaks.omitted)} of them not embedded in this report; see leaks.json)`
            : ""}.
        </p>
      )}
    </div>
  );
}
