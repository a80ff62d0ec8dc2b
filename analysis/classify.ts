// Reachability from the roots and classification of what is left: direct, indirect, in a cycle.
//
// Reachability is two breadth-first searches, O(V + E) each: one over strong evidence only, one
// over everything; a node only the second reaches is "possible" (possibly hidden by weak evidence).
// Leaked nodes are split into strongly connected components (iterative Tarjan on the leaked
// subgraph, O(V + E)); a component of 2+ nodes or a node pointing to itself is a cycle. A leaked
// node held by a leaked node outside its own component is indirect; a component nothing leaked
// holds is direct: a single node is a direct leak, and a cycle nobody holds counts once, by the
// member a developer would fix (`entryOf`), so every leaked structure has one direct entry.
// Attribution gives every leaked node to exactly one direct leak (multi-source BFS, O(V + E)), so
// the totals shown per direct leak add up.

import { copyI32, i32Array, releaseArrays, u32Array, u8Array } from "./arrays.ts";
import { stronglyConnected } from "./scc.ts";
import { EDGE_INTERIOR, EDGE_WEAK, type GraphEdges, type HeapGraph } from "./graph.ts";
import {
  LEAK_DIRECT,
  LEAK_INDIRECT,
  STATUS_CYCLE,
  STATUS_LEAKED,
  STATUS_POSSIBLE,
  STATUS_REACHABLE,
} from "./types.ts";

/** Edges grouped by source (CSR), as every phase here reads them. */
export type EdgeCsr = Pick<GraphEdges, "start" | "target"> & { flags?: Uint8Array };

/**
 * floodFill's search in native code (ffi/graph_kernel.ts): the same order, the same retainers.
 * `via` comes prepared as floodFill prepares it; `resume`: search from the nodes it has reached
 * first (in id order), then from the seeds. `queue` has a node's room.
 */
export type FloodKernel = (
  edges: EdgeCsr,
  flags: Uint8Array | undefined,
  skip: number,
  seeds: Uint32Array,
  resume: boolean,
  via: Int32Array,
  queue: Uint32Array,
) => void;

/**
 * Breadth-first search from `seeds`. Returns, per node, -2 when not reached, -1 when a seed, else
 * the id of the node that first reached it (the retainer shown in "why is this alive"). Edges
 * with any bit of `skip` in their flags are not followed. Nodes already reached in `from` (a
 * previous search) are taken as reached, with their retainers; `inPlace`: `from` itself is
 * extended and returned (no copy at the peak), else it is left as it was.
 */
export function floodFill(
  nodeCount: number,
  edges: EdgeCsr,
  seeds: Iterable<number>,
  skip = 0,
  from?: Int32Array,
  inPlace = false,
  kernel?: FloodKernel,
): Int32Array {
  const via = from ? (inPlace ? from : copyI32(from)) : i32Array(nodeCount).fill(-2);
  const queue = u32Array(nodeCount);
  if (kernel) {
    kernel(
      edges,
      skip ? edges.flags : undefined,
      skip,
      Uint32Array.from(seeds),
      !!from,
      via,
      queue,
    );
    releaseArrays(queue);
    return via;
  }
  let head = 0, tail = 0;
  if (from) { for (let v = 0; v < nodeCount; v++) if (from[v] !== -2) queue[tail++] = v; }
  for (const s of seeds) {
    if (via[s] !== -2) continue;
    via[s] = -1;
    queue[tail++] = s;
  }
  const flags = skip ? edges.flags : undefined;
  while (head < tail) {
    const v = queue[head++]!;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      if (flags && (flags[e]! & skip)) continue;
      const w = edges.target[e]!;
      if (via[w] !== -2) continue;
      via[w] = v;
      queue[tail++] = w;
    }
  }
  releaseArrays(queue);
  return via;
}

