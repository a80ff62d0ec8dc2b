// The heap graph panel: filter chips, address search, legend (shape and colour), and the canvas,
// which the keyboard can reach (arrows move between nodes, Enter selects, + − 0 zoom and fit).

import { useEffect, useRef, useState } from "preact/hooks";
import { formatBytes, formatCount } from "../format.ts";
import type { Filter, GraphNode, GraphPayload, NodeStatus } from "../view/payload.ts";
import type { Visible } from "../view/visible.ts";
import { createGraphCanvas, type GraphCanvas } from "./graph_canvas.ts";
import { ShapeIcon } from "./shape_icon.tsx";

export interface GraphViewProps {
  graph: GraphPayload;
  /** Drawn nodes: the graph's, then those drawn on demand. */
  nodes: readonly GraphNode[];
  filter: Filter;
  zone: string | null;
  siteLabel: string | null;
  search: string;
  visible: Visible;
  /** Blocks matching the search that are not drawn (from the block index), and whether it is loaded. */
  undrawnMatches: number;
  indexReady: boolean;
  selected: number | null;
  hot: ReadonlySet<number>;
  path: readonly number[];
  onFilter: (filter: Filter) => void;
  onZone: (zone: string | null) => void;
  onClearSite: () => void;
  onSearch: (search: string) => void;
  onSearchEnter: () => void;
  onPick: (index: number | null) => void;
  onCanvas: (canvas: GraphCanvas | null) => void;
  onReady: () => void;
}

const CHIPS: { filter: Filter; label: string; key: string; status?: NodeStatus }[] = [
  { filter: "all", label: "All", key: "1" },
  { filter: "reachable", label: "Reachable", key: "2", status: "reachable" },
  { filter: "leaked", label: "Leaked", key: "3", status: "leaked" },
  { filter: "cycle", label: "In cycle", key: "4", status: "cycle" },
  { filter: "possible", label: "Possible", key: "5", status: "possible" },
];

