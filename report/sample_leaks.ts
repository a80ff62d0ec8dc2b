// Synthetic leaks.json generator: N allocations with reachable trees, leaked chains and cycles, for tests and benches.

import { LEAKS_FORMAT, LEAKS_VERSION } from "./schema.ts";
import type {
  LeaksEdge,
  LeaksFile,
  LeaksNode,
  LeaksRoot,
  LeaksSite,
  LeaksStackFrame,
  LeaksTimelineSample,
} from "./schema.ts";
import { rng } from "../analysis/testdata/graphs.ts";

export interface SampleOptions {
  /** Total allocations (nodes). */
  allocations: number;
  /** Fraction of allocations that are leaked (default 0.05). */
  leakFraction?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Target command line (default "./leaky --workers 4"). */
  command?: string;
  /** Include `bytes` hex for every node (default: when allocations <= 20,000). */
  withBytes?: boolean;
  /** Zone names (default glibc-like). */
  zones?: string[];
  /**
   * Add the v2 fields of a recorded process (`stacks`, `sites`, `timeline`, and `site`, `thread`,
   * `ageMs` on nodes). Default false: the file has the v1 shape (version stays 2 unless `version`).
   */
  withSites?: boolean;
  /** Function name of one frame of the third-largest leaking site (to test hostile strings). */
  hostileFunction?: string;
  /** Format version written (default LEAKS_VERSION). */
  version?: 1 | 2;
}

/** Function, file and line of the sample's leaking sites, largest leaker first. */
export const SAMPLE_SITES: readonly {
  function: string;
  file: string;
  line: number;
  cxx?: boolean;
}[] = [
  { function: "parse_request", file: "/src/leaky/server.c", line: 214 },
  { function: "Session::Session(int)", file: "/src/leaky/session.cc", line: 57, cxx: true },
  { function: "intern_header", file: "/src/leaky/headers.c", line: 88 },
  { function: "cache_put", file: "/src/leaky/cache.c", line: 131 },
  { function: "json_new_object", file: "/src/leaky/json.c", line: 402 },
  {
    function: "std::vector<Frame>::_M_realloc_insert",
    file: "/usr/include/c++/12/bits/vector.tcc",
    line: 440,
    cxx: true,
  },
];

const DEFAULT_ZONES = ["main_arena", "arena@0x7f3a2c000020", "mmapped"];

/**
 * Build a synthetic LeaksFile. Leaked blocks come in groups: a lone direct leak, a direct leak
 * holding a chain, a ring nobody holds (one member counted direct), or a direct leak holding a
 * ring. Some leaked blocks point back into reachable memory. O(allocations).
 */