export interface Reachability {
  /** STATUS_REACHABLE, STATUS_POSSIBLE, or STATUS_LEAKED for every node nothing reaches. */
  state: Uint8Array;
  /** Retainer per node (see floodFill), from the strong search for reachable nodes. */
  via: Int32Array;
  /** Per node a root reference reaches directly: that reference's index; else -1. */
  rootRef: Int32Array;
}

/** Which nodes the roots reach through strong evidence, through weak evidence only, or not at all. */
export function reachability(graph: HeapGraph): Reachability {
  const reach = reachedStates(graph);
  return { ...reach, rootRef: rootRefs(graph, reach) };
}

/**
 * Reachability's states and retainers; rootRefs() adds the root references after, when the
 * caller has given back what it could (the heap's copy): 4 bytes a block less at the run's peak.
 */
export function reachedStates(
  graph: HeapGraph,
  kernel?: FloodKernel,
): Omit<Reachability, "rootRef"> {
  const n = graph.nodes.count, roots = graph.roots;
  const strongSeeds: number[] = [], weakSeeds: number[] = [];
  for (let r = 0; r < roots.target.length; r++) {
    const t = roots.target[r]!;
    const weak = roots.flags !== undefined && (roots.flags[r]! & EDGE_WEAK) !== 0;
    if (weak) weakSeeds.push(t);
    else strongSeeds.push(t);
  }
  const strong = floodFill(n, graph.edges, strongSeeds, EDGE_WEAK, undefined, false, kernel);
  const state = u8Array(n);
  for (let v = 0; v < n; v++) state[v] = strong[v] !== -2 ? STATUS_REACHABLE : STATUS_LEAKED;
  const hasWeak = weakSeeds.length > 0 || anyFlag(graph.edges.flags, EDGE_WEAK);
  // The weak search extends the strong one in place (this is the run's peak: no copy of it).
  const all = hasWeak ? floodFill(n, graph.edges, weakSeeds, 0, strong, true, kernel) : strong;
  if (hasWeak) {
    for (let v = 0; v < n; v++) {
      if (state[v] === STATUS_LEAKED && all[v] !== -2) state[v] = STATUS_POSSIBLE;
    }
  }
  return { state, via: all };
}

/**
 * Whether any of `flags` has a bit of `bit`. A plain loop: TypedArray.prototype.some calls its
 * callback per element (~15 ms of the reachability over 3·10^6 edges with none weak).
 */
function anyFlag(flags: Uint8Array | undefined, bit: number): boolean {
  if (!flags) return false;
  for (let e = 0; e < flags.length; e++) if ((flags[e]! & bit) !== 0) return true;
  return false;
}

/**
 * The first reference of each node a root reaches directly: strong for reachable nodes, weak for
 * possible ones (what "held by a root" names); -1 for the others. O(n + root references).
 */
export function rootRefs(
  graph: HeapGraph,
  { state, via: all }: Omit<Reachability, "rootRef">,
): Int32Array {
  const roots = graph.roots;
  const rootRef = i32Array(graph.nodes.count).fill(-1);
  for (let r = 0; r < roots.target.length; r++) {
    const t = roots.target[r]!;
    if (rootRef[t] !== -1 || all[t] !== -1) continue;
    const weak = roots.flags !== undefined && (roots.flags[r]! & EDGE_WEAK) !== 0;
    if (weak === (state[t] === STATUS_POSSIBLE)) rootRef[t] = r;
  }
  return rootRef;
}

export interface Classification {
  /** STATUS_* and LEAK_* codes per node. */
  status: Uint8Array;
  leak: Uint8Array;
  cycles: number[][];
  direct: number;
  indirect: number;
  /** The leaked nodes (cycles included), ascending: what attributeLeaks visits. */
  leaked: Uint32Array;
}

export interface ClassifyOptions {
  /** Start address of each node (ties: the lowest address is the entry of an unheld cycle). */
  addresses: ArrayLike<number>;
  /** Allocation time of each node (NaN: unknown): the first allocated is a cycle's entry. */
  allocatedAt?: ArrayLike<number>;
  /** 1 for nodes that make a better cycle entry than their peers (C++ objects named by vtable). */
  preferred?: ArrayLike<number>;
}

