// Turns an Analysis into leaks.json (format version 3), streamed as byte chunks for big heaps.
//
// One mapping from the analysis to the file, field by field (report/schema.ts declares the
// format): `leaksJsonChunks` streams it, `toLeaksFile` builds the same thing as an object for the
// HTML report (a test checks they are identical). O(nodes + edges). With `graph: "leaked"` only
// leaked and possible nodes and the blocks they point to (their context) are written, and what
// was left out is counted in `omitted`. A recorded process's sites add `stacks`, `sites` and
// `timeline`, and per node its site, thread, age and requested size.

import type { LeaksSites } from "../analysis/sites.ts";
import type { SuppressionResult } from "../analysis/suppressions.ts";
import type { Analysis } from "../analysis/types.ts";
import { EDGE_INTERIOR, EDGE_WEAK } from "../analysis/graph.ts";
import {
  isLeaked,
  LEAK_DIRECT,
  LEAK_KIND,
  NODE_STATUS,
  STATUS_POSSIBLE,
  STATUS_REACHABLE,
} from "../analysis/types.ts";
import {
  LEAKS_FORMAT,
  LEAKS_VERSION,
  type LeaksEdge,
  type LeaksFile,
  type LeaksNode,
  type LeaksRetainer,
  type LeaksRoot,
  type LeaksSite,
  type LeaksStackFrame,
  type LeaksSummary,
  type LeaksSuppression,
  type LeaksType,
} from "./schema.ts";
import { ByteWriter, putBytes, putHex, putUint32, utf8 } from "./byte_writer.ts";

export interface LeaksJsonOptions {
  /** "all" (default): every allocation; "leaked": leaked blocks and their 1-hop context. */
  graph?: "all" | "leaked";
  /** Hex of the first bytes of each leaked block (default 64; 0 = none). */
  leakedBytes?: number;
  /** Leave out every byte copied from the process's memory (no `bytes` field): --redact. */
  redact?: boolean;
  /** A recorded process's allocation sites (heapscope run, or a pid started under it). */
  sites?: LeaksSites;
  /** What --suppressions suppressed: the rules' table, the summary's counts, nodes' marks. */
  suppressions?: SuppressionResult;
}

const TWO32 = 4294967296;
/** 4-digit hex of every 16-bit value, built on first use (2 MB; Number#toString(16) is ~10× slower). */
let hex4: string[] | undefined;

/** "0x" + n.toString(16), fast for the 48-bit addresses written once per node. */
function hex(n: number): string {
  if (!(n >= 65536 && n <= Number.MAX_SAFE_INTEGER) || n % 1 !== 0) return "0x" + n.toString(16);
  if (hex4 === undefined) {
    hex4 = new Array<string>(65536);
    for (let i = 0; i < 65536; i++) hex4[i] = i.toString(16).padStart(4, "0");
  }
  const hi = Math.floor(n / TWO32), lo = n - hi * TWO32;
  const mid = lo >>> 16, low = hex4[lo & 0xffff]!;
  if (hi === 0) return "0x" + mid.toString(16) + low;
  return "0x" + hi.toString(16) + hex4[mid]! + low;
}

/**
 * What several outputs derive from one analysis (leaks.json, then the summary), made once: an
 * Analysis is not changed once made, and each entry also checks that the arrays it was made from
 * are still the analysis's own. (The summary re-derived all three: ~15 ms at 10^6 blocks.)
 */
const derived = new WeakMap<Analysis, {
  summary?: { from: unknown[]; value: LeaksSummary };
  held?: { from: unknown[]; value: Map<number, { blocks: number; bytes: number }> };
  shared?: { from: unknown[]; k: number; ids: number[] };
}>();

function derivedOf(a: Analysis) {
  let d = derived.get(a);
  if (!d) derived.set(a, d = {});
  return d;
}

function sameInputs(from: unknown[] | undefined, now: unknown[]): boolean {
  return from !== undefined && from.length === now.length && from.every((x, i) => x === now[i]);
}

export function summarize(a: Analysis): LeaksSummary {
  const d = derivedOf(a);
  const from = [a.status, a.leak, a.heap.allocations.sizes, a.cycles];
  if (!d.summary || !sameInputs(d.summary.from, from)) {
    d.summary = { from, value: summarizeOnce(a) };
  }
  return { ...d.summary.value };
}

