// Pure selectors: turn a LeaksFile into one bounded payload per report view, plus the viewer's interactive selections.

import type { LeaksFile, LeaksNode } from "./schema.ts";

export type NodeStatus = LeaksNode["status"];
export type Filter = "all" | "reachable" | "leaked" | "cycle";

export interface HeaderPayload {
  pid: number;
  command: string;
  platform: string;
  arch: string;
  allocator: string;
  capturedAt: string;
  pauseMs: number;
  ok: boolean;
  verdict: string;
}

export interface StatsPayload {
  allocations: number;
  bytes: number;
  reachable: number;
  reachableBytes: number;
  leaked: number;
  leakedBytes: number;
  direct: number;
  directBytes: number;
  indirect: number;
  indirectBytes: number;
  cycles: number;
  cycleBlocks: number;
}

export interface GraphNode {
  id: number;
  address: string;
  size: number;
  zone: string;
  status: NodeStatus;
  leak?: "direct" | "indirect";
  bytes?: string;
  /** Edges into / out of this block in the whole file (drawn or not). */
  inDegree: number;
  outDegree: number;
  /** Index into CyclesPayload.rows when the block belongs to a listed cycle. */
  cycle?: number;
  /** Held by a root directly. */
  rooted?: boolean;
}

export interface GraphLink {
  /** Indices into GraphPayload.nodes. */
  source: number;
  target: number;
  offset: number;
}

export interface AggregateRow {
  zone: string;
  sizeClass: string;
  count: number;
  bytes: number;
  leaked: number;
}

export interface GraphPayload {
  nodes: GraphNode[];
  links: GraphLink[];
  cap: number;
  /** Allocations in the process that are not drawn (includes ones absent from the file). */
  notDrawn: number;
  notDrawnBytes: number;
  notDrawnLeaked: number;
  linksNotDrawn: number;
  /** Not-drawn allocations present in the file, per zone and size class. */
  aggregates: AggregateRow[];
  /** Allocations the input file itself left out (`omitted`). */
  absentFromFile: number;
}

export interface ZoneRow {
  zone: string;
  count: number;
  bytes: number;
  leaked: number;
  leakedBytes: number;
}

export interface CycleRow {
  index: number;
  size: number;
  bytes: number;
  firstAddress: string;
  /** Graph node indices of the drawn members. */
  members: number[];
}

export interface CyclesPayload {
  rows: CycleRow[];
  total: number;
  omitted: number;
}

export interface LeakRow {
  id: number;
  address: string;
  size: number;
  zone: string;
  leak: "direct" | "indirect";
  inCycle: boolean;
  /** Leaked blocks reachable from this one through leaked blocks, itself included. */
  heldBlocks: number;
  heldBytes: number;
  /** Graph node index when drawn. */
  node: number | null;
}

export interface LeaksTablePayload {
  rows: LeakRow[];
  total: number;
  omitted: number;
}

export interface MethodPayload {
  platform: string;
  steps: { name: string; detail: string }[];
  calls: { name: string; purpose: string }[];
  timings: { phase: string; ms: number }[];
  totalMs: number;
  warnings: string[];
  limits: string[];
}

export interface ReportModel {
  header: HeaderPayload;
  stats: StatsPayload;
  graph: GraphPayload;
  zones: ZoneRow[];
  cycles: CyclesPayload;
  leaks: LeaksTablePayload;
  method: MethodPayload;
}

export interface ModelOptions {
  /** Most nodes drawn in the graph (default 2,000). */
  maxNodes?: number;
  /** Most links drawn (default 4 × maxNodes). */
  maxLinks?: number;
  /** Most rows in the leaks table (default 1,000). */
  maxLeakRows?: number;
  /** Most rows in the cycle list (default 500). */
  maxCycles?: number;
}

/** Every payload of the report in one bounded model: what the HTML embeds. O(nodes + edges). */
export function selectReportModel(leaks: LeaksFile, options: ModelOptions = {}): ReportModel {
  const ix = _index(leaks);
  const cycles = selectCycles(leaks, options.maxCycles ?? 500);
  const graph = selectGraph(leaks, options.maxNodes ?? 2000, options.maxLinks, ix);
  // Tie cycle rows and graph nodes together.
  const byId = new Map<number, number>();
  graph.nodes.forEach((node, i) => byId.set(node.id, i));
  for (const row of cycles.rows) {
    const members = leaks.cycles[row.index] ?? [];
    for (const id of members) {
      const at = byId.get(id);
      if (at !== undefined) {
        row.members.push(at);
        graph.nodes[at]!.cycle = cycles.rows.indexOf(row);
      }
    }
  }
  const table = selectLeaksTable(leaks, options.maxLeakRows ?? 1000, ix);
  for (const row of table.rows) row.node = byId.get(row.id) ?? null;
  return {
    header: selectHeader(leaks),
    stats: selectStats(leaks),
    graph,
    zones: selectZones(leaks),
    cycles,
    leaks: table,
    method: selectMethod(leaks),
  };
}

