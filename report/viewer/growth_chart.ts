// D3 drawing of a watch series in an SVG: live bytes (left axis) and leaked bytes (right axis) at
// each capture, a dot per capture, time since the first capture below. No data logic: the payload
// comes from selectComparison() (report/view/comparison.ts).

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import type { SeriesPayload, SeriesPoint } from "../view/payload.ts";
import { formatDuration } from "../format.ts";

/** Room for the axes' labels ("1023.5 KiB" on both sides) and the time ticks below. */
const MARGIN = { top: 14, right: 72, bottom: 24, left: 72 };
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Where a capture is drawn, for the read-out. */
export interface GrowthScale {
  /** Capture index nearest to x (CSS pixels in the SVG). */
  nearest(x: number): number;
  /** A capture's x, and the y of its live and leaked bytes. */
  at(i: number): [number, number, number];
}

/** Draw (or redraw, e.g. after a resize) the series into `svg` at its current size. */
export function drawGrowth(svg: SVGSVGElement, series: SeriesPayload): GrowthScale {
  const width = Math.max(200, svg.clientWidth || svg.getBoundingClientRect().width);
  const height = Math.max(80, svg.clientHeight || svg.getBoundingClientRect().height);
  const root = d3.select(svg);
  root.selectAll("*").remove();
  root.attr("viewBox", `0 0 ${width} ${height}`);
  const { points } = series;
  const x1 = Math.max(points[points.length - 1]?.ms ?? 0, 1);
  const x = d3.scaleLinear().domain([0, x1]).range([MARGIN.left, width - MARGIN.right]);
  const live = _bytesScale(series.peakBytes, height);
  const leaked = _bytesScale(series.peakLeakedBytes, height);

  const grid = root.append("g").attr("class", "grid");
  for (const t of live.scale.ticks(4)) {
    grid.append("line")
      .attr("x1", MARGIN.left).attr("x2", width - MARGIN.right)
      .attr("y1", live.scale(t)).attr("y2", live.scale(t));
  }
  const liveLine = d3.line<SeriesPoint>().x((p) => x(p.ms)).y((p) => live.y(p.bytes));
  const leakedLine = d3.line<SeriesPoint>().x((p) => x(p.ms)).y((p) => leaked.y(p.leakedBytes));
  root.append("path").attr("class", "line live").attr("d", liveLine(points) ?? "");
  root.append("path").attr("class", "line leaked").attr("d", leakedLine(points) ?? "");
  // A dot per capture on each line; its values as attributes, for tests and for reading the SVG.
  const dots = root.append("g").attr("class", "dots").attr("data-testid", "growth-points");
  points.forEach((p) => {
    dots.append("circle").attr("class", "live").attr("r", 3)
      .attr("cx", x(p.ms)).attr("cy", live.y(p.bytes))
      .attr("data-index", p.index).attr("data-bytes", p.bytes)
      .attr("data-leaked-bytes", p.leakedBytes).attr("data-pause-ms", p.pauseMs);
    dots.append("rect").attr("class", "leaked").attr("width", 6).attr("height", 6)
      .attr("x", x(p.ms) - 3).attr("y", leaked.y(p.leakedBytes) - 3);
  });

  root.append("g").attr("class", "axis x")
    .attr("transform", `translate(0,${height - MARGIN.bottom})`)
    .call(
      d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 110))).tickSizeOuter(0)
        .tickFormat((v) => (v === 0 ? "0" : formatDuration(v))),
    );
  root.append("g").attr("class", "axis live")
    .attr("transform", `translate(${MARGIN.left},0)`)
    .call(d3.axisLeft(live.scale).ticks(4).tickSizeOuter(0).tickFormat(live.label));
  root.append("g").attr("class", "axis leaked")
    .attr("transform", `translate(${width - MARGIN.right},0)`)
    .call(d3.axisRight(leaked.scale).ticks(4).tickSizeOuter(0).tickFormat(leaked.label));

  // The read-out's rule and marks, moved by the view.
  const cursor = root.append("g").attr("class", "cursor").attr("data-testid", "growth-cursor");
  cursor.append("line").attr("y1", MARGIN.top).attr("y2", height - MARGIN.bottom);
  cursor.append("circle").attr("class", "live").attr("r", 5);
  cursor.append("circle").attr("class", "leaked").attr("r", 5);
  return {
    nearest(px: number) {
      let best = 0, bestD = Infinity;
      points.forEach((p, i) => {
        const d = Math.abs(x(p.ms) - px);
        if (d < bestD) {
          bestD = d;
          best = i;
        }
      });
      return best;
    },
    at(i: number) {
      const p = points[i]!;
      return [x(p.ms), live.y(p.bytes), leaked.y(p.leakedBytes)];
    },
  };
}

/** A bytes axis in one binary unit, so that its ticks are round numbers of KiB, MiB, ... */
function _bytesScale(peak: number, height: number) {
  let u = 0;
  while (u < BYTE_UNITS.length - 1 && peak >= 1024 ** (u + 1)) u++;
  const unit = 1024 ** u;
  const scale = d3.scaleLinear().domain([0, Math.max(1, peak / unit)])
    .range([height - MARGIN.bottom, MARGIN.top]).nice(4);
  return {
    scale,
    y: (bytes: number) => scale(bytes / unit),
    label: (v: number) => (v === 0 ? "0" : `${+v.toFixed(2)} ${BYTE_UNITS[u]}`),
  };
}