function summarizeOnce(a: Analysis): LeaksSummary {
  const allocs = a.heap.allocations;
  const sizes = allocs.sizes;
  let bytes = 0, reachable = 0, leaked = 0, leakedBytes = 0, direct = 0, indirect = 0;
  let possible = 0, possibleBytes = 0;
  for (let i = 0; i < allocs.length; i++) {
    const size = sizes[i]!;
    bytes += size;
    if (a.status[i] === STATUS_REACHABLE) {
      reachable++;
      continue;
    }
    if (!isLeaked(a.status[i]!)) {
      possible++;
      possibleBytes += size;
      continue;
    }
    leaked++;
    leakedBytes += size;
    if (a.leak[i] === LEAK_DIRECT) direct++;
    else indirect++;
  }
  return {
    allocations: allocs.length,
    bytes,
    reachable,
    leaked,
    leakedBytes,
    direct,
    indirect,
    cycles: a.cycles.length,
    possible,
    possibleBytes,
  };
}

/**
 * The graph's CSR starts when the analysis's edge lists are the graph's own edges in CSR order (edge
 * e of both is the same edge, each block's out-edges a range): then a block's edges can be visited
 * without a pass over every edge. Undefined otherwise.
 */
export function edgeStarts(a: Analysis): Uint32Array | undefined {
  const n = a.status.length, { start, target } = a.graph.edges;
  return start.length === n + 1 && start[n] === a.edgeSource.length && target === a.edgeTarget
    ? start
    : undefined;
}

/** Which node ids go into the file: all, or leaked and possible ones and what they point to. */
export function selectNodes(a: Analysis, graph: "all" | "leaked"): Uint8Array {
  const n = a.status.length;
  const keep = new Uint8Array(n);
  if (graph === "all") return keep.fill(1);
  // The edges of the nodes kept, by source: not a pass over every edge (3·10^6 at 10^6 blocks).
  const csr = edgeStarts(a), target = a.edgeTarget;
  for (let i = 0; i < n; i++) {
    if (a.status[i] === STATUS_REACHABLE) continue;
    keep[i] = 1;
    if (csr) { for (let e = csr[i]!; e < csr[i + 1]!; e++) keep[target[e]!] = 1; }
  }
  if (!csr) {
    for (let e = 0; e < a.edgeSource.length; e++) {
      if (a.status[a.edgeSource[e]!] !== STATUS_REACHABLE) keep[a.edgeTarget[e]!] = 1;
    }
  }
  return keep;
}

/** Blocks and bytes counted under each direct leak (its structure), by node id. O(n). */
export function heldTotals(a: Analysis): ReadonlyMap<number, { blocks: number; bytes: number }> {
  const d = derivedOf(a);
  const from = [a.owner, a.heap.allocations.sizes];
  if (!d.held || !sameInputs(d.held.from, from)) d.held = { from, value: heldTotalsOnce(a) };
  return d.held.value;
}

function heldTotalsOnce(a: Analysis): Map<number, { blocks: number; bytes: number }> {
  const out = new Map<number, { blocks: number; bytes: number }>();
  const sizes = a.heap.allocations.sizes;
  for (let i = 0; i < a.owner.length; i++) {
    const o = a.owner[i]!;
    if (o < 0) continue;
    let h = out.get(o);
    if (!h) out.set(o, h = { blocks: 0, bytes: 0 });
    h.blocks++;
    h.bytes += sizes[i]!;
  }
  return out;
}

/**
 * The `types` table, biggest bytes first, and each graph type id's row in it. Counts cover every
 * block (not only the written ones). O(n + types · log types).
 */
export function typeTable(a: Analysis): { rows: LeaksType[]; row: Int32Array } {
  const nodes = a.graph.nodes;
  const rows: LeaksType[] = nodes.typeNames.map((name) => ({
    name,
    count: 0,
    bytes: 0,
    leakedCount: 0,
    leakedBytes: 0,
    possibleCount: 0,
    possibleBytes: 0,
  }));
  for (let i = 0; i < nodes.count; i++) {
    const t = nodes.type[i]!;
    if (t < 0) continue;
    const r = rows[t]!, size = nodes.size[i]!, st = a.status[i]!;
    r.count++;
    r.bytes += size;
    if (isLeaked(st)) {
      r.leakedCount++;
      r.leakedBytes += size;
    } else if (st === STATUS_POSSIBLE) {
      r.possibleCount++;
      r.possibleBytes += size;
    }
  }
  const order = rows.map((_, i) => i).sort((x, y) =>
    rows[y]!.bytes - rows[x]!.bytes || rows[x]!.name.localeCompare(rows[y]!.name)
  );
  const row = new Int32Array(rows.length);
  order.forEach((t, k) => row[t] = k);
  return { rows: order.map((t) => rows[t]!), row };
}

/** Retainers listed in leaks.json and the summary. */
export const RETAINERS = 50;

