// The report application: holds view state (filter, zone, site, search, selection) and lays out the views.

import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { selectNodeDetail, selectVisible } from "../selectors.ts";
import type { CycleRow, Filter, LeakRow, ReportModel, SiteRowView } from "../selectors.ts";
import type { GraphCanvas } from "./graph_canvas.ts";
import { Header } from "./header.tsx";
import { StatsCards } from "./stats_cards.tsx";
import { GraphView } from "./graph_view.tsx";
import { DetailCard } from "./detail_card.tsx";
import { ZonesTable } from "./zones_table.tsx";
import { CycleList } from "./cycle_list.tsx";
import { LeaksTable } from "./leaks_table.tsx";
import { NotDrawnTable } from "./not_drawn_table.tsx";
import { MethodSection } from "./method_section.tsx";
import { SitesTable } from "./sites_table.tsx";
import { TimelineView } from "./timeline_view.tsx";

const FILTER_KEYS: Record<string, Filter> = {
  "1": "all",
  "2": "reachable",
  "3": "leaked",
  "4": "cycle",
};
const NO_NEIGHBOURS: ReadonlySet<number> = new Set();

export function App({ model, onReady }: { model: ReportModel; onReady: () => void }) {
  const [filter, setFilter] = useState<Filter>("all");
  const [zone, setZone] = useState<string | null>(null);
  const [site, setSite] = useState<number | null>(null);
  const [search, setSearch] = useState("");
  const [selected, setSelected] = useState<number | null>(null);
  const [cycle, setCycle] = useState<number | null>(null);
  const canvas = useRef<GraphCanvas | null>(null);

  const visible = useMemo(() => selectVisible(model.graph, { filter, zone, search, site }), [
    model,
    filter,
    zone,
    search,
    site,
  ]);
  const detail = useMemo(
    () => (selected === null ? null : selectNodeDetail(model.graph, selected, model.sites)),
    [model, selected],
  );
  const siteLabel = useMemo(
    () =>
      model.sites?.rows.find((r) => r.site === site)?.label ?? (site === null ? null : `${site}`),
    [model, site],
  );
  const neighbours = useMemo(() => (detail ? new Set(detail.neighbours) : NO_NEIGHBOURS), [detail]);

  const select = useCallback((index: number | null, fly = false) => {
    setSelected(index);
    if (index !== null && fly) canvas.current?.flyTo([index], false);
  }, []);
  const pickCycle = useCallback((row: CycleRow) => {
    setCycle(row.index);
    if (row.members.length > 0) {
      setFilter((f) => (f === "reachable" ? "all" : f));
      setSelected(row.members[0]!);
      canvas.current?.flyTo(row.members, true);
    }
  }, []);
  const pickLeak = useCallback((row: LeakRow) => {
    if (row.node === null) return;
    setFilter((f) => (f === "reachable" ? "all" : f));
    select(row.node, true);
  }, [select]);
  const pickSite = useCallback((row: SiteRowView | null) => {
    setSite(row ? row.site : null);
    if (row && row.nodes.length > 0) canvas.current?.fitTo(row.nodes);
  }, []);
  const reset = useCallback(() => {
    setFilter("all");
    setZone(null);
    setSite(null);
    setSearch("");
    setSelected(null);
    setCycle(null);
    canvas.current?.reset();
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLInputElement;
      if (e.key === "Escape") {
        if (typing) (e.target as HTMLInputElement).blur();
        reset();
        return;
      }
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      const f = FILTER_KEYS[e.key];
      if (f) setFilter(f);
      if (e.key === "/") {
        e.preventDefault();
        document.querySelector<HTMLInputElement>("input.search")?.focus();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [reset]);

  useEffect(() => {
    (globalThis as unknown as { __heapscopeDebug: unknown }).__heapscopeDebug = {
      filter,
      zone,
      site,
      search,
      selected,
      selectedAddress: detail?.address ?? null,
      selectedCycle: cycle,
      sites: model.sites?.rows.length ?? 0,
      timeline: model.timeline?.points.length ?? 0,
      matches: visible.matches.length,
      visible: visible.counts,
      nodes: model.graph.nodes.length,
      stats: () => canvas.current?.stats() ?? null,
      screenPosition: (i: number) => canvas.current?.screenPosition(i) ?? null,
      indexOfAddress: (a: string) => model.graph.nodes.findIndex((n) => n.address === a),
    };
  });

  const m = model;
  return (
    <div class="app">
      <Header header={m.header} />
      <StatsCards stats={m.stats} />
      <section class="main">
        <GraphView
          graph={m.graph}
          filter={filter}
          zone={zone}
          siteLabel={siteLabel}
          search={search}
          visible={visible}
          selected={selected}
          neighbours={neighbours}
          onFilter={setFilter}
          onZone={setZone}
          onClearSite={() => setSite(null)}
          onSearch={setSearch}
          onSearchEnter={() => {
            const first = visible.matches[0];
            if (first !== undefined) select(first, true);
          }}
          onSelect={(i) => select(i)}
          onCanvas={(c) => (canvas.current = c)}
          onReady={onReady}
        />
        <aside class="side">
          <DetailCard detail={detail} onSelect={(i) => select(i, true)} />
          <CycleList cycles={m.cycles} selected={cycle} onPick={pickCycle} />
        </aside>
      </section>
      {m.timeline && <TimelineView timeline={m.timeline} />}
      {m.sites && <SitesTable sites={m.sites} selected={site} onPick={pickSite} />}
      <section class="tables">
        <LeaksTable leaks={m.leaks} onPick={pickLeak} />
        <div class="col">
          <ZonesTable zones={m.zones} active={zone} onZone={setZone} />
          <NotDrawnTable graph={m.graph} />
        </div>
      </section>
      <MethodSection method={m.method} />
      <footer class="muted small">
        heapscope report · self-contained, works offline · data embedded from leaks.json (format
        heapscope-leaks v{m.header.version ?? 1})
      </footer>
    </div>
  );
}
