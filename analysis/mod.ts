// Public surface of the analysis layer: pure TypeScript from a Snapshot (or a HeapGraph) to an Analysis.
export {
  analyze,
  analyzeHeap,
  type AnalyzeOptions,
  enumerateHeap,
  releaseMemory,
} from "./analyze.ts";
export { analyzeGraph, PhaseTimer, type Progress } from "./analyze_graph.ts";
export { AnalysisError, EXIT, type ExitStatus, HeapscopeError } from "./errors.ts";
export { AllocationTable, AllocationTableBuilder } from "./allocation_table.ts";
export { AllocationIndex, type IndexKernel } from "./alloc_index.ts";
export { BlockPrefixes, LEAKED_PREFIX_BYTES } from "./block_prefixes.ts";
export {
  type EdgeSet,
  edgeSources,
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
export type { WalkKernel } from "./glibc/chunks.ts";
export type {
  RawReferences,
  Recognised,
  RecogniseInput,
  RecogniseKernel,
} from "./recognise_kernel.ts";
export { CandidateList } from "./containers.ts";
export type * from "./types.ts";
export type * from "./graph.ts";
export { EDGE_INTERIOR, EDGE_WEAK, NODE_FINALIZER } from "./graph.ts";
export {
  isLeaked,
  LEAK_DIRECT,
  LEAK_INDIRECT,
  LEAK_KIND,
  LEAK_NONE,
  NODE_STATUS,
  STATUS_CYCLE,
  STATUS_LEAKED,
  STATUS_POSSIBLE,
  STATUS_REACHABLE,
} from "./types.ts";
export {
  aggregateSites,
  foldedStacks,
  framesOf,
  type LeaksSites,
  type RecorderTable,
  selectedPcs,
  selectSites,
  sitesForLeaks,
  type SiteSort,
  withFrames,
} from "./sites.ts";
