// The blocks only weak evidence keeps ("possible"), joined into structures: the CLI's summary
// (report/summary.ts, from a live analysis) and the HTML report (report/view, from leaks.json) list
// them the same way. An attached libxml2 or sqlite3 program has all its leaks there: stale words in
// pools, strings and malloc's slack keep them, and a lost document is one structure.

import { weakRuleLabel } from "./slack_rules.ts";

/** What the grouping reads, by node id (an allocation index, or a leaks.json node's position). */
export interface PossibleGraph {
  /** Ids of the possible nodes, ascending. */
  ids: readonly number[];
  isPossible(id: number): boolean;
  /** Calls `f` with every node `id` points to. */
  forEachTarget(id: number, f: (target: number) => void): void;
  size(id: number): number;
  /** What hangs under the node (the dominator tree's retained bytes, else its size). */
  weight(id: number): number;
  /**
   * How the search reached a possible node: "root" (a root word directly: only weak ones reach a
   * possible block, a vector register or the red zone below a stack pointer), "live" (a weak word
   * of a block still alive), "possible" (from another possible block).
   */
  reachedFrom(id: number): "root" | "live" | "possible";
  /** The rule that made the word into it weak (analysis/slack_rules.ts weakReason), if known. */
  weakLink(id: number): string | undefined;
}

export interface PossibleStructure {
  blocks: number;
  bytes: number;
  /** The weak words that lead into it from outside, counted by rule, most first. */
  ways: [rule: string, count: number][];
  /** The way in the most hangs under (ties: the lowest id), for `heapscope why`; -1 none known. */
  entry: number;
}

/**
 * The possible blocks joined where one points to another (union-find over their edges), biggest
 * first (ties: the lowest entry). O(possible blocks' edges · log possible blocks).
 */
export function possibleStructures(g: PossibleGraph): PossibleStructure[] {
  const ids = g.ids;
  if (ids.length === 0) return [];
  const up = Int32Array.from(ids.keys());
  const find = (k: number) => {
    while (up[k] !== k) k = up[k] = up[up[k]!]!;
    return k;
  };
  const position = (id: number) => {
    let lo = 0, hi = ids.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let k = 0; k < ids.length; k++) {
    g.forEachTarget(ids[k]!, (v) => {
      if (!g.isPossible(v)) return;
      const x = find(k), y = find(position(v));
      if (x !== y) up[Math.max(x, y)] = Math.min(x, y);
    });
  }
  const groups = new Map<number, PossibleStructure & { rules: Map<string, number> }>();
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k]!, r = find(k);
    let s = groups.get(r);
    if (!s) groups.set(r, s = { blocks: 0, bytes: 0, ways: [], entry: -1, rules: new Map() });
    s.blocks++;
    s.bytes += g.size(id);
    const from = g.reachedFrom(id);
    if (from === "possible") continue;
    const link = g.weakLink(id);
    const rule = from === "root"
      ? "a weak root word"
      : link === undefined
      ? "a weak word"
      : weakRuleLabel(link);
    s.rules.set(rule, (s.rules.get(rule) ?? 0) + 1);
    if (s.entry < 0 || g.weight(id) > g.weight(s.entry)) s.entry = id;
  }
  const out: PossibleStructure[] = [];
  for (const { blocks, bytes, entry, rules } of groups.values()) {
    out.push({ blocks, bytes, entry, ways: [...rules].sort((x, y) => y[1] - x[1]) });
  }
  return out.sort((x, y) => y.bytes - x.bytes || x.entry - y.entry);
}

/** "kept by 4 weak words: malloc's slack ×2, past a C string's NUL, …" (empty without one). */
export function waysText(ways: PossibleStructure["ways"]): string {
  const count = ways.reduce((s, w) => s + w[1], 0);
  if (count === 0) return "";
  return `kept by ${count} weak word${count === 1 ? "" : "s"}: ${
    ways.map(([rule, n]) => n > 1 ? `${rule} ×${n}` : rule).join(", ")
  }`;
}
