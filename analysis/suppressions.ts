// Suppressions: known leaks filtered out of the verdict, in LeakSanitizer's syntax plus rules by
// type and by size for processes without allocation stacks.
//
// A suppressions file has one rule a line; blank lines and lines starting with "#" (after leading
// spaces) are skipped, as LSan's parser does (sanitizer_suppressions.cpp):
//   leak:<template>      against each frame of the leak's recorded allocation stack, innermost
//                        first; per return address first the image path (LSan's module name,
//                        "<unknown module>" when unknown), then each inlined frame's function, then
//                        its source file. The first rule in file order that matches the first
//                        matching frame wins. <template> is LSan's: a substring, "*" matches any
//                        run of characters, "^" at the start and "$" at the end anchor it
//                        (templateMatch below is sanitizer_common's TemplateMatch, quirks kept).
//   type:<regex>         a JavaScript regular expression searched in the block's type name (C++
//                        class from its vtable, libstdc++ container parts: `types` in leaks.json)
//   size:<min>-<max>     the block's usable size (`size` in leaks.json) in bytes, inclusive;
//                        also size:<n> (exactly) and size:<min>- (at least)
// Rules apply to leaked blocks (direct, indirect, in cycles); "possible" blocks are not leaks. A
// direct leak is suppressed by its first matching rule (stack rules first, in LSan's frame order,
// then type and size rules in file order), and everything counted under it (analysis.owner) with
// it, by the same rule: a suppressed direct leak suppresses what it holds, as LSan treats what a
// suppressed leak reaches as reachable, and each rule's totals are whole structures. A leaked block
// under a direct leak no rule matches is matched on its own (LSan reports indirect leaks apart). Unlike LSan, an empty template ("leak:") is refused: LSan
// matches every leak with it, which is never what a typo means ("leak:*" says so on purpose).
//
// O(leaked blocks · (rules · frames · template length)) to apply, O(file) to parse.

import { HeapscopeError } from "./errors.ts";
import { EXIT } from "./errors.ts";
import type { StackFrame } from "./sites.ts";
import { type GraphAnalysis, isLeaked, LEAK_DIRECT } from "./types.ts";

export type SuppressionKind = "leak" | "type" | "size";

export interface SuppressionRule {
  kind: SuppressionKind;
  /** The text after "kind:", as written (trailing spaces removed). */
  pattern: string;
  /** The whole rule as written: "leak:make_tree". */
  text: string;
  /** Where it was written. */
  source: string;
  line: number;
  /** type: the compiled expression. */
  regex?: RegExp;
  /** size: inclusive bounds. */
  min?: number;
  max?: number;
}

/** A suppressions file that cannot be used: names the file and line (exit 2). */
export class SuppressionsError extends HeapscopeError {
  constructor(message: string, hints: string[] = []) {
    super(message, hints, EXIT.usage);
    this.name = "SuppressionsError";
  }
}

const KINDS: readonly SuppressionKind[] = ["leak", "type", "size"];

