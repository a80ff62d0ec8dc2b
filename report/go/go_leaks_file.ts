// toGoLeaksFile(): a Go heap graph and its liveness as a leaks.json file (format v3), so that the
// HTML report, `heapscope report` and the viewer show a Go heap as they show a native one.
//
// Go semantics in native terms: anchored objects are "reachable" (via: the object that reached
// them first from an anchor); Go's leaked finalizer cycles are "cycle" (the objects with the
// finalizer direct leaks, the rest of the cycle indirect); what such a cycle keeps is "leaked"
// (indirect). Garbage and objects waiting for a finalizer are freed by the GC: they are not
// leaks, so they are left out and counted in `omitted` and a warning. O(V + E).

import type { GoHeapGraph } from "../../analysis/go/go_graph.ts";
import {
  GO_ANCHORED,
  GO_FINALIZER,
  GO_GARBAGE,
  GO_KEPT_BY_CYCLE,
  GO_LEAKED_CYCLE,
  type GoLiveness,
} from "../../analysis/go/go_liveness.ts";
import { NODE_FINALIZER } from "../../analysis/graph.ts";
import { formatBytes } from "../format.ts";
import {
  LEAKS_FORMAT,
  LEAKS_VERSION,
  type LeaksEdge,
  type LeaksFile,
  type LeaksNode,
  type LeaksRoot,
} from "../schema.ts";

/** Above this many objects, "auto" writes leaked objects and their neighbours only (as native). */
export const GO_AUTO_GRAPH_LIMIT = 100_000;
/** Bytes of each leaked object shown in the report (the native report's default). */
const LEAKED_BYTES = 64;

export interface GoLeaksOptions {
  /** The dump file's name (the report's "command"). */
  name: string;
  graph?: "auto" | "all" | "leaked";
  /** When the dump was written (its file's mtime); the epoch when unknown. */
  capturedAt?: Date;
  /** Only these nodes (e.g. an object and its owners), the first one the focus. */
  only?: readonly number[];
  /** The dominator tree over the anchors (analysis/analyze_graph.ts holderDominators). */
  dominators?: {
    idom: Int32Array;
    heldBy: Int32Array;
    retained: Float64Array;
    retainedCount: Uint32Array;
    holders: { name: string; bytes: number; blocks: number }[];
  };
}

const hex = (n: number) => "0x" + n.toString(16);

