// D3 drawing of the live-memory timeline in an SVG: live bytes (area, left axis), live blocks (line,
// right axis) and the snapshot marker. No data logic: the payload comes from selectTimeline().

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import type { TimelinePayload, TimelinePoint } from "../view/payload.ts";
import { formatBytes, formatCount } from "../format.ts";
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

const MARGIN = { top: 18, right: 56, bottom: 24, left: 64 };

/**
 * Draw (or redraw, e.g. after a resize) the timeline into `svg` at its current size. The scale's
 * at(i) is a point's x and y (bytes).
 */
export function drawTimeline(svg: SVGSVGElement, timeline: TimelinePayload): ChartScale {
  const { root, width, height } = clearChart(svg);
  const { points } = timeline;
  const x = timeScale(
    Math.max(timeline.snapshotMs, points[points.length - 1]?.ms ?? 0),
    width,
    MARGIN,
  );
  const bytes = bytesScale(timeline.peakBytes, height, MARGIN);
  const yBytes = bytes.y;
  const yCount = d3.scaleLinear().domain([0, Math.max(1, timeline.peakCount)])
    .range([height - MARGIN.bottom, MARGIN.top]).nice(4);

  drawGrid(root, bytes.scale, width, MARGIN);

  const area = d3.area<TimelinePoint>().x((d) => x(d.ms)).y0(yBytes(0)).y1((d) => yBytes(d.bytes));
  const line = d3.line<TimelinePoint>().x((d) => x(d.ms)).y((d) => yBytes(d.bytes));
  const countLine = d3.line<TimelinePoint>().x((d) => x(d.ms)).y((d) => yCount(d.count));
  root.append("path").attr("class", "area bytes").attr("d", area(points) ?? "");
  root.append("path").attr("class", "line bytes").attr("data-series", "bytes")
    .attr("d", line(points) ?? "");
  root.append("path").attr("class", "line count").attr("data-series", "count")
    .attr("d", countLine(points) ?? "");

  drawTimeAxis(root, x, width, height, MARGIN);
  drawValueAxis(root, "left", "bytes", bytes.scale, bytes.label, width, MARGIN);
  drawValueAxis(root, "right", "count", yCount, _short, width, MARGIN);

  const sx = x(timeline.snapshotMs);
  // The last sample to the snapshot: nothing was sampled in between (no allocation), so flat.
  const last = points[points.length - 1];
  if (last && timeline.snapshotMs > last.ms) {
    root.append("line").attr("class", "line bytes tail")
      .attr("x1", x(last.ms)).attr("x2", sx).attr("y1", yBytes(last.bytes)).attr(
        "y2",
        yBytes(last.bytes),
      );
  }
  const marker = root.append("g").attr("class", "snapshot").attr("data-testid", "snapshot-marker");
  marker.append("line").attr("x1", sx).attr("x2", sx).attr("y1", MARGIN.top - 6)
    .attr("y2", height - MARGIN.bottom);
  marker.append("text").attr("x", sx - 5).attr("y", MARGIN.top - 8).attr("text-anchor", "end")
    .text(
      `snapshot · ${formatBytes(timeline.points[timeline.points.length - 1]?.bytes ?? 0)} live`,
    );
  // The read-out's rule and dot, moved by the view.
  const cursor = drawCursor(root, "timeline-cursor", height, MARGIN);
  cursor.append("circle").attr("r", 3.5);
  return {
    nearest: (px: number) => nearestIndex(points, x, px),
    at(i: number) {
      const p = points[i]!;
      return [x(p.ms), yBytes(p.bytes)];
    },
  };
}

function _short(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  return formatCount(n);
}