export function sampleLeaks(options: SampleOptions): LeaksFile {
  const n = Math.max(0, Math.floor(options.allocations));
  const rand = rng(options.seed ?? 1);
  const zones = options.zones ?? DEFAULT_ZONES;
  const withBytes = options.withBytes ?? n <= 20_000;
  const leakedTarget = n === 0
    ? 0
    : Math.min(n - 1, Math.round(n * (options.leakFraction ?? 0.05)));
  const reachableCount = n - leakedTarget;

  const nodes: LeaksNode[] = new Array(n);
  const edges: LeaksEdge[] = [];
  const cycles: number[][] = [];
  const outOffsets: number[][] = withBytes ? Array.from({ length: n }, () => []) : [];

  let heapCursor = 0x55d4c8a02010;
  let mmapCursor = 0x7f3a30000010;
  const makeNode = (id: number, status: LeaksNode["status"]): LeaksNode => {
    const r = rand();
    let size: number;
    let zone: string;
    if (r < 0.004) {
      size = 131072 + Math.floor(rand() * 8) * 4096;
      zone = zones[2 % zones.length]!;
    } else {
      size = r < 0.05 ? 1024 + Math.floor(rand() * 7) * 512 : 16 + Math.floor(rand() * 30) * 16;
      zone = zones[rand() < 0.8 ? 0 : 1 % zones.length]!;
    }
    let address: number;
    if (zone === zones[2 % zones.length] && zones.length > 2) {
      address = mmapCursor;
      mmapCursor += size + 4096;
    } else {
      address = heapCursor;
      heapCursor += size + 16;
    }
    const node: LeaksNode = { id, address: "0x" + address.toString(16), size, zone, status };
    return node;
  };
  const link = (source: number, target: number) => {
    const src = nodes[source]!;
    const slots = Math.max(1, Math.floor(src.size / 8));
    const offset = Math.floor(rand() * Math.min(slots, 8)) * 8;
    edges.push({ source, target, offset });
    if (withBytes) outOffsets[source]!.push(offset, target);
  };

  // Reachable memory: a forest hanging off a few root-held blocks.
  const rootHeld = Math.min(reachableCount, Math.max(1, Math.ceil(reachableCount / 200)));
  for (let i = 0; i < reachableCount; i++) {
    nodes[i] = makeNode(i, "reachable");
    if (i >= rootHeld) {
      // The tree edge is the one the flood fill reaches it by: its holder (`via`).
      const parent = Math.floor(rand() * i);
      link(parent, i);
      nodes[i]!.via = parent;
    }
  }
  for (let i = rootHeld; i < reachableCount; i += 7) {
    link(i, Math.floor(rand() * reachableCount));
  }

  // Leaked groups.
  let id = reachableCount;
  let group = 0;
  while (id < n) {
    const left = n - id;
    const kind = group % 5;
    group++;
    if (kind === 0 || left === 1) {
      nodes[id] = { ...makeNode(id, "leaked"), leak: "direct" };
      if (reachableCount > 0 && rand() < 0.5) link(id, Math.floor(rand() * reachableCount));
      id++;
    } else if (kind === 1 || kind === 2) {
      const len = Math.min(left, 2 + Math.floor(rand() * 4));
      for (let k = 0; k < len; k++) {
        nodes[id + k] = { ...makeNode(id + k, "leaked"), leak: k === 0 ? "direct" : "indirect" };
        if (k > 0) link(id + k - 1, id + k);
      }
      if (reachableCount > 0) link(id + len - 1, Math.floor(rand() * reachableCount));
      id += len;
    } else if (kind === 3) {
      const len = Math.min(left, 2 + Math.floor(rand() * 3));
      const members: number[] = [];
      for (let k = 0; k < len; k++) {
        nodes[id + k] = {
          ...makeNode(id + k, len > 1 ? "cycle" : "leaked"),
          leak: k === 0 ? "direct" : "indirect",
        };
        members.push(id + k);
      }
      if (len > 1) {
        for (let k = 0; k < len; k++) link(id + k, id + ((k + 1) % len));
        cycles.push(members);
        if (reachableCount > 0 && rand() < 0.5) link(id, Math.floor(rand() * reachableCount));
      }
      id += len;
    } else {
      const len = Math.min(left, 3 + Math.floor(rand() * 3));
      nodes[id] = { ...makeNode(id, "leaked"), leak: "direct" };
      const members: number[] = [];
      for (let k = 1; k < len; k++) {
        nodes[id + k] = { ...makeNode(id + k, len > 2 ? "cycle" : "leaked"), leak: "indirect" };
        members.push(id + k);
      }
      if (len > 1) link(id, id + 1);
      if (len > 2) {
        for (let k = 0; k < members.length; k++) {
          link(members[k]!, members[(k + 1) % members.length]!);
        }
        cycles.push(members);
      }
      id += len;
    }
  }

  if (withBytes) {
    for (let i = 0; i < n; i++) nodes[i]!.bytes = _blockBytes(nodes, i, outOffsets[i]!, rand);
  }

  const roots: LeaksRoot[] = [];
  const kinds: LeaksRoot["kind"][] = ["data", "stack", "register", "tls"];
  for (let i = 0; i < rootHeld; i++) {
    const kind = kinds[i % kinds.length]!;
    roots.push({
      kind,
      ...(kind === "stack" || kind === "register" ? { thread: 4242 + (i % 3) } : {}),
      ...(kind === "data" ? { image: "/usr/bin/leaky" } : {}),
      address: kind === "register" ? "rbx" : "0x" + (0x7ffd5e3c1000 + i * 8).toString(16),
      target: i,
    });
  }

  const recorded = options.withSites ? _recordSites(nodes, rand, options.hostileFunction) : {};

  let bytes = 0;
  let leaked = 0;
  let leakedBytes = 0;
  let direct = 0;
  for (const node of nodes) {
    bytes += node.size;
    if (node.status !== "reachable") {
      leaked++;
      leakedBytes += node.size;
      if (node.leak === "direct") direct++;
    }
  }
  return {
    format: LEAKS_FORMAT,
    version: options.version ?? LEAKS_VERSION,
    target: {
      pid: 31337,
      command: options.command ?? "./leaky --workers 4",
      platform: "linux",
      arch: "x86_64",
      allocator: "glibc 2.36 ptmalloc2",
    },
    capturedAt: "2025-11-21T15:20:00.000Z",
    pauseMs: 12.5 + n / 50_000,
    summary: {
      allocations: n,
      bytes,
      reachable: n - leaked,
      leaked,
      leakedBytes,
      direct,
      indirect: leaked - direct,
      cycles: cycles.length,
    },
    nodes,
    edges,
    cycles,
    roots,
    phases: {
      attach: 0.8,
      copy: 9.4 + n / 100_000,
      enumerate: 4 + n / 20_000,
      roots: 1.2,
      scan: 6 + n / 8_000,
      flood: 2 + n / 40_000,
      scc: 0.5 + leaked / 50_000,
    },
    warnings: n > 0
      ? ["tcache of thread 4244 was not readable; its 7 free chunks are assumed free"]
      : [],
    ...recorded,
  };
}

