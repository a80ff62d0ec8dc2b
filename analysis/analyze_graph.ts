// The phases every input shares once it is a HeapGraph: reachability, components, classification,
// attribution. A native heap (analysis/analyze.ts) and a Go heap dump (analysis/go/) both end here.
//
// Each phase is O(V + E); see analysis/classify.ts.

import { f64Array, i32Array, releaseArrays, u32Array } from "./arrays.ts";
import {
  attributeLeaks,
  classify,
  floodFill,
  type FloodKernel,
  reachedStates,
  rootRefs,
} from "./classify.ts";
import { type DominatorKernel, dominatorTree, UNREACHABLE } from "./dominators.ts";
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

/** What each root reference belongs to (GraphOptions.holders): a key per reference, and names. */
export type Holders = { key: Int32Array; names: string[] };

export interface GraphOptions {
  /** Allocation time of each node (NaN unknown): the first allocated is a cycle's entry. */
  allocatedAt?: ArrayLike<number>;
  /** Nodes that make a better cycle entry (see ClassifyOptions.preferred). */
  preferred?: ArrayLike<number>;
  /** Compute the dominator tree and retained sizes (default true). */
  dominators?: boolean;
  /**
   * What each root reference belongs to, for the dominator tree: references with one key (the
   * words of one global variable, one stack frame) form one holder that dominates what only it
   * reaches ("g_registry holds 41 MiB"). Default: one holder per root entry. A function is
   * called just before the dominators (the native analysis names its roots there: their lines
   * come from a tool started at the analysis's start, which has had the most time by then).
   */
  holders?: Holders | (() => Holders);
  /** The dominator tree's implementation (default: analysis/dominators.ts's). */
  dominatorTree?: DominatorKernel;
  /** floodFill's search in native code (default: analysis/classify.ts's). */
  floodFill?: FloodKernel;
  /**
   * Called once it is known which blocks are leaked (`isLeaked(state[i])`: after reachability,
   * before classification splits them into leaks and cycles): the native analysis keeps the
   * leaked blocks' first bytes then and drops the heap's copy, so that classification, attribution
   * and the dominators make their arrays in its pages.
   */
  reached?: (state: Uint8Array, via: Int32Array) => void;
}

/** Reachability, leaks, cycles and attribution of `graph`. */
export function analyzeGraph(
  graph: HeapGraph,
  opts: GraphOptions = {},
  phases = new PhaseTimer(),
): GraphAnalysis {
  const reached = phases.run("reachability", () => reachedStates(graph, opts.floodFill));
  opts.reached?.(reached.state, reached.via);
  // The root references after the hook (the native analysis drops the heap's copy there): 4 bytes
  // a block less at the reachability's peak.
  const reach = { ...reached, rootRef: phases.run("reachability", () => rootRefs(graph, reached)) };
  const c = phases.run("classify", () =>
    classify(graph.edges, reach.state, {
      addresses: graph.nodes.address,
      allocatedAt: opts.allocatedAt,
      preferred: opts.preferred,
    }));
  const owner = phases.run(
    "attribute",
    () => attributeLeaks(graph.edges, c.status, c.leak, c.leaked),
  );
  const holders = opts.dominators === false || typeof opts.holders !== "function"
    ? opts.holders as Holders | undefined
    : opts.holders();
  const dom = opts.dominators === false ? undefined : phases.run(
    "dominators",
    () => holderDominators(graph, holders, opts.dominatorTree, opts.floodFill),
  );
  return {
    graph,
    status: c.status,
    leak: c.leak,
    via: reach.via,
    rootRef: reach.rootRef,
    cycles: c.cycles,
    owner,
    ...(dom
      ? {
        idom: dom.idom,
        heldBy: dom.heldBy,
        retained: dom.retained,
        retainedCount: dom.retainedCount,
        holders: dom.holders,
      }
      : {}),
    phaseMs: phases.phaseMs,
  };
}

