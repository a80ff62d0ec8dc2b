// Public surface of the analysis layer: pure TypeScript from a Snapshot to an Analysis.
export { AnalysisError, analyze, enumerateHeap, releaseMemory } from "./analyze.ts";
export { analyzeHeap, type AnalyzeOptions, type Progress } from "./analyze_heap.ts";
export { AllocationTable, AllocationTableBuilder } from "./allocation_table.ts";
export { AllocationIndex } from "./alloc_index.ts";
export { BlockPrefixes, LEAKED_PREFIX_BYTES } from "./block_prefixes.ts";
export {
  type EdgeSet,
  finishEdgeSet,
  type RangeHits,
  scanBlocks,
  type ScanKernel,
  scanPartialBlock,
  scanRange,
  scanRanges,
  TS_SCAN_KERNEL,
} from "./scan.ts";
export { MemoryImage } from "./memory.ts";
export type * from "./types.ts";
export {
  LEAK_DIRECT,
  LEAK_INDIRECT,
  LEAK_KIND,
  LEAK_NONE,
  NODE_STATUS,
  STATUS_CYCLE,
  STATUS_LEAKED,
  STATUS_REACHABLE,
} from "./types.ts";
export { aggregateSites, foldedStacks, formatSites, sitesForLeaks } from "./sites.ts";
