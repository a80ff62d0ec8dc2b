// Pure selectors: turn a LeaksFile into one bounded payload per report view, plus the viewer's interactive selections.

export { formatBytes, formatCount, formatDuration } from "./format.ts";
import { formatBytes, formatCount } from "./format.ts";

import type { LeaksFile, LeaksNode, LeaksSite, LeaksStackFrame } from "./schema.ts";
import { ambiguousFrames, offsetSuffix } from "./frame_text.ts";

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
  /** leaks.json format version the report was made from. */
  version: number;
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
  /** v2, recorded processes: allocation site (key of SitesPayload.stacks), thread and age. */
  site?: number;
  thread?: number;
  ageMs?: number;
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

/** One stack frame as the viewer shows it (image reduced to its basename). */
export interface FrameView {
  pc: string;
  function?: string;
  file?: string;
  line?: number;
  image?: string;
  /** An allocator or recorder frame (malloc, operator new, …): shown dimmed. */
  alloc?: boolean;
}

export interface StackView {
  frames: FrameView[];
  /** Frames left out by the per-stack cap. */
  more: number;
}

export interface SiteRowView extends LeaksSite {
  /** Innermost meaningful frame: function (or image@pc) and "file:line" ("" when unknown). */
  label: string;
  location: string;
  /** Full source path of that frame, for a tooltip. */
  file?: string;
  /** Graph node indices of this site's drawn blocks. */
  nodes: number[];
}

export interface SitesPayload {
  /** Sorted by leaked bytes, then live bytes; capped. */
  rows: SiteRowView[];
  /** Sites in the file plus the ones the file itself omitted. */
  total: number;
  /** Sites not listed here (cap of the report + `omittedSites` of the file). */
  omitted: number;
  /** Site → its frames, for the listed rows and the drawn blocks (capped). */
  stacks: Record<number, StackView>;
}

export interface TimelinePoint {
  ms: number;
  bytes: number;
  count: number;
}

export interface TimelinePayload {
  points: TimelinePoint[];
  /** Samples in the file (points may be fewer: bucketed, keeping each bucket's peak). */
  samples: number;
  /** When the snapshot was taken, ms since the recorder started (estimated, see selectTimeline). */
  snapshotMs: number;
  peakBytes: number;
  peakCount: number;
}

