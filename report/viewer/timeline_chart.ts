// D3 drawing of the live-memory timeline in an SVG: live bytes (area, left axis), live blocks (line,
// right axis) and the snapshot marker. No data logic: the payload comes from selectTimeline().

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import type { TimelinePayload, TimelinePoint } from "../view/payload.ts";
import { formatBytes, formatCount, formatDuration } from "../format.ts";

const MARGIN = { top: 18, right: 56, bottom: 24, left: 64 };
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Where a point is drawn, for the read-out. */
export interface TimelineScale {
  /** Point index nearest to x (CSS pixels in the SVG), and a point's x and y (bytes). */
  nearest(x: number): number;
  at(i: number): [number, number];
}

/** Draw (or redraw, e.g. after a resize) the timeline into `svg` at its current size. */
export function drawTimeline(svg: SVGSVGElement, timeline: TimelinePayload): TimelineScale {
  const width = Math.max(200, svg.clientWidth || svg.getBoundingClientRect().width);
  const height = Math.max(80, svg.clientHeight || svg.getBoundingClientRect().height);
  const root = d3.select(svg);
  root.selectAll("*").remove();
  root.attr("viewBox", `0 0 ${width} ${height}`);
  const { points } = timeline;
  const x1 = Math.max(timeline.snapshotMs, points[points.length - 1]?.ms ?? 0, 1);
  const x = d3.scaleLinear().domain([0, x1]).range([MARGIN.left, width - MARGIN.right]);
  // Bytes axis in one binary unit, so that its ticks are round numbers of KiB, MiB, ...
  let u = 0;
  while (u < BYTE_UNITS.length - 1 && timeline.peakBytes >= 1024 ** (u + 1)) u++;
  const unit = 1024 ** u;
  const yUnits = d3.scaleLinear().domain([0, Math.max(1, timeline.peakBytes / unit)])
    .range([height - MARGIN.bottom, MARGIN.top]).nice(4);
  const yBytes = (b: number) => yUnits(b / unit);
  const yCount = d3.scaleLinear().domain([0, Math.max(1, timeline.peakCount)])
    .range([height - MARGIN.bottom, MARGIN.top]).nice(4);

  const grid = root.append("g").attr("class", "grid");
  for (const t of yUnits.ticks(4)) {
    grid.append("line")
      .attr("x1", MARGIN.left).attr("x2", width - MARGIN.right)
      .attr("y1", yUnits(t)).attr("y2", yUnits(t));
  }

  const area = d3.area<TimelinePoint>().x((d) => x(d.ms)).y0(yBytes(0)).y1((d) => yBytes(d.bytes));
  const line = d3.line<TimelinePoint>().x((d) => x(d.ms)).y((d) => yBytes(d.bytes));
  const countLine = d3.line<TimelinePoint>().x((d) => x(d.ms)).y((d) => yCount(d.count));
  root.append("path").attr("class", "area bytes").attr("d", area(points) ?? "");
  root.append("path").attr("class", "line bytes").attr("data-series", "bytes")
    .attr("d", line(points) ?? "");
  root.append("path").attr("class", "line count").attr("data-series", "count")
    .attr("d", countLine(points) ?? "");

  root.append("g").attr("class", "axis x")
    .attr("transform", `translate(0,${height - MARGIN.bottom})`)
    .call(
      d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 110))).tickSizeOuter(0)
        .tickFormat((v) => (v === 0 ? "0" : formatDuration(v))),
    );
  root.append("g").attr("class", "axis bytes")
    .attr("transform", `translate(${MARGIN.left},0)`)
    .call(
      d3.axisLeft(yUnits).ticks(4).tickSizeOuter(0).tickFormat((v) =>
        v === 0 ? "0" : `${+v.toFixed(2)} ${BYTE_UNITS[u]}`
      ),
    );
  root.append("g").attr("class", "axis count")
    .attr("transform", `translate(${width - MARGIN.right},0)`)
    .call(d3.axisRight(yCount).ticks(4).tickSizeOuter(0).tickFormat((v) => _short(v)));

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
  const cursor = root.append("g").attr("class", "cursor").attr("data-testid", "timeline-cursor");
  cursor.append("line").attr("y1", MARGIN.top).attr("y2", height - MARGIN.bottom);
  cursor.append("circle").attr("r", 3.5);
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
      return [x(p.ms), yBytes(p.bytes)];
    },
  };
}

function _short(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  return formatCount(n);
}
