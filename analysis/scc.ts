// Strongly connected components of a subgraph in CSR form: iterative Tarjan, no recursion.
//
// O(V + E) time, O(V) extra memory in typed arrays; a million-node chain runs without growing the
// JavaScript call stack.

/** A graph in compressed sparse row form: the targets of node v are adj[start[v] .. start[v+1]). */
export interface Csr {
  nodeCount: number;
  start: Uint32Array;
  adj: Uint32Array;
}

/**
 * Components of the subgraph induced by the nodes where `member[v]` is 1. Returns the component id
 * of every member node (-1 for non-members) and the component count. Component ids are in reverse
 * topological order of the condensation (Tarjan's property: a component is numbered after every
 * component it reaches).
 */
export function stronglyConnected(
  g: Csr,
  member: Uint8Array,
): { comp: Int32Array; count: number } {
  const n = g.nodeCount;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const comp = new Int32Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stack = new Uint32Array(n);
  let sp = 0;
  // Call stack of the depth-first search: node and the next edge to look at.
  const callNode = new Uint32Array(n);
  const callEdge = new Uint32Array(n);
  let depth = 0;
  let next = 0;
  let count = 0;

  for (let root = 0; root < n; root++) {
    if (!member[root] || index[root] !== -1) continue;
    callNode[0] = root;
    callEdge[0] = g.start[root]!;
    depth = 1;
    index[root] = low[root] = next++;
    stack[sp++] = root;
    onStack[root] = 1;

    while (depth > 0) {
      const v = callNode[depth - 1]!;
      const e = callEdge[depth - 1]!;
      if (e < g.start[v + 1]!) {
        callEdge[depth - 1] = e + 1;
        const w = g.adj[e]!;
        if (!member[w]) continue;
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack[sp++] = w;
          onStack[w] = 1;
          callNode[depth] = w;
          callEdge[depth] = g.start[w]!;
          depth++;
        } else if (onStack[w] && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      // All edges of v done: close its component if v is a root, then return to the caller.
      if (low[v] === index[v]) {
        let w: number;
        do {
          w = stack[--sp]!;
          onStack[w] = 0;
          comp[w] = count;
        } while (w !== v);
        count++;
      }
      depth--;
      if (depth > 0) {
        const u = callNode[depth - 1]!;
        if (low[v]! < low[u]!) low[u] = low[v]!;
      }
    }
  }
  return { comp, count };
}