/**
 * What keeps the most alive: the dominator tree's holders (one global variable, one stack frame,
 * one register: "g_registry holds 41.2 MiB in 120,344 blocks"), and blocks that several holders
 * share (under the virtual root itself), biggest first. Only the k biggest shared blocks are
 * named (a heap held from many roots has a shared block per node). O(n · log k + holders).
 */
export function retainersOf(a: Analysis, k = RETAINERS): LeaksRetainer[] {
  if (!a.idom || !a.retained || !a.retainedCount) return [];
  const rows: LeaksRetainer[] = (a.holders ?? [])
    .filter((h) => h.blocks > 0)
    .map((h, i) => ({ node: -1, holder: i, name: h.name, bytes: h.bytes, blocks: h.blocks }));
  const nodes = a.graph.nodes, retained = a.retained;
  for (const v of sharedBlocks(a, a.idom, retained, k)) {
    const t = nodes.type[v]!;
    rows.push({
      node: v,
      name: `${t >= 0 ? nodes.typeNames[t] + " at " : ""}${hex(nodes.address[v]!)} (several roots)`,
      bytes: retained[v]!,
      blocks: a.retainedCount[v]!,
    });
  }
  return rows.sort((x, y) => y.bytes - x.bytes || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .slice(0, k);
}

/**
 * The k biggest blocks that several holders share (under the virtual root itself), biggest first
 * (ties: lowest address first). At least RETAINERS are found and kept for the analysis: the top k
 * for a smaller k are their first k (the order is total), so the summary's list costs nothing
 * after leaks.json's. O(n · log k).
 */
function sharedBlocks(a: Analysis, idom: Int32Array, retained: Float64Array, k: number): number[] {
  const d = derivedOf(a);
  const address = a.graph.nodes.address, heldBy = a.heldBy;
  const from = [idom, retained, heldBy, address];
  if (d.shared && d.shared.k >= k && sameInputs(d.shared.from, from)) {
    return d.shared.ids.slice(0, k);
  }
  if (!(k > 0)) return [];
  const K = Math.max(k, RETAINERS);
  // A min-heap by (bytes, -address) of the K biggest so far. The loop over the blocks only
  // compares each with the smallest kept (`min`, once the heap is full): at 10^6 blocks nearly all
  // are shared and smaller, and the heap's work in the loop took 13 ms of cold code.
  const heap: number[] = [];
  const less = (x: number, y: number) =>
    retained[x]! < retained[y]! || (retained[x] === retained[y] && address[x]! > address[y]!);
  const swap = (i: number, j: number) => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  let min = -Infinity;
  const offer = (v: number) => {
    if (heap.length < K) {
      heap.push(v);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!less(heap[i]!, heap[p]!)) break;
        swap(i, p);
        i = p;
      }
    } else if (less(heap[0]!, v)) {
      heap[0] = v;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    if (heap.length === K) min = retained[heap[0]!]!;
  };
  const n = idom.length;
  for (let v = 0; v < n; v++) {
    if (idom[v] !== -1 || (heldBy !== undefined && heldBy[v] !== -1) || retained[v]! < min) {
      continue;
    }
    offer(v);
  }
  const ids = heap.sort((x, y) => less(x, y) ? 1 : less(y, x) ? -1 : 0);
  d.shared = { from, k: K, ids };
  return ids.slice(0, k);
}

/** The sites' tables as written: only stacks a written node or a row uses, renumbered densely. */
interface SiteTables {
  /** Old site id → written site id (-1: dropped). */
  renumber: Int32Array;
  stacks: LeaksStackFrame[][];
  rows: LeaksSite[];
}

function siteTables(s: LeaksSites, keep: Uint8Array): SiteTables {
  const used = new Uint8Array(s.stacks.length);
  for (const r of s.sites) used[r.site] = 1;
  for (let i = 0; i < keep.length; i++) {
    const site = s.site[i] ?? -1;
    if (keep[i] && site >= 0) used[site] = 1;
  }
  const renumber = new Int32Array(s.stacks.length).fill(-1);
  const stacks: LeaksStackFrame[][] = [];
  s.stacks.forEach((frames, i) => {
    if (!used[i]) return;
    renumber[i] = stacks.length;
    stacks.push(frames.map((f) => ({ ...f })));
  });
  const rows = s.sites.map((r): LeaksSite => ({
    site: renumber[r.site]!,
    count: r.count,
    bytes: r.bytes,
    peakCount: r.peakCount,
    peakBytes: r.peakBytes,
    totalCount: r.totalCount,
    totalBytes: r.totalBytes,
    leakedCount: r.leakedCount,
    leakedBytes: r.leakedBytes,
    direct: r.direct,
    directBytes: r.directBytes,
    oldestMs: r.oldestMs,
    meanAgeMs: r.meanAgeMs,
    threads: r.threads,
  }));
  return { renumber, stacks, rows };
}

