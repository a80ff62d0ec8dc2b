// The leaks table, first on the page: direct leaks grouped like the CLI (by site when recorded,
// else by type, size and zone), each group expandable to its blocks; a block row selects the block.

import { useMemo } from "preact/hooks";
import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { LeakBlockRow, LeakGroup, LeakGroupsPayload, PossibleRow } from "../view/payload.ts";
import { ShapeIcon } from "./shape_icon.tsx";
import { type Column, VirtualTable } from "./virtual_table.tsx";

type Row = { kind: "group"; g: LeakGroup } | { kind: "block"; r: LeakBlockRow; g: LeakGroup };

export function LeaksView(
  { groups, leaked, leakedBytes, possible, selected, onSelect }: {
    groups: LeakGroupsPayload;
    leaked: number;
    leakedBytes: number;
    /** Blocks only weak evidence keeps. */
    possible: number;
    selected: number | null;
    onSelect: (block: number) => void;
  },
) {
  const rows = useMemo(() => groups.groups.map((g): Row => ({ kind: "group", g })), [groups]);
  const kids = useMemo(() => {
    const map = new Map<LeakGroup, Row[]>();
    for (const g of groups.groups) map.set(g, g.rows.map((r) => ({ kind: "block", r, g })));
    return map;
  }, [groups]);
  const anyRequested = groups.groups.some((g) => g.rows.some((r) => r.requested !== undefined));
  const columns: Column<Row>[] = [
    {
      key: "what",
      label: "leak",
      width: 34,
      // Caret, shape, spaces and " · in a cycle".
      extra: 18,
      title: "Allocation site (recorded processes), else type, else size; then each direct leak",
      cell: (row) =>
        row.kind === "group"
          ? (
            <span class="what">
              <ShapeIcon status={row.g.inCycle ? "cycle" : "leaked"} />{" "}
              <span class="fn" data-testid="group-label">{row.g.label}</span>
              {row.g.location && <span class="where" title={row.g.location}>{row.g.location}</span>}
              {row.g.inCycle && <span class="muted">· in a cycle</span>}
            </span>
          )
          : (
            <span class="mono">
              <ShapeIcon status={row.r.inCycle ? "cycle" : "leaked"} /> {row.r.address}
            </span>
          ),
      value: (row) =>
        row.kind === "group"
          ? `${row.g.label}${row.g.location ? " " + row.g.location : ""}`
          : row.r.address,
    },
    {
      key: "zone",
      wide: true,
      label: "zone",
      width: 14,
      cell: (row) => row.kind === "group" ? row.g.zone : row.r.zone,
      value: (row) => row.kind === "group" ? row.g.zone : row.r.zone,
    },
    {
      key: "count",
      label: "direct",
      num: true,
      width: 8,
      title: "Direct leaks in the group (blocks no other leaked block points to)",
      cell: (row) => row.kind === "group" ? formatCount(row.g.count) : "",
      value: (row) => row.kind === "group" ? row.g.count : undefined,
    },
    {
      key: "blocks",
      label: "blocks",
      num: true,
      width: 9,
      title: "Leaked blocks counted under these direct leaks (the structures they hold, included)",
      cell: (row) => formatCount(row.kind === "group" ? row.g.blocks : row.r.heldBlocks),
      value: (row) => row.kind === "group" ? row.g.blocks : row.r.heldBlocks,
    },
    {
      key: "bytes",
      label: "bytes",
      num: true,
      width: 10,
      title:
        "Usable bytes of those blocks (what malloc handed out, the unit of every total in this report)",
      cell: (row) => formatBytes(row.kind === "group" ? row.g.bytes : row.r.heldBytes),
      value: (row) => row.kind === "group" ? row.g.bytes : row.r.heldBytes,
    },
    {
      key: "retained",
      wide: true,
      label: "retained",
      num: true,
      width: 10,
      title:
        "Bytes freeing these blocks would release: the dominator tree's retained bytes when leaks.json has them, else the structures held",
      cell: (row) =>
        formatBytes(row.kind === "group" ? row.g.retained : row.r.retained ?? row.r.heldBytes),
      value: (row) => row.kind === "group" ? row.g.retained : row.r.retained ?? row.r.heldBytes,
    },
    {
      key: "size",
      label: anyRequested ? "size (asked)" : "size",
      num: true,
      width: anyRequested ? 16 : 9,
      title: anyRequested
        ? "Usable size of the block, and in brackets the size the program asked malloc for (requested)"
        : "Usable size of the block",
      cell: (row) =>
        row.kind === "group"
          ? formatBytes(row.g.directBytes)
          : row.r.requested !== undefined && row.r.requested !== row.r.size
          ? `${formatBytes(row.r.size)} (${formatBytes(row.r.requested)})`
          : formatBytes(row.r.size),
      value: (row) => row.kind === "group" ? row.g.directBytes : row.r.size,
    },
    {
      key: "age",
      wide: true,
      label: "age",
      num: true,
      width: 9,
      title: "Time since the block was allocated (recorded processes)",
      cell: (row) =>
        row.kind === "block" && row.r.ageMs !== undefined ? formatDuration(row.r.ageMs) : "",
      value: (row) => row.kind === "block" ? row.r.ageMs : undefined,
    },
  ];
  const omitted = groups.direct - groups.listed;
  const structures = groups.possible.length + groups.possibleOmitted;
  return (
    <section class="card leaks" aria-labelledby="leaks-title">
      <h2 id="leaks-title">
        What leaked{" "}
        <span class="muted">
          · {formatCount(leaked)} blocks, {formatBytes(leakedBytes)} in{" "}
          {formatCount(groups.groups.length)} group{groups.groups.length === 1 ? "" : "s"} of{" "}
          {formatCount(groups.direct)} direct leaks
          {possible > 0 &&
            ` · ${formatCount(possible)} possible in ${formatCount(structures)} structure${
              structures === 1 ? "" : "s"
            }`}
        </span>
      </h2>
      {groups.groups.length === 0
        ? (
          <p class="muted" data-testid="no-leaks">
            {possible > 0
              ? `Nothing is unreachable, but ${formatCount(possible)} block${
                possible === 1 ? " is" : "s are"
              } kept only by weak evidence, a word that may be stale: below as structures, and the Possible filter of the graph shows ${
                possible === 1 ? "it" : "them"
              }.`
              : "Every allocation is reachable from a root."}
          </p>
        )
        : (
          <VirtualTable<Row>
            id="leaks"
            label="Leaks grouped by site, type or size"
            columns={columns}
            rows={rows}
            rowKey={(row) => row.kind === "group" ? `g:${row.g.key}` : `b:${row.r.block}`}
            subRows={(row) => row.kind === "group" ? kids.get(row.g) : undefined}
            onActivate={(row) => {
              if (row.kind === "block") onSelect(row.r.block);
            }}
            selected={selected === null ? null : `b:${selected}`}
            sort={{ key: "bytes", desc: true }}
            rowClass={(row) => row.kind}
          />
        )}
      {groups.possible.length > 0 && (
        <PossibleList
          rows={groups.possible}
          omitted={groups.possibleOmitted}
          selected={selected}
          onSelect={onSelect}
        />
      )}
      {groups.groups.length > 0 && (
        <p class="muted small">
          Start with the top group: fixing the free of its direct leaks releases everything under
          them. Groups add up to the leaked total ({formatBytes(groups.bytes)}).
          {omitted > 0
            ? ` ${formatCount(omitted)} direct leaks are not listed here (see leaks.json).`
            : ""}
        </p>
      )}
    </section>
  );
}

