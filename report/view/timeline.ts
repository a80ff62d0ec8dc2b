// The timeline's payload (recorded processes): live bytes and blocks over time, bucketed by peak.

import type { LeaksFile } from "../schema.ts";
import type { TimelinePayload, TimelinePoint } from "./payload.ts";

/**
 * Live bytes and blocks over time, at most `maxPoints` (each bucket keeps its peak sample). The
 * snapshot time is not in the file: it is at least the last sample and at least the age of the
 * oldest live block (blocks are allocated after the recorder starts). Null without a timeline.
 * O(samples + sites).
 */
export function selectTimeline(leaks: LeaksFile, maxPoints = 600): TimelinePayload | null {
  const samples = leaks.timeline;
  if (!samples || samples.length === 0) return null;
  const points: TimelinePoint[] = [];
  const per = Math.max(1, Math.ceil(samples.length / Math.max(2, maxPoints)));
  for (let i = 0; i < samples.length; i += per) {
    let best = samples[i]!;
    for (let k = i + 1; k < Math.min(samples.length, i + per); k++) {
      if (samples[k]!.liveBytes > best.liveBytes) best = samples[k]!;
    }
    points.push({ ms: best.timeNs / 1e6, bytes: best.liveBytes, count: best.liveCount });
  }
  const last = samples[samples.length - 1]!;
  if (points[points.length - 1]!.ms !== last.timeNs / 1e6) {
    points.push({ ms: last.timeNs / 1e6, bytes: last.liveBytes, count: last.liveCount });
  }
  let peakBytes = 0, peakCount = 0;
  for (const s of samples) {
    if (s.liveBytes > peakBytes) peakBytes = s.liveBytes;
    if (s.liveCount > peakCount) peakCount = s.liveCount;
  }
  let snapshotMs = last.timeNs / 1e6;
  for (const site of leaks.sites ?? []) snapshotMs = Math.max(snapshotMs, site.oldestMs);
  return {
    points,
    samples: samples.length,
    snapshotMs,
    peakBytes,
    peakCount,
    recordedBlocks: last.liveCount,
    allocations: leaks.summary.allocations,
  };
}
