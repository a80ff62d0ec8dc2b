// What the graph leaves out: allocations not drawn, per zone and size class.

import { formatBytes, formatCount } from "../selectors.ts";
import type { GraphPayload } from "../selectors.ts";

export function NotDrawnTable({ graph }: { graph: GraphPayload }) {
  if (graph.notDrawn === 0) return null;
  return (
    <div class="card">
      <h3>
        Not drawn{" "}
        <span class="muted">
          ({formatCount(graph.notDrawn)} allocations, {formatBytes(graph.notDrawnBytes)})
        </span>
      </h3>
      <p class="muted small">
        The graph draws at most {formatCount(graph.cap)}{" "}
        blocks: leaked blocks first, their cycles, and the reachable blocks next to them.{" "}
        {graph.notDrawnLeaked > 0
          ? `${formatCount(graph.notDrawnLeaked)} leaked blocks are among those not drawn. `
          : ""}
        {graph.absentFromFile > 0
          ? `${
            formatCount(graph.absentFromFile)
          } allocations were not listed in leaks.json at all. `
          : ""}
        {formatCount(graph.linksNotDrawn)} references are not drawn.
      </p>
      {graph.aggregates.length > 0 && (
        <table class="grid">
          <thead>
            <tr>
              <th>zone</th>
              <th>size class</th>
              <th class="num">blocks</th>
              <th class="num">bytes</th>
              <th class="num">leaked</th>
            </tr>
          </thead>
          <tbody>
            {graph.aggregates.map((a) => (
              <tr key={a.zone + a.sizeClass}>
                <td>{a.zone}</td>
                <td>{a.sizeClass}</td>
                <td class="num">{formatCount(a.count)}</td>
                <td class="num">{formatBytes(a.bytes)}</td>
                <td class={a.leaked ? "num red" : "num"}>{formatCount(a.leaked)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