/** The per-node fields of a recorded block (site, thread, age, requested size), or "". */
function siteFields(a: Analysis, s: LeaksSites | undefined, t: SiteTables | undefined, i: number) {
  if (!s || !t) return "";
  const site = s.site[i] ?? -1;
  if (site < 0 || t.renumber[site]! < 0) return "";
  const req = a.requested?.[i] ?? -1;
  return `,"site":${t.renumber[site]},"thread":${s.thread[i]},"ageMs":${
    Math.round(s.ageMs[i]! * 1000) / 1000
  }${req >= 0 ? `,"requested":${req}` : ""}`;
}

/** The `suppressions` table: every rule in file order, with what it suppressed. */
export function suppressionTable(r: SuppressionResult): LeaksSuppression[] {
  return r.rules.map((rule, i) => ({
    rule: rule.text,
    source: rule.source,
    line: rule.line,
    leaks: r.totals[i]!.leaks,
    bytes: r.totals[i]!.bytes,
  }));
}

/** Everything but the node, edge, cycle and root lists (and the sites' tables). */
function leaksHead(
  a: Analysis,
  suppressions?: SuppressionResult,
): Omit<LeaksFile, "nodes" | "edges" | "cycles" | "roots"> {
  const s = a.snapshot;
  // The capture's work before the stop first (Linux), then the analysis's.
  const phases = { ...s.captureMs, ...a.phaseMs };
  return {
    format: LEAKS_FORMAT,
    version: LEAKS_VERSION,
    target: {
      pid: s.pid,
      command: s.command,
      platform: s.platform,
      arch: s.arch,
      allocator: a.heap.allocator,
    },
    capturedAt: s.capturedAt,
    pauseMs: Math.round(s.pauseMs * 1000) / 1000,
    ...(s.pauseStealMs !== undefined ? { pauseStealMs: s.pauseStealMs } : {}),
    summary: suppressions
      ? {
        ...summarize(a),
        suppressed: suppressions.suppressed,
        suppressedBytes: suppressions.suppressedBytes,
      }
      : summarize(a),
    phases: Object.fromEntries(
      Object.entries(phases).map(([k, v]) => [k, Math.round(v * 1000) / 1000]),
    ),
    warnings: [...s.warnings, ...a.heap.warnings],
  };
}

/** Root entries of the kept nodes, as written. */
function rootsOf(a: Analysis, keep: Uint8Array): LeaksRoot[] {
  return a.roots.filter((r) => keep[r.target]).map((r) => ({
    kind: r.kind,
    ...(r.thread !== undefined ? { thread: r.thread } : {}),
    ...(r.image !== undefined ? { image: r.image } : {}),
    address: r.kind === "register" ? r.register ?? "?" : hex(r.address),
    target: r.target,
    ...(r.weak ? { weak: true as const } : {}),
    ...(r.name ? { name: r.name } : {}),
  }));
}

/** `,"stacks":…,"sites":…,"omittedSites":…,"timeline":…` of a recorded process, or "". */
function sitesTail(s: LeaksSites | undefined, t: SiteTables | undefined): string {
  if (!s || !t) return "";
  return `,"stacks":${JSON.stringify(t.stacks)},"sites":${JSON.stringify(t.rows)}` +
    `,"omittedSites":${s.omittedSites},"timeline":${JSON.stringify(s.timeline)}`;
}

/** Bytes per yielded chunk of `leaksJsonChunks` (the writer's reusable buffer). */
const CHUNK = 1 << 20;
/** Flush when less than this is left: more than any node or edge needs but a leaked node's bytes. */
const SLACK = 4096;

/**
 * The file as UTF-8 chunks, encoded straight into one reusable buffer: each chunk is a view that is
 * valid only until the next one is asked for (write it, or copy it). O(nodes + edges) time, O(1)
 * allocations per chunk. `chunkBytes` is for tests (small chunks exercise the flushing).
 */
