// D3 drawing of a watch series in an SVG: live bytes (left axis) and leaked bytes (right axis) at
// each capture, a dot per capture, time since the first capture below. No data logic: the payload
// comes from selectComparison() (report/view/comparison.ts).

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import type { SeriesPayload, SeriesPoint } from "../view/payload.ts";
import {
  bytesScale,
  type ChartScale,
  clearChart,
  drawCursor,
  drawGrid,
  drawTimeAxis,
  drawValueAxis,
  nearestIndex,
  timeScale,
} from "./chart_axes.ts";

/** Room for the axes' labels ("1023.5 KiB" on both sides) and the time ticks below. */
const MARGIN = { top: 14, right: 72, bottom: 24, left: 72 };

/**
 * Draw (or redraw, e.g. after a resize) the series into `svg` at its current size. The scale's
 * at(i) is a capture's x, and the y of its live and leaked bytes.
 */
export function drawGrowth(svg: SVGSVGElement, series: SeriesPayload): ChartScale {
  const { root, width, height } = clearChart(svg);
  const { points } = series;
  const x = timeScale(points[points.length - 1]?.ms ?? 0, width, MARGIN);
  const live = bytesScale(series.peakBytes, height, MARGIN);
  const leaked = bytesScale(series.peakLeakedBytes, height, MARGIN);

  drawGrid(root, live.scale, width, MARGIN);
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

  drawTimeAxis(root, x, width, height, MARGIN);
  drawValueAxis(root, "left", "live", live.scale, live.label, width, MARGIN);
  drawValueAxis(root, "right", "leaked", leaked.scale, leaked.label, width, MARGIN);

  // The read-out's rule and marks, moved by the view.
  const cursor = drawCursor(root, "growth-cursor", height, MARGIN);
  cursor.append("circle").attr("class", "live").attr("r", 5);
  cursor.append("circle").attr("class", "leaked").attr("r", 5);
  return {
    nearest: (px: number) => nearestIndex(points, x, px),
    at(i: number) {
      const p = points[i]!;
      return [x(p.ms), live.y(p.bytes), leaked.y(p.leakedBytes)];
    },
  };
}
