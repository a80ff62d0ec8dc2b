// Direct tests of the text summary on the hand-laid snapshot of analysis/testdata/synthetic.ts:
// counts that add up, grouped direct leaks with what each holds, the cycle count, bounded output,
// the verdict, colour only when asked, and control bytes in a command never reaching the terminal.

import { equal, match, ok } from "node:assert/strict";
import { analyzeHeap } from "../analysis/analyze.ts";
import { buildSynthetic } from "../analysis/testdata/synthetic.ts";
import { formatSummary, verdict } from "./summary.ts";

function summary(opts: Partial<Parameters<typeof formatSummary>[1]> = {}, command?: string) {
  const { snapshot, enumeration } = buildSynthetic();
  if (command !== undefined) snapshot.command = command;
  const a = analyzeHeap(snapshot, enumeration);
  return formatSummary(a, { outputs: [{ label: "leaks.json", path: "out.json" }], ...opts });
}

Deno.test("formatSummary() counts what the synthetic heap holds, and the totals add up", () => {
  const text = summary();
  // 11 blocks of 56 B: 4 reachable (A, B, R3, RG), 7 leaked (C, O, X direct; D1..D2 a cycle
  // entered at D1, holding D2 and T; K under O).
  match(text, /^target +pid 1 \(synthetic\), linux x86_64, /m);
  match(text, /^allocations +11 \(616 B\) +reachable 4$/m);
  match(text, /^leaked +7 blocks, 392 B \(4 direct, 3 indirect\)$/m);
  match(text, /^cycles +2$/m);
  match(text, /^leaks\.json +out\.json$/m);
  // Direct leaks grouped by size, zone and cycle membership; what each group holds adds up to
  // the leaked total: 2 in cycles (D1 holding D2 and T, X alone) and 2 outside (C, O holding K).
  match(text, /2 direct leaks of 56 B \[main-arena, in a cycle\], holding 2 more \(224 B in all\)/);
  match(text, /2 direct leaks of 56 B \[main-arena\], holding 1 more \(168 B in all\)/);
  // What keeps the rest alive: the global's two blocks (A and B behind it), the frame, the register.
  match(
    text,
    /top retainers[^\n]*\n {2}\/bin\/victim \(data without symbols\) holds 112 B in 2 blocks/,
  );
  const groups = [
    ...text.matchAll(/(\d+) direct leaks? of 56 B \[[^\]]*\](?:, holding (\d+) more)?/g),
  ];
  equal(groups.reduce((s, m) => s + Number(m[1]), 0), 4, text);
  equal(groups.reduce((s, m) => s + Number(m[1]) + Number(m[2] ?? 0), 0), 7, text);
  match(text, /✗ 7 allocation\(s\) unreachable from any root$/);
});

Deno.test("formatSummary() is bounded by top, colours only when asked, and prints commands safely", () => {
  const one = summary({ top: 1 });
  match(one, /\.\.\. 2 more direct leaks \(168 B in all\) omitted/, "top 1 says what it left out");
  const ESC = String.fromCharCode(27);
  ok(!summary().includes(ESC), "no escape codes without colour");
  ok(summary({ color: true }).includes(`${ESC}[31m✗ 7 allocation`), "the verdict in red");
  const hostile = summary({}, "evil\x1b]0;title\x07\r\nname");
  const controls = [...hostile].filter((c) => c !== "\n" && (c < " " || c === "\u007f"));
  equal(controls.length, 0, JSON.stringify(hostile));
  match(hostile, /pid 1 \(evil/);
});

Deno.test("the verdict: possible leaks alone are neither leaks nor a clean bill", () => {
  const plain = (code: string, text: string) => `${code}:${text}`;
  equal(
    verdict(0, 0, undefined, plain),
    "32:✓ no leaks: every allocation is reachable from a root",
  );
  const possible = verdict(0, 341, undefined, plain);
  match(possible, /^33:! no definite leaks, but 341 possible: /);
  match(possible, /heapscope why/);
  match(verdict(7, 341, undefined, plain), /^31:✗ 7 allocation\(s\) unreachable from any root$/);
});