/**
 * Give every node (but 2%, allocated before the recorder started) a site, a thread and an age;
 * build the stacks, the per-site rows and a timeline that ends at the live total. Leaked blocks go
 * mostly to the first SAMPLE_SITES (50% and every big block, 20%, 10%, …), so the top sites keep
 * their order.
 */
function _recordSites(
  nodes: LeaksNode[],
  rand: () => number,
  hostile: string | undefined,
): Pick<LeaksFile, "stacks" | "sites" | "omittedSites" | "timeline"> {
  const n = nodes.length;
  const siteCount = Math.max(SAMPLE_SITES.length + 2, Math.min(64, Math.ceil(n / 200)));
  const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  const stdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30";
  const exe = "/usr/bin/leaky";
  let pc = 0x55d4c7a01000;
  const at = (image: string, fn?: string, file?: string, line?: number): LeaksStackFrame => {
    pc += 0x40 + Math.floor(rand() * 0x400);
    const f: LeaksStackFrame = { pc: "0x" + pc.toString(16), image };
    if (fn) f.function = fn;
    if (file) f.file = file;
    if (line) f.line = line;
    return f;
  };
  const stacks: LeaksStackFrame[][] = [];
  for (let s = 0; s < siteCount; s++) {
    const named = SAMPLE_SITES[s];
    const fn = named?.function ?? `worker_task_${s}`;
    const file = named?.file ?? `/src/leaky/tasks/task_${s}.c`;
    const line = named?.line ?? 20 + s * 7;
    const frames: LeaksStackFrame[] = [];
    if (named?.cxx) {
      frames.push(at(libc, "malloc"), at(stdcxx, "operator new(unsigned long)"));
    } else frames.push(at(libc, s % 4 === 3 ? "calloc" : "malloc"));
    frames.push(at(exe, s === 2 && hostile ? hostile : fn, file, line));
    if (s === 0) {
      // An inlined caller: same pc, two frames.
      const inl = at(exe, "read_body", "/src/leaky/server.c", 170);
      frames.push(inl, { ...inl, function: "handle_client", line: 301 });
    } else frames.push(at(exe, `dispatch_${s % 3}`, "/src/leaky/dispatch.c", 40 + s));
    if (s % 5 === 4) frames.push(at("/usr/lib/x86_64-linux-gnu/libfoo.so.1")); // not symbolized
    frames.push(
      at(exe, "worker_main", "/src/leaky/worker.c", 77),
      at(libc, "start_thread"),
      at(libc, "__clone3"),
    );
    stacks.push(frames);
  }

  const sites: LeaksSite[] = stacks.map((_, site) => emptySite(site));
  const runMs = 42_000;
  const pickLeaked = (size: number) => {
    const r = rand();
    if (r < 0.5 || size >= 65536) return 0;
    if (r < 0.7) return 1;
    if (r < 0.8) return 2;
    return 3 + Math.floor(rand() * (siteCount - 3));
  };
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    if (rand() < 0.02) continue;
    const leaked = node.status !== "reachable";
    const site = leaked ? pickLeaked(node.size) : 3 + Math.floor(rand() * (siteCount - 3));
    const row = sites[site]!;
    node.site = site;
    node.thread = 4242 + (i % 4);
    node.ageMs = Math.round((leaked ? 0.3 + 0.7 * rand() : rand()) * runMs * 1000) / 1000;
    row.count++;
    row.bytes += node.size;
    row.meanAgeMs += node.ageMs;
    row.oldestMs = Math.max(row.oldestMs, node.ageMs);
    if (!row.threads.includes(node.thread)) row.threads.push(node.thread);
    if (leaked) {
      row.leakedCount++;
      row.leakedBytes += node.size;
      if (node.leak === "direct") row.direct++;
    }
  }
  for (const row of sites) {
    row.meanAgeMs = row.count ? Math.round(row.meanAgeMs / row.count * 1000) / 1000 : 0;
    row.threads.sort((a, b) => a - b);
    row.peakCount = row.count + Math.floor(row.count * 0.3);
    row.peakBytes = row.bytes + Math.floor(row.bytes * 0.3);
    row.totalCount = row.peakCount * 4 + 1;
    row.totalBytes = row.peakBytes * 4 + 64;
  }

  let liveBytes = 0;
  for (const node of nodes) liveBytes += node.size;
  const timeline: LeaksTimelineSample[] = [];
  const steps = 240;
  for (let k = 0; k < steps; k++) {
    const t = (k + 1) / steps;
    const saw = 1 + 0.25 * Math.sin(k / 6) * (1 - t);
    const share = Math.min(1, t * saw);
    timeline.push({
      timeNs: Math.round(t * (runMs - 150)) * 1e6,
      liveBytes: Math.round(liveBytes * share),
      liveCount: Math.round(n * Math.min(1, t * (2 - saw))),
    });
  }
  return { stacks, sites, omittedSites: 0, timeline };
}

