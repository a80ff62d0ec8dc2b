// The phases every input shares once it is a HeapGraph: reachability, components, classification,
// attribution. A native heap (analysis/analyze.ts) and a Go heap dump (analysis/go/) both end here.
//
// Each phase is O(V + E); see analysis/classify.ts.

import { attributeLeaks, classify, reachability } from "./classify.ts";
import type { HeapGraph } from "./graph.ts";
import type { GraphAnalysis } from "./types.ts";

export type Progress = (phase: string, done: number, total: number) => void;

/** Runs named phases one after another, timing each (phaseMs) and telling `progress`. */
export class PhaseTimer {
  readonly phaseMs: Record<string, number> = {};
  constructor(readonly progress?: Progress) {}

  run<T>(name: string, f: () => T): T {
    const t0 = performance.now();
    this.progress?.(name, 0, 1);
    const r = f();
    this.phaseMs[name] = (this.phaseMs[name] ?? 0) + performance.now() - t0;
    return r;
  }
}

export interface GraphOptions {
  /** Allocation time of each node (NaN unknown): the first allocated is a cycle's entry. */
  allocatedAt?: ArrayLike<number>;
}

/** Reachability, leaks, cycles and attribution of `graph`. */
export function analyzeGraph(
  graph: HeapGraph,
  opts: GraphOptions = {},
  phases = new PhaseTimer(),
): GraphAnalysis {
  const reach = phases.run("reachability", () => reachability(graph));
  const c = phases.run("classify", () =>
    classify(graph.edges, reach.state, {
      addresses: graph.nodes.address,
      allocatedAt: opts.allocatedAt,
    }));
  const owner = phases.run("attribute", () => attributeLeaks(graph.edges, c.status, c.leak));
  const via = reach.via;
  return {
    graph,
    status: c.status,
    leak: c.leak,
    via,
    rootRef: reach.rootRef,
    cycles: c.cycles,
    owner,
    phaseMs: phases.phaseMs,
  };
}
