// Per-zone breakdown: count, bytes and leaked per allocator zone; a click filters the graph to the zone.

import { formatBytes, formatCount } from "../selectors.ts";
import type { ZoneRow } from "../selectors.ts";

export function ZonesTable(
  { zones, active, onZone }: {
    zones: ZoneRow[];
    active: string | null;
    onZone: (zone: string | null) => void;
  },
) {
  return (
    <div class="card">
      <h3>Zones</h3>
      <table class="grid zones">
        <thead>
          <tr>
            <th>zone</th>
            <th class="num">blocks</th>
            <th class="num">bytes</th>
            <th class="num">leaked</th>
            <th class="num">leaked bytes</th>
          </tr>
        </thead>
        <tbody>
          {zones.map((z) => (
            <tr
              key={z.zone}
              class={active === z.zone ? "clickable selected" : "clickable"}
              onClick={() => onZone(active === z.zone ? null : z.zone)}
            >
              <td>{z.zone}</td>
              <td class="num">{formatCount(z.count)}</td>
              <td class="num">{formatBytes(z.bytes)}</td>
              <td class={z.leaked ? "num red" : "num"}>{formatCount(z.leaked)}</td>
              <td class="num">{formatBytes(z.leakedBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted small">
        Blocks listed in leaks.json. Click a zone to filter the graph; click again to clear.
      </p>
    </div>
  );
}
