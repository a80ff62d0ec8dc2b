// Turns an Analysis into leaks.json (format version 2), streamed as string pieces for big heaps.
//
// O(nodes + edges). With `graph: "leaked"` only leaked nodes and the reachable blocks they point to
// (their context) are written, and what was left out is counted in `omitted`.

import type { Analysis } from "../analysis/types.ts";
import { LEAKS_FORMAT, LEAKS_VERSION, type LeaksFile, type LeaksSummary } from "./schema.ts";

export interface LeaksJsonOptions {
  /** "all" (default): every allocation; "leaked": leaked blocks and their 1-hop context. */
  graph?: "all" | "leaked";
  /** Hex of the first bytes of each leaked block (default 64; 0 = none). */
  leakedBytes?: number;
}

const hex = (n: number) => "0x" + n.toString(16);

export function summarize(a: Analysis): LeaksSummary {
  const allocs = a.heap.allocations;
  let bytes = 0, reachable = 0, leaked = 0, leakedBytes = 0, direct = 0, indirect = 0;
  for (let i = 0; i < allocs.length; i++) {
    const size = allocs[i]!.size;
    bytes += size;
    if (a.status[i] === "reachable") {
      reachable++;
      continue;
    }
    leaked++;
    leakedBytes += size;
    if (a.leak[i] === "direct") direct++;
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
  for (let i = 0; i < n; i++) if (a.status[i] !== "reachable") keep[i] = 1;
  for (let e = 0; e < a.edgeSource.length; e++) {
    if (a.status[a.edgeSource[e]!] !== "reachable") keep[a.edgeTarget[e]!] = 1;
  }
  return keep;
}

/** The file as a sequence of JSON text pieces (join them, or write them one by one). */
export function* leaksJsonPieces(a: Analysis, opts: LeaksJsonOptions = {}): Generator<string> {
  const graph = opts.graph ?? "all";
  const byteCount = opts.leakedBytes ?? 64;
  const s = a.snapshot;
  const keep = selectNodes(a, graph);
  const summary = summarize(a);
  const head: Omit<LeaksFile, "nodes" | "edges" | "cycles" | "roots"> = {
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
    summary,
    phases: Object.fromEntries(
      Object.entries(a.phaseMs).map(([k, v]) => [k, Math.round(v * 1000) / 1000]),
    ),
    warnings: [...s.warnings, ...a.heap.warnings],
  };
  const headText = JSON.stringify(head);
  yield headText.slice(0, -1);

  const allocs = a.heap.allocations;
  let omittedNodes = 0, omittedBytes = 0;
  yield ',"nodes":[';
  let first = true;
  let batch: string[] = [];
  for (let i = 0; i < allocs.length; i++) {
    const al = allocs[i]!;
    if (!keep[i]) {
      omittedNodes++;
      omittedBytes += al.size;
      continue;
    }
    const status = a.status[i]!;
    let text = `{"id":${i},"address":"${hex(al.address)}","size":${al.size},"zone":${
      JSON.stringify(al.zone)
    },"status":"${status}"`;
    if (status !== "reachable") {
      text += `,"leak":"${a.leak[i]}"`;
      const b = byteCount > 0 ? blockBytes(s.memory, al.address, Math.min(al.size, byteCount)) : "";
      if (b) text += `,"bytes":"${b}"`;
    } else if (a.via[i]! >= 0) text += `,"via":${a.via[i]}`;
    batch.push((first ? "" : ",") + text + "}");
    first = false;
    if (batch.length >= 4096) {
      yield batch.join("");
      batch = [];
    }
  }
  yield batch.join("") + "]";
  batch = [];

  yield ',"edges":[';
  first = true;
  let omittedEdges = 0;
  for (let e = 0; e < a.edgeSource.length; e++) {
    const src = a.edgeSource[e]!, dst = a.edgeTarget[e]!;
    if (!keep[src] || !keep[dst]) {
      omittedEdges++;
      continue;
    }
    batch.push(`${first ? "" : ","}{"source":${src},"target":${dst},"offset":${a.edgeOffset[e]}}`);
    first = false;
    if (batch.length >= 8192) {
      yield batch.join("");
      batch = [];
    }
  }
  yield batch.join("") + "]";
  yield `,"cycles":${JSON.stringify(a.cycles)}`;
  const roots = a.roots.filter((r) => keep[r.target]).map((r) => ({
    kind: r.kind,
    ...(r.thread !== undefined ? { thread: r.thread } : {}),
    ...(r.image !== undefined ? { image: r.image } : {}),
    address: r.kind === "register" ? r.register ?? "?" : hex(r.address),
    target: r.target,
  }));
  yield `,"roots":${JSON.stringify(roots)}`;
  if (graph !== "all") {
    yield `,"omitted":${
      JSON.stringify({ nodes: omittedNodes, bytes: omittedBytes, edges: omittedEdges })
    }`;
  }
  yield "}\n";
}

/** Whole file as one object (tests, small heaps). */
export function toLeaksFile(a: Analysis, opts: LeaksJsonOptions = {}): LeaksFile {
  return JSON.parse([...leaksJsonPieces(a, opts)].join(""));
}

function blockBytes(
  memory: readonly { start: number; bytes: Uint8Array }[],
  address: number,
  len: number,
): string {
  for (const c of memory) {
    if (address >= c.start && address + len <= c.start + c.bytes.length) {
      const off = address - c.start;
      let out = "";
      for (let i = 0; i < len; i++) out += c.bytes[off + i]!.toString(16).padStart(2, "0");
      return out;
    }
  }
  return "";
}