/**
 * The dominator tree with one node per holder (see GraphOptions.holders) between the virtual root
 * and the blocks: graph nodes 0..n-1, holder k at n + k. Returned per block: its immediate
 * dominator (a block, or -1 when a holder or the virtual root), its retained bytes and blocks; per
 * holder: its name, what it retains, and its blocks' count.
 *
 * A stack slot or a register that points at a block some global also reaches is an alias of the
 * moment (an iterator, an argument), not what keeps the block: such references hold nothing here,
 * or every block a function touches would hang under the virtual root and "g_registry holds
 * 41 MiB" would never be said. O(V + E + root references).
 */
export function holderDominators(
  graph: HeapGraph,
  given?: Holders,
  treeOf: DominatorKernel = dominatorTree,
  flood?: FloodKernel,
): {
  idom: Int32Array;
  heldBy: Int32Array;
  retained: Float64Array;
  retainedCount: Uint32Array;
  holders: { name: string; bytes: number; blocks: number }[];
} {
  const n = graph.nodes.count, roots = graph.roots;
  const key = given?.key ?? roots.entry;
  const names = given?.names ??
    roots.entries.map((e) =>
      e.name ?? `${e.kind}${e.thread !== undefined ? ` of thread ${e.thread}` : ""}`
    );
  const k = names.length, m = graph.edges.target.length;
  // Long-lived holders (globals, TLS, other non-stack memory) first: what they reach.
  const transient = (i: number) => {
    const kind = roots.entries[roots.entry[i]!]!.kind;
    return kind === "stack" || kind === "register";
  };
  const lasting: number[] = [];
  for (let i = 0; i < roots.target.length; i++) if (!transient(i)) lasting.push(roots.target[i]!);
  const reached = floodFill(n, graph.edges, lasting, 0, undefined, false, flood);
  const refs: number[] = [];
  for (let i = 0; i < roots.target.length; i++) {
    if (!transient(i) || reached[roots.target[i]!] === -2) refs.push(i);
  }
  const r = refs.length;
  // Augmented CSR: the blocks' edges, then each holder's references.
  const start = u32Array(n + k + 1);
  start.set(graph.edges.start);
  const perKey = u32Array(k);
  for (const i of refs) perKey[key[i]!]!++;
  for (let h = 0; h < k; h++) start[n + h + 1] = start[n + h]! + perKey[h]!;
  const target = u32Array(m + r);
  target.set(graph.edges.target);
  const fill = start.slice(n, n + k);
  for (const i of refs) target[fill[key[i]!]!++] = roots.target[i]!;
  const sizes = f64Array(n + k);
  sizes.set(graph.nodes.size);
  const holderIds = u32Array(k);
  for (let h = 0; h < k; h++) holderIds[h] = n + h;
  const tree = treeOf({ start, target }, holderIds, sizes);
  releaseArrays(start, target, sizes); // the augmented graph's copies (tens of MB at 10^6)
  const count = retainedCounts(tree.idom, tree.preorder);
  const idom = tree.idom.subarray(0, n); // the tree is ours: its arrays are reused
  const heldBy = i32Array(n).fill(-1);
  for (let v = 0; v < n; v++) {
    if (idom[v]! >= n) {
      heldBy[v] = idom[v]! - n;
      idom[v] = -1;
    }
  }
  const holders = names.map((name, h) => ({
    name,
    bytes: tree.retained[n + h]!,
    // The holder itself is no block.
    blocks: Math.max(0, count[n + h]! - 1),
  }));
  return {
    idom,
    heldBy,
    retained: tree.retained.subarray(0, n),
    retainedCount: count.subarray(0, n),
    holders,
  };
}

/** Blocks each node retains (itself and all it dominates), bottom-up in reverse preorder. O(V). */
function retainedCounts(idom: Int32Array, preorder: Uint32Array): Uint32Array {
  const count = u32Array(idom.length);
  for (let k = preorder.length - 1; k >= 0; k--) {
    const v = preorder[k]!;
    count[v]! += 1;
    const d = idom[v]!;
    if (d >= 0) count[d]! += count[v]!;
    else if (d === UNREACHABLE) count[v] = 0;
  }
  return count;
}
