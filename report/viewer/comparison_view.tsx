// The Comparison section (`heapscope diff --html`, `watch --html`): which files, totals before →
// after, new leaks and leaks gone (a row whose block is in the drawn file selects it), growth by
// type, site, retainer and zone, survivors of three snapshots, the diff's notes, and for a watch
// series the growth over time with a read-out under the mouse and by keyboard.

import { useMemo, useState } from "preact/hooks";
import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { GrowthRow } from "../leaks_diff.ts";
import type {
  ComparisonDiffView,
  ComparisonFileView,
  ComparisonGrowth,
  ComparisonLeakRow,
  ComparisonLeaks,
  ComparisonPayload,
  SeriesPayload,
  SeriesPoint,
} from "../view/payload.ts";
import { shortPaths } from "../view/comparison.ts";
import { useChartReadout } from "./chart_readout.ts";
import { drawGrowth } from "./growth_chart.ts";
import { ShapeIcon } from "./shape_icon.tsx";
import { type Column, VirtualTable } from "./virtual_table.tsx";

/** "+1.4 KiB", "-136 B": the text summary's signs. */
const signedBytes = (n: number) => `${n >= 0 ? "+" : "-"}${formatBytes(Math.abs(n))}`;
const signedCount = (n: number) => `${n >= 0 ? "+" : "-"}${formatCount(Math.abs(n))}`;

/**
 * A column's width in ch: its values' `min`, or its header and the sort arrow (" ▾") when wider,
 * so that no header runs into the next column.
 */
const headerWidth = (label: string, min: number) => Math.max(min, label.length + 2);

/** "the first", "snapshot 4": a file's label in a sentence. */
const the = (label: string) => (label.startsWith("snapshot") ? label : `the ${label}`);

/** "2024-11-27 20:16:05 UTC" (the header's form). */
function when(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime())
    ? iso
    : t.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function ComparisonView(
  { comparison, selected, onSelect }: {
    comparison: ComparisonPayload;
    /** The selected block of the drawn file, to mark its row. */
    selected: number | null;
    onSelect: (block: number) => void;
  },
) {
  const c = comparison;
  const pids = [...new Set(c.files.map((f) => f.pid))];
  const first = c.files[0]!, last = c.files[c.files.length - 1]!;
  const span = Date.parse(last.capturedAt) - Date.parse(first.capturedAt);
  return (
    <section class="card compare" aria-labelledby="compare-title" data-testid="comparison">
      <h2 id="compare-title">
        Comparison{" "}
        <span class="muted">
          · {c.kind === "watch" && c.series
            ? `${formatCount(c.series.points.length + c.series.omitted)} captures`
            : `${c.files.length} files`} of pid {pids.join(" and ")}
          {span > 0 ? ` · over ${formatDuration(span)}` : ""}
        </span>
      </h2>
      <Files files={c.files} />
      {c.series && <GrowthOverTime series={c.series} />}
      {c.diff
        ? <DiffBody diff={c.diff} files={c.files} selected={selected} onSelect={onSelect} />
        : (
          <p class="muted small" data-testid="compare-pending">
            One capture so far: the growth from the first to the last shows here from the second.
          </p>
        )}
      {c.notes.length > 0 && (
        <>
          <h3>Notes</h3>
          <ul class="compare-notes small" data-testid="compare-notes">
            {c.notes.map((n) => <li key={n}>{n}</li>)}
          </ul>
        </>
      )}
    </section>
  );
}

function Files({ files }: { files: ComparisonFileView[] }) {
  const t0 = Date.parse(files[0]!.capturedAt);
  return (
    <ol class="compare-files small" data-testid="compare-files" aria-label="Files compared">
      {files.map((f, i) => {
        const after = Date.parse(f.capturedAt) - t0;
        return (
          <li key={i} data-testid={`compare-file-${i}`}>
            <b>{f.label}</b> <span class="muted">·</span> pid {f.pid} <span class="muted">·</span>
            {" "}
            <code class="cmd-inline">{f.command}</code> <span class="muted">·</span> captured{" "}
            {when(f.capturedAt)}
            {i > 0 && after >= 0 ? ` (${formatDuration(after)} after ${the(files[0]!.label)})` : ""}
            {f.shown && <span class="shown">· drawn in this report</span>}
          </li>
        );
      })}
    </ol>
  );
}

