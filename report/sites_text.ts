// The top allocation sites of a recorded process as text for the terminal, with their stacks.

import type { LeaksSites } from "../analysis/sites.ts";
import { formatBytes } from "./format.ts";
import { ambiguousFrames, formatFrame } from "./frame_text.ts";

/** Text for the summary: the top sites with their stacks (at most `frames` frames each). */
export function formatSites(
  s: Pick<LeaksSites, "sites" | "stacks" | "omittedSites">,
  opts: { frames?: number; leakedOnly?: boolean } = {},
): string {
  const maxFrames = opts.frames ?? 8;
  const rows = opts.leakedOnly ? s.sites.filter((r) => r.leakedCount > 0) : s.sites;
  const lines: string[] = [];
  const distinguish = ambiguousFrames(
    rows.map((r) => s.stacks[r.site]?.[0]),
    (f) => formatFrame(f),
  );
  rows.forEach((r, k) => {
    const direct = r.direct > 0 ? `${r.direct} direct holding ${formatBytes(r.directBytes)}, ` : "";
    lines.push(
      `site ${r.site}: ${direct}${r.leakedCount} leaked (${formatBytes(r.leakedBytes)}), ` +
        `${r.count} live (${formatBytes(r.bytes)}), peak ${r.peakCount} ` +
        `(${formatBytes(r.peakBytes)}), ${r.totalCount} allocated, oldest ` +
        `${(r.oldestMs / 1000).toFixed(1)} s, threads ${r.threads.join(",")}`,
    );
    const frames = s.stacks[r.site] ?? [];
    frames.slice(0, maxFrames).forEach((f, i) => {
      lines.push(`    at ${formatFrame(f, i === 0 && distinguish[k])}`);
    });
    if (frames.length > maxFrames) lines.push(`    ... ${frames.length - maxFrames} more frames`);
  });
  if (s.omittedSites > 0) lines.push(`${s.omittedSites} more sites omitted (see --top)`);
  return lines.join("\n");
}
