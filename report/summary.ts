// The text summary printed after an analysis: target, counts, the biggest direct leaks, the verdict.
//
// Bounded output like LeakSanitizer's: at most `top` leaks, then "N more omitted". What each direct
// leak holds comes from the analysis's attribution (every leaked block under exactly one direct
// leak), so the totals of the lines add up to the leaked total. With --suppressions, suppressed
// direct leaks are not listed, and each rule that suppressed something gets a line, as LSan's
// "Suppressions used:". O(nodes).

import type { SuppressionResult } from "../analysis/suppressions.ts";
import type { Analysis } from "../analysis/types.ts";
import { LEAK_DIRECT, STATUS_CYCLE, STATUS_POSSIBLE } from "../analysis/types.ts";
import { possibleStructures, waysText } from "../analysis/possible_structures.ts";
import { formatBytes, formatCount, printable } from "./format.ts";
import { edgeStarts, heldTotals, retainersOf, summarize, typeTable } from "./leaks_json.ts";
import { shortName, typeLabel } from "./frame_names.ts";

export { formatBytes, printable } from "./format.ts";

export interface SummaryOptions {
  outputs: { label: string; path: string }[];
  top?: number;
  color?: boolean;
  /** A line saying what leaks.json holds when it is not every block. */
  graphNote?: string;
  /** What --suppressions suppressed. */
  suppressions?: SuppressionResult;
}

/**
 * Direct leaks grouped like LeakSanitizer's report: same size, zone and cycle membership make one
 * line ("25 direct leaks of 88 B"), biggest structures first, at most `top` lines, then "N more
 * omitted".
 */