function _blockBytes(
  nodes: LeaksNode[],
  i: number,
  offsets: number[],
  rand: () => number,
): string {
  const node = nodes[i]!;
  const len = Math.min(64, node.size);
  const out = new Uint8Array(len);
  if (i % 3 === 0) {
    const text = `request ${i} from worker ${i % 4}\n`;
    for (let k = 0; k < len && k < text.length; k++) out[k] = text.charCodeAt(k);
  } else {
    for (let k = 0; k < len; k++) out[k] = rand() < 0.6 ? 0 : Math.floor(rand() * 256);
  }
  for (let k = 0; k + 1 < offsets.length; k += 2) {
    const offset = offsets[k]!;
    const target = nodes[offsets[k + 1]!]!;
    let value = parseInt(target.address.slice(2), 16);
    for (let b = 0; b < 8 && offset + b < len; b++) {
      out[offset + b] = value % 256;
      value = Math.floor(value / 256);
    }
  }
  let hex = "";
  for (const b of out) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** A site row with every counter at zero (samples and tests fill in what they need). */
export function emptySite(site: number): LeaksSite {
  return {
    site,
    count: 0,
    bytes: 0,
    peakCount: 0,
    peakBytes: 0,
    totalCount: 0,
    totalBytes: 0,
    leakedCount: 0,
    leakedBytes: 0,
    direct: 0,
    oldestMs: 0,
    meanAgeMs: 0,
    threads: [],
  };
}
