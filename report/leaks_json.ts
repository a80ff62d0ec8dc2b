// Turns an Analysis into leaks.json (format version 2), streamed as string pieces for big heaps.
//
// O(nodes + edges). With `graph: "leaked"` only leaked nodes and the reachable blocks they point to
// (their context) are written, and what was left out is counted in `omitted`.

import type { Analysis } from "../analysis/types.ts";
import { LEAK_DIRECT, LEAK_KIND, NODE_STATUS, STATUS_REACHABLE } from "../analysis/types.ts";
import {
  LEAKS_FORMAT,
  LEAKS_VERSION,
  type LeaksEdge,
  type LeaksFile,
  type LeaksNode,
  type LeaksRoot,
  type LeaksSummary,
} from "./schema.ts";

export interface LeaksJsonOptions {
  /** "all" (default): every allocation; "leaked": leaked blocks and their 1-hop context. */
  graph?: "all" | "leaked";
  /** Hex of the first bytes of each leaked block (default 64; 0 = none). */
  leakedBytes?: number;
}

const TWO32 = 4294967296;
/** Characters per yielded piece of the node and edge lists. */
const PIECE = 100_000;
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

export function summarize(a: Analysis): LeaksSummary {
  const allocs = a.heap.allocations;
  const sizes = allocs.sizes;
  let bytes = 0, reachable = 0, leaked = 0, leakedBytes = 0, direct = 0, indirect = 0;
  for (let i = 0; i < allocs.length; i++) {
    const size = sizes[i]!;
    bytes += size;
    if (a.status[i] === STATUS_REACHABLE) {
      reachable++;
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
  };
}

/** Which node ids go into the file. */
function selectNodes(a: Analysis, graph: "all" | "leaked"): Uint8Array {
  const n = a.status.length;
  const keep = new Uint8Array(n);
  if (graph === "all") return keep.fill(1);
  for (let i = 0; i < n; i++) if (a.status[i] !== STATUS_REACHABLE) keep[i] = 1;
  for (let e = 0; e < a.edgeSource.length; e++) {
    if (a.status[a.edgeSource[e]!] !== STATUS_REACHABLE) keep[a.edgeTarget[e]!] = 1;
  }
  return keep;
}

/** Everything but the node, edge, cycle and root lists. */
function leaksHead(a: Analysis): Omit<LeaksFile, "nodes" | "edges" | "cycles" | "roots"> {
  const s = a.snapshot;
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
    summary: summarize(a),
    phases: Object.fromEntries(
      Object.entries(a.phaseMs).map(([k, v]) => [k, Math.round(v * 1000) / 1000]),
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
  }));
}

/** The file as a sequence of JSON text pieces (join them, or write them one by one). */
export function* leaksJsonPieces(a: Analysis, opts: LeaksJsonOptions = {}): Generator<string> {
  const graph = opts.graph ?? "all";
  const byteCount = opts.leakedBytes ?? 64;
  const keep = selectNodes(a, graph);
  const head = leaksHead(a);
  const headText = JSON.stringify(head);
  yield headText.slice(0, -1);

  const allocs = a.heap.allocations;
  let omittedNodes = 0, omittedBytes = 0;
  yield ',"nodes":[';
  // Pieces of about PIECE characters built by concatenation (cheap rope appends in V8), so the
  // writer encodes and writes ~1 MB at a time and never holds the whole file.
  const zoneJson = allocs.zones.map((z) => JSON.stringify(z));
  const addresses = allocs.addresses, sizes = allocs.sizes, zoneIds = allocs.zoneIds;
  let piece = "";
  let sep = "";
  for (let i = 0; i < allocs.length; i++) {
    const size = sizes[i]!;
    if (!keep[i]) {
      omittedNodes++;
      omittedBytes += size;
      continue;
    }
    const status = a.status[i]!;
    let text = sep + '{"id":' + i + ',"address":"' + hex(addresses[i]!) + '","size":' + size +
      ',"zone":' + zoneJson[zoneIds[i]!] + ',"status":"' + NODE_STATUS[status] + '"';
    if (status !== STATUS_REACHABLE) {
      text += `,"leak":"${LEAK_KIND[a.leak[i]!]}"`;
      const b = leakedBytesHex(a, i, byteCount);
      if (b) text += `,"bytes":"${b}"`;
    } else if (a.via[i]! >= 0) text += ',"via":' + a.via[i];
    piece += text + "}";
    sep = ",";
    if (piece.length >= PIECE) {
      yield piece;
      piece = "";
    }
  }
  yield piece + "]";

  yield ',"edges":[';
  piece = "";
  sep = "";
  let omittedEdges = 0;
  const edgeSource = a.edgeSource, edgeTarget = a.edgeTarget, edgeOffset = a.edgeOffset;
  for (let e = 0; e < edgeSource.length; e++) {
    const src = edgeSource[e]!, dst = edgeTarget[e]!;
    if (!keep[src] || !keep[dst]) {
      omittedEdges++;
      continue;
    }
    piece += sep + '{"source":' + src + ',"target":' + dst + ',"offset":' + edgeOffset[e] + "}";
    sep = ",";
    if (piece.length >= PIECE) {
      yield piece;
      piece = "";
    }
  }
  yield piece + "]";
  yield `,"cycles":${JSON.stringify(a.cycles)}`;
  const roots = rootsOf(a, keep);
  yield `,"roots":${JSON.stringify(roots)}`;
  if (graph !== "all") {
    yield `,"omitted":${
      JSON.stringify({ nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges })
    }`;
  }
  yield "}\n";
}

/**
 * The same file as one object, built directly (no JSON round trip): the HTML report's input.
 * O(kept nodes + edges) objects.
 */
export function toLeaksFile(a: Analysis, opts: LeaksJsonOptions = {}): LeaksFile {
  const graph = opts.graph ?? "all";
  const byteCount = opts.leakedBytes ?? 64;
  const keep = selectNodes(a, graph);
  const allocs = a.heap.allocations;
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
    if (status !== STATUS_REACHABLE) {
      node.leak = LEAK_KIND[a.leak[i]!];
      const b = leakedBytesHex(a, i, byteCount);
      if (b) node.bytes = b;
    } else if (a.via[i]! >= 0) node.via = a.via[i]!;
    nodes.push(node);
  }
  const edges: LeaksEdge[] = [];
  for (let e = 0; e < a.edgeSource.length; e++) {
    const source = a.edgeSource[e]!, target = a.edgeTarget[e]!;
    if (!keep[source] || !keep[target]) omittedEdges++;
    else edges.push({ source, target, offset: a.edgeOffset[e]! });
  }
  return {
    ...leaksHead(a),
    nodes,
    edges,
    cycles: a.cycles,
    roots: rootsOf(a, keep),
    ...(graph !== "all"
      ? { omitted: { nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges } }
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
