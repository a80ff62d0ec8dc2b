// Live-memory timeline card (recorded processes): the SVG that timeline_chart.ts draws, redrawn on resize.

import { useEffect, useRef } from "preact/hooks";
import { formatBytes, formatCount, formatDuration } from "../selectors.ts";
import type { TimelinePayload } from "../selectors.ts";
import { drawTimeline } from "./timeline_chart.ts";

export function TimelineView({ timeline }: { timeline: TimelinePayload }) {
  const svgRef = useRef<SVGSVGElement>(null);
  useEffect(() => {
    const svg = svgRef.current!;
    drawTimeline(svg, timeline);
    let width = svg.clientWidth;
    const observer = new ResizeObserver(() => {
      if (svg.clientWidth === width) return;
      width = svg.clientWidth;
      drawTimeline(svg, timeline);
    });
    observer.observe(svg);
    return () => observer.disconnect();
  }, [timeline]);
  return (
    <div class="card timeline" data-testid="timeline">
      <h3>
        Live memory over time{" "}
        <span class="muted">
          · peak {formatBytes(timeline.peakBytes)} / {formatCount(timeline.peakCount)}{" "}
          blocks · snapshot at {formatDuration(timeline.snapshotMs)}
        </span>
      </h3>
      <div class="timeline-legend small">
        <span>
          <i class="swatch bytes" /> live bytes (left)
        </span>
        <span>
          <i class="swatch count" /> live blocks (right)
        </span>
        <span>
          <i class="swatch snap" /> snapshot
        </span>
      </div>
      <svg ref={svgRef} class="timeline-chart" role="img" aria-label="Live memory over time" />
      <p class="muted small">
        Sampled by the recorder while the program allocated ({formatCount(timeline.samples)}{" "}
        samples{timeline.points.length < timeline.samples
          ? `, ${formatCount(timeline.points.length)} drawn keeping each interval's peak`
          : ""}).
      </p>
    </div>
  );
}
