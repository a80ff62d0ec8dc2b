// Every analysis phase after enumeration: roots ► scan blocks ► scan roots ► flood fill ► classify.
//
// Each phase is linear in the bytes or blocks it touches; see each module for its complexity.

import { AllocationIndex } from "./alloc_index.ts";
import { classify, floodFill } from "./classify.ts";
import { MemoryImage } from "./memory.ts";
import { collectRoots } from "./roots.ts";
import { scanBlocks, scanRange } from "./scan.ts";
import type { Analysis, HeapEnumeration, RootRef, Snapshot } from "./types.ts";

export type Progress = (phase: string, done: number, total: number) => void;

/** Every phase after enumeration, on a given allocation list (tests build one by hand). */
export function analyzeHeap(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  progress?: Progress,
  phaseMs: Record<string, number> = {},
): Analysis {
  const timed = <T>(name: string, f: () => T): T => {
    const t0 = performance.now();
    progress?.(name, 0, 1);
    const r = f();
    phaseMs[name] = (phaseMs[name] ?? 0) + performance.now() - t0;
    return r;
  };
  const memory = new MemoryImage(snapshot.memory);
  const allocations = heap.allocations;
  const n = allocations.length;
  const index = timed("index", () => new AllocationIndex(allocations));
  const roots = timed("roots", () => collectRoots(snapshot, memory, heap));
  const edges = timed("scan", () => scanBlocks(memory, index, allocations));

  // Root scan: the first reference to each block is kept as its root (bounded output).
  const rootOf = new Int32Array(n).fill(-1);
  const rootRefs: RootRef[] = [];
  const seeds: number[] = [];
  timed("scan-roots", () => {
    for (const r of roots.ranges) {
      scanRange(memory, index, r.start, r.end, (address, target) => {
        if (rootOf[target] !== -1) return;
        rootOf[target] = rootRefs.length;
        seeds.push(target);
        rootRefs.push({ kind: r.kind, thread: r.thread, image: r.image, address, target });
      });
    }
    for (const reg of roots.registers) {
      const target = index.lookup(reg.value);
      if (target < 0 || rootOf[target] !== -1) continue;
      rootOf[target] = rootRefs.length;
      seeds.push(target);
      rootRefs.push({
        kind: "register",
        thread: reg.thread,
        register: reg.name,
        address: 0,
        target,
      });
    }
  });
  const via = timed("flood-fill", () => floodFill(n, edges, seeds));
  const c = timed("classify", () => classify(index.starts, edges, via));
  return {
    snapshot,
    heap: { ...heap, warnings: [...heap.warnings, ...roots.warnings] },
    status: c.status,
    leak: c.leak,
    edgeSource: edges.source,
    edgeTarget: edges.target,
    edgeOffset: edges.offset,
    cycles: c.cycles,
    roots: rootRefs,
    via,
    phaseMs,
  };
}
