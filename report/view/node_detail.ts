// The detail card of one block: what it is, the path from a root that keeps it (or the direct leak
// that holds it), its edges, its allocation stack and its first bytes.

import { blockAddress, type BlockIndex, blockStatus, DIRECT } from "./block_index.ts";
import { hexdump } from "./hexdump.ts";
import type { FrameView, GraphNode, NodeStatus, RootView, SitesPayload } from "./payload.ts";

export interface EdgeRow {
  block: number;
  address: string;
  status: NodeStatus;
  offset: number;
}

export interface PathStep {
  block: number;
  address: string;
  status: NodeStatus;
  /** Offset of the pointer to the next step inside this block (absent on the last step). */
  offset?: number;
  /** That pointer is weak evidence (a word that may be stale). */
  weak?: boolean;
  /** Which rule makes it weak, when the file says (leaks.json's `weakLink`). */
  reason?: string;
}

export interface NodeStack {
  site: number;
  /** The site's one label ("parse_request server.c:214"). */
  label: string;
  frames: FrameView[] | null;
  more: number;
  thread?: number;
  ageMs?: number;
}

export interface NodeDetail {
  block: number;
  address: string;
  size: number;
  requested?: number;
  zone: string;
  status: NodeStatus;
  label: string;
  type?: string;
  retained?: number;
  /** Direct leaks: the structure counted under it. */
  held?: { blocks: number; bytes: number };
  /** Root entries that hold it directly. */
  roots: RootView[];
  /** From the root (or the direct leak) to this block; `pathFrom` says which. */
  path: PathStep[];
  pathFrom: "root" | "direct leak" | "none" | "unknown";
  /** The root that holds the first step (reachable blocks). */
  pathRoot: RootView | null;
  inEdges: EdgeRow[];
  outEdges: EdgeRow[];
  inTotal: number;
  outTotal: number;
  hexdump: string[];
  stack: NodeStack | null;
  drawn: boolean;
}

export interface DetailContext {
  index: BlockIndex | null;
  drawn: ReadonlyMap<number, GraphNode>;
  sites: SitesPayload | null;
  roots: ReadonlyMap<number, RootView[]>;
  held: ReadonlyMap<number, { blocks: number; bytes: number }>;
  /** Block → the rule that makes its holder's word weak (ReportModel.weakLinks). */
  weakLinks?: Readonly<Record<number, string>>;
}

/** Edges listed per direction at most (the totals count them all). */
const MAX_EDGES = 50;
/** Blocks visited at most looking back for the direct leak that holds an indirect one. */
const MAX_BACK = 100_000;

/** The card of block `b`, or null when it is neither drawn nor in the index. O(path + degree). */
export function selectNodeDetail(ctx: DetailContext, b: number): NodeDetail | null {
  const { index } = ctx;
  const g = ctx.drawn.get(b);
  const inIndex = index !== null && b >= 0 && b < index.count;
  if (!g && !inIndex) return null;
  const status: NodeStatus = g?.status ?? blockStatus(index!, b);
  const bytes = g?.bytes ?? index?.bytes.get(b);
  const detail: NodeDetail = {
    block: b,
    address: g?.address ?? blockAddress(index!, b),
    size: g?.size ?? index!.size[b]!,
    zone: g?.zone ?? index!.zones[index!.zone[b]!] ?? "?",
    status,
    label: statusLabel({
      status,
      leak: g?.leak ?? (inIndex && index!.flags[b]! & DIRECT ? "direct" : "indirect"),
    }),
    roots: ctx.roots.get(b) ?? [],
    path: [],
    pathFrom: "unknown",
    pathRoot: null,
    inEdges: [],
    outEdges: [],
    inTotal: g?.inDegree ?? 0,
    outTotal: g?.outDegree ?? 0,
    hexdump: bytes ? hexdump(bytes) : [],
    stack: null,
    drawn: g !== undefined,
  };
  const requested = g?.requested ??
    (inIndex && index!.requested[b]! >= 0 ? index!.requested[b] : undefined);
  if (requested !== undefined) detail.requested = requested;
  const type = g?.type ??
    (inIndex && index!.type[b]! >= 0 ? index!.types[index!.type[b]!] : undefined);
  if (type) detail.type = type;
  const retained = g?.retained ??
    (inIndex && index!.retained[b]! >= 0 ? index!.retained[b] : undefined);
  if (retained !== undefined) detail.retained = retained;
  const held = ctx.held.get(b);
  if (held) detail.held = held;

  if (inIndex) {
    const idx = index!;
    const edge = (blk: number, offset: number): EdgeRow => ({
      block: blk,
      address: blockAddress(idx, blk),
      status: blockStatus(idx, blk),
      offset,
    });
    detail.inTotal = idx.inStart[b + 1]! - idx.inStart[b]!;
    detail.outTotal = idx.outStart[b + 1]! - idx.outStart[b]!;
    for (
      let k = idx.inStart[b]!;
      k < idx.inStart[b + 1]! && detail.inEdges.length < MAX_EDGES;
      k++
    ) {
      detail.inEdges.push(edge(idx.inSource[k]!, idx.inOffset[k]!));
    }
    for (
      let k = idx.outStart[b]!;
      k < idx.outStart[b + 1]! && detail.outEdges.length < MAX_EDGES;
      k++
    ) {
      detail.outEdges.push(edge(idx.outTarget[k]!, idx.outOffset[k]!));
    }
    _path(idx, b, detail, ctx.roots, ctx.weakLinks);
  }
  const site = g?.site ?? (inIndex && index!.site[b]! >= 0 ? index!.site[b] : undefined);
  if (site !== undefined) {
    const view = ctx.sites?.stacks[site];
    const stack: NodeStack = {
      site,
      label: ctx.sites?.labels[site] ?? `site ${site}`,
      frames: view?.frames ?? null,
      more: view?.more ?? 0,
    };
    if (g?.thread !== undefined) stack.thread = g.thread;
    if (g?.ageMs !== undefined) stack.ageMs = g.ageMs;
    detail.stack = stack;
  }
  return detail;
}

