// The native dominator tree (shim/graph_kernel.c) behind analysis/dominators.ts's interface:
// the same steps in the same order, so the tree, the preorder and the retained sizes are identical
// to dominatorTree()'s (ffi/graph_kernel_test.ts). Every array is allocated here, from the
// analysis's array source (huge pages on the command line, analysis/arrays.ts), and handed to C.

import { f64Array, i32Array, releaseArrays, u32Array } from "../analysis/arrays.ts";
import {
  checkDominatorInput,
  type CsrGraph,
  type DominatorKernel,
  type DominatorTree,
} from "../analysis/dominators.ts";
import type { FloodKernel } from "../analysis/classify.ts";
import type { OffsetsKernel } from "../analysis/edge_words.ts";
import type { CompactKernel } from "../analysis/build_graph.ts";
import { type shim, shimSymbol } from "./shim.ts";

type Dominators = NonNullable<ReturnType<typeof shim>["hs_dominators"]>;

/** dominatorTree() in C, or undefined when the shim cannot be loaded or lacks it. */
export function nativeDominatorTree(): DominatorKernel | undefined {
  const dominators = shimSymbol("hs_dominators");
  if (!dominators) return undefined;
  return (graph, roots, sizes) => _dominatorTree(dominators, graph, roots, sizes);
}

function _dominatorTree(
  hs_dominators: Dominators,
  graph: CsrGraph,
  roots: ArrayLike<number>,
  sizes: ArrayLike<number>,
): DominatorTree {
  const n = checkDominatorInput(graph, roots, sizes);
  const rootIds = u32Array(roots.length);
  rootIds.set(roots);
  const sizeArray = sizes instanceof Float64Array ? sizes : Float64Array.from(sizes);
  const m = graph.target.length;
  const pre = i32Array(n), vertex = u32Array(n + 1), parent = i32Array(n + 1);
  const stackNode = u32Array(n + 1), stackEdge = u32Array(n + 1);
  const predStart = u32Array(n + 2), pred = u32Array(m + rootIds.length);
  const semi = i32Array(n + 1), label = i32Array(n + 1), ancestor = i32Array(n + 1);
  const idom = i32Array(n), retained = f64Array(n), byPre = f64Array(n + 1);
  const out = new Float64Array(2);
  const status = hs_dominators(
    n,
    graph.start,
    graph.target,
    rootIds.length,
    rootIds,
    sizeArray,
    pre,
    vertex,
    parent,
    stackNode,
    stackEdge,
    predStart,
    pred,
    pred.length,
    semi,
    label,
    ancestor,
    idom,
    retained,
    byPre,
    out,
  );
  releaseArrays(pre, parent, stackNode, stackEdge, predStart, pred, semi, label, ancestor, byPre);
  if (status === 1) {
    throw new Error(`Cannot compute dominators: edge ${out[0]} goes to ${out[1]}, past ${n - 1}`);
  }
  if (status !== 0) throw new Error(`hs_dominators failed: status ${status}`);
  const count = out[0]!;
  return { idom, retained, reachableSize: out[1]!, preorder: vertex.subarray(1, count) };
}

/** floodFill's search in C (shim/graph_kernel.c), or undefined when the shim lacks it. */
export function nativeFloodFill(): FloodKernel | undefined {
  const flood = shimSymbol("hs_flood_fill");
  if (!flood) return undefined;
  return (edges, flags, skip, seeds, resume, via, queue) => {
    const n = via.length;
    if (edges.start.length < n + 1 || queue.length < n) {
      throw new Error(`hs_flood_fill: ${n} nodes, ${edges.start.length} edge starts`);
    }
    const status = flood(
      n,
      edges.start,
      edges.target,
      skip && flags ? flags : null,
      skip,
      seeds,
      seeds.length,
      resume ? 1 : 0,
      via,
      queue,
    );
    if (status !== 0) throw new Error(`hs_flood_fill failed: status ${status}`);
  };
}

/** edge_words.ts unpackOffsets in C (shim/graph_kernel.c), or undefined when the shim lacks it. */
export function nativeUnpackOffsets(): OffsetsKernel | undefined {
  const unpack = shimSymbol("hs_unpack_offsets");
  if (!unpack) return undefined;
  return (words, segments, start, addresses, offset) => {
    const n = start.length - 1;
    const edges = n >= 0 ? start[n]! : 0;
    if (n < 0 || addresses.length < n || words.length < edges || offset.length < edges) {
      throw new Error(`hs_unpack_offsets: ${n} blocks, ${edges} edges, ${words.length} words`);
    }
    const status = unpack(
      n,
      start,
      words,
      segments.edge,
      segments.segment,
      segments.count,
      addresses,
      offset,
    );
    if (status !== 0) throw new Error(`hs_unpack_offsets failed: status ${status}`);
  };
}

/** build_graph.ts nativeGraph's pass in C (shim/graph_kernel.c), or undefined without it. */
export function nativeCompact(): CompactKernel | undefined {
  const compact = shimSymbol("hs_graph_compact");
  if (!compact) return undefined;
  const out = new Float64Array(2);
  return (n, edges, addresses, scanSize, weakFrom, skip) => {
    const m = edges.start.length > n ? edges.start[n]! : 0;
    if (
      edges.start.length < n + 1 || addresses.length < n || scanSize.length < n ||
      weakFrom.length < n ||
      edges.target.length < m || edges.word.length < m ||
      edges.segments.edge.length < edges.segments.count ||
      edges.segments.segment.length < edges.segments.count
    ) {
      throw new Error(`hs_graph_compact: ${n} blocks, ${m} edges`);
    }
    const status = compact(
      n,
      edges.start,
      edges.target,
      edges.word,
      edges.segments.edge,
      edges.segments.segment,
      edges.segments.count,
      addresses,
      scanSize,
      weakFrom,
      skip,
      skip.length,
      out,
    );
    if (status !== 0) throw new Error(`hs_graph_compact failed: status ${status}`);
    return { edges: out[0]!, segments: out[1]! };
  };
}