function directLeakLines(a: Analysis, top: number, suppressed?: Int32Array): string[] {
  const groups = new Map<string, { members: number[]; blocks: number; bytes: number }>();
  const sizes = a.heap.allocations.sizes;
  const held = heldTotals(a);
  for (let i = 0; i < a.status.length; i++) {
    if (a.leak[i] !== LEAK_DIRECT || (suppressed && suppressed[i]! >= 0)) continue;
    const key = `${sizes[i]} ${a.heap.allocations.zoneIds[i]} ${a.status[i] === STATUS_CYCLE}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { members: [], blocks: 0, bytes: 0 });
    g.members.push(i);
    const h = held.get(i);
    g.blocks += h?.blocks ?? 1;
    g.bytes += h?.bytes ?? sizes[i]!;
  }
  if (groups.size === 0) return [];
  const ranked = [...groups.values()].sort((x, y) => y.bytes - x.bytes);
  const lines = [""];
  for (const g of ranked.slice(0, top)) {
    const first = a.heap.allocations.at(g.members[0]!);
    const n = g.members.length;
    const where = `[${printable(first.zone)}${
      a.status[g.members[0]!] === STATUS_CYCLE ? ", in a cycle" : ""
    }]`;
    const extra = g.blocks - n;
    const more = extra > 0 ? `, holding ${extra} more (${formatBytes(g.bytes)} in all)` : "";
    const at = `0x${first.address.toString(16)}`;
    lines.push(
      n === 1
        ? `  direct leak of ${formatBytes(first.size)} at ${at} ${where}${more}`
        : `  ${n} direct leaks of ${formatBytes(first.size)} ${where}${more}, e.g. at ${at}`,
    );
  }
  const omitted = ranked.slice(top);
  if (omitted.length) {
    const count = omitted.reduce((sum, g) => sum + g.members.length, 0);
    const bytes = omitted.reduce((sum, g) => sum + g.bytes, 0);
    lines.push(
      `  ... ${count} more direct leaks (${
        formatBytes(bytes)
      } in all) omitted (see --top and the JSON)`,
    );
  }
  return lines;
}

/**
 * "possible structures" (analysis/possible_structures.ts): the blocks only weak evidence keeps,
 * joined where one points to another, biggest first, at most `top`, each with the weak words into
 * it and a block to ask `heapscope why` about.
 */
function possibleLines(a: Analysis, top: number): string[] {
  const status = a.status, sizes = a.heap.allocations.sizes;
  const ids: number[] = [];
  for (let i = 0; i < status.length; i++) if (status[i] === STATUS_POSSIBLE) ids.push(i);
  if (ids.length === 0) return [];
  const csr = edgeStarts(a), target = a.edgeTarget;
  // Without the CSR (a graph built another way), every edge once, by source.
  let bySource: Map<number, number[]> | undefined;
  if (!csr) {
    bySource = new Map();
    for (let e = 0; e < a.edgeSource.length; e++) {
      const u = a.edgeSource[e]!;
      if (status[u] !== STATUS_POSSIBLE) continue;
      const list = bySource.get(u);
      if (list) list.push(target[e]!);
      else bySource.set(u, [target[e]!]);
    }
  }
  const ranked = possibleStructures({
    ids,
    isPossible: (id) => status[id] === STATUS_POSSIBLE,
    forEachTarget: (u, f) => {
      if (csr) { for (let e = csr[u]!; e < csr[u + 1]!; e++) f(target[e]!); }
      else for (const v of bySource!.get(u) ?? []) f(v);
    },
    size: (id) => sizes[id]!,
    weight: (id) => a.retained?.[id] ?? sizes[id]!,
    reachedFrom: (id) => {
      const via = a.via[id]!;
      return via < 0 ? "root" : status[via] === STATUS_POSSIBLE ? "possible" : "live";
    },
    weakLink: (id) => a.weakLinks.get(id),
  });
  const lines = ["", "possible structures (only weak evidence keeps them: leaks if it is stale)"];
  for (const g of ranked.slice(0, top)) {
    const kept = waysText(g.ways);
    const at = g.entry >= 0
      ? `; e.g. at 0x${a.heap.allocations.at(g.entry).address.toString(16)}`
      : "";
    lines.push(
      `  ${formatCount(g.blocks)} block${g.blocks === 1 ? "" : "s"}, ${formatBytes(g.bytes)}${
        kept ? `, ${kept}` : ""
      }${at}`,
    );
  }
  const omitted = ranked.slice(top);
  if (omitted.length) {
    const blocks = omitted.reduce((sum, g) => sum + g.blocks, 0);
    const bytes = omitted.reduce((sum, g) => sum + g.bytes, 0);
    lines.push(
      `  ... ${formatCount(omitted.length)} more (${formatCount(blocks)} blocks, ${
        formatBytes(bytes)
      }) omitted (see --top and the JSON)`,
    );
  }
  return lines;
}

/** "suppressed": the totals, then one line per rule that suppressed something, in file order. */
function suppressionLines(r: SuppressionResult): string[] {
  const used = r.rules.map((rule, i) => ({ rule, ...r.totals[i]! })).filter((u) => u.leaks > 0);
  const unused = r.rules.length - used.length;
  const lines = [
    `${"suppressed".padEnd(13)} ${formatCount(r.suppressed)} blocks, ${
      formatBytes(r.suppressedBytes)
    } by ${used.length} of ${r.rules.length} rule${r.rules.length === 1 ? "" : "s"}${
      unused > 0 ? ` (${unused} matched nothing: see "suppressions" in the JSON)` : ""
    }`,
  ];
  for (const u of used) {
    lines.push(
      `  ${printable(shortName(u.rule.text, 60))} (${printable(u.rule.source)}:${u.rule.line}): ${
        formatCount(u.leaks)
      } block${u.leaks === 1 ? "" : "s"}, ${formatBytes(u.bytes)}`,
    );
  }
  return lines;
}

/** "top retainers": what keeps the most alive, from the dominator tree. */
function retainerLines(a: Analysis, top: number): string[] {
  const rows = retainersOf(a, top);
  if (rows.length === 0) return [];
  const lines = ["", "top retainers (bytes kept alive, themselves included)"];
  for (const r of rows) {
    lines.push(
      `  ${printable(shortName(r.name, 70))} holds ${formatBytes(r.bytes)} in ${
        formatCount(r.blocks)
      } block${r.blocks === 1 ? "" : "s"}`,
    );
  }
  return lines;
}

/** "top types": blocks and bytes per known type, with the leaked part. */
function typeLines(a: Analysis, top: number): string[] {
  const { rows } = typeTable(a);
  if (rows.length === 0) return [];
  const lines = ["", "top types"];
  for (const t of rows.slice(0, top)) {
    const leaked = t.leakedCount
      ? `, ${formatCount(t.leakedCount)} leaked (${formatBytes(t.leakedBytes)})`
      : "";
    lines.push(
      `  ${printable(typeLabel(t.name, 60))}: ${formatCount(t.count)} block${
        t.count === 1 ? "" : "s"
      }, ${formatBytes(t.bytes)}${leaked}`,
    );
  }
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
  if (sum.possible) {
    row(
      "possible",
      `${formatCount(sum.possible)} blocks, ${
        formatBytes(sum.possibleBytes ?? 0)
      } held only by weak evidence (possibly hidden leaks: see "possible structures" below)`,
    );
  }
  if (opts.suppressions) lines.push(...suppressionLines(opts.suppressions));
  row("paused", `${s.pauseMs.toFixed(1)} ms`);
  for (const o of opts.outputs) row(o.label, o.path);

  lines.push(...directLeakLines(a, opts.top ?? 10, opts.suppressions?.rule));
  lines.push(...possibleLines(a, opts.top ?? 10));
  lines.push(...retainerLines(a, Math.min(opts.top ?? 10, 5)));
  lines.push(...typeLines(a, Math.min(opts.top ?? 10, 5)));
  if (opts.graphNote) lines.push("", opts.graphNote);
  const warnings = [...s.warnings, ...a.heap.warnings];
  if (warnings.length) {
    lines.push("");
    for (const w of warnings.slice(0, 10)) lines.push(paint("33", `warning: ${printable(w)}`));
    if (warnings.length > 10) lines.push(`  ... ${warnings.length - 10} more warnings`);
  }
  lines.push(verdict(sum.leaked, sum.possible ?? 0, opts.suppressions, paint));
  return lines.join("\n");
}

/**
 * The last line: the leaks that count for the exit status; with none, the possible ones (only weak
 * evidence keeps them), which do not count but are no proof of "no leaks" either.
 */
export function verdict(
  leaked: number,
  possible: number,
  suppressions: SuppressionResult | undefined,
  paint: (code: string, text: string) => string,
): string {
  if (leaked === 0 && possible > 0) {
    return paint(
      "33",
      `! no definite leaks, but ${possible} possible: allocation(s) only weak evidence keeps ` +
        "(`heapscope why` on one shows the weak link)",
    );
  }
  if (leaked === 0) return paint("32", "✓ no leaks: every allocation is reachable from a root");
  if (!suppressions) return paint("31", `✗ ${leaked} allocation(s) unreachable from any root`);
  const { suppressed, unsuppressed } = suppressions;
  return unsuppressed === 0
    ? paint("32", `✓ no leaks but suppressed ones: all ${suppressed} unreachable allocation(s)`)
    : paint(
      "31",
      `✗ ${unsuppressed} allocation(s) unreachable from any root (and ${suppressed} suppressed)`,
    );
}
