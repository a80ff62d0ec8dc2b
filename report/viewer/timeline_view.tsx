// Live-memory timeline (recorded processes) with a read-out: hover, or focus it and use the arrow
// keys, to read time, live bytes and live blocks at a sample.

import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { TimelinePayload } from "../view/payload.ts";
import { useChartReadout } from "./chart_readout.ts";
import { drawTimeline } from "./timeline_chart.ts";

export function TimelineView({ timeline }: { timeline: TimelinePayload }) {
  const { svgRef, at, handlers } = useChartReadout(timeline, timeline.points.length, drawTimeline);
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
        {...handlers}
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
