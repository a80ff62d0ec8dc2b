// Tests of the /proc readers that parse text: steal time and when it is worth a warning.

import { equal, match, ok } from "node:assert/strict";
import { stealMs, stealWarning } from "./procfs.ts";

Deno.test("stealMs() reads /proc/stat's steal ticks as ms, and nothing from other text", () => {
  const stat = "cpu  332062 5437 110833 1113106 946 0 599 524 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
  equal(stealMs(stat), 5240);
  equal(stealMs("cpu  1 2 3 4 5 6 7\n"), undefined); // a kernel without the column
  equal(stealMs("intr 1 2 3 4 5 6 7 8 9\n"), undefined);
  equal(stealMs(""), undefined);
  // This machine's: a multiple of 10 ms that does not go down.
  const a = stealMs(), b = stealMs();
  ok(a !== undefined && a % 10 === 0 && b !== undefined && b >= a, `${a} then ${b}`);
});

Deno.test("stealWarning(): 30 ms or more and a fifth of the pause, else nothing", () => {
  equal(stealWarning(40, undefined), undefined);
  equal(stealWarning(40, 0), undefined);
  equal(stealWarning(40, 20), undefined); // under 30 ms
  equal(stealWarning(1000, 100), undefined); // under a fifth of the pause
  match(
    stealWarning(250, 120)!,
    /120 ms \(steal time, all CPUs together\) during the 250 ms pause/,
  );
  match(stealWarning(100, 30)!, /30 ms/);
});