/**
 * Direct/indirect/cycle for every node `state` says is leaked (STATUS_LEAKED); reachable and
 * possible nodes keep their state with LEAK_NONE.
 */
export function classify(
  edges: EdgeCsr,
  state: Uint8Array,
  opts: ClassifyOptions,
): Classification {
  const n = state.length;
  // One pass over every node; the rest visit the leaked ones only (a few thousand of 10^6, where
  // each pass over all was 2-4 ms of cold code).
  const leakedMask = u8Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (state[i] === STATUS_LEAKED) {
      leakedMask[i] = 1;
      k++;
    }
  }
  const leaked = u32Array(k);
  for (let i = 0, j = 0; j < k; i++) if (leakedMask[i]) leaked[j++] = i;
  const { comp, count } = leakedComponents(n, edges, leakedMask, leaked);

  const compSize = u32Array(count);
  const selfLoop = u8Array(count);
  const held = u8Array(count);
  for (const v of leaked) {
    const c = comp[v]!;
    compSize[c]!++;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      const w = edges.target[e]!;
      if (!leakedMask[w]) continue;
      if (w === v) selfLoop[c] = 1;
      else if (comp[w] !== c) held[comp[w]!] = 1;
    }
  }
  const entry = entries(edges, comp, count, compSize, leakedMask, leaked, opts);

  // Reachable and possible nodes keep their state (LEAK_NONE); the leaked ones are set below.
  const status = u8Array(n);
  status.set(state);
  const leak = u8Array(n);
  const members: number[][] = [];
  const cycleIndex = i32Array(count).fill(-1);
  let direct = 0, indirect = 0;
  for (const v of leaked) {
    const c = comp[v]!;
    const inCycle = compSize[c]! > 1 || selfLoop[c] === 1;
    status[v] = inCycle ? STATUS_CYCLE : STATUS_LEAKED;
    const isDirect = !held[c] && entry[c] === v;
    leak[v] = isDirect ? LEAK_DIRECT : LEAK_INDIRECT;
    if (isDirect) direct++;
    else indirect++;
    if (inCycle) {
      if (cycleIndex[c] === -1) {
        cycleIndex[c] = members.length;
        members.push([]);
      }
      members[cycleIndex[c]!]!.push(v);
    }
  }
  return { status, leak, cycles: members, direct, indirect, leaked };
}

/**
 * The entry of each component: the member a developer would fix. With allocation times (a
 * recorded process), the member allocated first: the object whose creation built the structure
 * (valgrind, whose allocator does not recycle memory soon, names it by its lowest address, which
 * is the same thing there). Without: an owner that embeds its structure's header — a member other
 * members point into but never at its start, as every leaked `new std::map`, `std::list` or
 * `std::unordered_map` object is from its nodes — then an object the program made (`preferred`:
 * a C++ object named by its vtable, not a container's bucket array or string body), then the
 * lowest address (the heap grows upward: usually the first allocated). O(V + E).
 */
