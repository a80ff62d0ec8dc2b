// What grew between analyses of one process: new leaks, leaks gone, growth by type, allocation
// site, retainer and zone, and the three-snapshot technique (blocks allocated between snapshots 1
// and 2 that are still alive at 3).
//
// Works on leaks.json files (report/schema.ts), so that any two saved analyses compare, whatever
// wrote them. A block is the same block in two files when its address, its usable size and, where
// both files know it, its allocation site (the return addresses of its stack) match. Growth rows
// are sorted by bytes grown, then count. Types and retainers come from the files' `types` and
// `retainers` tables when they have them (those count every block even under `--graph leaked`);
// sites and zones from the nodes written (a note says when a file leaves nodes out).
// O(nodes + stacks · depth) per file.

import type { LeaksFile, LeaksNode } from "./schema.ts";
import { stackLine } from "./frame_names.ts";

export const DIFF_FORMAT = "heapscope-diff";
export const DIFF_VERSION = 1;

/** Counts and bytes of one group (type, site, retainer, zone) in each file, and the change. */
export interface GrowthRow {
  /** What identifies the group in both files (stack return addresses, a type or zone name). */
  key: string;
  /** What a person reads: a function and line, a type, "g_cache in ./server", a zone. */
  label: string;
  before: { count: number; bytes: number };
  after: { count: number; bytes: number };
  count: number;
  bytes: number;
}

/** One leaked block, as listed among new leaks or leaks gone. */
export interface DiffLeak {
  address: string;
  size: number;
  /** Its structure (itself and what it holds) for a direct leak. */
  held?: { blocks: number; bytes: number };
  site?: string;
  type?: string;
}

export interface LeakChange {
  /** Leaked blocks (direct and indirect) and their bytes, but for those a rule suppressed. */
  count: number;
  bytes: number;
  /** Leaked blocks a --suppressions rule suppressed in the file they are leaked in (not counted). */
  suppressed: { count: number; bytes: number };
  /** The direct leaks among them, biggest structure first. */
  direct: DiffLeak[];
}

/** Blocks new between snapshot 1 and 2 that snapshot 3 still has (the three-snapshot technique). */
export interface Survivors {
  count: number;
  bytes: number;
  bySite: GrowthRow[];
  byType: GrowthRow[];
}

export interface LeaksDiff {
  format: typeof DIFF_FORMAT;
  version: typeof DIFF_VERSION;
  /** pid, command and capture time of each file compared. */
  files: { pid: number; command: string; capturedAt: string }[];
  /** `leaked`: what no --suppressions rule suppressed; `suppressed`: what one did. */
  totals: { before: Totals; after: Totals };
  newLeaks: LeakChange;
  goneLeaks: LeakChange;
  byType?: GrowthRow[];
  bySite?: GrowthRow[];
  byRetainer?: GrowthRow[];
  byZone: GrowthRow[];
  /** With three files: what the third still holds of what grew from the first to the second. */
  survivors?: Survivors;
  /** What could not be compared, and why. */
  notes: string[];
}

const LEAKED = new Set(["leaked", "cycle"]);

/** Compare `before` and `after` (and, with `third`, apply the three-snapshot technique). */
export function diffLeaks(before: LeaksFile, after: LeaksFile, third?: LeaksFile): LeaksDiff {
  const notes: string[] = [];
  const a = indexFile(before), b = indexFile(after);
  if (before.target.pid !== after.target.pid) {
    notes.push(
      `the files come from two processes (pid ${before.target.pid} and ${after.target.pid}): ` +
        "addresses differ, so every block counts as new",
    );
  }
  for (const [f, name] of [[before, "first"], [after, "second"]] as const) {
    if (f.omitted) {
      notes.push(
        `the ${name} file leaves ${f.omitted.nodes} reachable blocks out (--graph leaked): ` +
          "growth by site and zone counts the written blocks only; --graph all writes every block",
      );
    }
  }
  const out: LeaksDiff = {
    format: DIFF_FORMAT,
    version: DIFF_VERSION,
    files: [before, after, ...(third ? [third] : [])].map((f) => ({
      pid: f.target.pid,
      command: f.target.command,
      capturedAt: f.capturedAt,
    })),
    totals: { before: totals(before), after: totals(after) },
    newLeaks: leakChange(b, a),
    goneLeaks: leakChange(a, b),
    byZone: growth(groupBy(a, zoneOf), groupBy(b, zoneOf)),
    notes,
  };
  // A file without a `types` table had no typed block (leaks.json leaves an empty table out): from
  // or to nothing when the other file has one.
  if (before.types || after.types) {
    out.byType = growth(typeTable(before), typeTable(after));
  } else if (a.typeOf && b.typeOf) {
    out.byType = growth(groupBy(a, a.typeOf), groupBy(b, b.typeOf));
  }
  if (a.siteOf && b.siteOf) {
    out.bySite = growth(groupBy(a, a.siteOf), groupBy(b, b.siteOf));
  } else notes.push("no allocation sites: the process was not recorded (heapscope run)");
  if (before.retainers && after.retainers) {
    out.byRetainer = growth(retainerTable(before), retainerTable(after));
  }
  if (third) out.survivors = survivors(a, b, indexFile(third), notes);
  return out;
}

/** A file's nodes with what identifies them across files. */
interface Indexed {
  file: LeaksFile;
  nodes: LeaksNode[];
  /** Same-block key of each node (address, size, site). */
  keys: string[];
  byKey: Map<string, LeaksNode>;
  siteOf?: (n: LeaksNode) => Group | undefined;
  typeOf?: (n: LeaksNode) => Group | undefined;
}

interface Group {
  key: string;
  label: string;
}

