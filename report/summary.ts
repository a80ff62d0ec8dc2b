// The text summary printed after an analysis: target, counts, the biggest direct leaks, the verdict.
//
// Bounded output like LeakSanitizer's: at most `top` leaks, then "N more omitted". Held-subgraph
// sizes are computed only for the leaks shown, O(top · leaked subgraph).

import type { Analysis } from "../analysis/types.ts";
import { LEAK_DIRECT, STATUS_CYCLE, STATUS_REACHABLE } from "../analysis/types.ts";
import { summarize } from "./leaks_json.ts";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * A string from the target (command line, zone name) made safe for a terminal: control characters,
 * escape sequences included, are shown as \xNN instead of acting on the reader's terminal.
 */
export function printable(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && (c < 0x7f || c > 0x9f)) out += ch;
    else if (ch === "\n" || ch === "\t") out += " ";
    else out += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export interface SummaryOptions {
  outputs: { label: string; path: string }[];
  top?: number;
  color?: boolean;
}

/** Blocks and bytes a leaked block holds: itself plus every leaked block reachable from it. */
export function heldBy(a: Analysis, id: number): { blocks: number; bytes: number } {
  const seen = new Set<number>([id]);
  const stack = [id];
  // Edges are grouped by source, sorted: find each node's range by binary search.
  const src = a.edgeSource;
  const lowerBound = (v: number) => {
    let lo = 0, hi = src.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (src[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let bytes = 0;
  while (stack.length) {
    const v = stack.pop()!;
    bytes += a.heap.allocations.sizes[v]!;
    for (let e = lowerBound(v); e < src.length && src[e] === v; e++) {
      const w = a.edgeTarget[e]!;
      if (a.status[w] === STATUS_REACHABLE || seen.has(w)) continue;
      seen.add(w);
      stack.push(w);
    }
  }
  return { blocks: seen.size, bytes };
}

/** Members measured per group for "holding N more" (bounds the work on pathological heaps). */
const HELD_SAMPLE = 1000;

/**
 * Direct leaks grouped like LeakSanitizer's report: same size, zone and cycle membership make one
 * line ("25 direct leaks of 88 B"), biggest first, at most `top` lines, then "N more omitted".
 */
function directLeakLines(a: Analysis, top: number): string[] {
  const groups = new Map<string, number[]>();
  const sizes = a.heap.allocations.sizes;
  for (let i = 0; i < a.status.length; i++) {
    if (a.leak[i] !== LEAK_DIRECT) continue;
    const key = `${sizes[i]} ${a.heap.allocations.zoneIds[i]} ${a.status[i] === STATUS_CYCLE}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = []);
    g.push(i);
  }
  if (groups.size === 0) return [];
  // Rank by own bytes first (cheap), then measure what the shown groups hold.
  const ranked = [...groups.values()].sort((x, y) =>
    sizes[y[0]!]! * y.length - sizes[x[0]!]! * x.length
  );
  const shown = ranked.slice(0, top).map((members) => {
    let blocks = 0, bytes = 0;
    const sample = members.slice(0, HELD_SAMPLE);
    for (const id of sample) {
      const h = heldBy(a, id);
      blocks += h.blocks;
      bytes += h.bytes;
    }
    return { members, blocks, bytes, partial: sample.length < members.length };
  }).sort((x, y) => y.bytes - x.bytes);
  const lines = [""];
  for (const g of shown) {
    const first = a.heap.allocations.at(g.members[0]!);
    const n = g.members.length;
    const where = `[${printable(first.zone)}${
      a.status[g.members[0]!] === STATUS_CYCLE ? ", in a cycle" : ""
    }]`;
    const extra = g.blocks - (g.partial ? HELD_SAMPLE : n);
    const more = extra > 0
      ? `, holding ${g.partial ? "at least " : ""}${extra} more (${formatBytes(g.bytes)} in all)`
      : "";
    const at = `0x${first.address.toString(16)}`;
    lines.push(
      n === 1
        ? `  direct leak of ${formatBytes(first.size)} at ${at} ${where}${more}`
        : `  ${n} direct leaks of ${formatBytes(first.size)} ${where}${more}, e.g. at ${at}`,
    );
  }
  const omitted = ranked.slice(top).reduce((sum, g) => sum + g.length, 0);
  if (omitted) lines.push(`  ... ${omitted} more direct leaks omitted (see the JSON)`);
  return lines;
}

export function formatSummary(a: Analysis, opts: SummaryOptions): string {
  const s = a.snapshot;
  const sum = summarize(a);
  const paint = (code: string, text: string) => opts.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(13)} ${v}`);
  row(
    "target",
    `pid ${s.pid} (${printable(s.command)}), ${s.platform} ${s.arch}, ${a.heap.allocator}`,
  );
  row(
    "allocations",
    `${sum.allocations} (${formatBytes(sum.bytes)})   reachable ${sum.reachable}`,
  );
  row(
    "leaked",
    `${sum.leaked} blocks, ${
      formatBytes(sum.leakedBytes)
    } (${sum.direct} direct, ${sum.indirect} indirect)`,
  );
  row("cycles", `${sum.cycles}`);
  row("paused", `${s.pauseMs.toFixed(1)} ms`);
  for (const o of opts.outputs) row(o.label, o.path);

  lines.push(...directLeakLines(a, opts.top ?? 10));
  const warnings = [...s.warnings, ...a.heap.warnings];
  if (warnings.length) {
    lines.push("");
    for (const w of warnings.slice(0, 10)) lines.push(paint("33", `warning: ${printable(w)}`));
    if (warnings.length > 10) lines.push(`  ... ${warnings.length - 10} more warnings`);
  }
  lines.push(
    sum.leaked === 0
      ? paint("32", "✓ no leaks: every allocation is reachable from a root")
      : paint("31", `✗ ${sum.leaked} allocation(s) unreachable from any root`),
  );
  return lines.join("\n");
}
