// nativeGraph(): the HeapGraph of a native heap from the scan's references and the live bytes.
//
// A reference counts when its word lies in its holder's live bytes (requested size, container
// capacity in use) and is not a skipped word; each is flagged weak (a root that is weak evidence,
// a word that may be malloc's slack or a pool's spare part) and interior (not to its target's
// start). O(references).

import { f64Array, i32Array, u32Array, u8Array } from "./arrays.ts";
import type { AllocationTable } from "./allocation_table.ts";
import {
  EDGE_INTERIOR,
  EDGE_WEAK,
  type GraphRoots,
  type HeapGraph,
  type RootEntry,
} from "./graph.ts";
import type { MemoryImage } from "./memory.ts";
import type { RegisterRoot, RootRange } from "./roots.ts";
import type { EdgeSet, RangeHits } from "./scan.ts";

export interface NativeGraphInput {
  memory: MemoryImage;
  allocations: AllocationTable;
  blockEdges: EdgeSet;
  rootHits: RangeHits;
  rootRanges: readonly RootRange[];
  registerHits: readonly { reg: RegisterRoot; target: number }[];
  /** Live bytes of each node: words at or past it are not references. */
  scanSize: Float64Array;
  /** Offset in each node from which words are weak evidence. */
  weakFrom: Uint32Array;
  /** Words that hold no reference. */
  skipped: ReadonlySet<number>;
  /** What each block is (analysis/block_types.ts). */
  types?: { type: Int32Array; names: string[] };
}

/**
 * The graph. `blockEdges` is consumed: the edges that count are compacted in place into its
 * arrays (at 10^6 blocks a copy would be ~30 MB of fresh memory), which the graph then holds (its
 * `exact` becomes the edges' flags); nothing may read the scan's edges afterwards.
 */
export function nativeGraph(input: NativeGraphInput): HeapGraph {
  const { memory, allocations, blockEdges: be, scanSize, weakFrom, skipped } = input;
  const n = allocations.length;
  const addresses = allocations.addresses;
  // In place, in the scan's arrays: edge m is written only after edge e ≥ m was read (the flags
  // over the exact bits), and block v's start after its old start and end were read. Fresh arrays
  // were 5 bytes an edge more at this, the run's second peak (the copy still resident).
  const target = be.target, offset = be.offset, exact = be.exact, start = be.start;
  const flags = exact;
  let m = 0;
  for (let v = 0; v < n; v++) {
    const from = start[v]!, end = start[v + 1]!;
    start[v] = m;
    const limit = scanSize[v]!, weak = weakFrom[v]!, base = addresses[v]!;
    for (let e = from; e < end; e++) {
      const off = offset[e]!;
      if (off + 8 > limit) continue;
      const where = base + off;
      if (skipped.size > 0 && skipped.has(where)) continue;
      const t = target[e]!;
      target[m] = t;
      offset[m] = off;
      // Interior unless the word is the target's start (the scan said which).
      flags[m] = (exact[e] ? 0 : EDGE_INTERIOR) | (off >= weak ? EDGE_WEAK : 0);
      m++;
    }
  }
  start[n] = m;
  return {
    nodes: {
      count: n,
      address: addresses,
      size: allocations.sizes,
      zone: allocations.zoneIds,
      zoneNames: allocations.zones,
      type: input.types?.type ?? i32Array(n).fill(-1),
      typeNames: input.types?.names ?? [],
      // Node flags are the Go heap dump's (finalizers): none here, and sparse, so not resident.
      flags: u8Array(n, true),
    },
    edges: {
      start,
      target: target.subarray(0, m),
      offset: offset.subarray(0, m),
      flags: flags.subarray(0, m),
    },
    roots: graphRoots(input),
    bytes: (id, max) => memory.slice(addresses[id]!, Math.min(max, allocations.sizes[id]!)),
    warnings: [],
  };
}

/** Root references: one entry per root range and per (thread, register). */
function graphRoots(input: NativeGraphInput): GraphRoots {
  const { memory, allocations, rootHits: hits, rootRanges, registerHits, skipped } = input;
  const entries: RootEntry[] = rootRanges.map((r) => ({
    kind: r.kind,
    ...(r.thread !== undefined ? { thread: r.thread } : {}),
    ...(r.image !== undefined ? { image: r.image } : {}),
  }));
  const count = hits.target.length + registerHits.length;
  const words = memory.wordReader();
  const entry = u32Array(count), where = f64Array(count);
  const target = u32Array(count), flags = u8Array(count);
  let k = 0;
  for (let h = 0; h < hits.target.length; h++) {
    const w = hits.address[h]!;
    if (skipped.size > 0 && skipped.has(w)) continue;
    const range = rootRanges[hits.range[h]!]!;
    const t = hits.target[h]!;
    entry[k] = hits.range[h]!;
    where[k] = w;
    target[k] = t;
    flags[k] = (range.weak ? EDGE_WEAK : 0) |
      (words.u64(w) === allocations.addresses[t] ? 0 : EDGE_INTERIOR);
    k++;
  }
  for (const { reg, target: t } of registerHits) {
    entry[k] = entries.length;
    entries.push({ kind: "register", name: reg.name, thread: reg.thread });
    where[k] = 0;
    target[k] = t;
    flags[k] = (reg.weak ? EDGE_WEAK : 0) |
      (reg.value === allocations.addresses[t] ? 0 : EDGE_INTERIOR);
    k++;
  }
  return {
    entries,
    entry: entry.subarray(0, k),
    where: where.subarray(0, k),
    target: target.subarray(0, k),
    flags: flags.subarray(0, k),
  };
}
