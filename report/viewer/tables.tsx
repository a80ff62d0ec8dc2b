// The smaller tables: zones (a row filters the graph), leaked cycles (a row flies to the cycle),
// what the graph leaves out, types (the why-alive `types` table) and top retainers (its tree).

import { formatBytes, formatCount } from "../format.ts";
import type {
  AggregateRow,
  CycleRow,
  CyclesPayload,
  GraphPayload,
  RetainerRow,
  TypeRow,
  ZoneRow,
} from "../view/payload.ts";
import { ShapeIcon } from "./shape_icon.tsx";
import { type Column, VirtualTable } from "./virtual_table.tsx";

const bytesColumn = <R,>(
  key: string,
  label: string,
  get: (r: R) => number,
  title?: string,
): Column<R> => ({
  key,
  label,
  num: true,
  width: 10,
  ...(title ? { title } : {}),
  cell: (r) => formatBytes(get(r)),
  value: get,
});
const countColumn = <R,>(key: string, label: string, get: (r: R) => number): Column<R> => ({
  key,
  label,
  num: true,
  width: 9,
  cell: (r) => formatCount(get(r)),
  value: get,
});

export function ZonesTable(
  { zones, active, onZone }: {
    zones: ZoneRow[];
    active: string | null;
    onZone: (zone: string | null) => void;
  },
) {
  return (
    <section class="card" aria-labelledby="zones-title">
      <h2 id="zones-title">Zones</h2>
      <VirtualTable<ZoneRow>
        id="zones"
        label="Zones"
        columns={[
          { key: "zone", label: "zone", width: 16, cell: (z) => z.zone, value: (z) => z.zone },
          // The counts give way to the bytes in the half-width card (no sideways scrolling).
          { ...countColumn("count", "blocks", (z) => z.count), wide: true },
          bytesColumn("bytes", "bytes", (z) => z.bytes),
          { ...countColumn("leaked", "leaked", (z) => z.leaked), wide: true },
          bytesColumn("leakedBytes", "leaked bytes", (z) => z.leakedBytes),
        ]}
        rows={zones}
        rowKey={(z) => z.zone}
        selected={active}
        onActivate={(z) => onZone(active === z.zone ? null : z.zone)}
        sort={{ key: "bytes", desc: true }}
        visibleRows={6}
      />
      <p class="muted small">Blocks listed in leaks.json. Select a zone to filter the graph.</p>
    </section>
  );
}

export function CyclesTable(
  { cycles, selected, onPick }: {
    cycles: CyclesPayload;
    selected: number | null;
    onPick: (row: CycleRow) => void;
  },
) {
  return (
    <section class="card cycles" aria-labelledby="cycles-title">
      <h2 id="cycles-title">
        Leaked cycles <span class="muted">({formatCount(cycles.total)})</span>
      </h2>
      {cycles.rows.length === 0 ? <p class="muted">No leaked cycles.</p> : (
        <VirtualTable<CycleRow>
          id="cycle-list"
          label="Leaked cycles"
          columns={[
            {
              key: "first",
              label: "lowest address",
              width: 18,
              cell: (c) => (
                <span class="mono">
                  <ShapeIcon status="cycle" /> {c.firstAddress}
                </span>
              ),
              value: (c) => c.firstAddress,
            },
            countColumn("size", "blocks", (c) => c.size),
            bytesColumn("bytes", "bytes", (c) => c.bytes),
          ]}
          rows={cycles.rows}
          rowKey={(c) => `${c.index}`}
          selected={selected === null ? null : `${selected}`}
          onActivate={onPick}
          sort={{ key: "bytes", desc: true }}
          visibleRows={8}
        />
      )}
      {cycles.omitted > 0 && (
        <p class="muted small">{formatCount(cycles.omitted)} smaller cycles are in leaks.json.</p>
      )}
    </section>
  );
}

export function NotDrawnTable({ graph }: { graph: GraphPayload }) {
  if (graph.notDrawn === 0) return null;
  return (
    <section class="card" aria-labelledby="notdrawn-title">
      <h2 id="notdrawn-title">
        Not drawn{" "}
        <span class="muted">
          ({formatCount(graph.notDrawn)} allocations, {formatBytes(graph.notDrawnBytes)})
        </span>
      </h2>
      <p class="muted small">
        The graph draws at most {formatCount(graph.cap)}{" "}
        blocks: whole leaked structures first, then the live blocks they point to and the paths that
        hold those. Search finds any other block and draws it with its neighbourhood.{" "}
        {graph.absentFromFile > 0
          ? `${
            formatCount(graph.absentFromFile)
          } allocations were not listed in leaks.json at all. `
          : ""}
      </p>
      <VirtualTable<AggregateRow>
        id="not-drawn-table"
        label="Allocations not drawn, by zone and size class"
        columns={[
          { key: "zone", label: "zone", width: 16, cell: (a) => a.zone, value: (a) => a.zone },
          {
            key: "class",
            label: "size class",
            width: 10,
            cell: (a) => a.sizeClass,
            value: (a) => a.sizeClass,
          },
          countColumn("count", "blocks", (a) => a.count),
          bytesColumn("bytes", "bytes", (a) => a.bytes),
          countColumn("leaked", "leaked", (a) => a.leaked),
        ]}
        rows={graph.aggregates}
        rowKey={(a) => a.zone + "\0" + a.sizeClass}
        visibleRows={6}
      />
    </section>
  );
}

export function TypesTable({ types }: { types: TypeRow[] }) {
  return (
    <section class="card" aria-labelledby="types-title" data-testid="types">
      <h2 id="types-title">By type</h2>
      <VirtualTable<TypeRow>
        id="types-table"
        label="Blocks by type"
        columns={[
          { key: "type", label: "type", width: 28, cell: (t) => t.type, value: (t) => t.type },
          countColumn("count", "blocks", (t) => t.count),
          bytesColumn("bytes", "bytes", (t) => t.bytes),
          countColumn("reachable", "reachable", (t) => t.reachableCount),
          countColumn("leaked", "leaked", (t) => t.leakedCount),
          bytesColumn("leakedBytes", "leaked bytes", (t) => t.leakedBytes),
          countColumn("possible", "possible", (t) => t.possibleCount),
        ]}
        rows={types}
        rowKey={(t) => t.type}
        sort={{ key: "bytes", desc: true }}
        visibleRows={10}
      />
    </section>
  );
}

export function RetainersTable(
  { retainers, onSelect }: { retainers: RetainerRow[]; onSelect: (block: number) => void },
) {
  return (
    <section class="card" aria-labelledby="retainers-title" data-testid="retainers">
      <h2 id="retainers-title">Top retainers</h2>
      <VirtualTable<RetainerRow>
        id="retainers-table"
        label="What keeps the most alive"
        columns={[
          { key: "what", label: "holder", width: 36, cell: (r) => r.label, value: (r) => r.label },
          bytesColumn("retained", "retained", (r) =>
            r.retained, "Bytes it keeps alive (dominator tree)"),
          countColumn("blocks", "blocks", (r) =>
            r.blocks),
        ]}
        rows={retainers}
        rowKey={(r) =>
          `${r.block}:${r.label}`}
        subRows={(r) =>
          r.children}
        onActivate={(r) => {
          if (r.block >= 0) onSelect(r.block);
        }}
        sort={{ key: "retained", desc: true }}
        visibleRows={10}
      />
    </section>
  );
}