/** Reachable: the `via` chain up to a root. Leaked: back over in-edges to the direct leak. */
function _path(
  index: BlockIndex,
  b: number,
  detail: NodeDetail,
  roots: ReadonlyMap<number, RootView[]>,
  weakLinks: Readonly<Record<number, string>> | undefined,
): void {
  const step = (blk: number): PathStep => ({
    block: blk,
    address: blockAddress(index, blk),
    status: blockStatus(index, blk),
  });
  // The edge from -> to: a strong one where there is one (the search's; a weak one is the link
  // that makes a block "possible").
  const edgeTo = (from: number, to: number) => {
    let found = -1;
    for (let k = index.outStart[from]!; k < index.outStart[from + 1]!; k++) {
      if (index.outTarget[k] !== to) continue;
      if (!index.outWeak[k]) return k;
      if (found < 0) found = k;
    }
    return found;
  };
  let chain: number[] = [];
  if (detail.status === "reachable" || detail.status === "possible") {
    const seen = new Set<number>();
    for (let at = b; at >= 0 && !seen.has(at); at = index.via[at]!) {
      seen.add(at);
      chain.push(at);
    }
    chain.reverse();
    detail.pathFrom = "root";
    detail.pathRoot = roots.get(chain[0]!)?.[0] ?? null;
  } else if (index.flags[b]! & DIRECT) {
    chain = [b];
    detail.pathFrom = "none";
  } else {
    // Breadth-first back over leaked holders until a direct leak.
    const parent = new Map<number, number>([[b, -1]]);
    const queue = [b];
    let found = -1;
    for (let q = 0; q < queue.length && found < 0 && queue.length < MAX_BACK; q++) {
      const at = queue[q]!;
      for (let k = index.inStart[at]!; k < index.inStart[at + 1]!; k++) {
        const s = index.inSource[k]!;
        if (parent.has(s) || (index.flags[s]! & 3) === 0) continue;
        parent.set(s, at);
        if (index.flags[s]! & DIRECT) {
          found = s;
          break;
        }
        queue.push(s);
      }
    }
    if (found >= 0) {
      for (let at = found; at >= 0; at = parent.get(at)!) chain.push(at);
      detail.pathFrom = "direct leak";
    } else {
      chain = [b];
      detail.pathFrom = "unknown";
    }
  }
  detail.path = chain.map((blk, i) => {
    const s = step(blk);
    const next = chain[i + 1];
    if (next !== undefined) {
      const k = edgeTo(blk, next);
      if (k >= 0) s.offset = index.outOffset[k]!;
      if (k >= 0 && index.outWeak[k]) {
        s.weak = true;
        const reason = index.via[next] === blk ? weakLinks?.[next] : undefined;
        if (reason !== undefined) s.reason = reason;
      }
    }
    return s;
  });
}

export function statusLabel(node: { status: NodeStatus; leak?: "direct" | "indirect" }): string {
  if (node.status === "reachable") return "reachable";
  if (node.status === "possible") return "possibly leaked (only weak evidence keeps it)";
  const kind = node.leak === "indirect" ? "indirect leak" : "direct leak";
  return node.status === "cycle" ? `${kind}, in a cycle` : kind;
}
