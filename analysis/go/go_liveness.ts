// classifyGoHeap(): what the Go garbage collector will do with each object of a heap dump.
//
// An object no anchor reaches is garbage the next GC frees, not a leak. The exception is Go's
// leaked cycle: the GC marks everything an object with a finalizer points to (so that the
// finalizer sees live data), so when that object is on a cycle it marks itself, never becomes
// unreachable, and neither it nor anything it reaches is ever freed (runtime.SetFinalizer: "If a
// cyclic structure includes a block with a finalizer, that cycle is not guaranteed to be garbage
// collected"). Phases, as LeakSanitizer names its own: anchored flood fill → finalizer cycles
// (Tarjan SCC over the unanchored subgraph) → kept by those cycles → pending finalizers → garbage.
// O(V + E) time, O(V) memory.

import { type HeapGraph, NODE_FINALIZER } from "../graph.ts";
import { stronglyConnected } from "../scc.ts";

/** Per-node states (GoLiveness.state). */
export const GO_ANCHORED = 0; // reached from a global, a goroutine stack or another runtime root
export const GO_LEAKED_CYCLE = 1; // on a cycle through an object with a finalizer: never freed
export const GO_KEPT_BY_CYCLE = 2; // reached only from such a cycle: never freed either
export const GO_FINALIZER = 3; // waits for a finalizer (queued, or its object is unreachable)
export const GO_GARBAGE = 4; // unreachable: the next GC frees it
export const GO_STATE_NAMES = [
  "anchored",
  "leaked finalizer cycle",
  "kept by a leaked finalizer cycle",
  "waiting for a finalizer",
  "garbage",
] as const;

export interface GoLiveness {
  state: Uint8Array;
  /** Go's leaked cycles: each a strongly connected component (node ids) holding a finalizer. */
  cycles: number[][];
  /** Node count and bytes per state. */
  count: number[];
  bytes: number[];
}

/** Classifies every node of a Go heap graph (roots of kind "finalizer" are not anchors). */
export function classifyGoHeap(g: HeapGraph): GoLiveness {
  const n = g.nodes.count;
  const { start, target } = g.edges;
  const state = new Uint8Array(n).fill(GO_GARBAGE);
  const queue = new Uint32Array(n);

  /** Flood fill from `seeds` over nodes still in `from`, into `to`. */
  const flood = (seeds: Iterable<number>, from: number, to: number) => {
    let head = 0, tail = 0;
    for (const s of seeds) {
      if (state[s] === from) {
        state[s] = to;
        queue[tail++] = s;
      }
    }
    while (head < tail) {
      const v = queue[head++]!;
      for (let e = start[v]!; e < start[v + 1]!; e++) {
        const w = target[e]!;
        if (state[w] === from) {
          state[w] = to;
          queue[tail++] = w;
        }
      }
    }
  };

  // 1. anchored: every root but finalizers'.
  const anchorSeeds: number[] = [], finalizerSeeds: number[] = [];
  for (let r = 0; r < g.roots.target.length; r++) {
    const kind = g.roots.entries[g.roots.entry[r]!]!.kind;
    (kind === "finalizer" ? finalizerSeeds : anchorSeeds).push(g.roots.target[r]!);
  }
  flood(anchorSeeds, GO_GARBAGE, GO_ANCHORED);

  // 2. leaked cycles: unanchored components that hold a finalizer and are cycles.
  const member = new Uint8Array(n);
  for (let v = 0; v < n; v++) member[v] = state[v] === GO_GARBAGE ? 1 : 0;
  const { comp, count } = stronglyConnected({ nodeCount: n, start, adj: target }, member);
  const size = new Uint32Array(count);
  for (let v = 0; v < n; v++) if (comp[v]! >= 0) size[comp[v]!]!++;
  const leakedComp = new Uint8Array(count);
  for (let v = 0; v < n; v++) {
    const c = comp[v]!;
    if (c < 0 || !(g.nodes.flags[v]! & NODE_FINALIZER)) continue;
    if (size[c]! > 1 || hasSelfEdge(g, v)) leakedComp[c] = 1;
  }
  const byComp = new Map<number, number[]>();
  for (let v = 0; v < n; v++) {
    const c = comp[v]!;
    if (c < 0 || !leakedComp[c]) continue;
    state[v] = GO_LEAKED_CYCLE;
    let list = byComp.get(c);
    if (!list) byComp.set(c, list = []);
    list.push(v);
  }
  const cycles = [...byComp.values()];

  // 3. kept by those cycles.
  const cycleSeeds: number[] = [];
  for (const c of cycles) {
    for (const v of c) {
      for (let e = start[v]!; e < start[v + 1]!; e++) cycleSeeds.push(target[e]!);
    }
  }
  flood(cycleSeeds, GO_GARBAGE, GO_KEPT_BY_CYCLE);

  // 4. waiting for a finalizer: unreachable objects with one, what they and queued ones hold.
  for (let v = 0; v < n; v++) {
    if (state[v] === GO_GARBAGE && g.nodes.flags[v]! & NODE_FINALIZER) finalizerSeeds.push(v);
  }
  flood(finalizerSeeds, GO_GARBAGE, GO_FINALIZER);

  const counts = [0, 0, 0, 0, 0], bytes = [0, 0, 0, 0, 0];
  for (let v = 0; v < n; v++) {
    counts[state[v]!]!++;
    bytes[state[v]!]! += g.nodes.size[v]!;
  }
  return { state, cycles, count: counts, bytes };
}

function hasSelfEdge(g: HeapGraph, v: number): boolean {
  for (let e = g.edges.start[v]!; e < g.edges.start[v + 1]!; e++) {
    if (g.edges.target[e] === v) return true;
  }
  return false;
}