export function selectHeader(leaks: LeaksFile): HeaderPayload {
  const { summary: s, target: t } = leaks;
  const ok = s.leaked === 0;
  const verdict = ok
    ? `✓ no leaks: all ${_count(s.allocations, "allocation")} are reachable`
    : `✗ ${_count(s.leaked, "allocation")} unreachable from any root (${
      formatBytes(s.leakedBytes)
    })`;
  return {
    pid: t.pid,
    command: t.command,
    platform: t.platform,
    arch: t.arch,
    allocator: t.allocator,
    capturedAt: leaks.capturedAt,
    pauseMs: leaks.pauseMs,
    ok,
    verdict,
  };
}

export function selectStats(leaks: LeaksFile): StatsPayload {
  const s = leaks.summary;
  let directBytes = 0;
  let indirectBytes = 0;
  let cycleBlocks = 0;
  for (const node of leaks.nodes) {
    if (node.status === "reachable") continue;
    if (node.status === "cycle") cycleBlocks++;
    if (node.leak === "direct") directBytes += node.size;
    else indirectBytes += node.size;
  }
  return {
    allocations: s.allocations,
    bytes: s.bytes,
    reachable: s.reachable,
    reachableBytes: Math.max(0, s.bytes - s.leakedBytes),
    leaked: s.leaked,
    leakedBytes: s.leakedBytes,
    direct: s.direct,
    directBytes,
    indirect: s.indirect,
    indirectBytes,
    cycles: s.cycles,
    cycleBlocks,
  };
}

/**
 * Pick what to draw: leaked blocks (cycle members first, then direct, then indirect, by size),
 * their reachable neighbours (1 hop), then reachable blocks breadth-first from the roots until
 * `cap`. The rest is aggregated per zone and size class. O(nodes + edges).
 */