export function* leaksJsonChunks(
  a: Analysis,
  opts: LeaksJsonOptions & { chunkBytes?: number } = {},
): Generator<Uint8Array> {
  const graph = opts.graph ?? "all";
  const size = Math.max(opts.chunkBytes ?? CHUNK, 2 * SLACK);
  const limit = size - SLACK;
  const w = new ByteWriter(size);
  const keep = selectNodes(a, graph);
  const headText = JSON.stringify(leaksHead(a, opts.suppressions));
  w.text(headText.slice(0, -1));

  const allocs = a.heap.allocations;
  w.text(',"nodes":[');
  // `,"zone":<name>,"status":"<status>"` for every zone and status, pre-encoded.
  const zoneStatus = allocs.zones.map((z) =>
    NODE_STATUS.map((st) => utf8(`,"zone":${JSON.stringify(z)},"status":"${st}"`))
  );
  const sites = opts.sites ? siteTables(opts.sites, keep) : undefined;
  const types = typeTable(a);
  const nodes: NodeText = {
    a,
    keep,
    byteCount: opts.redact ? 0 : opts.leakedBytes ?? 64,
    zoneStatus,
    zoneVia: allocs.zones.map((z) =>
      NODE_STATUS.map((st) => utf8(`,"zone":${JSON.stringify(z)},"status":"${st}","via":`))
    ),
    held: heldTotals(a),
    typeRow: types.row,
    sites: opts.sites,
    siteTables: sites,
    suppressed: opts.suppressions?.rule,
    first: true,
    omittedNodes: 0,
    omittedBytes: 0,
  };
  // A subset (--graph leaked) is visited through the list of its nodes and, below, their edges
  // only; what is left out is counted, not walked (10^6 blocks, 3·10^6 edges: 3-9 ms less here).
  const subset = graph === "all" ? undefined : keptNodes(keep, allocs.sizes);
  if (subset) {
    nodes.omittedNodes = allocs.length - subset.ids.length;
    nodes.omittedBytes = subset.omittedBytes;
  }
  const nodeCount = subset ? subset.ids.length : allocs.length;
  for (let k = 0; k < nodeCount;) {
    k = encodeNodes(nodes, k, w, limit, subset?.ids);
    if (w.pos >= limit) yield w.take();
  }
  const { omittedNodes, omittedBytes } = nodes;
  w.text("]");

  w.text(',"edges":[');
  const edges = { a, keep, first: true, omittedEdges: 0 };
  const csr = edgeStarts(a);
  if (subset && csr) {
    // Each kept node's out-edges, in edge order: the same edges, in the same order.
    const at = { k: 0, e: 0 };
    let written = 0;
    while (at.k < subset.ids.length) {
      written += encodeKeptEdges(edges, subset.ids, csr, at, w, limit);
      if (w.pos >= limit) yield w.take();
    }
    edges.omittedEdges = a.edgeSource.length - written;
  } else {
    for (let e = 0; e < a.edgeSource.length;) {
      e = encodeEdges(edges, e, w, limit);
      if (w.pos >= limit) yield w.take();
    }
  }
  const { omittedEdges } = edges;
  w.text("]");
  w.text(`,"cycles":${JSON.stringify(a.cycles)}`);
  const roots = rootsOf(a, keep);
  w.text(`,"roots":${JSON.stringify(roots)}`);
  if (graph !== "all") {
    w.text(
      `,"omitted":${
        JSON.stringify({ nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges })
      }`,
    );
  }
  if (types.rows.length > 0) w.text(`,"types":${JSON.stringify(types.rows)}`);
  const retainers = retainersOf(a);
  if (retainers.length > 0) w.text(`,"retainers":${JSON.stringify(retainers)}`);
  if (opts.suppressions) {
    w.text(`,"suppressions":${JSON.stringify(suppressionTable(opts.suppressions))}`);
  }
  w.text(sitesTail(opts.sites, sites));
  w.text("}\n");
  yield w.take();
}

interface NodeText {
  a: Analysis;
  keep: Uint8Array;
  byteCount: number;
  /** Pre-encoded `,"zone":<name>,"status":"<status>"` by zone id, then status code. */
  zoneStatus: Uint8Array[][];
  /** The same followed by `,"via":`. */
  zoneVia: Uint8Array[][];
  held: ReadonlyMap<number, { blocks: number; bytes: number }>;
  /** Graph type id → row of the written `types` table. */
  typeRow: Int32Array;
  sites: LeaksSites | undefined;
  siteTables: SiteTables | undefined;
  /** Per node: the suppressing rule, -1 none (--suppressions). */
  suppressed: Int32Array | undefined;
  /** No node written yet (no comma before the next). */
  first: boolean;
  omittedNodes: number;
  omittedBytes: number;
}

const ID = utf8('{"id":'), ID_NEXT = utf8(',{"id":'), ADDRESS = utf8(',"address":"0x');
const TYPE = utf8(',"type":'), RETAINED = utf8(',"retained":'), IDOM = utf8(',"idom":');
const MINUS_ONE = utf8("-1"), HELD_BY = utf8(',"heldBy":');
const SIZE = utf8('","size":');

