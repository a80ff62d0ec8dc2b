// Tests for per-site aggregation, sorting and folded stacks on a hand-built recorder table.

import assert from "node:assert/strict";
import {
  aggregateSites,
  compareSites,
  foldedStacks,
  framesOf,
  type RecorderTable,
  type StackFrame,
} from "./sites.ts";

const MS = 1e6;

function table(): RecorderTable {
  const stack = (id: number, pcs: number[], total: number, peak: number) => ({
    id,
    pcs,
    liveCount: 0,
    liveBytes: 0,
    peakCount: peak,
    peakBytes: peak * 10,
    totalCount: total,
    totalBytes: total * 10,
  });
  return {
    pid: 1,
    depth: 32,
    unwinder: "libunwind",
    startNs: 0,
    nowNs: 1000 * MS,
    stacks: new Map([
      [1, stack(1, [0x10, 0x20], 5, 3)],
      [2, stack(2, [0x30, 0x20], 100, 1)],
    ]),
    blocks: [
      { address: 0x1000, size: 10, stack: 1, tid: 7, timeNs: 100 * MS },
      { address: 0x2000, size: 10, stack: 1, tid: 8, timeNs: 600 * MS },
      { address: 0x3000, size: 500, stack: 2, tid: 7, timeNs: 900 * MS },
    ],
    timeline: [],
    source: "test",
  };
}

Deno.test("aggregateSites() counts live blocks, bytes, ages and threads per stack", () => {
  const { rows, stackIds } = aggregateSites(table());
  assert.deepEqual(stackIds, [1, 2]);
  const [a, b] = rows as [typeof rows[0], typeof rows[0]];
  assert.deepEqual([a.count, a.bytes, a.peakCount, a.totalCount], [2, 20, 3, 5]);
  assert.equal(a.oldestMs, 900);
  assert.equal(a.meanAgeMs, 650);
  assert.deepEqual(a.threads, [7, 8]);
  assert.deepEqual([b.count, b.bytes, b.peakBytes], [1, 500, 500], "peak is never below live");
});

Deno.test("compareSites() sorts by bytes or by count", () => {
  const { rows } = aggregateSites(table());
  assert.deepEqual([...rows].sort(compareSites("size")).map((r) => r.site), [1, 0]);
  assert.deepEqual([...rows].sort(compareSites("count")).map((r) => r.site), [0, 1]);
});

Deno.test("foldedStacks() writes root-first frames and merges equal stacks", () => {
  const t = table();
  const { rows, stackIds } = aggregateSites(t);
  const names = new Map<number, StackFrame[]>([
    [0x10, [{ pc: "0x10", function: "inner" }, { pc: "0x10", function: "inlined;caller" }]],
    [0x20, [{ pc: "0x20", function: "main" }]],
  ]);
  const stacks = stackIds.map((id) => framesOf(t.stacks.get(id)!, names));
  assert.equal(stacks[1]![0]!.pc, "0x30", "an unknown pc stays a bare frame");
  assert.equal(foldedStacks(rows, stacks, "live"), "main;inlined:caller;inner 20\nmain;0x30 500\n");
  assert.equal(foldedStacks(rows, stacks, "leaked"), "", "nothing leaked without an analysis");
});
