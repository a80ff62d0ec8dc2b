// Allocation sites (recorded processes): top call stacks by leaked then live bytes; a click expands
// the stack and shows only that site's blocks in the graph.

import { formatBytes, formatCount, formatDuration } from "../selectors.ts";
import type { SiteRowView, SitesPayload } from "../selectors.ts";
import { StackFrames } from "./stack_frames.tsx";

export function SitesTable(
  { sites, selected, onPick }: {
    sites: SitesPayload;
    selected: number | null;
    onPick: (row: SiteRowView | null) => void;
  },
) {
  const pair = (count: number, bytes: number, red = false) => (
    <>
      <td class={red && count > 0 ? "num red" : "num"}>{formatCount(count)}</td>
      <td class={red && count > 0 ? "num red" : "num"}>{formatBytes(bytes)}</td>
    </>
  );
  return (
    <div class="card sites" data-testid="sites">
      <h3>
        Allocation sites <span class="muted">({formatCount(sites.total)})</span>
      </h3>
      <table class="grid sites-table">
        <thead>
          <tr>
            <th>allocated in</th>
            <th class="num">leaked</th>
            <th class="num">leaked bytes</th>
            <th class="num">live</th>
            <th class="num">live bytes</th>
            <th class="num">peak</th>
            <th class="num">total</th>
            <th class="num" title="oldest live block / mean age">age</th>
          </tr>
        </thead>
        <tbody>
          {sites.rows.map((r) => {
            const open = selected === r.site;
            const stack = sites.stacks[r.site];
            return [
              <tr
                key={r.site}
                class={open ? "clickable selected" : "clickable"}
                data-site={r.site}
                aria-expanded={open}
                onClick={() => onPick(open ? null : r)}
              >
                <td class="site-cell">
                  <span class="caret">{open ? "▾" : "▸"}</span>
                  <span class="fn" data-testid="site-function">{r.label}</span>
                  {r.location && <span class="where" title={r.file}>{r.location}</span>}
                </td>
                {pair(r.leakedCount, r.leakedBytes, true)}
                {pair(r.count, r.bytes)}
                <td class="num" title={`${formatCount(r.peakCount)} blocks`}>
                  {formatBytes(r.peakBytes)}
                </td>
                <td class="num" title={formatBytes(r.totalBytes)}>{formatCount(r.totalCount)}</td>
                <td class="num" title={`mean ${formatDuration(r.meanAgeMs)}`}>
                  {r.count > 0 ? formatDuration(r.oldestMs) : ""}
                </td>
              </tr>,
              open && (
                <tr key={`${r.site}-stack`} class="stack-row">
                  <td colSpan={8}>
                    <div class="stack-meta muted small">
                      site {r.site} · {r.direct} direct of {formatCount(r.leakedCount)}{" "}
                      leaked · threads {r.threads.join(", ") || "none"} · mean age{" "}
                      {formatDuration(r.meanAgeMs)} · {r.nodes.length > 0
                        ? `${
                          formatCount(r.nodes.length)
                        } of its blocks drawn, shown alone in the graph`
                        : "none of its blocks is drawn in the graph"}
                    </div>
                    {stack
                      ? <StackFrames frames={stack.frames} more={stack.more} />
                      : (
                        <p class="muted small">
                          Stack not embedded in this report; see leaks.json.
                        </p>
                      )}
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      <p class="muted small">
        Innermost frame outside the allocator (malloc, operator new, …) and the recorder. Click a
        site to see its stack and show only its blocks in the graph; click again to clear.
        {sites.omitted > 0
          ? ` Omitting ${formatCount(sites.omitted)} more sites (see leaks.json).`
          : ""}
      </p>
    </div>
  );
}