/**
 * Node objects from position `from` on (a position in `ids`, else the node id itself) into `w`
 * until its position reaches `limit` (or the last node); returns the next position. A plain loop
 * over local variables (not the generator, not the writer's methods) for the common case: ids and
 * sizes below 2^32, addresses below 2^53.
 */
function encodeNodes(
  t: NodeText,
  from: number,
  w: ByteWriter,
  limit: number,
  ids?: Uint32Array,
): number {
  const { a, keep, zoneStatus, zoneVia } = t;
  const allocs = a.heap.allocations;
  const addresses = allocs.addresses, sizes = allocs.sizes, zoneIds = allocs.zoneIds;
  const status = a.status, via = a.via, n = ids ? ids.length : allocs.length;
  const types = a.graph.nodes.type, idom = a.idom, retained = a.retained, heldBy = a.heldBy;
  let buf = w.buf, p = w.pos;
  let k = from;
  for (; k < n && p < limit; k++) {
    const i = ids ? ids[k]! : k;
    const size = sizes[i]!;
    if (!keep[i]) {
      t.omittedNodes++;
      t.omittedBytes += size;
      continue;
    }
    const st = status[i]!;
    // A node is at most ~200 bytes here; `limit` leaves SLACK bytes of room.
    p = putBytes(buf, p, t.first ? ID : ID_NEXT);
    t.first = false;
    p = putUint32(buf, p, i);
    p = putBytes(buf, p, ADDRESS);
    const address = addresses[i]!;
    if (address >= 0 && address <= Number.MAX_SAFE_INTEGER && address % 1 === 0) {
      p = putHex(buf, p, address);
    } else {
      w.pos = p;
      w.hex(address);
      buf = w.buf, p = w.pos;
    }
    p = putBytes(buf, p, SIZE);
    if (size >= 0 && size < 4294967296 && size % 1 === 0) p = putUint32(buf, p, size);
    else {
      w.pos = p;
      w.number(size);
      buf = w.buf, p = w.pos;
    }
    if (isLeaked(st)) {
      // Leaked nodes are few and carry a variable-length hex string: the writer's checked path.
      p = putBytes(buf, p, zoneStatus[zoneIds[i]!]![st]!);
      w.pos = p;
      w.text(`,"leak":"${LEAK_KIND[a.leak[i]!]}"`);
      const h = a.leak[i] === LEAK_DIRECT ? t.held.get(i) : undefined;
      if (h) w.text(`,"held":{"blocks":${h.blocks},"bytes":${h.bytes}}`);
      const b = leakedBytesHex(a, i, t.byteCount);
      if (b) w.text(`,"bytes":"${b}"`);
      const lt = a.graph.nodes.type[i]!;
      if (lt >= 0) w.text(`,"type":${t.typeRow[lt]}`);
      if (t.sites) w.text(siteFields(a, t.sites, t.siteTables, i));
      const sr = t.suppressed?.[i] ?? -1;
      if (sr >= 0) w.text(`,"suppressed":${sr}`);
      w.byte(0x7d); // }
      buf = w.buf, p = w.pos;
      continue;
    }
    const v = via[i]!;
    if (v >= 0) {
      p = putBytes(buf, p, zoneVia[zoneIds[i]!]![st]!);
      p = putUint32(buf, p, v);
    } else p = putBytes(buf, p, zoneStatus[zoneIds[i]!]![st]!);
    const ty = types[i]!;
    if (ty >= 0) {
      p = putBytes(buf, p, TYPE);
      p = putUint32(buf, p, t.typeRow[ty]!);
    }
    if (idom) {
      const d = idom[i]!, r = retained![i]!;
      if (d >= -1 && r >= 0 && r < 4294967296) {
        p = putBytes(buf, p, RETAINED);
        p = putUint32(buf, p, r);
        p = putBytes(buf, p, IDOM);
        if (d >= 0) p = putUint32(buf, p, d);
        else {
          p = putBytes(buf, p, MINUS_ONE);
          const h = heldBy?.[i] ?? -1;
          if (h >= 0) {
            p = putBytes(buf, p, HELD_BY);
            p = putUint32(buf, p, h);
          }
        }
      }
    }
    // Possible blocks only, and few: the reason text through the writer's checked path.
    const link = st === STATUS_POSSIBLE ? a.weakLinks.get(i) : undefined;
    if (link !== undefined) {
      w.pos = p;
      w.text(`,"weakLink":${JSON.stringify(link)}`);
      buf = w.buf, p = w.pos;
    }
    if (t.sites) {
      w.pos = p;
      w.text(siteFields(a, t.sites, t.siteTables, i));
      buf = w.buf, p = w.pos;
    }
    buf[p++] = 0x7d; // }
  }
  w.pos = p;
  return k;
}

