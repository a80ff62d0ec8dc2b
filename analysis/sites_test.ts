// Tests for per-site aggregation, sorting and folded stacks on a hand-built recorder table.

import assert from "node:assert/strict";
import {
  aggregateSites,
  compareSites,
  foldedStacks,
  framesOf,
  type RecorderTable,
  selectedPcs,
  selectSites,
  type StackFrame,
} from "./sites.ts";
import { type Analysis, LEAK_DIRECT, STATUS_LEAKED, STATUS_REACHABLE } from "./types.ts";

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

/**
 * Just what selectSites() reads of an analysis: node addresses and sizes, their status, and each
 * leaked node under itself (every leaked node here is a direct leak).
 */
function analysisOf(nodes: { address: number; leaked: boolean }[]): Analysis {
  return {
    heap: {
      allocations: {
        length: nodes.length,
        addresses: nodes.map((n) => n.address),
        sizes: nodes.map(() => 100),
      },
    },
    status: Uint8Array.from(nodes, (n) => n.leaked ? STATUS_LEAKED : STATUS_REACHABLE),
    leak: Uint8Array.from(nodes, () => LEAK_DIRECT),
    owner: Int32Array.from(nodes, (n, i) => n.leaked ? i : -1),
  } as unknown as Analysis;
}

Deno.test("selectSites() keeps the top rows and the written nodes' sites, renumbered densely", () => {
  const t = table();
  t.stacks.set(3, { ...t.stacks.get(1)!, id: 3, pcs: [0x40], totalCount: 9 });
  // Node 0 (stack 1) leaked, node 1 (stack 2) reachable; stack 3 only churned.
  const a = analysisOf([{ address: 0x1000, leaked: true }, { address: 0x3000, leaked: false }]);
  const top1 = selectSites(a, t, { top: 1 });
  assert.deepEqual(top1.sites.map((r) => r.site), [0], "the listed row is site 0");
  assert.equal(top1.recorded[0]!.id, 1, "leaked bytes first: stack 1");
  assert.deepEqual(top1.recorded.map((st) => st!.id), [1, 2], "stack 2 kept for node 1");
  assert.deepEqual([...top1.site], [0, 1]);
  assert.equal(top1.omittedSites, 2);
  assert.deepEqual([...selectedPcs(top1)].sort((x, y) => x - y), [0x10, 0x20, 0x30]);
  const leakedOnly = selectSites(a, t, { top: 1, written: Uint8Array.of(1, 0) });
  assert.deepEqual(leakedOnly.recorded.map((st) => st!.id), [1], "node 1 is not written");
  assert.deepEqual([...leakedOnly.site], [0, -1]);
  assert.equal(leakedOnly.keptRows.length, 1);
});
