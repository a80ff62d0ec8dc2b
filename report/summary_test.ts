// Direct tests of the text summary on the hand-laid snapshot of analysis/testdata/synthetic.ts:
// counts that add up, grouped direct leaks with what each holds, the cycle count, bounded output,
// the verdict, colour only when asked, and control bytes in a command never reaching the terminal.

import { equal, match, ok } from "node:assert/strict";
import { analyzeHeap } from "../analysis/analyze.ts";
import { buildSynthetic, buildWeakHeld } from "../analysis/testdata/synthetic.ts";
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

Deno.test("formatSummary() lists the possible structures: joined blocks, the weak words into them, one to ask why about", () => {
  // Stale words in A's tail (past glibc's foot) to O, which holds K, and to X (a leaked self loop).
  const { snapshot, enumeration, at } = buildWeakHeld(["O", "X"]);
  const a = analyzeHeap(snapshot, enumeration);
  const text = formatSummary(a, { outputs: [] });
  match(text, /^possible +3 blocks, 168 B held only by weak evidence/m);
  const hex = (n: string) => `0x${at[n]!.toString(16)}`;
  // Biggest first; O and K are one structure, entered at O.
  match(
    text,
    new RegExp(
      "possible structures[^\\n]*\\n" +
        `  2 blocks, 112 B, kept by 1 weak word: past glibc's foot; e\\.g\\. at ${hex("O")}\\n` +
        `  1 block, 56 B, kept by 1 weak word: past glibc's foot; e\\.g\\. at ${hex("X")}\\n`,
    ),
    text,
  );
  // Bounded by top, saying what it left out.
  match(
    formatSummary(a, { outputs: [], top: 1 }),
    /past glibc's foot; e\.g\. at 0x[0-9a-f]+\n {2}\.\.\. 1 more \(1 blocks?, 56 B\) omitted/,
  );
  // Two ways into one structure: T (alone) and D1 (holding D2, which holds T too): the example is
  // the entry the most hangs under, D1, not the first or last found.
  const cycle = buildWeakHeld(["T", "D1"]);
  match(
    formatSummary(analyzeHeap(cycle.snapshot, cycle.enumeration), { outputs: [] }),
    new RegExp(
      `\\n  3 blocks, 168 B, kept by 2 weak words: past glibc's foot ×2; e\\.g\\. at 0x${
        cycle.at.D1!.toString(16)
      }\\n`,
    ),
  );
  // Nothing possible: no section.
  ok(!summary().includes("possible structures"));
});
