// Every analysis phase after enumeration: roots ► scan blocks ► scan roots ► flood fill ► classify.
//
// Each phase is linear in the bytes or blocks it touches; see each module for its complexity.

import { AllocationIndex } from "./alloc_index.ts";
import { classify, floodFill } from "./classify.ts";
import { MemoryImage } from "./memory.ts";
import { collectRoots } from "./roots.ts";
import { BlockPrefixes } from "./block_prefixes.ts";
import { type ScanKernel, TS_SCAN_KERNEL } from "./scan.ts";
import {
  type Analysis,
  type HeapEnumeration,
  type RootRef,
  type Snapshot,
  STATUS_REACHABLE,
} from "./types.ts";

export type Progress = (phase: string, done: number, total: number) => void;

export interface AnalyzeOptions {
  progress?: Progress;
  /** The conservative scan to use (default: the TypeScript one; ffi/ has a native one). */
  kernel?: ScanKernel;
}

/** Every phase after enumeration, on a given allocation list (tests build one by hand). */
export function analyzeHeap(
  snapshot: Snapshot,
  heap: HeapEnumeration,
  options: AnalyzeOptions = {},
  phaseMs: Record<string, number> = {},
): Analysis {
  const progress = options.progress;
  const kernel = options.kernel ?? TS_SCAN_KERNEL;
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
  const edges = timed("scan", () => kernel.scanBlocks(memory, index, allocations));

  // Root scan: the first reference to each block is kept as its root (bounded output).
  const rootOf = new Int32Array(n).fill(-1);
  const rootRefs: RootRef[] = [];
  const seeds: number[] = [];
  timed("scan-roots", () => {
    const hits = kernel.scanRanges(memory, index, roots.ranges);
    for (let h = 0; h < hits.target.length; h++) {
      const target = hits.target[h]!;
      if (rootOf[target] !== -1) continue;
      const r = roots.ranges[hits.range[h]!]!;
      rootOf[target] = rootRefs.length;
      seeds.push(target);
      rootRefs.push({
        kind: r.kind,
        thread: r.thread,
        image: r.image,
        address: hits.address[h]!,
        target,
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
  // The first bytes of leaked blocks, so that the caller can drop the copied memory early.
  let leaked = 0;
  for (let i = 0; i < n; i++) if (c.status[i] !== STATUS_REACHABLE) leaked++;
  const leakedIds = new Uint32Array(leaked);
  for (let i = 0, k = 0; i < n; i++) if (c.status[i] !== STATUS_REACHABLE) leakedIds[k++] = i;
  const leakedPrefix = BlockPrefixes.copy(
    memory,
    leakedIds,
    allocations.addresses,
    allocations.sizes,
  );
  return {
    snapshot,
    heap: { ...heap, warnings: [...heap.warnings, ...roots.warnings] },
    status: c.status,
    leak: c.leak,
    leakedPrefix,
    edgeSource: edges.source,
    edgeTarget: edges.target,
    edgeOffset: edges.offset,
    cycles: c.cycles,
    roots: rootRefs,
    via,
    phaseMs,
  };
}
