// The report application: view state (filter, zone, site, search, selection), the one selection
// shown on the card, blocks drawn on demand, and the page layout (leaks first).

import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatBytes, formatCount } from "../format.ts";
import { type BlockIndex, findBlocks } from "../view/block_index.ts";
import { selectNeighbourhood } from "../view/neighbourhood.ts";
import { selectNodeDetail } from "../view/node_detail.ts";
import type {
  CycleRow,
  Filter,
  GraphNode,
  ReportModel,
  RootView,
  SiteRowView,
} from "../view/payload.ts";
import { normalizeAddressQuery, selectVisible } from "../view/visible.ts";
import type { DrawnLabel, DrawStats, GraphCanvas } from "./graph_canvas.ts";
import { Header } from "./header.tsx";
import { StatsCards } from "./stats_cards.tsx";
import { LeaksView } from "./leaks_view.tsx";
import { GraphView } from "./graph_view.tsx";
import { DetailCard } from "./detail_card.tsx";
import { FlameView } from "./flame_view.tsx";
import { TimelineView } from "./timeline_view.tsx";
import { SitesTable } from "./sites_table.tsx";
import { CyclesTable, NotDrawnTable, RetainersTable, TypesTable, ZonesTable } from "./tables.tsx";
import { HeapMapView } from "./heap_map_view.tsx";
import { MethodSection } from "./method_section.tsx";
import { ComparisonView } from "./comparison_view.tsx";

const FILTER_KEYS: Record<string, Filter> = {
  "1": "all",
  "2": "reachable",
  "3": "leaked",
  "4": "cycle",
  "5": "possible",
};

/** What tests and the benchmark read and drive (handed to `onDebug`; the app reads no global). */
export interface DebugHooks {
  filter: Filter;
  site: number | null;
  search: string;
  selected: number | null;
  selectedAddress: string | null;
  selectedCycle: number | null;
  cardOpen: boolean;
  indexReady: boolean;
  matches: number;
  undrawnMatches: number;
  visible: { reachable: number; leaked: number; cycle: number; possible: number };
  nodes: number;
  stats(): DrawStats | null;
  labels(): DrawnLabel[];
  screenPosition(drawnIndex: number): [number, number] | null;
  /** Drawn index of a block address, -1 when not drawn. */
  indexOfAddress(address: string): number;
  pan(dx: number, dy: number, k?: number): void;
}

export interface AppProps {
  model: ReportModel;
  loadIndex: () => Promise<BlockIndex>;
  onReady: () => void;
  onDebug?: (hooks: DebugHooks) => void;
}