/** The rules of suppressions file text `text` (`source` names it in messages). O(text). */
export function parseSuppressions(text: string, source: string): SuppressionRule[] {
  const rules: SuppressionRule[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    // LSan trims spaces and tabs at the start, and spaces, tabs and CRs at the end.
    const line = lines[i]!.replace(/^[ \t]+/, "").replace(/[ \t\r]+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const where = `${source}:${i + 1}`;
    const colon = line.indexOf(":");
    const kind = line.slice(0, Math.max(colon, 0)) as SuppressionKind;
    if (colon < 0 || !KINDS.includes(kind)) {
      throw new SuppressionsError(
        `Cannot read suppressions file "${source}": line ${i + 1} is not a rule: "${line}"`,
        [
          'Write "leak:<function, file or library>", "type:<regular expression>" or ' +
          '"size:<min>-<max>" (bytes), one a line; "#" starts a comment',
        ],
      );
    }
    const pattern = line.slice(colon + 1);
    const rule: SuppressionRule = { kind, pattern, text: line, source, line: i + 1 };
    if (pattern === "") {
      throw new SuppressionsError(`Cannot read suppressions file "${source}": ${where} is empty`, [
        kind === "leak"
          ? 'LeakSanitizer would suppress every leak with "leak:"; write "leak:*" if that is meant'
          : `Give a ${kind === "type" ? "regular expression" : "size range"} after "${kind}:"`,
      ]);
    }
    if (kind === "type") {
      try {
        rule.regex = new RegExp(pattern);
      } catch (e) {
        throw new SuppressionsError(
          `Cannot read suppressions file "${source}": ${where}: "${pattern}" is not a regular ` +
            `expression (${(e as Error).message})`,
          ["type: takes a JavaScript regular expression, e.g. type:^std::map or type:Session$"],
        );
      }
    } else if (kind === "size") {
      const m = /^(\d+)(?:(-)(\d+)?)?$/.exec(pattern);
      const min = m ? Number(m[1]) : NaN;
      const max = m ? (m[2] ? (m[3] !== undefined ? Number(m[3]) : Infinity) : min) : NaN;
      if (!m || max < min) {
        throw new SuppressionsError(
          `Cannot read suppressions file "${source}": ${where}: "${pattern}" is not a size range`,
          ["Write size:<min>-<max> in bytes (inclusive), size:<n> or size:<min>-"],
        );
      }
      rule.min = min;
      rule.max = max;
    }
    rules.push(rule);
  }
  return rules;
}

/**
 * LeakSanitizer's template match (sanitizer_common.cpp TemplateMatch), step for step: the pieces
 * between "*"s are found left to right, each at its first occurrence after the previous one; "^"
 * pins the first piece to the start, "$" ends the template and requires the end of `str` (or a
 * "*" just before it). So "a*b$" does not match "abab" (the first "b" is taken), as in LSan. An
 * empty `str` matches nothing. O(|templ| · |str|).
 */
export function templateMatch(templ: string, str: string): boolean {
  if (str === "") return false;
  let t = 0, s = 0;
  let start = false;
  if (templ[0] === "^") {
    start = true;
    t++;
  }
  let asterisk = false;
  while (t < templ.length) {
    if (templ[t] === "*") {
      t++;
      start = false;
      asterisk = true;
      continue;
    }
    if (templ[t] === "$") return s === str.length || asterisk;
    if (s === str.length) return false;
    // The piece runs to the next "*" or "$", whichever comes first.
    let end = t;
    while (end < templ.length && templ[end] !== "*" && templ[end] !== "$") end++;
    const piece = templ.slice(t, end);
    const at = str.indexOf(piece, s);
    if (at < 0) return false;
    if (start && at !== s) return false;
    s = at + piece.length;
    t = end;
    start = false;
    asterisk = false;
  }
  return true;
}

/** What the rules decided. */
export interface SuppressionResult {
  rules: SuppressionRule[];
  /** Per node: index of the rule that suppresses it, -1 when none (or not leaked). */
  rule: Int32Array;
  /** Per rule: leaked blocks and bytes it suppresses (matched, or held by a direct leak it matched). */
  totals: { leaks: number; bytes: number }[];
  /** Suppressed leaked blocks and bytes, and the leaked blocks left (the exit status counts those). */
  suppressed: number;
  suppressedBytes: number;
  unsuppressed: number;
}

/** What the rules read of each node beside the analysis. */
export interface SuppressionInputs {
  /** The recorded allocation stack of node `id`, innermost first; undefined when not recorded. */
  stackOf?: (id: number) => readonly StackFrame[] | undefined;
}

/** LSan's module name for a return address it cannot place in an image. */
const UNKNOWN_MODULE = "<unknown module>";

/** Apply `rules` to the leaked blocks of `a` (see the header). O(leaked · rules · frames). */
export function applySuppressions(
  a: GraphAnalysis,
  rules: SuppressionRule[],
  inputs: SuppressionInputs = {},
): SuppressionResult {
  const nodes = a.graph.nodes;
  const n = a.status.length;
  const rule = new Int32Array(n).fill(-1);
  const stackRules = rules.map((r, i) => ({ r, i })).filter(({ r }) => r.kind === "leak");
  const otherRules = rules.map((r, i) => ({ r, i })).filter(({ r }) => r.kind !== "leak");
  const firstStackRule = (frames: readonly StackFrame[]): number => {
    const match = (str: string | undefined) => {
      if (str === undefined) return -1;
      for (const { r, i } of stackRules) if (templateMatch(r.pattern, str)) return i;
      return -1;
    };
    // Frames of one return address (inlined functions) share its pc and come together.
    for (let f = 0; f < frames.length;) {
      const pc = frames[f]!.pc;
      let end = f;
      while (end < frames.length && frames[end]!.pc === pc) end++;
      let hit = match(frames[f]!.image ?? UNKNOWN_MODULE);
      for (let k = f; hit < 0 && k < end; k++) {
        hit = match(frames[k]!.function);
        if (hit < 0) hit = match(frames[k]!.file);
      }
      if (hit >= 0) return hit;
      f = end;
    }
    return -1;
  };
  const ownRule = (v: number): number => {
    if (stackRules.length > 0 && inputs.stackOf) {
      const frames = inputs.stackOf(v);
      if (frames) {
        const hit = firstStackRule(frames);
        if (hit >= 0) return hit;
      }
    }
    const t = nodes.type[v]!;
    const typeName = t >= 0 ? nodes.typeNames[t] : undefined;
    for (const { r, i } of otherRules) {
      if (r.kind === "type" && typeName !== undefined && r.regex!.test(typeName)) return i;
      if (r.kind === "size" && nodes.size[v]! >= r.min! && nodes.size[v]! <= r.max!) return i;
    }
    return -1;
  };
  // Direct leaks first, so that what they hold can take their rule.
  for (let v = 0; v < n; v++) {
    if (isLeaked(a.status[v]!) && a.leak[v] === LEAK_DIRECT) rule[v] = ownRule(v);
  }
  const totals = rules.map(() => ({ leaks: 0, bytes: 0 }));
  let suppressed = 0, suppressedBytes = 0, unsuppressed = 0;
  for (let v = 0; v < n; v++) {
    if (!isLeaked(a.status[v]!)) continue;
    if (a.leak[v] !== LEAK_DIRECT) {
      // A suppressed direct leak's whole structure is its rule's; the rest is matched block by block.
      const o = a.owner[v]!;
      rule[v] = o >= 0 && rule[o]! >= 0 ? rule[o]! : ownRule(v);
    }
    const r = rule[v]!;
    if (r < 0) {
      unsuppressed++;
      continue;
    }
    totals[r]!.leaks++;
    totals[r]!.bytes += nodes.size[v]!;
    suppressed++;
    suppressedBytes += nodes.size[v]!;
  }
  return { rules, rule, totals, suppressed, suppressedBytes, unsuppressed };
}