function indexFile(file: LeaksFile): Indexed {
  const stacks = file.stacks;
  const siteKeys = stacks?.map((frames) => frames.map((f) => f.pc).join(" "));
  const siteLabels = stacks?.map((frames) => stackLine(frames) || "(unknown stack)");
  const siteOf = stacks
    ? (n: LeaksNode): Group | undefined =>
      n.site === undefined ? undefined : { key: siteKeys![n.site]!, label: siteLabels![n.site]! }
    : undefined;
  const types = file.types;
  const typeOf = types
    ? (n: LeaksNode): Group | undefined => {
      const t = n.type === undefined ? undefined : types[n.type];
      return t ? { key: t.name, label: t.name } : undefined;
    }
    : undefined;
  const keys = file.nodes.map((n) =>
    `${n.address} ${n.size}${n.site !== undefined && siteKeys ? ` ${siteKeys[n.site]}` : ""}`
  );
  const byKey = new Map<string, LeaksNode>();
  file.nodes.forEach((n, i) => byKey.set(keys[i]!, n));
  return {
    file,
    nodes: file.nodes,
    keys,
    byKey,
    ...(siteOf ? { siteOf } : {}),
    ...(typeOf ? { typeOf } : {}),
  };
}

interface Totals {
  allocations: number;
  bytes: number;
  leaked: number;
  leakedBytes: number;
  suppressed: number;
  suppressedBytes: number;
}

function totals(f: LeaksFile): Totals {
  const s = f.summary;
  const suppressed = s.suppressed ?? 0, suppressedBytes = s.suppressedBytes ?? 0;
  return {
    allocations: s.allocations,
    bytes: s.bytes,
    leaked: s.leaked - suppressed,
    leakedBytes: s.leakedBytes - suppressedBytes,
    suppressed,
    suppressedBytes,
  };
}

/**
 * Leaked blocks of `to` that are not the same block leaked in `from`; those a --suppressions rule
 * suppressed in `to` are counted apart (known leaks are not news, and not the exit status).
 */
function leakChange(to: Indexed, from: Indexed): LeakChange {
  let count = 0, bytes = 0;
  const suppressed = { count: 0, bytes: 0 };
  const direct: DiffLeak[] = [];
  to.nodes.forEach((n, i) => {
    if (!LEAKED.has(n.status)) return;
    const was = from.byKey.get(to.keys[i]!);
    if (was && LEAKED.has(was.status)) return;
    if (n.suppressed !== undefined) {
      suppressed.count++;
      suppressed.bytes += n.size;
      return;
    }
    count++;
    bytes += n.size;
    if (n.leak !== "direct") return;
    const leak: DiffLeak = { address: n.address, size: n.size };
    if (n.held) leak.held = n.held;
    const site = to.siteOf?.(n);
    if (site) leak.site = site.label;
    const type = to.typeOf?.(n);
    if (type) leak.type = type.label;
    direct.push(leak);
  });
  direct.sort((x, y) => (y.held?.bytes ?? y.size) - (x.held?.bytes ?? x.size));
  return { count, bytes, suppressed, direct };
}

function zoneOf(n: LeaksNode): Group {
  return { key: n.zone, label: n.zone };
}

type Table = Map<string, { label: string; count: number; bytes: number }>;

function groupBy(ix: Indexed, of: (n: LeaksNode) => Group | undefined): Table {
  const out: Table = new Map();
  for (const n of ix.nodes) {
    const g = of(n);
    if (!g) continue;
    const row = out.get(g.key) ?? { label: g.label, count: 0, bytes: 0 };
    row.count++;
    row.bytes += n.size;
    out.set(g.key, row);
  }
  return out;
}

function typeTable(f: LeaksFile): Table {
  return new Map(
    (f.types ?? []).map((t) => [t.name, { label: t.name, count: t.count, bytes: t.bytes }]),
  );
}

function retainerTable(f: LeaksFile): Table {
  const out: Table = new Map();
  for (const r of f.retainers ?? []) {
    const row = out.get(r.name) ?? { label: r.name, count: 0, bytes: 0 };
    row.count += r.blocks;
    row.bytes += r.bytes;
    out.set(r.name, row);
  }
  return out;
}

/** Rows of every group in either table, by bytes grown (then count), biggest growth first. */
export function growth(before: Table, after: Table): GrowthRow[] {
  const rows: GrowthRow[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const x = before.get(key), y = after.get(key);
    const b = { count: x?.count ?? 0, bytes: x?.bytes ?? 0 };
    const c = { count: y?.count ?? 0, bytes: y?.bytes ?? 0 };
    rows.push({
      key,
      label: (y ?? x)!.label,
      before: b,
      after: c,
      count: c.count - b.count,
      bytes: c.bytes - b.bytes,
    });
  }
  return rows.sort((p, q) => q.bytes - p.bytes || q.count - p.count || (p.key < q.key ? -1 : 1));
}

/** Blocks of 2 not in 1 that 3 still has, by site and type. */
function survivors(a: Indexed, b: Indexed, c: Indexed, notes: string[]): Survivors {
  if (!b.siteOf) {
    notes.push(
      "three snapshots without allocation sites: survivors are matched by address and size only",
    );
  }
  const kept: LeaksNode[] = [];
  b.nodes.forEach((n, i) => {
    const key = b.keys[i]!;
    if (!a.byKey.has(key) && c.byKey.has(key)) kept.push(n);
  });
  const only: Indexed = { ...b, nodes: kept };
  const empty: Table = new Map();
  return {
    count: kept.length,
    bytes: kept.reduce((s, n) => s + n.size, 0),
    bySite: b.siteOf ? growth(empty, groupBy(only, b.siteOf)) : [],
    byType: b.typeOf ? growth(empty, groupBy(only, b.typeOf)) : [],
  };
}