/** The possible structures (report/view/leak_groups.ts selectPossible): a row selects its entry. */
function PossibleList(
  { rows, omitted, selected, onSelect }: {
    rows: PossibleRow[];
    omitted: number;
    selected: number | null;
    onSelect: (block: number) => void;
  },
) {
  return (
    <div class="possible-structures" data-testid="possible-structures">
      <h3>
        Possible structures{" "}
        <span class="muted">· only weak evidence keeps them: leaks if it is stale</span>
      </h3>
      <ul>
        {rows.map((p, i) => {
          const size = `${formatCount(p.blocks)} block${p.blocks === 1 ? "" : "s"}, ${
            formatBytes(p.bytes)
          }`;
          return (
            <li key={i} class={p.entry >= 0 && p.entry === selected ? "selected" : undefined}>
              {p.entry >= 0
                ? (
                  <button
                    type="button"
                    class="link"
                    title={`Select ${p.address}: its card says which word keeps it`}
                    onClick={() => onSelect(p.entry)}
                  >
                    {size}
                  </button>
                )
                : size}
              {p.kept && <span class="muted">{` · ${p.kept}`}</span>}
              {p.entry >= 0 && <span class="mono muted">{` · e.g. ${p.address}`}</span>}
            </li>
          );
        })}
      </ul>
      {omitted > 0 && (
        <p class="muted small">{formatCount(omitted)} smaller structures are in leaks.json.</p>
      )}
    </div>
  );
}
