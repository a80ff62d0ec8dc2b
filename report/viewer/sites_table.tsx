// Allocation sites (recorded processes): every listed site with leaked and live counts; a row
// narrows the graph to the site's blocks and shows its stack below the table.

import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { SiteRowView, SitesPayload } from "../view/payload.ts";
import { StackFrames } from "./stack_frames.tsx";
import { type Column, VirtualTable } from "./virtual_table.tsx";

export function SitesTable(
  { sites, selected, onPick }: {
    sites: SitesPayload;
    selected: number | null;
    onPick: (row: SiteRowView | null) => void;
  },
) {
  const columns: Column<SiteRowView>[] = [
    {
      key: "site",
      label: "allocated in",
      width: 36,
      cell: (r) => (
        <span>
          <span class="fn" data-testid="site-function">{r.label}</span>
          {r.location && <span class="where" title={r.file}>{r.location}</span>}
        </span>
      ),
      value: (r) => r.location ? `${r.label} ${r.location}` : r.label,
    },
    {
      key: "leaked",
      label: "leaked",
      num: true,
      width: 8,
      cell: (r) => formatCount(r.leakedCount),
      value: (r) => r.leakedCount,
    },
    {
      key: "leakedBytes",
      label: "leaked bytes",
      num: true,
      width: 12,
      title: "Usable bytes of the site's leaked blocks (the leaks table's unit)",
      cell: (r) => formatBytes(r.leakedUsableBytes),
      value: (r) => r.leakedUsableBytes,
    },
    {
      key: "requested",
      wide: true,
      label: "asked",
      num: true,
      width: 10,
      title:
        "Requested bytes of the site's leaked blocks: what the program asked malloc for (≤ usable)",
      cell: (r) => formatBytes(r.leakedBytes),
      value: (r) => r.leakedBytes,
    },
    {
      key: "live",
      wide: true,
      label: "live",
      num: true,
      width: 8,
      cell: (r) => formatCount(r.count),
      value: (r) => r.count,
    },
    {
      key: "liveBytes",
      label: "live bytes",
      num: true,
      width: 10,
      title: "Requested bytes of the site's live blocks (the recorder's count)",
      cell: (r) => formatBytes(r.bytes),
      value: (r) => r.bytes,
    },
    {
      key: "total",
      wide: true,
      label: "allocated",
      num: true,
      width: 10,
      title: "Blocks the site allocated since the recorder started",
      cell: (r) => formatCount(r.totalCount),
      value: (r) => r.totalCount,
    },
    {
      key: "age",
      wide: true,
      label: "oldest",
      num: true,
      width: 9,
      cell: (r) => r.count > 0 ? formatDuration(r.oldestMs) : "",
      value: (r) => r.oldestMs,
    },
  ];
  const open = selected === null ? undefined : sites.rows.find((r) => r.site === selected);
  const stack = open ? sites.stacks[open.site] : undefined;
  return (
    <section class="card sites" data-testid="sites" aria-labelledby="sites-title">
      <h2 id="sites-title">
        Allocation sites <span class="muted">({formatCount(sites.total)})</span>
      </h2>
      <VirtualTable<SiteRowView>
        id="sites-table"
        label="Allocation sites"
        columns={columns}
        rows={sites.rows}
        rowKey={(r) => `${r.site}`}
        selected={selected === null ? null : `${selected}`}
        onActivate={(r) => onPick(selected === r.site ? null : r)}
        sort={{ key: "leakedBytes", desc: true }}
        visibleRows={10}
      />
      {open && (
        <div class="stack-box" data-testid="site-stack">
          <div class="stack-meta muted small">
            site {open.site}: {open.label} {open.location}
            {open.via ? ` (${open.via})` : ""} · {open.direct} direct of{" "}
            {formatCount(open.leakedCount)} leaked · threads {open.threads.join(", ") || "none"}
          </div>
          {stack
            ? <StackFrames frames={stack.frames} more={stack.more} />
            : <p class="muted small">Stack not embedded in this report; see leaks.json.</p>}
        </div>
      )}
      <p class="muted small">
        Each site is named by its first frame in the program's own code (past malloc, operator new
        and library frames). Select a site to see its stack and only its blocks in the graph; again
        to clear.
        {sites.omitted > 0 ? ` ${formatCount(sites.omitted)} more sites are in leaks.json.` : ""}
      </p>
    </section>
  );
}