/** The kept node ids, ascending, and the bytes of the others. O(n). */
function keptNodes(
  keep: Uint8Array,
  sizes: Float64Array,
): { ids: Uint32Array; omittedBytes: number } {
  let count = 0;
  for (let i = 0; i < keep.length; i++) count += keep[i]!;
  const ids = new Uint32Array(count);
  let k = 0, omittedBytes = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) ids[k++] = i;
    else omittedBytes += sizes[i]!;
  }
  return { ids, omittedBytes };
}

/**
 * The out-edges of the kept nodes `ids` (CSR `start`) whose target is kept too, from cursor `at`
 * (position in `ids`, edge) until the chunk is full; returns how many it wrote (putEdge, as
 * encodeEdges).
 */
function encodeKeptEdges(
  t: { a: Analysis; keep: Uint8Array; first: boolean },
  ids: Uint32Array,
  start: Uint32Array,
  at: { k: number; e: number },
  w: ByteWriter,
  limit: number,
): number {
  const { a, keep } = t;
  const edgeTarget = a.edgeTarget;
  const buf = w.buf;
  let p = w.pos, written = 0;
  for (; at.k < ids.length && p < limit; at.k++) {
    const src = ids[at.k]!;
    const end = start[src + 1]!;
    let e = Math.max(at.e, start[src]!);
    for (; e < end && p < limit; e++) {
      const dst = edgeTarget[e]!;
      if (!keep[dst]) continue;
      p = putEdge(t, buf, p, e, src, dst);
      written++;
    }
    at.e = e;
    if (e < end) break; // the chunk is full inside this node's edges: resume at edge e
  }
  w.pos = p;
  return written;
}

const SOURCE = utf8('{"source":'), SOURCE_NEXT = utf8(',{"source":');
const TARGET = utf8(',"target":'), OFFSET = utf8(',"offset":'), INTERIOR = utf8(',"interior":true');
const WEAK = utf8(',"weak":true');

/** Edge e (src -> dst) as an object at p, a comma before it unless it is the first; the new p. */
function putEdge(
  t: { a: Analysis; first: boolean },
  buf: Uint8Array,
  p: number,
  e: number,
  src: number,
  dst: number,
): number {
  const flags = t.a.graph.edges.flags;
  p = putBytes(buf, p, t.first ? SOURCE : SOURCE_NEXT);
  t.first = false;
  p = putUint32(buf, p, src);
  p = putBytes(buf, p, TARGET);
  p = putUint32(buf, p, dst);
  p = putBytes(buf, p, OFFSET);
  p = putUint32(buf, p, t.a.edgeOffset[e]!);
  if (flags && (flags[e]! & EDGE_INTERIOR)) p = putBytes(buf, p, INTERIOR);
  if (flags && (flags[e]! & EDGE_WEAK)) p = putBytes(buf, p, WEAK);
  buf[p++] = 0x7d; // }
  return p;
}

/** Edge objects from index `from` on, like `encodeNodes`; returns the next edge index. */
function encodeEdges(
  t: { a: Analysis; keep: Uint8Array; first: boolean; omittedEdges: number },
  from: number,
  w: ByteWriter,
  limit: number,
): number {
  const { a, keep } = t;
  const edgeSource = a.edgeSource, edgeTarget = a.edgeTarget;
  const n = edgeSource.length, buf = w.buf;
  let p = w.pos, e = from;
  for (; e < n && p < limit; e++) {
    const src = edgeSource[e]!, dst = edgeTarget[e]!;
    if (!keep[src] || !keep[dst]) {
      t.omittedEdges++;
      continue;
    }
    p = putEdge(t, buf, p, e, src, dst);
  }
  w.pos = p;
  return e;
}

/**
 * The same file as one object, built directly (no JSON round trip): the HTML report's input.
 * O(kept nodes + edges) objects.
 */
