// Tests of the sites text: two sites on one source line are told apart, outer frames unchanged.

import assert from "node:assert/strict";
import type { SiteRow, StackFrame } from "../analysis/sites.ts";
import { ambiguousFrames } from "./frame_text.ts";
import { formatSites } from "./sites_text.ts";

const row = (site: number): SiteRow => ({
  site,
  count: 2,
  bytes: 64,
  peakCount: 2,
  peakBytes: 64,
  totalCount: 2,
  totalBytes: 64,
  leakedCount: 1,
  leakedBytes: 32,
  direct: 1,
  directBytes: 32,
  oldestMs: 1000,
  meanAgeMs: 500,
  threads: [7],
});

Deno.test("formatSites() tells apart two sites on one line by offset and column", () => {
  const frame = (pc: string, offset: number, column: number): StackFrame => ({
    pc,
    function: "leak_cycle",
    file: "prog.c",
    line: 7,
    column,
    offset,
  });
  const main: StackFrame = { pc: "0x90", function: "main", file: "prog.c", line: 20 };
  const stacks = [[frame("0x51c", 0x1c, 13), main], [frame("0x52a", 0x2a, 31), main]];
  const text = formatSites({ sites: [row(0), row(1)], stacks, omittedSites: 0 });
  assert.match(text, /at leak_cycle\+0x1c prog\.c:7:13\n/);
  assert.match(text, /at leak_cycle\+0x2a prog\.c:7:31\n/);
  assert.equal(text.match(/at main prog\.c:20$/gm)?.length, 2, "outer frames unchanged");
  assert.match(text, /^site 0: 1 direct holding 32 B, 1 leaked \(32 B\)/m);
  // The same call from two callers prints the same innermost line: nothing to add.
  const same = formatSites({
    sites: [row(0), row(1)],
    stacks: [stacks[0]!, stacks[0]!],
    omittedSites: 0,
  });
  assert.equal(same.match(/at leak_cycle prog\.c:7$/gm)?.length, 2);
  assert.deepEqual(ambiguousFrames([stacks[0]![0], undefined, main], (f) => f.function!), [
    false,
    false,
    false,
  ]);
});