/** The leaks file of a Go heap. */
export function toGoLeaksFile(g: GoHeapGraph, l: GoLiveness, opts: GoLeaksOptions): LeaksFile {
  const n = g.nodes.count;
  const state = l.state;
  const { start, target, offset } = g.edges;
  const keep = new Uint8Array(n);
  const shownState = (v: number) => state[v] !== GO_GARBAGE && state[v] !== GO_FINALIZER;
  const graph = opts.graph ?? "auto";
  if (opts.only) {
    for (const v of opts.only) keep[v] = 1;
  } else if (graph === "all" || (graph === "auto" && n <= GO_AUTO_GRAPH_LIMIT)) {
    for (let v = 0; v < n; v++) keep[v] = shownState(v) ? 1 : 0;
  } else {
    // Leaked objects and the objects they point to.
    for (let v = 0; v < n; v++) {
      if (state[v] !== GO_LEAKED_CYCLE && state[v] !== GO_KEPT_BY_CYCLE) continue;
      keep[v] = 1;
      for (let e = start[v]!; e < start[v + 1]!; e++) keep[target[e]!] = 1;
    }
  }

  // Why each anchored object is alive: the object that first reached it from an anchor.
  const via = new Int32Array(n).fill(-2);
  const queue = new Uint32Array(n);
  let tail = 0;
  for (let r = 0; r < g.roots.target.length; r++) {
    const t = g.roots.target[r]!;
    if (g.roots.entries[g.roots.entry[r]!]!.kind === "finalizer" || via[t] !== -2) continue;
    via[t] = -1;
    queue[tail++] = t;
  }
  for (let head = 0; head < tail; head++) {
    const v = queue[head]!;
    for (let e = start[v]!; e < start[v + 1]!; e++) {
      const w = target[e]!;
      if (via[w] === -2) {
        via[w] = v;
        queue[tail++] = w;
      }
    }
  }

  const nodes: LeaksNode[] = [];
  let omittedNodes = 0, omittedBytes = 0, leaked = 0, leakedBytes = 0, direct = 0;
  let reachable = 0, bytes = 0;
  for (let v = 0; v < n; v++) {
    const size = g.nodes.size[v]!;
    if (!keep[v]) {
      omittedNodes++;
      omittedBytes += size;
      continue;
    }
    bytes += size;
    const node: LeaksNode = {
      id: v,
      address: hex(g.nodes.address[v]!),
      size,
      zone: g.nodes.zoneNames[g.nodes.zone[v]!]!,
      status: "reachable",
    };
    const s = state[v]!;
    if (s === GO_LEAKED_CYCLE || s === GO_KEPT_BY_CYCLE) {
      node.status = s === GO_LEAKED_CYCLE ? "cycle" : "leaked";
      node.leak = s === GO_LEAKED_CYCLE && g.nodes.flags[v]! & NODE_FINALIZER
        ? "direct"
        : "indirect";
      leaked++;
      leakedBytes += size;
      if (node.leak === "direct") direct++;
      const b = g.bytes?.(v, LEAKED_BYTES);
      if (b) node.bytes = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    } else {
      if (s === GO_ANCHORED) reachable++;
      if (via[v]! >= 0) node.via = via[v]!;
      const d = opts.dominators;
      if (d && d.idom[v]! >= -1) {
        node.retained = d.retained[v]!;
        node.idom = d.idom[v]!;
        if (d.idom[v] === -1 && d.heldBy[v]! >= 0) node.heldBy = d.heldBy[v]!;
      }
    }
    nodes.push(node);
  }
  // held: what each finalizer object of a leaked cycle keeps (its cycle and what the cycle keeps).
  for (const node of nodes) {
    if (node.leak !== "direct") continue;
    const held = heldBy(g, state, node.id);
    node.held = held;
  }

  const edges: LeaksEdge[] = [];
  let omittedEdges = 0;
  for (let v = 0; v < n; v++) {
    for (let e = start[v]!; e < start[v + 1]!; e++) {
      if (keep[v] && keep[target[e]!]) {
        edges.push({ source: v, target: target[e]!, offset: offset[e]! });
      } else omittedEdges++;
    }
  }
  // One root per kept object (the first), as the native file keeps it bounded.
  const roots: LeaksRoot[] = [];
  const rooted = new Uint8Array(n);
  for (let r = 0; r < g.roots.target.length; r++) {
    const t = g.roots.target[r]!;
    if (!keep[t] || rooted[t]) continue;
    rooted[t] = 1;
    const entry = g.roots.entries[g.roots.entry[r]!]!;
    const root: LeaksRoot = { kind: entry.kind, address: hex(g.roots.where[r]!), target: t };
    if (entry.thread !== undefined) root.thread = entry.thread;
    if (entry.name !== undefined) root.name = entry.name;
    roots.push(root);
  }

  const warnings = [...g.warnings];
  const gone = l.count[GO_GARBAGE]! + l.count[GO_FINALIZER]!;
  if (gone > 0) {
    warnings.push(
      `${l.count[GO_GARBAGE]} unreachable objects (${formatBytes(l.bytes[GO_GARBAGE]!)}) are ` +
        `garbage the next GC frees and ${l.count[GO_FINALIZER]} (${
          formatBytes(l.bytes[GO_FINALIZER]!)
        }) ` +
        `wait for a finalizer: not leaks, not shown`,
    );
  }
  const p = g.dump.params;
  const keptCycles = l.cycles.filter((c) => c.every((v) => keep[v]));
  const file: LeaksFile = {
    format: LEAKS_FORMAT,
    version: LEAKS_VERSION,
    target: {
      pid: 0,
      command: opts.name,
      platform: "linux",
      arch: p?.arch ?? "unknown",
      allocator: `Go ${p?.goVersion ?? "runtime"} heap dump`,
    },
    capturedAt: (opts.capturedAt ?? new Date(0)).toISOString(),
    pauseMs: 0,
    summary: {
      allocations: nodes.length,
      bytes,
      reachable,
      leaked,
      leakedBytes,
      direct,
      indirect: leaked - direct,
      cycles: keptCycles.length,
    },
    nodes,
    edges,
    cycles: keptCycles,
    roots,
    warnings,
  };
  if (omittedNodes > 0) {
    file.omitted = { nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges };
  }
  if (opts.dominators) {
    file.retainers = opts.dominators.holders
      .map((h, i) => ({ node: -1, holder: i, name: h.name, bytes: h.bytes, blocks: h.blocks }))
      .filter((r) => r.blocks > 0)
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 50);
  }
  return file;
}

/** Blocks and bytes reachable from `v` through leaked objects (itself included). */
function heldBy(g: GoHeapGraph, state: Uint8Array, v: number): { blocks: number; bytes: number } {
  const seen = new Set<number>([v]);
  const stack = [v];
  let bytes = 0;
  while (stack.length > 0) {
    const u = stack.pop()!;
    bytes += g.nodes.size[u]!;
    for (let e = g.edges.start[u]!; e < g.edges.start[u + 1]!; e++) {
      const w = g.edges.target[e]!;
      if (seen.has(w) || (state[w] !== GO_LEAKED_CYCLE && state[w] !== GO_KEPT_BY_CYCLE)) continue;
      seen.add(w);
      stack.push(w);
    }
  }
  return { blocks: seen.size, bytes };
}