function DiffBody(
  { diff, files, selected, onSelect }: {
    diff: ComparisonDiffView;
    files: ComparisonFileView[];
    selected: number | null;
    onSelect: (block: number) => void;
  },
) {
  // Totals, new leaks, gone leaks and growth compare the first two files the diff names (with a
  // third file, the third is only for the survivors).
  const first = files[0]!, second = files[Math.min(1, files.length - 1)]!;
  const before = first.label, after = second.label;
  return (
    <>
      <h3 id="compare-totals-title">Totals</h3>
      <div class="compare-totals-wrap">
        <table
          class="compare-totals"
          data-testid="compare-totals"
          aria-labelledby="compare-totals-title"
        >
          <thead>
            <tr>
              <th scope="col">total</th>
              <th scope="col" class="num">{before}</th>
              <th scope="col" class="num">{after}</th>
              <th scope="col" class="num">change</th>
            </tr>
          </thead>
          <tbody>
            {diff.totals.map((t) => {
              const f = t.unit === "bytes" ? formatBytes : formatCount;
              const s = t.unit === "bytes" ? signedBytes : signedCount;
              return (
                <tr
                  key={t.key}
                  data-testid={`total-${t.key}`}
                  data-before={t.before}
                  data-after={t.after}
                  data-change={t.change}
                >
                  <th scope="row">{t.label}</th>
                  <td class="num">{f(t.before)}</td>
                  <td class="num">{f(t.after)}</td>
                  <td class={`num ${t.change > 0 ? "grew" : t.change < 0 ? "shrank" : ""}`}>
                    {s(t.change)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <LeakList
        id="new-leaks"
        title="New leaks"
        what={`leaked in ${the(after)}, not in ${the(before)}`}
        leaks={diff.newLeaks}
        selected={selected}
        onSelect={onSelect}
      />
      <LeakList
        id="gone-leaks"
        title="Leaks gone"
        what={`leaked in ${the(before)}, not in ${the(after)}`}
        leaks={diff.goneLeaks}
        selected={selected}
        onSelect={onSelect}
      />
      <h3>Growth</h3>
      <p class="muted small">
        From {the(before)} to {the(after)}, in bytes and blocks, biggest growth first.
      </p>
      {diff.growth.map((g) => <GrowthTable key={g.id} table={g} before={first} after={second} />)}
      {diff.survivors && (
        <div data-testid="survivors">
          <h3>Survivors</h3>
          <p class="small" data-testid="survivors-summary">
            Allocated between {the(before)} and {the(after)}, still alive at{" "}
            {the(files[2]?.label ?? "third")}:{" "}
            <b>
              {formatCount(diff.survivors.count)} blocks, {formatBytes(diff.survivors.bytes)}
            </b>
          </p>
          {diff.survivors.tables.map((g) => (
            <GrowthTable key={g.id} table={g} before={first} after={second} survivors />
          ))}
        </div>
      )}
    </>
  );
}

/** "20 blocks, 1.4 KiB (20 direct); 3 more (216 B) suppressed": the text summary's line. */
function leakLine(l: ComparisonLeaks): string {
  return `${formatCount(l.count)} blocks, ${formatBytes(l.bytes)} (${
    formatCount(l.direct)
  } direct)${
    l.suppressed.count
      ? `; ${formatCount(l.suppressed.count)} more (${formatBytes(l.suppressed.bytes)}) suppressed`
      : ""
  }`;
}

function LeakList(
  { id, title, what, leaks, selected, onSelect }: {
    id: string;
    title: string;
    what: string;
    leaks: ComparisonLeaks;
    selected: number | null;
    onSelect: (block: number) => void;
  },
) {
  const columns: Column<ComparisonLeakRow>[] = [
    {
      key: "address",
      label: "direct leak",
      width: 16,
      extra: 2,
      title: "Address of the direct leak (select a row to see the block when this report draws it)",
      cell: (r) => (
        <span class="mono">
          <ShapeIcon status={r.now === "cycle" ? "cycle" : "leaked"} /> {r.address}
        </span>
      ),
      value: (r) => r.address,
    },
    {
      key: "size",
      label: "size",
      num: true,
      width: 9,
      title: "Usable size of the block",
      cell: (r) => formatBytes(r.size),
      value: (r) => r.size,
    },
    {
      key: "blocks",
      label: "blocks",
      num: true,
      width: 8,
      title: "Leaked blocks of its structure (itself and what it holds)",
      cell: (r) => formatCount(r.heldBlocks),
      value: (r) => r.heldBlocks,
    },
    {
      key: "bytes",
      label: "bytes",
      num: true,
      width: 10,
      title: "Usable bytes of its structure",
      cell: (r) => formatBytes(r.heldBytes),
      value: (r) => r.heldBytes,
    },
    {
      key: "now",
      label: "drawn file",
      wide: true,
      width: 11,
      title: "The same block in the file this report draws: its status there, or not there",
      cell: (r) => r.now ?? <span class="muted">not there</span>,
      value: (r) => r.now ?? "not there",
    },
    {
      key: "type",
      label: "type",
      wide: true,
      width: 8,
      cell: (r) => r.type ?? "",
      value: (r) => r.type,
    },
    {
      key: "site",
      label: "allocation site",
      width: 16,
      cell: (r) => <span class="fn">{r.site ?? ""}</span>,
      value: (r) => r.site,
    },
  ];
  const hasType = leaks.rows.some((r) => r.type !== undefined);
  const hasSite = leaks.rows.some((r) => r.site !== undefined);
  const shownColumns = columns.filter((c) =>
    (c.key !== "type" || hasType) && (c.key !== "site" || hasSite)
  );
  const selectedKey = selected === null
    ? null
    : leaks.rows.find((r) => r.block === selected)?.address ?? null;
  return (
    <div class="compare-leaks" data-testid={id}>
      <h3 id={`${id}-title`}>{title}</h3>
      <p class="small">
        <span data-testid={`${id}-summary`}>{leakLine(leaks)}</span>{" "}
        <span class="muted">— {what}.</span>
      </p>
      {leaks.rows.length > 0 && (
        <VirtualTable<ComparisonLeakRow>
          id={`${id}-table`}
          label={title}
          columns={shownColumns}
          rows={leaks.rows}
          rowKey={(r) => r.address}
          selected={selectedKey}
          onActivate={(r) => {
            if (r.block !== undefined) onSelect(r.block);
          }}
          rowClass={(r) => (r.block === undefined ? "absent" : "")}
          sort={{ key: "bytes", desc: true }}
          visibleRows={6}
        />
      )}
      {leaks.omitted > 0 && (
        <p class="muted small">
          {formatCount(leaks.omitted)} more direct leaks are in the diff's JSON (--output).
        </p>
      )}
    </div>
  );
}

/** A growth table's numbers: bytes or blocks, each with its narrowest width in ch. */
const BYTES = { min: 10, plain: formatBytes, signed: signedBytes };
const BLOCKS = { min: 9, plain: formatCount, signed: signedCount };

/** A growth table's number column: its bytes or blocks, signed when they are a change. */
const growthCol = (
  unit: typeof BYTES,
  key: string,
  label: string,
  get: (r: GrowthRow) => number,
  title: string,
  signed: boolean,
  wide?: boolean,
): Column<GrowthRow> => ({
  key,
  label,
  num: true,
  width: headerWidth(label, unit.min),
  title,
  ...(wide ? { wide } : {}),
  cell: (r) => (signed ? unit.signed(get(r)) : unit.plain(get(r))),
  value: get,
});

function GrowthTable(
  { table, before: first, after: second, survivors }: {
    table: ComparisonGrowth;
    before: ComparisonFileView;
    after: ComparisonFileView;
    survivors?: boolean;
  },
) {
  const before = first.label, after = second.label;
  const [all, setAll] = useState(false);
  const rows = useMemo(
    () => (all ? table.rows : table.rows.filter((r) => r.count !== 0 || r.bytes !== 0)),
    [table, all],
  );
  const unchanged = table.rows.length - table.changed;
  const columns: Column<GrowthRow>[] = [
    {
      key: "label",
      label: table.what,
      width: 20,
      cell: (r) => (
        <span class={table.what === "zone" ? "" : "fn"} title={r.label}>{shortPaths(r.label)}</span>
      ),
      value: (r) => r.label,
      shown: (r) => shortPaths(r.label),
    },
    growthCol(
      BYTES,
      "bytes",
      survivors ? "bytes" : "Δ bytes",
      (r) => r.bytes,
      survivors ? "Bytes of the survivors" : `Bytes grown from ${the(before)} to ${the(after)}`,
      !survivors,
    ),
    growthCol(
      BLOCKS,
      "count",
      survivors ? "blocks" : "Δ blocks",
      (r) => r.count,
      survivors ? "Blocks that survived" : `Blocks grown from ${the(before)} to ${the(after)}`,
      !survivors,
    ),
    ...(survivors ? [] : [
      growthCol(
        BYTES,
        "beforeBytes",
        `${first.short} bytes`,
        (r) => r.before.bytes,
        `Bytes in ${the(before)}`,
        false,
        true,
      ),
      growthCol(
        BYTES,
        "afterBytes",
        `${second.short} bytes`,
        (r) => r.after.bytes,
        `Bytes in ${the(after)}`,
        false,
        true,
      ),
      growthCol(
        BLOCKS,
        "beforeCount",
        `${first.short} blocks`,
        (r) => r.before.count,
        `Blocks in ${the(before)}`,
        false,
        true,
      ),
      growthCol(
        BLOCKS,
        "afterCount",
        `${second.short} blocks`,
        (r) => r.after.count,
        `Blocks in ${the(after)}`,
        false,
        true,
      ),
    ]),
  ];
  const id = `growth-${table.id}`;
  return (
    <div class="compare-growth" data-testid={id}>
      <h4 id={`${id}-title`}>
        {table.title}{" "}
        <span class="muted">
          ({formatCount(table.changed)} changed{survivors ? "" : ` of ${formatCount(table.total)}`})
        </span>
      </h4>
      {unchanged > 0 && (
        <label class="small unchanged">
          <input
            type="checkbox"
            checked={all}
            onChange={(e) => setAll((e.currentTarget as HTMLInputElement).checked)}
          />{" "}
          also the {formatCount(unchanged)} that did not change
        </label>
      )}
      {rows.length > 0
        ? (
          <VirtualTable<GrowthRow>
            id={`${id}-table`}
            label={table.title}
            columns={columns}
            rows={rows}
            rowKey={(r) => r.key}
            rowClass={(r) => (r.bytes < 0 ? "shrank" : "")}
            sort={{ key: "bytes", desc: true }}
            visibleRows={8}
          />
        )
        : <p class="muted small">Nothing changed.</p>}
      {table.omitted > 0 && (
        <p class="muted small">
          {formatCount(table.omitted)} more rows are in the diff's JSON (--output).
        </p>
      )}
    </div>
  );
}

/** The watch series: a chart of live and leaked bytes per capture, its read-out, and its table. */
function GrowthOverTime({ series }: { series: SeriesPayload }) {
  const points = series.points;
  const { svgRef, at, handlers } = useChartReadout(series, points.length, drawGrowth);
  const point = at !== null ? points[at] : undefined;
  const last = points[points.length - 1]!;
  return (
    <div class="compare-series" data-testid="growth-over-time">
      <h3 id="growth-title">
        Growth over time{" "}
        <span class="muted">
          · live {formatBytes(points[0]!.bytes)} → {formatBytes(last.bytes)}, leaked{" "}
          {formatBytes(points[0]!.leakedBytes)} → {formatBytes(last.leakedBytes)}
        </span>
      </h3>
      <div class="timeline-legend small">
        <span>
          <i class="swatch live" /> live bytes (left axis)
        </span>
        <span>
          <i class="swatch leaked-mark" /> leaked bytes (right axis)
        </span>
      </div>
      <svg
        ref={svgRef}
        class="growth-chart"
        role="img"
        tabIndex={0}
        aria-labelledby="growth-title"
        aria-describedby="growth-help"
        {...handlers}
      />
      <span id="growth-help" class="sr-only">
        Live and leaked bytes at each capture: use the left and right arrow keys to read them.
      </span>
      <p class="small read-out" aria-live="polite" data-testid="growth-readout">
        {point ? readOut(point) : "Hover the chart (or focus it and use ← →) to read each capture."}
      </p>
      <VirtualTable<SeriesPoint>
        id="captures"
        label="Captures"
        columns={captureColumns}
        rows={points}
        rowKey={(p) => String(p.index)}
        selected={point ? String(point.index) : null}
        sort={{ key: "index", desc: false }}
        visibleRows={6}
      />
      {series.omitted > 0 && (
        <p class="muted small">
          {formatCount(series.omitted)} earlier captures are not drawn (watch.json has them).
        </p>
      )}
    </div>
  );
}

function readOut(p: SeriesPoint): string {
  const grew = (n: number | undefined) => (n === undefined ? "" : ` (${signedBytes(n)})`);
  return `capture #${p.index} at ${when(p.capturedAt)} (${formatDuration(p.ms) || "0 ms"}): live ${
    formatBytes(p.bytes)
  } in ${formatCount(p.allocations)} blocks${grew(p.change?.bytes)}, leaked ${
    formatBytes(p.leakedBytes)
  } in ${formatCount(p.leaked)} blocks${grew(p.change?.leakedBytes)}, paused ${
    p.pauseMs.toFixed(1)
  } ms${
    p.top ? `; top grower since the previous: ${p.top.label} ${signedBytes(p.top.bytes)}` : ""
  }`;
}

const captureColumns: Column<SeriesPoint>[] = [
  {
    key: "index",
    label: "capture",
    width: 24,
    // Time of day and time since the first capture (the chart's axis); the date is in the list
    // of files and the read-out.
    cell: (p) =>
      `#${p.index} · ${when(p.capturedAt).slice(11, 19)} (+${formatDuration(p.ms) || "0 ms"})`,
    value: (p) => p.index,
  },
  {
    key: "bytes",
    label: "live",
    num: true,
    width: 10,
    title: "Bytes of every allocation at the capture",
    cell: (p) => formatBytes(p.bytes),
    value: (p) => p.bytes,
  },
  {
    key: "bytesChange",
    label: "Δ live",
    num: true,
    width: 10,
    title: "Change since the previous capture",
    cell: (p) => (p.change ? signedBytes(p.change.bytes) : ""),
    value: (p) => p.change?.bytes,
  },
  {
    key: "leakedBytes",
    label: "leaked",
    num: true,
    width: 10,
    title: "Leaked bytes that no --suppressions rule suppresses",
    cell: (p) => formatBytes(p.leakedBytes),
    value: (p) => p.leakedBytes,
  },
  {
    key: "leakedChange",
    label: "Δ leaked",
    num: true,
    width: 10,
    title: "Change since the previous capture",
    cell: (p) => (p.change ? signedBytes(p.change.leakedBytes) : ""),
    value: (p) => p.change?.leakedBytes,
  },
  {
    key: "pauseMs",
    label: "paused",
    num: true,
    width: 9,
    title: "How long the process was stopped for this capture",
    cell: (p) => `${p.pauseMs.toFixed(1)} ms`,
    value: (p) => p.pauseMs,
  },
  {
    key: "top",
    label: "top grower since the previous",
    wide: true,
    width: 20,
    cell: (p) => (p.top ? `${p.top.label} ${signedBytes(p.top.bytes)}` : ""),
    value: (p) => (p.top ? `${p.top.label} ${signedBytes(p.top.bytes)}` : undefined),
  },
];
