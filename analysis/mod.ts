// Public surface of the analysis layer: pure TypeScript from a Snapshot to an Analysis.
export { AnalysisError, analyze, enumerateHeap } from "./analyze.ts";
export { analyzeHeap, type Progress } from "./analyze_heap.ts";
export { MemoryImage } from "./memory.ts";
export type * from "./types.ts";
export { aggregateSites, foldedStacks, formatSites, sitesForLeaks } from "./sites.ts";
