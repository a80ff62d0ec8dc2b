// What the two time charts draw alike (timeline_chart.ts: live memory of a recorded process;
// growth_chart.ts: a watch series): the SVG sized to its box, time since the start on x, a bytes
// axis in one binary unit with its grid, the value axes, the read-out's rule, and the point nearest
// to the mouse. Each chart keeps its own margins, marks and the marks' read-out dots.

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import { formatDuration } from "../format.ts";

/** Room around the plot, in CSS pixels, for the axes' labels. */
export interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** Where a point is drawn, for the read-out (chart_readout.ts). */
export interface ChartScale {
  /** Point index nearest to x (CSS pixels in the SVG). */
  nearest(x: number): number;
  /** A point's x, then the y of each of the cursor's dots, in the order they are drawn. */
  at(i: number): number[];
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Empty `svg` and size its view box to its current size (at least 200 × 80). */
export function clearChart(
  svg: SVGSVGElement,
): { root: d3.Selection; width: number; height: number } {
  const width = Math.max(200, svg.clientWidth || svg.getBoundingClientRect().width);
  const height = Math.max(80, svg.clientHeight || svg.getBoundingClientRect().height);
  const root = d3.select(svg);
  root.selectAll("*").remove();
  root.attr("viewBox", `0 0 ${width} ${height}`);
  return { root, width, height };
}

/** Milliseconds since the start → x, from 0 to `endMs` (at least 1 ms) across the plot. */
export function timeScale(endMs: number, width: number, margin: Margin): d3.ScaleLinear {
  const x = d3.scaleLinear().domain([0, Math.max(endMs, 1)]);
  return x.range([margin.left, width - margin.right]);
}

/** A bytes axis in one binary unit, so that its ticks are round numbers of KiB, MiB, ... */
export function bytesScale(peak: number, height: number, margin: Margin) {
  let u = 0;
  while (u < BYTE_UNITS.length - 1 && peak >= 1024 ** (u + 1)) u++;
  const unit = 1024 ** u;
  const scale = d3.scaleLinear().domain([0, Math.max(1, peak / unit)])
    .range([height - margin.bottom, margin.top]).nice(4);
  return {
    /** Units of the axis → y. */
    scale,
    /** Bytes → y. */
    y: (bytes: number) => scale(bytes / unit),
    /** A tick's label: "0", "512 KiB", "1.5 MiB". */
    label: (v: number) => (v === 0 ? "0" : `${+v.toFixed(2)} ${BYTE_UNITS[u]}`),
  };
}

/** Horizontal grid lines at the 4 ticks of `y`. */
export function drawGrid(root: d3.Selection, y: d3.ScaleLinear, width: number, margin: Margin) {
  const grid = root.append("g").attr("class", "grid");
  for (const t of y.ticks(4)) {
    grid.append("line")
      .attr("x1", margin.left).attr("x2", width - margin.right)
      .attr("y1", y(t)).attr("y2", y(t));
  }
}

/** The time axis below the plot: a tick per 110 px or so, "0" then durations. */
export function drawTimeAxis(
  root: d3.Selection,
  x: d3.ScaleLinear,
  width: number,
  height: number,
  margin: Margin,
) {
  root.append("g").attr("class", "axis x")
    .attr("transform", `translate(0,${height - margin.bottom})`)
    .call(
      d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 110))).tickSizeOuter(0)
        .tickFormat((v) => (v === 0 ? "0" : formatDuration(v))),
    );
}

/** A value axis with 4 ticks on the plot's left or right edge; `className` after "axis ". */
export function drawValueAxis(
  root: d3.Selection,
  side: "left" | "right",
  className: string,
  y: d3.ScaleLinear,
  label: (v: number) => string,
  width: number,
  margin: Margin,
) {
  const [axis, x] = side === "left"
    ? [d3.axisLeft(y), margin.left]
    : [d3.axisRight(y), width - margin.right];
  root.append("g").attr("class", `axis ${className}`)
    .attr("transform", `translate(${x},0)`)
    .call(axis.ticks(4).tickSizeOuter(0).tickFormat(label));
}

/** The read-out's cursor: a group with its vertical rule, for the chart to add its dots to. */
export function drawCursor(
  root: d3.Selection,
  testId: string,
  height: number,
  margin: Margin,
): d3.Selection {
  const cursor = root.append("g").attr("class", "cursor").attr("data-testid", testId);
  cursor.append("line").attr("y1", margin.top).attr("y2", height - margin.bottom);
  return cursor;
}

/** Index of the point whose x is nearest to `px` (the first of equals; 0 when there are none). */
export function nearestIndex(
  points: readonly { ms: number }[],
  x: d3.ScaleLinear,
  px: number,
): number {
  let best = 0, bestD = Infinity;
  points.forEach((p, i) => {
    const d = Math.abs(x(p.ms) - px);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}