export function toLeaksFile(a: Analysis, opts: LeaksJsonOptions = {}): LeaksFile {
  const graph = opts.graph ?? "all";
  const byteCount = opts.redact ? 0 : opts.leakedBytes ?? 64;
  const keep = selectNodes(a, graph);
  const allocs = a.heap.allocations;
  const held = heldTotals(a);
  const sites = opts.sites ? siteTables(opts.sites, keep) : undefined;
  const types = typeTable(a);
  const retainers = retainersOf(a);
  const nodes: LeaksNode[] = [];
  let omittedNodes = 0, omittedBytes = 0, omittedEdges = 0;
  for (let i = 0; i < allocs.length; i++) {
    const size = allocs.sizes[i]!;
    if (!keep[i]) {
      omittedNodes++;
      omittedBytes += size;
      continue;
    }
    const status = a.status[i]!;
    const node: LeaksNode = {
      id: i,
      address: hex(allocs.addresses[i]!),
      size,
      zone: allocs.zone(i),
      status: NODE_STATUS[status]!,
    };
    const ty = a.graph.nodes.type[i]!;
    if (isLeaked(status)) {
      node.leak = LEAK_KIND[a.leak[i]!];
      const h = a.leak[i] === LEAK_DIRECT ? held.get(i) : undefined;
      if (h) node.held = { blocks: h.blocks, bytes: h.bytes };
      const b = leakedBytesHex(a, i, byteCount);
      if (b) node.bytes = b;
      if (ty >= 0) node.type = types.row[ty]!;
    } else {
      if (a.via[i]! >= 0) node.via = a.via[i]!;
      const link = a.weakLinks.get(i);
      if (link !== undefined) node.weakLink = link;
      if (ty >= 0) node.type = types.row[ty]!;
      const d = a.idom?.[i] ?? -2, r = a.retained?.[i] ?? -1;
      if (d >= -1 && r >= 0 && r < 4294967296) {
        node.retained = r;
        node.idom = d;
        const h = a.heldBy?.[i] ?? -1;
        if (d === -1 && h >= 0) node.heldBy = h;
      }
    }
    if (opts.sites && sites) {
      const site = opts.sites.site[i] ?? -1;
      if (site >= 0 && sites.renumber[site]! >= 0) {
        node.site = sites.renumber[site]!;
        node.thread = opts.sites.thread[i]!;
        node.ageMs = Math.round(opts.sites.ageMs[i]! * 1000) / 1000;
        const req = a.requested?.[i] ?? -1;
        if (req >= 0) node.requested = req;
      }
    }
    const sr = opts.suppressions?.rule[i] ?? -1;
    if (sr >= 0) node.suppressed = sr;
    nodes.push(node);
  }
  const edges: LeaksEdge[] = [];
  const flags = a.graph.edges.flags;
  for (let e = 0; e < a.edgeSource.length; e++) {
    const source = a.edgeSource[e]!, target = a.edgeTarget[e]!;
    if (!keep[source] || !keep[target]) omittedEdges++;
    else {
      const edge: LeaksEdge = { source, target, offset: a.edgeOffset[e]! };
      if (flags && (flags[e]! & EDGE_INTERIOR)) edge.interior = true;
      if (flags && (flags[e]! & EDGE_WEAK)) edge.weak = true;
      edges.push(edge);
    }
  }
  return {
    ...leaksHead(a, opts.suppressions),
    nodes,
    edges,
    cycles: a.cycles,
    roots: rootsOf(a, keep),
    ...(graph !== "all"
      ? { omitted: { nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges } }
      : {}),
    ...(types.rows.length > 0 ? { types: types.rows } : {}),
    ...(retainers.length > 0 ? { retainers } : {}),
    ...(opts.suppressions ? { suppressions: suppressionTable(opts.suppressions) } : {}),
    ...(opts.sites && sites
      ? {
        stacks: sites.stacks,
        sites: sites.rows,
        omittedSites: opts.sites.omittedSites,
        timeline: opts.sites.timeline,
      }
      : {}),
  };
}

/**
 * Hex of the first `count` bytes of leaked node `id`: from the analysis's kept prefixes when they
 * cover it (the copied memory may be released by then), else from the snapshot's memory.
 */
function leakedBytesHex(a: Analysis, id: number, count: number): string {
  if (count <= 0) return "";
  const address = a.heap.allocations.addresses[id]!;
  const len = Math.min(a.heap.allocations.sizes[id]!, count);
  const kept = a.leakedPrefix.get(id);
  if (kept && kept.length >= len) return hexBytes(kept, 0, len);
  for (const c of a.snapshot.memory) {
    if (address >= c.start && address + len <= c.start + c.bytes.length) {
      return hexBytes(c.bytes, address - c.start, len);
    }
  }
  return "";
}

function hexBytes(bytes: Uint8Array, off: number, len: number): string {
  let out = "";
  for (let i = 0; i < len; i++) out += bytes[off + i]!.toString(16).padStart(2, "0");
  return out;
}
