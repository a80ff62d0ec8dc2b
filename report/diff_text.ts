// The text summary of a diff (report/leaks_diff.ts): totals, new leaks, leaks gone, the top growers
// by type, site, retainer and zone, and what the third snapshot still holds. At most `top` rows per
// table, then "N more" (the JSON has them all).

import { formatBytes, formatCount, printable } from "./format.ts";
import type { GrowthRow, LeakChange, LeaksDiff } from "./leaks_diff.ts";

export function formatDiff(d: LeaksDiff, opts: { top?: number } = {}): string {
  const top = opts.top ?? 10;
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(13)} ${v}`);
  const t = d.totals;
  const signed = (n: number, f: (v: number) => string) => `${n >= 0 ? "+" : "-"}${f(Math.abs(n))}`;
  row(
    "allocations",
    `${formatCount(t.before.allocations)} → ${formatCount(t.after.allocations)} (${
      signed(t.after.allocations - t.before.allocations, formatCount)
    }), ${formatBytes(t.before.bytes)} → ${formatBytes(t.after.bytes)} (${
      signed(t.after.bytes - t.before.bytes, formatBytes)
    })`,
  );
  row(
    "leaked",
    `${formatCount(t.before.leaked)} → ${formatCount(t.after.leaked)} blocks, ${
      formatBytes(t.before.leakedBytes)
    } → ${formatBytes(t.after.leakedBytes)}${
      t.before.suppressed || t.after.suppressed
        ? ` (suppressed: ${formatCount(t.before.suppressed)} → ${formatCount(t.after.suppressed)})`
        : ""
    }`,
  );
  leakLines(lines, "new leaks", d.newLeaks, top);
  leakLines(lines, "leaks gone", d.goneLeaks, top);
  const tables: [string, GrowthRow[] | undefined][] = [
    ["growth by type", d.byType],
    ["growth by allocation site", d.bySite],
    ["growth by retainer", d.byRetainer],
    ["growth by zone", d.byZone],
  ];
  for (const [title, rows] of tables) growthLines(lines, title, rows, top);
  if (d.survivors) {
    const s = d.survivors;
    lines.push(
      "",
      `allocated between snapshots 1 and 2, still alive at 3: ${formatCount(s.count)} blocks, ${
        formatBytes(s.bytes)
      }`,
    );
    growthLines(lines, "  by allocation site", s.bySite, top);
    growthLines(lines, "  by type", s.byType, top);
  }
  if (d.notes.length) {
    lines.push("");
    for (const n of d.notes) lines.push(`note: ${printable(n)}`);
  }
  return lines.join("\n");
}

function leakLines(lines: string[], title: string, c: LeakChange, top: number): void {
  lines.push(
    `${title.padEnd(13)} ${formatCount(c.count)} blocks, ${formatBytes(c.bytes)} (${
      formatCount(c.direct.length)
    } direct)${
      c.suppressed.count
        ? `; ${formatCount(c.suppressed.count)} more (${
          formatBytes(c.suppressed.bytes)
        }) suppressed`
        : ""
    }`,
  );
  for (const l of c.direct.slice(0, top)) {
    const held = l.held && l.held.blocks > 1
      ? `, holding ${l.held.blocks - 1} more (${formatBytes(l.held.bytes)} in all)`
      : "";
    const what = [l.type, l.site].filter(Boolean).join(", ");
    lines.push(
      `  ${formatBytes(l.size)} at ${l.address}${held}${what ? `: ${printable(what)}` : ""}`,
    );
  }
  if (c.direct.length > top) lines.push(`  ... ${c.direct.length - top} more (see the JSON)`);
}

function growthLines(lines: string[], title: string, rows: GrowthRow[] | undefined, top: number) {
  const changed = (rows ?? []).filter((r) => r.count !== 0 || r.bytes !== 0);
  if (changed.length === 0) return;
  lines.push("", `${title} (bytes, blocks):`);
  for (const r of changed.slice(0, top)) {
    const sign = r.bytes >= 0 ? "+" : "-";
    lines.push(
      `  ${`${sign}${formatBytes(Math.abs(r.bytes))}`.padStart(11)} ${
        `${r.count >= 0 ? "+" : ""}${formatCount(r.count)}`.padStart(8)
      }  ${printable(r.label)}`,
    );
  }
  if (changed.length > top) lines.push(`  ... ${changed.length - top} more (see the JSON)`);
}
