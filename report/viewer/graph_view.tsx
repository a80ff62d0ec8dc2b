// Heap graph panel: filter chips, address search, legend, and the canvas that graph_canvas.ts draws on.

import { useEffect, useRef } from "preact/hooks";
import { formatCount } from "../selectors.ts";
import type { Filter, GraphPayload, Visible } from "../selectors.ts";
import { createGraphCanvas } from "./graph_canvas.ts";
import type { GraphCanvas } from "./graph_canvas.ts";

export interface GraphViewProps {
  graph: GraphPayload;
  filter: Filter;
  zone: string | null;
  /** Label of the allocation site the graph is narrowed to, or null. */
  siteLabel: string | null;
  search: string;
  visible: Visible;
  selected: number | null;
  neighbours: ReadonlySet<number>;
  onFilter: (filter: Filter) => void;
  onZone: (zone: string | null) => void;
  onClearSite: () => void;
  onSearch: (search: string) => void;
  onSearchEnter: () => void;
  onSelect: (index: number | null) => void;
  onCanvas: (canvas: GraphCanvas | null) => void;
  onReady: () => void;
}

const CHIPS: { filter: Filter; label: string; key: string }[] = [
  { filter: "all", label: "All", key: "1" },
  { filter: "reachable", label: "Reachable", key: "2" },
  { filter: "leaked", label: "Leaked", key: "3" },
  { filter: "cycle", label: "In cycle", key: "4" },
];

export function GraphView(props: GraphViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const apiRef = useRef<GraphCanvas | null>(null);
  const { graph, visible } = props;

  useEffect(() => {
    const api = createGraphCanvas(
      canvasRef.current!,
      graph,
      (i) => props.onSelect(i),
      props.onReady,
    );
    apiRef.current = api;
    props.onCanvas(api);
    return () => {
      api.destroy();
      props.onCanvas(null);
    };
  }, [graph]);

  useEffect(() => {
    apiRef.current?.update({
      mask: visible.mask,
      selected: props.selected,
      neighbours: props.neighbours,
      matches: new Set(visible.matches),
    });
  }, [visible, props.selected, props.neighbours]);

  const shown = visible.counts.reachable + visible.counts.leaked + visible.counts.cycle;
  return (
    <div class="card graph">
      <div class="toolbar">
        <div class="chips" role="group" aria-label="Filter">
          {CHIPS.map((c) => (
            <button
              type="button"
              key={c.filter}
              class={props.filter === c.filter ? `chip on ${c.filter}` : `chip ${c.filter}`}
              data-filter={c.filter}
              aria-pressed={props.filter === c.filter}
              onClick={() => props.onFilter(c.filter)}
            >
              {c.label} <kbd>{c.key}</kbd>
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
              title={props.siteLabel}
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
        <canvas ref={canvasRef} data-testid="graph" aria-label="Heap graph" />
        <div class="legend">
          <span>
            <i class="dot reachable" /> reachable {formatCount(visible.counts.reachable)}
          </span>
          <span>
            <i class="dot leaked" /> leaked {formatCount(visible.counts.leaked)}
          </span>
          <span>
            <i class="dot cycle" /> in a cycle {formatCount(visible.counts.cycle)}
          </span>
        </div>
        <div class="note" data-testid="not-drawn">
          {props.search &&
            `${formatCount(visible.matches.length)} match${
              visible.matches.length === 1 ? "" : "es"
            } · `}
          showing {formatCount(shown)} of {formatCount(graph.nodes.length)} drawn blocks
          {graph.notDrawn > 0 ? ` · ${formatCount(graph.notDrawn)} allocations not drawn` : ""}
        </div>
      </div>
    </div>
  );
}
