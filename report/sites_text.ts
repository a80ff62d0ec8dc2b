// The top allocation sites of a recorded process as text for the terminal, with their stacks.

import type { LeaksSites } from "../analysis/sites.ts";
import { formatBytes } from "./format.ts";
import { ambiguousFrames, formatFrame } from "./frame_text.ts";
import { shortName, userFrame } from "./frame_names.ts";

/** Widest function name in a terminal line; the JSON keeps the whole name. */
const NAME_WIDTH = 100;

/** Text for the summary: the top sites with their stacks (at most `frames` frames each). */
export function formatSites(
  s: Pick<LeaksSites, "sites" | "stacks" | "omittedSites">,
  opts: { frames?: number; leakedOnly?: boolean } = {},
): string {
  const maxFrames = opts.frames ?? 8;
  const rows = opts.leakedOnly ? s.sites.filter((r) => r.leakedCount > 0) : s.sites;
  const lines: string[] = [];
  // Each stack from its first frame of the user's own code: allocator and standard-library
  // frames before it are folded into a "via N std:: frames" note.
  const starts = rows.map((r) => userFrame(s.stacks[r.site] ?? []));
  const distinguish = ambiguousFrames(
    rows.map((r, k) => s.stacks[r.site]?.[starts[k]?.index ?? 0]),
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
    const u = starts[k];
    const frames = (s.stacks[r.site] ?? []).slice(u?.index ?? 0);
    frames.slice(0, maxFrames).forEach((f, i) => {
      const short = f.function ? { ...f, function: shortName(f.function, NAME_WIDTH) } : f;
      const via = i === 0 && u?.via ? ` (${u.via})` : "";
      lines.push(`    at ${formatFrame(short, i === 0 && distinguish[k])}${via}`);
    });
    if (frames.length > maxFrames) lines.push(`    ... ${frames.length - maxFrames} more frames`);
  });
  if (s.omittedSites > 0) lines.push(`${s.omittedSites} more sites omitted (see --top)`);
  return lines.join("\n");
}