export function selectGraph(
  leaks: LeaksFile,
  cap = 2000,
  maxLinks = cap * 4,
  ix: _Index = _index(leaks),
): GraphPayload {
  const { nodes, edges } = leaks;
  const n = nodes.length;
  const chosen = new Uint8Array(n);
  const order: number[] = [];
  const take = (i: number) => {
    if (chosen[i] || order.length >= cap) return;
    chosen[i] = 1;
    order.push(i);
  };

  const leakedIdx: number[] = [];
  for (let i = 0; i < n; i++) if (nodes[i]!.status !== "reachable") leakedIdx.push(i);
  const rank = (node: LeaksNode) => node.status === "cycle" ? 0 : node.leak === "direct" ? 1 : 2;
  leakedIdx.sort((a, b) => {
    const na = nodes[a]!, nb = nodes[b]!;
    return rank(na) - rank(nb) || nb.size - na.size || a - b;
  });
  const leakedBudget = Math.max(0, Math.floor(cap * 0.8));
  for (const i of leakedIdx) {
    if (order.length >= leakedBudget) break;
    take(i);
  }

  // One hop of reachable context: reachable blocks that drawn leaked blocks point to.
  const adjacent: number[] = [];
  for (let e = 0; e < edges.length; e++) {
    const s = ix.at(edges[e]!.source), t = ix.at(edges[e]!.target);
    if (s < 0 || t < 0) continue;
    if (chosen[s] && !chosen[t] && nodes[t]!.status === "reachable") adjacent.push(t);
    else if (chosen[t] && !chosen[s] && nodes[s]!.status === "reachable") adjacent.push(s);
  }
  for (const i of adjacent) take(i);
  // Leaked blocks left over when context was small.
  for (const i of leakedIdx) take(i);

  // Fill with reachable memory, breadth-first from the roots.
  if (order.length < cap) {
    const out = _outAdjacency(leaks, ix);
    const queue: number[] = [];
    const seen = new Uint8Array(n);
    for (const root of leaks.roots) {
      const i = ix.at(root.target);
      if (i >= 0 && !seen[i]) {
        seen[i] = 1;
        queue.push(i);
      }
    }
    for (let q = 0; q < queue.length && order.length < cap; q++) {
      const i = queue[q]!;
      take(i);
      for (let k = out.start[i]!; k < out.start[i + 1]!; k++) {
        const t = out.targets[k]!;
        if (!seen[t]) {
          seen[t] = 1;
          queue.push(t);
        }
      }
    }
    for (let i = 0; i < n && order.length < cap; i++) take(i);
  }

  const position = new Int32Array(n).fill(-1);
  order.forEach((i, p) => (position[i] = p));
  const inDeg = new Int32Array(n), outDeg = new Int32Array(n);
  const links: GraphLink[] = [];
  let linksNotDrawn = 0;
  for (const edge of edges) {
    const s = ix.at(edge.source), t = ix.at(edge.target);
    if (s < 0 || t < 0) continue;
    outDeg[s]!++;
    inDeg[t]!++;
    const ps = position[s]!, pt = position[t]!;
    if (ps >= 0 && pt >= 0 && links.length < maxLinks) {
      links.push({ source: ps, target: pt, offset: edge.offset });
    } else linksNotDrawn++;
  }
  const rooted = new Uint8Array(n);
  for (const root of leaks.roots) {
    const i = ix.at(root.target);
    if (i >= 0) rooted[i] = 1;
  }

  const graphNodes: GraphNode[] = order.map((i) => {
    const node = nodes[i]!;
    const g: GraphNode = {
      id: node.id,
      address: node.address,
      size: node.size,
      zone: node.zone,
      status: node.status,
      inDegree: inDeg[i]!,
      outDegree: outDeg[i]!,
    };
    if (node.leak) g.leak = node.leak;
    if (node.bytes) g.bytes = node.bytes;
    if (rooted[i]) g.rooted = true;
    return g;
  });

  const agg = new Map<string, AggregateRow>();
  let notDrawnBytes = 0, notDrawnLeaked = 0;
  for (let i = 0; i < n; i++) {
    if (chosen[i]) continue;
    const node = nodes[i]!;
    const sizeClass = sizeClassOf(node.size);
    const key = node.zone + "\0" + sizeClass;
    let row = agg.get(key);
    if (!row) agg.set(key, row = { zone: node.zone, sizeClass, count: 0, bytes: 0, leaked: 0 });
    row.count++;
    row.bytes += node.size;
    notDrawnBytes += node.size;
    if (node.status !== "reachable") {
      row.leaked++;
      notDrawnLeaked++;
    }
  }
  const absent = Math.max(0, leaks.summary.allocations - n);
  const absentBytes = leaks.omitted?.bytes ?? 0;
  const classOrder = SIZE_CLASSES.map((c) => c.label);
  return {
    nodes: graphNodes,
    links,
    cap,
    notDrawn: n - order.length + absent,
    notDrawnBytes: notDrawnBytes + absentBytes,
    notDrawnLeaked,
    linksNotDrawn: linksNotDrawn + (leaks.omitted?.edges ?? 0),
    aggregates: [...agg.values()].sort((a, b) =>
      a.zone.localeCompare(b.zone) ||
      classOrder.indexOf(a.sizeClass) - classOrder.indexOf(b.sizeClass)
    ),
    absentFromFile: absent,
  };
}

/** Per-zone count, bytes and leaked, largest zone first. O(nodes). */
export function selectZones(leaks: LeaksFile): ZoneRow[] {
  const zones = new Map<string, ZoneRow>();
  for (const node of leaks.nodes) {
    let row = zones.get(node.zone);
    if (!row) {
      zones.set(
        node.zone,
        row = { zone: node.zone, count: 0, bytes: 0, leaked: 0, leakedBytes: 0 },
      );
    }
    row.count++;
    row.bytes += node.size;
    if (node.status !== "reachable") {
      row.leaked++;
      row.leakedBytes += node.size;
    }
  }
  return [...zones.values()].sort((a, b) => b.bytes - a.bytes || a.zone.localeCompare(b.zone));
}

