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

  const top = opts.top ?? 10;
  const direct: number[] = [];
  for (let i = 0; i < a.status.length; i++) if (a.leak[i] === LEAK_DIRECT) direct.push(i);
  if (direct.length) {
    const held = new Map<number, { blocks: number; bytes: number }>();
    // Rank by own size first (cheap), then measure what the shown ones hold.
    const sizes = a.heap.allocations.sizes;
    direct.sort((x, y) => sizes[y]! - sizes[x]!);
    const shown = direct.slice(0, top);
    for (const id of shown) held.set(id, heldBy(a, id));
    shown.sort((x, y) => held.get(y)!.bytes - held.get(x)!.bytes);
    lines.push("");
    for (const id of shown) {
      const al = a.heap.allocations.at(id);
      const h = held.get(id)!;
      const cyc = a.status[id] === STATUS_CYCLE ? ", in a cycle" : "";
      const more = h.blocks > 1
        ? `, holding ${h.blocks - 1} more (${formatBytes(h.bytes)} in all)`
        : "";
      lines.push(
        `  direct leak of ${formatBytes(al.size)} at 0x${al.address.toString(16)} [${
          printable(al.zone)
        }${cyc}]${more}`,
      );
    }
    if (direct.length > shown.length) {
      lines.push(`  ... ${direct.length - shown.length} more direct leaks omitted (see the JSON)`);
    }
  }
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