export function App({ model, loadIndex, onReady, onDebug }: AppProps) {
  const [filter, setFilter] = useState<Filter>("all");
  const [zone, setZone] = useState<string | null>(null);
  const [site, setSite] = useState<number | null>(null);
  const [search, setSearch] = useState("");
  const [selected, setSelected] = useState<number | null>(null);
  const [cycle, setCycle] = useState<number | null>(null);
  const [structure, setStructure] = useState<ReadonlySet<number>>(new Set());
  const [index, setIndex] = useState<BlockIndex | null>(null);
  const [indexError, setIndexError] = useState<string | null>(null);
  const [added, setAdded] = useState<GraphNode[]>([]);
  const canvas = useRef<GraphCanvas | null>(null);
  const pendingSelect = useRef<number | null>(null);

  const nodes = useMemo(() => model.graph.nodes.concat(added), [model, added]);
  const drawnAt = useMemo(() => {
    const m = new Map<number, number>();
    nodes.forEach((n, i) => m.set(n.block, i));
    return m;
  }, [nodes]);
  const drawnByBlock = useMemo(() => {
    const m = new Map<number, GraphNode>();
    for (const n of nodes) m.set(n.block, n);
    return m;
  }, [nodes]);
  const roots = useMemo(() => {
    const m = new Map<number, RootView[]>();
    for (const r of model.roots) m.set(r.block, [...(m.get(r.block) ?? []), r]);
    return m;
  }, [model]);
  const held = useMemo(() => {
    const m = new Map<number, { blocks: number; bytes: number }>();
    for (const g of model.groups.groups) {
      for (const r of g.rows) m.set(r.block, { blocks: r.heldBlocks, bytes: r.heldBytes });
    }
    return m;
  }, [model]);

  const visible = useMemo(
    () => selectVisible({ ...model.graph, nodes }, { filter, zone, search, site }),
    [model, nodes, filter, zone, search, site],
  );
  const undrawn = useMemo(() => {
    const needle = normalizeAddressQuery(search);
    if (!index || !needle) return [];
    return findBlocks(index, needle, 200).filter((b) => !drawnAt.has(b));
  }, [index, search, drawnAt]);
  const detail = useMemo(
    () =>
      selected === null ? null : selectNodeDetail(
        {
          index,
          drawn: drawnByBlock,
          sites: model.sites,
          roots,
          held,
          ...(model.weakLinks ? { weakLinks: model.weakLinks } : {}),
        },
        selected,
      ),
    [model, selected, index, drawnByBlock, roots, held],
  );
  // Selecting a direct leak shows the whole structure it holds (its leaked blocks, breadth-first).
  const heldStructure = useMemo(() => {
    const members = new Set<number>();
    if (selected === null || !index || !(index.flags[selected]! & 4)) return members;
    members.add(selected);
    const queue = [selected];
    for (let q = 0; q < queue.length && members.size < 5000; q++) {
      const at = queue[q]!;
      for (let k = index.outStart[at]!; k < index.outStart[at + 1]!; k++) {
        const t = index.outTarget[k]!;
        const leaked = (index.flags[t]! & 3) === 1 || (index.flags[t]! & 3) === 2;
        if (leaked && !members.has(t) && !(index.flags[t]! & 4)) {
          members.add(t);
          queue.push(t);
        }
      }
    }
    return members;
  }, [selected, index]);
  const hot = useMemo(() => {
    const s = new Set<number>();
    if (!detail) return s;
    for (const b of heldStructure) {
      const i = drawnAt.get(b);
      if (i !== undefined) s.add(i);
    }
    for (const e of [...detail.inEdges, ...detail.outEdges, ...detail.path]) {
      const i = drawnAt.get(e.block);
      if (i !== undefined) s.add(i);
    }
    for (const b of structure) {
      const i = drawnAt.get(b);
      if (i !== undefined) s.add(i);
    }
    return s;
  }, [detail, drawnAt, structure, heldStructure]);
  const path = useMemo(
    () =>
      (detail?.path ?? []).map((s) => drawnAt.get(s.block)).filter((i): i is number =>
        i !== undefined
      ),
    [detail, drawnAt],
  );
  const siteLabel = site === null ? null : model.sites?.labels[site] ?? `site ${site}`;

  /**
   * Draw block `b` (its path from a root, and `neighbours` blocks each way) when it is not drawn
   * yet; its drawn index.
   */
  const ensureDrawn = useCallback((b: number, neighbours?: number): number | null => {
    const at = drawnAt.get(b);
    if (at !== undefined) return at;
    if (!index || !canvas.current) return null;
    const positions = new Map<number, { x: number; y: number }>();
    for (const n of nodes) positions.set(n.block, { x: n.x, y: n.y });
    const more = selectNeighbourhood(index, b, positions, neighbours);
    const base = nodes.length;
    const localOf = new Map<number, number>(drawnAt);
    more.nodes.forEach((n, k) => localOf.set(n.block, base + k));
    canvas.current.add(
      more.nodes,
      more.links.map((l) => ({
        source: localOf.get(l.source)!,
        target: localOf.get(l.target)!,
        offset: l.offset,
      })),
    );
    setAdded((a) => a.concat(more.nodes));
    return localOf.get(b) ?? null;
  }, [drawnAt, index, nodes]);

  const select = useCallback((b: number | null, fly = true) => {
    setSelected(b);
    setStructure(new Set());
    if (b === null) return;
    // On a narrow screen the card is a sheet over the bottom of the page: keep what was used to
    // select (a row, the graph) above it (CSS gives them a scroll margin of the sheet's height).
    requestAnimationFrame(() => {
      const active = document.activeElement as HTMLElement | null;
      if (active && active !== document.body) active.scrollIntoView({ block: "nearest" });
    });
    const at = ensureDrawn(b);
    if (at === null) {
      pendingSelect.current = b; // drawn once the index is loaded
      return;
    }
    if (fly) canvas.current?.flyTo([at], false);
  }, [ensureDrawn]);

  // The path from the root to the selection is drawn in full: a step the graph left out is drawn
  // (with the steps above it) once the card knows the path.
  useEffect(() => {
    if (!detail || detail.pathFrom === "unknown" || !index) return;
    let missing = -1;
    for (const step of detail.path) if (!drawnAt.has(step.block)) missing = step.block;
    if (missing >= 0) ensureDrawn(missing, 0);
  }, [detail, index]);

  // Draw the block selected before the index was loaded.
  useEffect(() => {
    if (!index || pendingSelect.current === null) return;
    const b = pendingSelect.current;
    pendingSelect.current = null;
    const at = ensureDrawn(b);
    if (at !== null) canvas.current?.flyTo([at], false);
  }, [index]);

  const pickCycle = useCallback((row: CycleRow) => {
    setCycle(row.index);
    setFilter((f) => (f === "reachable" ? "all" : f));
    const first = row.blocks[0];
    if (first === undefined) return;
    select(first, false);
    setStructure(new Set(row.blocks));
    const drawn = row.blocks.map((b) => drawnAt.get(b)).filter((i): i is number => i !== undefined);
    if (drawn.length) canvas.current?.flyTo(drawn, true);
  }, [select, drawnAt]);
  const pickSite = useCallback((row: SiteRowView | null) => {
    setSite(row ? row.site : null);
    if (!row) return;
    const drawn: number[] = [];
    nodes.forEach((n, i) => n.site === row.site && drawn.push(i));
    if (drawn.length) canvas.current?.fit(drawn);
  }, [nodes]);
  const showStructure = useCallback((b: number) => {
    // The leaked blocks the direct leak holds: breadth-first over leaked out-edges.
    const members = new Set<number>([b]);
    if (index) {
      const queue = [b];
      for (let q = 0; q < queue.length && members.size < 5000; q++) {
        const at = queue[q]!;
        for (let k = index.outStart[at]!; k < index.outStart[at + 1]!; k++) {
          const t = index.outTarget[k]!;
          const leaked = (index.flags[t]! & 3) === 1 || (index.flags[t]! & 3) === 2;
          if (leaked && !members.has(t) && !(index.flags[t]! & 4)) {
            members.add(t);
            queue.push(t);
          }
        }
      }
    }
    setStructure(members);
    const drawn = [...members].map((m) => drawnAt.get(m)).filter((i): i is number =>
      i !== undefined
    );
    if (drawn.length) canvas.current?.flyTo(drawn, true);
  }, [index, drawnAt]);
  const reset = useCallback(() => {
    setFilter("all");
    setZone(null);
    setSite(null);
    setSearch("");
    setSelected(null);
    setCycle(null);
    setStructure(new Set());
    canvas.current?.fit();
  }, []);

  // Esc closes the card first, resets the view second.
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
      if (e.key === "Escape") {
        if (selectedRef.current !== null) {
          setSelected(null);
          setStructure(new Set());
        } else {
          if (typing) (e.target as HTMLElement).blur();
          reset();
        }
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

  const ready = useCallback(() => {
    onReady();
    // The index is decoded after the first screen is drawn: it never delays it.
    setTimeout(() => {
      loadIndex().then(setIndex, (e: Error) => setIndexError(e.message));
    }, 0);
  }, [onReady, loadIndex]);

  useEffect(() => {
    onDebug?.({
      filter,
      site,
      search,
      selected,
      selectedAddress: detail?.address ?? null,
      selectedCycle: cycle,
      cardOpen: detail !== null,
      indexReady: index !== null,
      matches: visible.matches.length,
      undrawnMatches: undrawn.length,
      visible: visible.counts,
      nodes: nodes.length,
      stats: () => canvas.current?.stats() ?? null,
      labels: () => canvas.current?.labels() ?? [],
      screenPosition: (i) => canvas.current?.screenPosition(i) ?? null,
      indexOfAddress: (a) => nodes.findIndex((n) => n.address === a),
      pan: (dx, dy, k) => canvas.current?.pan(dx, dy, k),
    });
  });

  const m = model;
  return (
    <div class={detail ? "app with-card" : "app"}>
      <Header header={m.header} />
      <StatsCards stats={m.stats} />
      <div class="layout">
        <main class="content">
          {m.comparison && (
            <ComparisonView
              comparison={m.comparison}
              selected={selected}
              onSelect={(b) => select(b)}
            />
          )}
          <LeaksView
            groups={m.groups}
            leaked={m.stats.leaked}
            leakedBytes={m.stats.leakedBytes}
            possible={m.stats.possible}
            selected={selected}
            onSelect={(b) => select(b)}
          />
          <GraphView
            graph={m.graph}
            nodes={nodes}
            filter={filter}
            zone={zone}
            siteLabel={siteLabel}
            search={search}
            visible={visible}
            undrawnMatches={undrawn.length}
            indexReady={index !== null}
            selected={selected === null ? null : drawnAt.get(selected) ?? null}
            hot={hot}
            path={path}
            onFilter={setFilter}
            onZone={setZone}
            onClearSite={() => setSite(null)}
            onSearch={setSearch}
            onSearchEnter={() => {
              const first = visible.matches[0];
              if (first !== undefined) select(nodes[first]!.block);
              else if (undrawn[0] !== undefined) select(undrawn[0]);
            }}
            onPick={(i) => select(i === null ? null : nodes[i]!.block, false)}
            onCanvas={(c) => (canvas.current = c)}
            onReady={ready}
          />
          {m.flame && <FlameView flame={m.flame} onSite={(s) => setSite(s)} />}
          {m.timeline && <TimelineView timeline={m.timeline} />}
          {m.sites && <SitesTable sites={m.sites} selected={site} onPick={pickSite} />}
          <div class="two">
            <CyclesTable cycles={m.cycles} selected={cycle} onPick={pickCycle} />
            <ZonesTable zones={m.zones} active={zone} onZone={setZone} />
          </div>
          {m.types && <TypesTable types={m.types} />}
          {m.retainers && <RetainersTable retainers={m.retainers} onSelect={(b) => select(b)} />}
          <HeapMapView index={index} zones={m.zones} onSelect={(b) => select(b)} />
          <NotDrawnTable graph={m.graph} />
          {!m.comparison && (
            <section class="card compare" aria-labelledby="compare-title">
              <h2 id="compare-title">Comparison</h2>
              <p class="muted small">
                One snapshot. <code>heapscope diff a.json b.json --html F</code> or{" "}
                <code>heapscope watch PID --html F</code>{" "}
                write a report that compares snapshots: what is new, what grew and where.
              </p>
            </section>
          )}
          <MethodSection method={m.method} />
          {indexError && <p class="muted small">Block index: {indexError}</p>}
        </main>
        <div class="side">
          {detail
            ? (
              <DetailCard
                detail={detail}
                indexPending={index === null && indexError === null}
                onSelect={(b) => select(b)}
                onClose={() => setSelected(null)}
                onShowStructure={showStructure}
              />
            )
            : (
              <div class="card detail empty" data-testid="detail-empty">
                <h2>Block</h2>
                <p class="muted small">
                  Select a leak, a node or a row to see what it is, why it is alive and where it was
                  allocated. <kbd>Esc</kbd> closes the card, a second <kbd>Esc</kbd>{" "}
                  resets the view.
                </p>
                <p class="muted small">
                  {formatCount(m.stats.leaked)} leaked blocks, {formatBytes(m.stats.leakedBytes)}.
                </p>
              </div>
            )}
        </div>
      </div>
      <footer class="muted small">
        heapscope report · self-contained, works offline · made from leaks.json (format
        heapscope-leaks v{m.header.version})
      </footer>
    </div>
  );
}