/** Cycles, largest (bytes) first, capped. `members` is filled by selectReportModel. */
export function selectCycles(leaks: LeaksFile, max = 500): CyclesPayload {
  const sizeOf = new Map<number, LeaksNode>();
  const wanted = new Set<number>();
  for (const c of leaks.cycles) for (const id of c) wanted.add(id);
  for (const node of leaks.nodes) if (wanted.has(node.id)) sizeOf.set(node.id, node);
  const rows: CycleRow[] = leaks.cycles.map((ids, index) => {
    let bytes = 0;
    let first = "";
    let firstNum = Infinity;
    for (const id of ids) {
      const node = sizeOf.get(id);
      if (!node) continue;
      bytes += node.size;
      const a = parseInt(node.address.slice(2), 16);
      if (a < firstNum) {
        firstNum = a;
        first = node.address;
      }
    }
    return { index, size: ids.length, bytes, firstAddress: first, members: [] };
  });
  rows.sort((a, b) => b.bytes - a.bytes || b.size - a.size || a.index - b.index);
  return { rows: rows.slice(0, max), total: rows.length, omitted: Math.max(0, rows.length - max) };
}

/**
 * Leaked blocks, direct first, then by held bytes, then own size. Held = leaked blocks reachable
 * from the block through leaked blocks. O(leaked + leaked edges) per listed row.
 */
export function selectLeaksTable(
  leaks: LeaksFile,
  max = 1000,
  ix: _Index = _index(leaks),
): LeaksTablePayload {
  const { nodes } = leaks;
  const out = _outAdjacency(leaks, ix, true);
  const leakedIdx: number[] = [];
  for (let i = 0; i < nodes.length; i++) if (nodes[i]!.status !== "reachable") leakedIdx.push(i);
  const stamp = new Int32Array(nodes.length);
  let epoch = 0;
  const held = (start: number): [number, number] => {
    epoch++;
    const stack = [start];
    stamp[start] = epoch;
    let blocks = 0, bytes = 0;
    while (stack.length) {
      const i = stack.pop()!;
      blocks++;
      bytes += nodes[i]!.size;
      for (let k = out.start[i]!; k < out.start[i + 1]!; k++) {
        const t = out.targets[k]!;
        if (stamp[t] !== epoch) {
          stamp[t] = epoch;
          stack.push(t);
        }
      }
    }
    return [blocks, bytes];
  };
  // Held sizes only for direct leaks (indirect rows list their own size: they are listed after).
  const rows: LeakRow[] = leakedIdx.map((i) => {
    const node = nodes[i]!;
    const leak = node.leak ?? "direct";
    const [heldBlocks, heldBytes] = leak === "direct" ? held(i) : [1, node.size];
    return {
      id: node.id,
      address: node.address,
      size: node.size,
      zone: node.zone,
      leak,
      inCycle: node.status === "cycle",
      heldBlocks,
      heldBytes,
      node: null,
    };
  });
  rows.sort((a, b) =>
    (a.leak === "direct" ? 0 : 1) - (b.leak === "direct" ? 0 : 1) ||
    b.heldBytes - a.heldBytes || b.size - a.size || a.id - b.id
  );
  return { rows: rows.slice(0, max), total: rows.length, omitted: Math.max(0, rows.length - max) };
}