function entries(
  edges: EdgeCsr,
  comp: Int32Array,
  count: number,
  compSize: Uint32Array,
  leakedMask: Uint8Array,
  leaked: Uint32Array,
  opts: ClassifyOptions,
): Int32Array {
  const n = comp.length, addr = opts.addresses, at = opts.allocatedAt;
  const entry = i32Array(count).fill(-1);
  const earlier = (v: number, u: number) => {
    const tv = at?.[v] ?? NaN, tu = at?.[u] ?? NaN;
    if (!Number.isNaN(tv) && !Number.isNaN(tu) && tv !== tu) return tv < tu;
    if (!Number.isNaN(tv) !== !Number.isNaN(tu)) return !Number.isNaN(tv);
    return addr[v]! < addr[u]!;
  };
  // Interior and start references each member receives from its own component.
  const interiorIn = u32Array(n), startIn = u32Array(n);
  for (const v of leaked) {
    if (compSize[comp[v]!]! < 2) continue;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      const w = edges.target[e]!;
      if (w === v || !leakedMask[w] || comp[w] !== comp[v]) continue;
      if (edges.flags && (edges.flags[e]! & EDGE_INTERIOR) !== 0) interiorIn[w]!++;
      else startIn[w]!++;
    }
  }
  const owner = (v: number) => interiorIn[v]! > 0 && startIn[v] === 0;
  const preferred = (v: number) => opts.preferred?.[v] === 1;
  for (const v of leaked) {
    const c = comp[v]!, e = entry[c]!;
    if (e < 0) {
      entry[c] = v;
      continue;
    }
    const known = at !== undefined && !Number.isNaN(at[v] ?? NaN);
    if (!known && owner(v) !== owner(e)) {
      if (owner(v)) entry[c] = v;
      continue;
    }
    if (!known && preferred(v) !== preferred(e)) {
      if (preferred(v)) entry[c] = v;
      continue;
    }
    if (earlier(v, e)) entry[c] = v;
  }
  return entry;
}

/**
 * Every leaked node's direct leak: a breadth-first search from all direct leaks at once over the
 * leaked subgraph, each node counted under the first that reaches it. -1 for non-leaked nodes.
 */
export function attributeLeaks(
  edges: EdgeCsr,
  status: Uint8Array,
  leak: Uint8Array,
  /** The leaked nodes, ascending (Classification.leaked): only they are looked at. */
  leaked?: Uint32Array,
): Int32Array {
  const n = status.length;
  const owner = i32Array(n).fill(-1);
  const queue = u32Array(leaked ? leaked.length : n);
  let head = 0, tail = 0;
  for (let i = 0, end = leaked ? leaked.length : n; i < end; i++) {
    const v = leaked ? leaked[i]! : i;
    if (leak[v] === LEAK_DIRECT) {
      owner[v] = v;
      queue[tail++] = v;
    }
  }
  while (head < tail) {
    const v = queue[head++]!;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      const w = edges.target[e]!;
      if (owner[w] !== -1 || (status[w] !== STATUS_LEAKED && status[w] !== STATUS_CYCLE)) continue;
      owner[w] = owner[v]!;
      queue[tail++] = w;
    }
  }
  return owner;
}

/**
 * Tarjan's components of the leaked subgraph, run on a compact copy of it (leaked nodes renumbered
 * densely, edges between leaked nodes only), so its working arrays are O(leaked), not O(all
 * blocks): at 10^6 blocks and a few thousand leaks that is ~25 MB less at the peak. Component
 * ids (per node, -1 when not leaked) are the same as on the whole graph with the mask.
 */
export function leakedComponents(
  n: number,
  edges: EdgeCsr,
  leakedMask: Uint8Array,
  leaked: Uint32Array,
): { comp: Int32Array; count: number } {
  const local = i32Array(n).fill(-1);
  const k = leaked.length;
  let m = 0;
  for (let u = 0; u < k; u++) {
    const v = leaked[u]!;
    local[v] = u;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      if (leakedMask[edges.target[e]!]) m++;
    }
  }
  const start = u32Array(k + 1), adj = u32Array(m);
  m = 0;
  for (let u = 0; u < k; u++) {
    const v = leaked[u]!;
    start[u] = m;
    for (let e = edges.start[v]!, end = edges.start[v + 1]!; e < end; e++) {
      const w = local[edges.target[e]!]!;
      if (w >= 0) adj[m++] = w;
    }
  }
  start[k] = m;
  const sub = stronglyConnected({ nodeCount: k, start, adj }, u8Array(k).fill(1));
  const comp = local; // reused: -1 stays for reachable nodes
  for (let u = 0; u < k; u++) comp[leaked[u]!] = sub.comp[u]!;
  return { comp, count: sub.count };
}
