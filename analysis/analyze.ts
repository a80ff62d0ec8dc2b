// The whole analysis of a Snapshot, as a list of named phases (the table of contents of heapscope).
//
// enumerate allocations ► collect roots ► scan blocks ► scan roots ► flood fill ► classify (SCC).
// Every phase is linear in the bytes or blocks it touches; see each module for its complexity.

import { AllocationTable } from "./allocation_table.ts";
import { analyzeHeap, type AnalyzeOptions, type Progress } from "./analyze_heap.ts";
import { detectAllocator, enumerateGlibc } from "./glibc/mod.ts";
import { darwinHeapRanges } from "./mach_regions.ts";
import type { Analysis, HeapEnumeration, Snapshot } from "./types.ts";

/** The analysis could not be done (an allocator heapscope cannot read, no heap found...). */
export class AnalysisError extends Error {
  constructor(message: string, readonly hints: string[] = []) {
    super(message);
    this.name = "AnalysisError";
  }
}

/** Enumerate the target's allocations: macOS zones come in the snapshot, glibc is parsed here. */
export function enumerateHeap(snapshot: Snapshot): HeapEnumeration {
  if (snapshot.zoneAllocations) {
    const allocations = AllocationTable.from(
      [...snapshot.zoneAllocations].sort((a, b) => a.address - b.address),
    );
    // The malloc regions hold the blocks themselves: never roots, or every block would look reachable.
    return {
      allocator: "libmalloc zones",
      allocations,
      excluded: [],
      heapRanges: darwinHeapRanges(snapshot.regions),
      warnings: [],
    };
  }
  const found = detectAllocator(snapshot);
  if (found.kind === "foreign") {
    throw new AnalysisError(
      `Cannot enumerate the allocations of process ${snapshot.pid}: it uses ${found.name}, which heapscope cannot read yet`,
      [
        `Evidence: ${found.evidence}`,
        "heapscope reads glibc malloc (Linux) and libmalloc zones (macOS); reporting leaks without the allocator's own view would give false results",
      ],
    );
  }
  return enumerateGlibc(snapshot);
}

/** Run every phase on a snapshot (a bare function is taken as `progress`). */
export function analyze(snapshot: Snapshot, options: AnalyzeOptions | Progress = {}): Analysis {
  const opts = typeof options === "function" ? { progress: options } : options;
  opts.progress?.("enumerate", 0, 1);
  const t0 = performance.now();
  const heap = enumerateHeap(snapshot);
  return analyzeHeap(snapshot, heap, opts, { enumerate: performance.now() - t0 });
}

/**
 * Drop the snapshot's copied memory once nothing needs it (leaked blocks' first bytes are kept in
 * `leakedPrefix`): hundreds of MB less at the peak while the output is written.
 */
export function releaseMemory(analysis: Analysis): void {
  analysis.snapshot.memory = [];
}
