// The recognisers' memory-bound loops in one native pass (ffi/recognise_kernel.ts over
// shim/recognise_kernel.c), when the scan kernel has it. In TypeScript they are five passes:
// slackWords (analysis/analyze.ts), the container candidates (analysis/containers.ts
// collectCandidates) and the first-word, red-black node and hashtable checks
// (analysis/block_types.ts). Each misses the cache once per block or reference, ~1 s at 10^6
// blocks. The pass gives exactly what those loops give (ffi/recognise_kernel_test.ts compares
// them); what needs names, maps and sets stays in TypeScript.

import type { AllocationTable } from "./allocation_table.ts";
import type { Segments } from "./edge_words.ts";
import type { CandidateList } from "./containers.ts";
import type { MemoryImage } from "./memory.ts";

/**
 * The scan's references as its own arrays (analysis/analyze.ts scanReferences): block edges in
 * CSR order (block i's are start[i] to start[i + 1]; the word at addresses[i] + its offset points
 * into target[r], at its start unless word[r] says interior: analysis/edge_words.ts), then root
 * hits (hitAddress, hitTarget).
 */
export interface RawReferences {
  addresses: Float64Array;
  start: Uint32Array;
  target: Uint32Array;
  word: Uint16Array;
  segments: Segments;
  hitAddress: Float64Array;
  hitTarget: Uint32Array;
}

export interface RecogniseInput {
  memory: MemoryImage;
  allocations: AllocationTable;
  /** Per block the recorder's requested size, -1 when unknown (slackWords). */
  requested?: Float64Array;
  /** The snapshot's regions, sorted (slackWords: a word into one is a pointer). */
  regions: { starts: Float64Array; ends: Float64Array };
  /** The images' file mappings, sorted (ImageIndex.fileSpans: where a vtable can be). */
  spans: { starts: Float64Array; ends: Float64Array };
  refs: RawReferences;
}

/** What the TypeScript loops would have found, for the phases that use it. */
export interface Recognised {
  /** slackWords' result. */
  slack: Uint32Array;
  /** collectCandidates' result. */
  candidates: CandidateList;
  /** Blocks whose first word may be a vtable pointer (in an image's file mapping), and the word. */
  vtables: { block: Uint32Array; word: Float64Array };
  /** Red-black tree nodes, and the header (parent) of a root, else -1. */
  rbNodes: { block: Uint32Array; parent: Float64Array };
  /** References that are a hashtable's `buckets` word (all checks up to the load factor). */
  hashRefs: Uint32Array;
}

export type RecogniseKernel = (input: RecogniseInput) => Recognised;
