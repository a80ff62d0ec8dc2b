// Live-memory timeline (recorded processes) with a read-out: hover, or focus it and use the arrow
// keys, to read time, live bytes and live blocks at a sample.

import { useEffect, useRef, useState } from "preact/hooks";
import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { TimelinePayload } from "../view/payload.ts";
import { drawTimeline, type TimelineScale } from "./timeline_chart.ts";

export function TimelineView({ timeline }: { timeline: TimelinePayload }) {
  const svgRef = useRef<SVGSVGElement>(null);
  const scale = useRef<TimelineScale | null>(null);
  const [at, setAt] = useState<number | null>(null);
  useEffect(() => {
    const svg = svgRef.current!;
    scale.current = drawTimeline(svg, timeline);
    let width = svg.clientWidth;
    const observer = new ResizeObserver(() => {
      if (svg.clientWidth === width) return;
      width = svg.clientWidth;
      scale.current = drawTimeline(svg, timeline);
    });
    observer.observe(svg);
    return () => observer.disconnect();
  }, [timeline]);
  useEffect(() => {
    const svg = svgRef.current!;
    const cursor = svg.querySelector<SVGGElement>("g.cursor");
    if (!cursor || !scale.current) return;
    if (at === null) {
      cursor.style.display = "none";
      return;
    }
    const [x, y] = scale.current.at(at);
    cursor.style.display = "";
    cursor.querySelector("line")!.setAttribute("x1", `${x}`);
    cursor.querySelector("line")!.setAttribute("x2", `${x}`);
    cursor.querySelector("circle")!.setAttribute("cx", `${x}`);
    cursor.querySelector("circle")!.setAttribute("cy", `${y}`);
  }, [at, timeline]);
  const point = at !== null ? timeline.points[at] : undefined;
  const before = Math.max(0, timeline.allocations - timeline.recordedBlocks);
  return (
    <section class="card timeline" data-testid="timeline" aria-labelledby="timeline-title">
      <h2 id="timeline-title">
        Live memory over time{" "}
        <span class="muted">
          · peak {formatBytes(timeline.peakBytes)} / {formatCount(timeline.peakCount)}{" "}
          blocks · snapshot at {formatDuration(timeline.snapshotMs)}
        </span>
      </h2>
      <div class="timeline-legend small">
        <span>
          <i class="swatch bytes" /> live bytes (left axis)
        </span>
        <span>
          <i class="swatch count" /> live blocks (right axis)
        </span>
        <span>
          <i class="swatch snap" /> snapshot
        </span>
      </div>
      <svg
        ref={svgRef}
        class="timeline-chart"
        role="img"
        tabIndex={0}
        aria-label="Live memory over time: use the left and right arrow keys to read the samples"
        onMouseMove={(e) => {
          const rect = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
          if (scale.current) setAt(scale.current.nearest(e.clientX - rect.left));
        }}
        onMouseLeave={() => setAt(null)}
        onKeyDown={(e) => {
          const n = timeline.points.length;
          const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, End: n, Home: -n };
          if (step[e.key] === undefined) return;
          e.preventDefault();
          setAt((a) =>
            Math.max(0, Math.min(n - 1, (a ?? (step[e.key]! > 0 ? -1 : n)) + step[e.key]!))
          );
        }}
        onBlur={() => setAt(null)}
      />
      <p class="small read-out" aria-live="polite" data-testid="timeline-readout">
        {point
          ? `at ${formatDuration(point.ms)}: ${formatBytes(point.bytes)} live in ${
            formatCount(point.count)
          } blocks`
          : "Hover the chart (or focus it and use ← →) to read a sample."}
      </p>
      <p class="muted small">
        Counted by the recorder while the program ran ({formatCount(timeline.samples)} samples
        {timeline.points.length < timeline.samples
          ? `, ${formatCount(timeline.points.length)} drawn keeping each interval's peak`
          : ""}). At the snapshot it knew {formatCount(timeline.recordedBlocks)}{" "}
        live blocks; the heap had {formatCount(timeline.allocations)} allocations
        {before > 0
          ? `: ${
            formatCount(before)
          } were made before the recorder started (the loader, libc start-up) and have no stack`
          : ""}.
      </p>
    </section>
  );
}