/** "How this was computed": phases and calls for the platform, timings, warnings, limits. */
export function selectMethod(leaks: LeaksFile): MethodPayload {
  const darwin = leaks.target.platform === "darwin";
  const steps = [
    {
      name: "Attach and stop",
      detail: darwin
        ? "Suspend the task so that no thread allocates while memory is copied."
        : "Seize every thread of the process and interrupt it so that nothing allocates while memory is copied.",
    },
    {
      name: "Copy",
      detail:
        "Copy the memory map, every thread's registers and stack, writable image segments and the heap, then resume the target. Everything below runs on the copy.",
    },
    {
      name: "Enumerate allocations",
      detail: darwin
        ? "Walk every malloc zone with its introspection enumerator (in-use ranges only)."
        : "Walk glibc arenas chunk by chunk and mmapped chunks; chunks sitting in tcache, fastbins and bins are free and skipped.",
    },
    {
      name: "Collect roots",
      detail:
        "Writable data of every loaded image, each thread's stack from its stack pointer up, thread-local storage, every general register, other writable non-heap memory. Allocator bookkeeping is never a root.",
    },
    {
      name: "Conservative scan",
      detail:
        "Every aligned word of a root or a block that points at or into an allocation counts as a reference (interior pointers included).",
    },
    {
      name: "Flood fill",
      detail:
        "Mark everything reachable from the roots; the rest is leaked. A leaked block that no other leaked block points to is a direct leak, the others are indirect.",
    },
    {
      name: "Tarjan SCC",
      detail:
        "Strongly connected components of the leaked subgraph (iterative Tarjan): components of two or more blocks are leaked cycles.",
    },
  ];
  const calls = darwin
    ? [
      { name: "task_for_pid", purpose: "get the target task port (root or debugger entitlement)" },
      { name: "task_suspend / task_resume", purpose: "stop and restart every thread" },
      { name: "malloc_get_all_zones", purpose: "find the malloc zones of the target" },
      { name: "zone enumerator (MALLOC_PTR_IN_USE_RANGE_TYPE)", purpose: "list in-use blocks" },
      { name: "mach_vm_read_overwrite", purpose: "copy memory" },
      { name: "task_threads / thread_get_state", purpose: "registers and stack pointers" },
    ]
    : [
      { name: "ptrace(PTRACE_SEIZE)", purpose: "attach to every thread in /proc/PID/task" },
      { name: "ptrace(PTRACE_INTERRUPT)", purpose: "stop each thread" },
      { name: "ptrace(PTRACE_GETREGSET)", purpose: "read general registers" },
      { name: "process_vm_readv", purpose: "copy memory (fallback /proc/PID/mem)" },
      { name: "/proc/PID/maps", purpose: "regions, permissions and mapped files" },
    ];
  const timings = Object.entries(leaks.phases ?? {}).map(([phase, ms]) => ({ phase, ms }));
  return {
    platform: darwin ? "macOS" : "Linux",
    steps,
    calls,
    timings,
    totalMs: timings.reduce((sum, t) => sum + t.ms, 0),
    warnings: leaks.warnings ?? [],
    limits: [
      "Conservative scanning cannot tell a pointer from an integer: a value that happens to look like an address keeps a block alive, so a real leak can be missed.",
      "A stale pointer left in memory (a freed struct, an unused stack slot) also keeps its target alive and hides a leak.",
      "Pointers that are encoded (XOR-ed, tagged, compressed, stored as offsets) are not seen: their targets show as leaked.",
      "The snapshot is one instant: a block between being allocated and being stored can look leaked.",
    ],
  };
}

// ----- interactive selections (run in the viewer on the graph payload) -----

export interface ViewState {
  filter: Filter;
  zone: string | null;
  search: string;
}

export interface Visible {
  /** 1 where the node is drawn. */
  mask: Uint8Array;
  counts: { reachable: number; leaked: number; cycle: number };
  /** Node indices whose address matches the search (empty when no search). */
  matches: number[];
}

/** Which graph nodes the view shows under a filter, a zone and an address search. O(nodes). */
export function selectVisible(graph: GraphPayload, view: ViewState): Visible {
  const mask = new Uint8Array(graph.nodes.length);
  const counts = { reachable: 0, leaked: 0, cycle: 0 };
  const matches: number[] = [];
  const needle = normalizeAddressQuery(view.search);
  graph.nodes.forEach((node, i) => {
    if (!matchesFilter(node, view.filter)) return;
    if (view.zone !== null && node.zone !== view.zone) return;
    if (needle) {
      if (!node.address.toLowerCase().slice(2).includes(needle)) return;
      matches.push(i);
    }
    mask[i] = 1;
    counts[node.status]++;
  });
  return { mask, counts, matches };
}

export function matchesFilter(node: GraphNode, filter: Filter): boolean {
  switch (filter) {
    case "all":
      return true;
    case "reachable":
      return node.status === "reachable";
    case "leaked":
      return node.status !== "reachable";
    case "cycle":
      return node.status === "cycle";
  }
}

/** "0x7F3A", "7f3a", " 0x7f3a " → "7f3a"; "" when not a hex query. */
export function normalizeAddressQuery(query: string): string {
  const q = query.trim().toLowerCase().replace(/^0x/, "");
  return /^[0-9a-f]+$/.test(q) ? q : "";
}

export interface EdgeRow {
  node: number;
  address: string;
  status: NodeStatus;
  offset: number;
}

export interface NodeDetail {
  index: number;
  address: string;
  size: number;
  zone: string;
  status: NodeStatus;
  label: string;
  rooted: boolean;
  inEdges: EdgeRow[];
  outEdges: EdgeRow[];
  inNotDrawn: number;
  outNotDrawn: number;
  hexdump: string[];
  neighbours: number[];
}