export interface ReportModel {
  header: HeaderPayload;
  stats: StatsPayload;
  graph: GraphPayload;
  zones: ZoneRow[];
  cycles: CyclesPayload;
  leaks: LeaksTablePayload;
  method: MethodPayload;
  /** v2, recorded processes only; null otherwise. */
  sites: SitesPayload | null;
  timeline: TimelinePayload | null;
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
  /** Most rows in the sites table (default 100). */
  maxSites?: number;
  /** Most stacks embedded (default 300) and frames per stack (default 48). */
  maxStacks?: number;
  maxFrames?: number;
  /** Most timeline points (default 600). */
  maxTimelinePoints?: number;
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
  const sites = selectSites(leaks, graph, options);
  return {
    header: selectHeader(leaks),
    stats: selectStats(leaks),
    graph,
    zones: selectZones(leaks),
    cycles,
    leaks: table,
    method: selectMethod(leaks),
    sites,
    timeline: selectTimeline(leaks, options.maxTimelinePoints ?? 600),
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
    version: leaks.version,
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
    if (node.site !== undefined && node.site >= 0) {
      g.site = node.site;
      if (node.thread !== undefined) g.thread = node.thread;
      if (node.ageMs !== undefined && node.ageMs >= 0) g.ageMs = node.ageMs;
    }
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

// ----- allocation sites and timeline (v2, recorded processes) -----

/**
 * The sites table: rows sorted by leaked bytes, then live bytes, each labelled with its innermost
 * meaningful frame, with the drawn graph nodes of each site; plus the stacks of the listed sites
 * and of the drawn blocks (listed rows first, then drawn leaked blocks, then the rest, capped).
 * Null when the file has no sites (version 1, or an unrecorded attach). O(sites · depth + nodes).
 */
export function selectSites(
  leaks: LeaksFile,
  graph: GraphPayload,
  options: Pick<ModelOptions, "maxSites" | "maxStacks" | "maxFrames"> = {},
): SitesPayload | null {
  if (!leaks.sites || !leaks.stacks) return null;
  const stacks = leaks.stacks;
  const maxFrames = options.maxFrames ?? 48;
  const maxStacks = options.maxStacks ?? 300;
  const sorted = [...leaks.sites].sort(compareSiteRows);
  const listed = sorted.slice(0, options.maxSites ?? 100);

  const drawn = new Map<number, number[]>();
  graph.nodes.forEach((node, i) => {
    if (node.site === undefined) return;
    let list = drawn.get(node.site);
    if (!list) drawn.set(node.site, list = []);
    list.push(i);
  });

  const embedded: Record<number, StackView> = {};
  let embeddedCount = 0;
  const embed = (site: number) => {
    if (embeddedCount >= maxStacks || embedded[site] !== undefined) return;
    const frames = stacks[site];
    if (!frames) return;
    embedded[site] = {
      frames: frames.slice(0, maxFrames).map(frameView),
      more: Math.max(0, frames.length - maxFrames),
    };
    embeddedCount++;
  };
  for (const row of listed) embed(row.site);
  for (const leakedFirst of [true, false]) {
    for (const node of graph.nodes) {
      if (node.site !== undefined && (node.status !== "reachable") === leakedFirst) {
        embed(node.site);
      }
    }
  }

  const frames = listed.map((r) => meaningfulFrame(stacks[r.site] ?? []));
  // Two sites on one source line (two mallocs in one statement) would read alike: add the offset
  // in the function and the column.
  const distinguish = ambiguousFrames(frames, (f) => `${frameName(f)} ${frameLocation(f)}`);
  const rows = listed.map((r, k): SiteRowView => {
    const frame = frames[k];
    const exact = distinguish[k] === true && frame !== undefined;
    const row: SiteRowView = {
      site: r.site,
      label: frame ? frameName(frame) + (exact ? offsetSuffix(frame) : "") : `site ${r.site}`,
      location: frame ? frameLocation(frame, exact) : "",
      count: r.count,
      bytes: r.bytes,
      peakCount: r.peakCount,
      peakBytes: r.peakBytes,
      totalCount: r.totalCount,
      totalBytes: r.totalBytes,
      leakedCount: r.leakedCount,
      leakedBytes: r.leakedBytes,
      direct: r.direct,
      directBytes: r.directBytes ?? 0,
      oldestMs: r.oldestMs,
      meanAgeMs: r.meanAgeMs,
      threads: r.threads.slice(0, 16),
      nodes: drawn.get(r.site) ?? [],
    };
    if (frame?.file) row.file = frame.file;
    return row;
  });
  const fileOmitted = leaks.omittedSites ?? 0;
  return {
    rows,
    total: leaks.sites.length + fileOmitted,
    omitted: leaks.sites.length - rows.length + fileOmitted,
    stacks: embedded,
  };
}

/** Leaked bytes, then live bytes, then leaked count, descending; site id breaks ties. */
export function compareSiteRows(a: LeaksSite, b: LeaksSite): number {
  return b.leakedBytes - a.leakedBytes || b.bytes - a.bytes || b.leakedCount - a.leakedCount ||
    a.site - b.site;
}

const _ALLOC_FUNCTIONS = new Set([
  "malloc",
  "calloc",
  "realloc",
  "reallocarray",
  "free",
  "memalign",
  "posix_memalign",
  "aligned_alloc",
  "valloc",
  "pvalloc",
  "strdup",
  "strndup",
]);

/** An allocator entry point (malloc family, operator new/new[]) or a frame of the recorder. */
export function isAllocatorFrame(frame: LeaksStackFrame): boolean {
  const image = _basename(frame.image ?? "");
  if (/^lib(recorder|heapscope)\b/.test(image)) return true;
  const fn = frame.function;
  if (!fn) return false;
  if (/^(hs_|heapscope_)/.test(fn)) return true;
  if (/^operator new\b/.test(fn) || /^_Zn[wa][jm]/.test(fn)) return true;
  const bare = fn.replace(/@.*$/, "").replace(/^(__GI_)?(__libc_|__)?/, "");
  return _ALLOC_FUNCTIONS.has(bare) || _ALLOC_FUNCTIONS.has(fn);
}

/** The innermost frame that is not the allocator or the recorder (the first frame if all are). */
export function meaningfulFrame(frames: LeaksStackFrame[]): LeaksStackFrame | undefined {
  return frames.find((f) => !isAllocatorFrame(f)) ?? frames[0];
}

/** "function", else "image@pc", else "pc". */
export function frameName(frame: { pc: string; function?: string; image?: string }): string {
  if (frame.function) return frame.function;
  return frame.image ? `${_basename(frame.image)}@${frame.pc}` : frame.pc;
}

/** "file.c:123" (basename), "file.c", or ""; with `column`, "file.c:123:9" when known. */
export function frameLocation(
  frame: { file?: string; line?: number; column?: number },
  column = false,
): string {
  if (!frame.file) return "";
  const base = _basename(frame.file);
  if (frame.line === undefined || frame.line <= 0) return base;
  return column && frame.column ? `${base}:${frame.line}:${frame.column}` : `${base}:${frame.line}`;
}

function frameView(frame: LeaksStackFrame): FrameView {
  const view: FrameView = { pc: frame.pc };
  if (frame.function) view.function = frame.function;
  if (frame.file) view.file = frame.file;
  if (frame.line !== undefined) view.line = frame.line;
  if (frame.image) view.image = _basename(frame.image);
  if (isAllocatorFrame(frame)) view.alloc = true;
  return view;
}

function _basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Live bytes and blocks over time, at most `maxPoints` (each bucket keeps its peak sample). The
 * snapshot time is not in the file: it is at least the last sample and at least the age of the
 * oldest live block (blocks are allocated after the recorder starts). Null without a timeline.
 * O(samples + sites).
 */
export function selectTimeline(leaks: LeaksFile, maxPoints = 600): TimelinePayload | null {
  const samples = leaks.timeline;
  if (!samples || samples.length === 0) return null;
  const points: TimelinePoint[] = [];
  const per = Math.max(1, Math.ceil(samples.length / Math.max(2, maxPoints)));
  for (let i = 0; i < samples.length; i += per) {
    let best = samples[i]!;
    for (let k = i + 1; k < Math.min(samples.length, i + per); k++) {
      if (samples[k]!.liveBytes > best.liveBytes) best = samples[k]!;
    }
    points.push({ ms: best.timeNs / 1e6, bytes: best.liveBytes, count: best.liveCount });
  }
  const last = samples[samples.length - 1]!;
  if (points[points.length - 1]!.ms !== last.timeNs / 1e6) {
    points.push({ ms: last.timeNs / 1e6, bytes: last.liveBytes, count: last.liveCount });
  }
  let peakBytes = 0, peakCount = 0;
  for (const s of samples) {
    if (s.liveBytes > peakBytes) peakBytes = s.liveBytes;
    if (s.liveCount > peakCount) peakCount = s.liveCount;
  }
  let snapshotMs = last.timeNs / 1e6;
  for (const site of leaks.sites ?? []) snapshotMs = Math.max(snapshotMs, site.oldestMs);
  return { points, samples: samples.length, snapshotMs, peakBytes, peakCount };
}

// ----- interactive selections (run in the viewer on the graph payload) -----

export interface ViewState {
  filter: Filter;
  zone: string | null;
  search: string;
  /** Show only the blocks of this allocation site. */
  site?: number | null;
}

export interface Visible {
  /** 1 where the node is drawn. */
  mask: Uint8Array;
  counts: { reachable: number; leaked: number; cycle: number };
  /** Node indices whose address matches the search (empty when no search). */
  matches: number[];
}

/** Which graph nodes the view shows under a filter, a zone, a site and an address search. O(nodes). */
export function selectVisible(graph: GraphPayload, view: ViewState): Visible {
  const mask = new Uint8Array(graph.nodes.length);
  const counts = { reachable: 0, leaked: 0, cycle: 0, possible: 0 };
  const matches: number[] = [];
  const needle = normalizeAddressQuery(view.search);
  graph.nodes.forEach((node, i) => {
    if (!matchesFilter(node, view.filter)) return;
    if (view.zone !== null && node.zone !== view.zone) return;
    if (view.site != null && node.site !== view.site) return;
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
  /** Recorded processes: where the block was allocated (frames null when not embedded). */
  stack: NodeStack | null;
}

export interface NodeStack {
  site: number;
  frames: FrameView[] | null;
  more: number;
  thread?: number;
  ageMs?: number;
}

/** The detail card of one node: edges with offsets, neighbours, hexdump, allocation stack. O(links). */
export function selectNodeDetail(
  graph: GraphPayload,
  index: number,
  sites: SitesPayload | null = null,
): NodeDetail | null {
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
    stack: _nodeStack(node, sites),
  };
}

function _nodeStack(node: GraphNode, sites: SitesPayload | null): NodeStack | null {
  if (node.site === undefined) return null;
  const view = sites?.stacks[node.site];
  const stack: NodeStack = { site: node.site, frames: view?.frames ?? null, more: view?.more ?? 0 };
  if (node.thread !== undefined) stack.thread = node.thread;
  if (node.ageMs !== undefined) stack.ageMs = node.ageMs;
  return stack;
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