export function GraphView(props: GraphViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const apiRef = useRef<GraphCanvas | null>(null);
  const [focus, setFocus] = useState<number | null>(null);
  const { graph, visible } = props;

  useEffect(() => {
    const api = createGraphCanvas(canvasRef.current!, graph, (i) => props.onPick(i), props.onReady);
    apiRef.current = api;
    props.onCanvas(api);
    return () => {
      api.destroy();
      props.onCanvas(null);
    };
  }, [graph]);

  useEffect(() => {
    // What the selection needs (its path, neighbours, structure) is drawn whatever the filter or
    // the search hides: the selection always explains itself.
    let mask = visible.mask;
    if (props.selected !== null) {
      mask = mask.slice();
      mask[props.selected] = 1;
      for (const i of props.hot) mask[i] = 1;
      for (const i of props.path) mask[i] = 1;
    }
    apiRef.current?.update({
      mask,
      selected: props.selected,
      hot: props.hot,
      path: props.path,
      matches: new Set(visible.matches),
      focus,
    });
  }, [visible, props.selected, props.hot, props.path, focus]);

  const onKey = (e: KeyboardEvent) => {
    const api = apiRef.current;
    if (!api) return;
    const dirs: Record<string, [number, number]> = {
      ArrowRight: [1, 0],
      ArrowLeft: [-1, 0],
      ArrowDown: [0, 1],
      ArrowUp: [0, -1],
    };
    const d = dirs[e.key];
    if (d) {
      e.preventDefault();
      const from = focus ?? props.selected;
      let next: number | null;
      if (from === null) {
        next = visible.mask.indexOf(1);
        if (next < 0) next = null;
      } else next = api.nearest(from, d[0], d[1]);
      if (next !== null) {
        setFocus(next);
        api.flyTo([next], false);
      }
    } else if ((e.key === "Enter" || e.key === " ") && focus !== null) {
      e.preventDefault();
      props.onPick(focus);
    } else if (e.key === "+" || e.key === "=") api.pan(0, 0, 1.25);
    else if (e.key === "-") api.pan(0, 0, 0.8);
    else if (e.key === "0") api.fit();
  };
  const focused = focus !== null ? props.nodes[focus] ?? null : null;
  const shown = visible.counts.reachable + visible.counts.leaked + visible.counts.cycle +
    visible.counts.possible;
  return (
    <section class="card graph" aria-labelledby="graph-title">
      <h2 id="graph-title">Heap graph</h2>
      <div class="toolbar">
        <div class="chips" role="group" aria-label="Show">
          {CHIPS.map((c) => (
            <button
              type="button"
              key={c.filter}
              class={props.filter === c.filter ? `chip on ${c.filter}` : `chip ${c.filter}`}
              data-filter={c.filter}
              aria-pressed={props.filter === c.filter}
              aria-keyshortcuts={c.key}
              title={`${c.label} (key ${c.key})`}
              onClick={() => props.onFilter(c.filter)}
            >
              {c.status && <ShapeIcon status={c.status} />} {c.label}
            </button>
          ))}
          {props.zone !== null && (
            <button
              type="button"
              class="chip on zone"
              onClick={() => props.onZone(null)}
            >
              zone: {props.zone} ✕
            </button>
          )}
          {props.siteLabel !== null && (
            <button
              type="button"
              class="chip on site"
              data-testid="site-chip"
              onClick={() => props.onClearSite()}
            >
              site: {props.siteLabel} ✕
            </button>
          )}
        </div>
        <input
          class="search"
          type="search"
          placeholder="Search address (hex)…"
          aria-label="Search a block by address"
          value={props.search}
          spellcheck={false}
          data-testid="search"
          onInput={(e) => props.onSearch((e.currentTarget as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") props.onSearchEnter();
          }}
        />
      </div>
      <div class="canvas-wrap">
        <canvas
          ref={canvasRef}
          data-testid="graph"
          tabIndex={0}
          role="application"
          aria-roledescription="heap graph"
          aria-label={`Heap graph: ${
            formatCount(shown)
          } blocks shown. Arrow keys move between blocks, Enter selects, + and − zoom, 0 fits.`}
          onKeyDown={onKey}
        />
        <div class="legend" aria-hidden="true">
          <span class="muted">shown:</span>
          <span>
            <ShapeIcon status="reachable" /> reachable {formatCount(visible.counts.reachable)}
          </span>
          <span>
            <ShapeIcon status="leaked" /> leaked {formatCount(visible.counts.leaked)}
          </span>
          <span>
            <ShapeIcon status="cycle" /> leaked, in a cycle {formatCount(visible.counts.cycle)}
          </span>
          {visible.counts.possible > 0 && (
            <span>
              <ShapeIcon status="possible" /> possible {formatCount(visible.counts.possible)}
            </span>
          )}
          <span class="muted">arrows point from holder to held</span>
          <span class="muted">keys {CHIPS[0]!.key}–{CHIPS.at(-1)!.key} pick the filter</span>
        </div>
      </div>
      <div class="sr-only" aria-live="polite" data-testid="graph-focus">
        {focused
          ? `${focused.address}, ${focused.status}, ${formatBytes(focused.size)}, ${focused.zone}`
          : ""}
      </div>
      <div class="note" data-testid="not-drawn">
        {props.search &&
          `${formatCount(visible.matches.length)} drawn match${
            visible.matches.length === 1 ? "" : "es"
          }${
            props.undrawnMatches > 0
              ? `, ${formatCount(props.undrawnMatches)} not drawn (Enter draws the first)`
              : props.indexReady
              ? ""
              : " (searching every block once the index is loaded)"
          } · `}
        {formatCount(shown)} shown of {formatCount(props.nodes.length)} drawn blocks
        {graph.notDrawn > 0
          ? ` · ${formatCount(graph.notDrawn)} allocations not drawn (search finds them)`
          : ""}
      </div>
    </section>
  );
}