/** The detail card of one node: edges with offsets, neighbours, hexdump. O(links). */
export function selectNodeDetail(graph: GraphPayload, index: number): NodeDetail | null {
  const node = graph.nodes[index];
  if (!node) return null;
  const inEdges: EdgeRow[] = [], outEdges: EdgeRow[] = [];
  const neighbours = new Set<number>();
  for (const link of graph.links) {
    if (link.source === index) {
      const t = graph.nodes[link.target]!;
      outEdges.push({
        node: link.target,
        address: t.address,
        status: t.status,
        offset: link.offset,
      });
      neighbours.add(link.target);
    }
    if (link.target === index) {
      const s = graph.nodes[link.source]!;
      inEdges.push({
        node: link.source,
        address: s.address,
        status: s.status,
        offset: link.offset,
      });
      neighbours.add(link.source);
    }
  }
  neighbours.delete(index);
  return {
    index,
    address: node.address,
    size: node.size,
    zone: node.zone,
    status: node.status,
    label: statusLabel(node),
    rooted: node.rooted ?? false,
    inEdges,
    outEdges,
    inNotDrawn: Math.max(0, node.inDegree - inEdges.length),
    outNotDrawn: Math.max(0, node.outDegree - outEdges.length),
    hexdump: node.bytes ? hexdump(node.bytes) : [],
    neighbours: [...neighbours],
  };
}

export function statusLabel(node: { status: NodeStatus; leak?: "direct" | "indirect" }): string {
  if (node.status === "reachable") return "reachable";
  const kind = node.leak === "indirect" ? "indirect leak" : "direct leak";
  return node.status === "cycle" ? `${kind}, in a cycle` : kind;
}

/** Classic 16-bytes-a-line hexdump of a hex string: "+000  00 11 …  |ascii|". */
export function hexdump(hex: string): string[] {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "");
  const bytes: number[] = [];
  for (let i = 0; i + 1 < clean.length; i += 2) bytes.push(parseInt(clean.slice(i, i + 2), 16));
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.slice(off, off + 16);
    const hexPart = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
    const ascii = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`+${off.toString(16).padStart(3, "0")}  ${hexPart}  |${ascii}|`);
  }
  return lines;
}

// ----- formatting and shared helpers -----

export const SIZE_CLASSES: { label: string; max: number }[] = [
  { label: "≤ 32 B", max: 32 },
  { label: "≤ 128 B", max: 128 },
  { label: "≤ 1 KiB", max: 1024 },
  { label: "≤ 4 KiB", max: 4096 },
  { label: "≤ 64 KiB", max: 65536 },
  { label: "> 64 KiB", max: Infinity },
];

export function sizeClassOf(size: number): string {
  for (const c of SIZE_CLASSES) if (size <= c.max) return c.label;
  return SIZE_CLASSES[SIZE_CLASSES.length - 1]!.label;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

function _count(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** Node id → index into leaks.nodes (identity fast path when ids are dense and in order). */
export interface _Index {
  at(id: number): number;
}

function _index(leaks: LeaksFile): _Index {
  const nodes = leaks.nodes;
  let dense = true;
  for (let i = 0; i < nodes.length; i++) {
    if (nodes[i]!.id !== i) {
      dense = false;
      break;
    }
  }
  const n = nodes.length;
  if (dense) return { at: (id) => (id >= 0 && id < n && Number.isInteger(id) ? id : -1) };
  const map = new Map<number, number>();
  nodes.forEach((node, i) => map.set(node.id, i));
  return { at: (id) => map.get(id) ?? -1 };
}

/** CSR out-adjacency over node indices; `leakedOnly` keeps leaked → leaked edges. */
function _outAdjacency(
  leaks: LeaksFile,
  ix: _Index,
  leakedOnly = false,
): { start: Int32Array; targets: Int32Array } {
  const n = leaks.nodes.length;
  const start = new Int32Array(n + 1);
  const keep = (s: number, t: number) =>
    s >= 0 && t >= 0 &&
    (!leakedOnly ||
      (leaks.nodes[s]!.status !== "reachable" && leaks.nodes[t]!.status !== "reachable"));
  for (const e of leaks.edges) {
    const s = ix.at(e.source), t = ix.at(e.target);
    if (keep(s, t)) start[s + 1]!++;
  }
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const targets = new Int32Array(start[n]!);
  for (const e of leaks.edges) {
    const s = ix.at(e.source), t = ix.at(e.target);
    if (keep(s, t)) targets[fill[s]!++] = t;
  }
  return { start, targets };
}
