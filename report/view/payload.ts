// The report model: one payload type per view of the HTML report, what report/html.ts embeds.
//
// Pure data (JSON-safe). The selectors in this folder fill it from a LeaksFile; the Preact viewer
// (report/viewer/) takes one payload per component and holds no data logic.

import type { GrowthRow } from "../leaks_diff.ts";
import type { LeaksNode, LeaksSite } from "../schema.ts";

export type NodeStatus = LeaksNode["status"];
export type Filter = "all" | "reachable" | "leaked" | "cycle" | "possible";

export interface HeaderPayload {
  pid: number;
  command: string;
  platform: string;
  arch: string;
  allocator: string;
  capturedAt: string;
  pauseMs: number;
  /** A Go heap dump (no process was stopped: pid 0, pause 0). */
  goDump: boolean;
  ok: boolean;
  /** No leaks, but possible ones (only weak evidence keeps them). */
  possible?: boolean;
  verdict: string;
  /** leaks.json format version the report was made from. */
  version: number;
  /** Blocks whose first bytes (copied from the process's memory) the report embeds. */
  bytesEmbedded: number;
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
  /** v3: blocks only weak evidence keeps (possibly hidden leaks). */
  possible: number;
  possibleBytes: number;
}

export interface GraphNode {
  /** Index into the block index (the file's node list), the one id the viewer uses. */
  block: number;
  /** Node id in leaks.json. */
  id: number;
  address: string;
  size: number;
  zone: string;
  status: NodeStatus;
  leak?: "direct" | "indirect";
  bytes?: string;
  /** Precomputed position (world units): the viewer never lays out at load time. */
  x: number;
  y: number;
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
  requested?: number;
  /** Optional fields of the why-alive analysis (shown when present). */
  type?: string;
  retained?: number;
}

export interface GraphLink {
  /** Indices into GraphPayload.nodes. */
  source: number;
  target: number;
  offset: number;
  interior?: boolean;
}

/** A labelled region of the precomputed layout (the roots' tree, one leaked structure). */
export interface GraphRegion {
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
  kind: "reachable" | "leaked";
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
  regions: GraphRegion[];
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
  /** Block index of every member (drawn or not). */
  blocks: number[];
}

export interface CyclesPayload {
  rows: CycleRow[];
  total: number;
  omitted: number;
}

/** One direct leak: a row under its group. */
export interface LeakBlockRow {
  block: number;
  address: string;
  size: number;
  requested?: number;
  zone: string;
  inCycle: boolean;
  /** The structure counted under this direct leak (itself included). */
  heldBlocks: number;
  heldBytes: number;
  retained?: number;
  thread?: number;
  ageMs?: number;
}

/** Direct leaks grouped like the CLI: by site when recorded, else by type, size and zone. */
export interface LeakGroup {
  key: string;
  /** "by site", "by type" or "by size and zone". */
  by: "site" | "type" | "size";
  /** The site label (one label everywhere), the type, or "40 B blocks". */
  label: string;
  location: string;
  zone: string;
  site?: number;
  type?: string;
  inCycle: boolean;
  /** Direct leaks in the group. */
  count: number;
  /** Blocks and bytes of the structures they hold (the direct leaks included). */
  blocks: number;
  bytes: number;
  /** Own bytes of the direct leaks. */
  directBytes: number;
  /** Sum of the dominator tree's retained bytes when the file has them, else `bytes`. */
  retained: number;
  retainedKnown: boolean;
  rows: LeakBlockRow[];
}

/** Blocks only weak evidence keeps, joined where one points to another (possible_structures.ts). */
export interface PossibleRow {
  blocks: number;
  bytes: number;
  /** "kept by 4 weak words: malloc's slack ×2, …" (empty when no way in is known). */
  kept: string;
  /** The way in the most hangs under (a block), or -1; its address. */
  entry: number;
  address: string;
}

export interface LeakGroupsPayload {
  groups: LeakGroup[];
  /** The possible structures, biggest first (at most the report's cap; `possibleOmitted` more). */
  possible: PossibleRow[];
  possibleOmitted: number;
  /** Direct leaks in the file, and how many are listed (bounded by the report's cap). */
  direct: number;
  listed: number;
  /** Sum of every group's bytes: equals summary.leakedBytes when the file has `held` (v3). */
  bytes: number;
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
  /** formatFrame() text: the one way a frame is named. */
  text: string;
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
  /** The user's frame of the stack: function (+offset when two sites share a line). */
  label: string;
  /** "file.c:123" (+":column" when two sites share a line); "" when unknown. */
  location: string;
  /** Full source path of that frame, for a tooltip. */
  file?: string;
  /** "via 6 std:: frames" when library frames were folded. */
  via: string;
  /** Leaked blocks and their usable bytes, counted from the file's nodes (the leaks table's unit). */
  leakedUsableBytes: number;
}

export interface SitesPayload {
  /** Sorted by leaked bytes, then live bytes; capped. */
  rows: SiteRowView[];
  /** Sites in the file plus the ones the file itself omitted. */
  total: number;
  /** Sites not listed here (cap of the report + `omittedSites` of the file). */
  omitted: number;
  /** Site → its frames, for every site a listed row or an embedded block uses (capped). */
  stacks: Record<number, StackView>;
  /** Site → "label location", the one label of a site. */
  labels: Record<number, string>;
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
  /** Live blocks the recorder knows of at the snapshot vs the heap's allocations. */
  recordedBlocks: number;
  allocations: number;
}

/** d3-flame-graph's input: name, value, children (outermost frame at the root). */
export interface FlameNode {
  name: string;
  value: number;
  children: FlameNode[];
  /** Site of a leaf's stack (the leaf is the innermost frame). */
  site?: number;
}

export interface FlamePayload {
  root: FlameNode;
  /** Leaked bytes (usable sizes) in the graph: the same total as the leaks table. */
  total: number;
  /** Leaked bytes without a recorded stack (allocated before the recorder started). */
  unrecorded: number;
}

/** Per type: the why-alive issue's `types` table (optional). */
export interface TypeRow {
  type: string;
  count: number;
  bytes: number;
  reachableCount: number;
  reachableBytes: number;
  leakedCount: number;
  leakedBytes: number;
  possibleCount: number;
  possibleBytes: number;
}

/** One top retainer (a holder or a shared block) and what it dominates, when the file has them. */
export interface RetainerRow {
  /** The block, -1 for a holder that is not a block (a global, a stack frame). */
  block: number;
  label: string;
  retained: number;
  /** Blocks kept alive (0 when not known for a row below the top). */
  blocks: number;
  children: RetainerRow[];
}

export interface RootView {
  /** Block held. */
  block: number;
  /** "g_registry+0x8 in ./server", else "data ./server 0x…", "rdi of thread 123". */
  label: string;
  weak: boolean;
}

export interface ReportModel {
  header: HeaderPayload;
  stats: StatsPayload;
  graph: GraphPayload;
  groups: LeakGroupsPayload;
  zones: ZoneRow[];
  cycles: CyclesPayload;
  method: MethodPayload;
  /** Root entries by held block (capped; `rootsOmitted` counts the rest). */
  roots: RootView[];
  rootsOmitted: number;
  /** v2, recorded processes only; null otherwise. */
  sites: SitesPayload | null;
  timeline: TimelinePayload | null;
  flame: FlamePayload | null;
  /** Optional tables of the why-alive analysis; null when the file has none. */
  types: TypeRow[] | null;
  retainers: RetainerRow[] | null;
  /** `heapscope diff --html` and `watch --html`: what changed between snapshots. */
  comparison?: ComparisonPayload | null;
  /**
   * Possible blocks reached through a weak word of their holder: block → which rule makes that
   * word weak (leaks.json's `weakLink`; at most MAX_WEAK_LINKS).
   */
  weakLinks?: Record<number, string>;
}

export interface ModelOptions {
  /** Most nodes drawn in the graph (default 2,000). */
  maxNodes?: number;
  /** Most links drawn (default 4 × maxNodes). */
  maxLinks?: number;
  /** Most direct-leak rows embedded under the groups (default 200,000). */
  maxLeakRows?: number;
  /** Most rows in the cycle list (default 5,000). */
  maxCycles?: number;
  /** Most rows in the sites table (default 500). */
  maxSites?: number;
  /** Most stacks embedded (default 2,000) and frames per stack (default 48). */
  maxStacks?: number;
  maxFrames?: number;
  /** Most timeline points (default 600). */
  maxTimelinePoints?: number;
  /** Most root entries embedded (default 50,000). */
  maxRoots?: number;
}

/** One file a comparison names: which capture it is, and whether this report draws it. */
export interface ComparisonFileView {
  /** "first", "second", "third" (diff); "snapshot 1", "snapshot 7" (watch). */
  label: string;
  /** The label in a column header: "1st", "2nd", "3rd" (diff); "#1", "#7" (watch). */
  short: string;
  pid: number;
  command: string;
  capturedAt: string;
  /** The file this report's graph, tables and card are made from (the newest). */
  shown: boolean;
}

/** A total in both files: allocations, bytes, leaked blocks and bytes, suppressed ones. */
export interface ComparisonTotal {
  key: "allocations" | "bytes" | "leaked" | "leakedBytes" | "suppressed" | "suppressedBytes";
  label: string;
  unit: "count" | "bytes";
  before: number;
  after: number;
  change: number;
}

/** A direct leak among the new leaks or the leaks gone, tied to its block in the shown file. */
export interface ComparisonLeakRow {
  address: string;
  size: number;
  /** Its structure (itself and the leaked blocks it holds). */
  heldBlocks: number;
  heldBytes: number;
  type?: string;
  site?: string;
  /** Index of the same block in the shown file (the graph's and the card's id), when it is there. */
  block?: number;
  /** Its status in the shown file, when it is there. */
  now?: NodeStatus;
}

export interface ComparisonLeaks {
  /** Leaked blocks (direct and indirect) and bytes, but for those a rule suppressed. */
  count: number;
  bytes: number;
  suppressed: { count: number; bytes: number };
  /** Direct leaks among them; `rows` lists the biggest structures first (capped: `omitted`). */
  direct: number;
  rows: ComparisonLeakRow[];
  omitted: number;
}

/** One growth table: rows of the diff, those that changed first (capped: `omitted`). */
export interface ComparisonGrowth {
  id: "type" | "site" | "retainer" | "zone" | "survivor-site" | "survivor-type";
  title: string;
  /** Header of the label column: "type", "allocation site", "retainer", "zone". */
  what: string;
  rows: GrowthRow[];
  /** Rows whose count or bytes changed (the text summary lists these). */
  changed: number;
  /** Rows in the diff. */
  total: number;
  omitted: number;
}

/** The growth between two files: what `heapscope diff` prints, as data. */
export interface ComparisonDiffView {
  totals: ComparisonTotal[];
  newLeaks: ComparisonLeaks;
  goneLeaks: ComparisonLeaks;
  growth: ComparisonGrowth[];
  /** Three files: blocks new between the first and the second that the third still has. */
  survivors: { count: number; bytes: number; tables: ComparisonGrowth[] } | null;
}

/** One capture of `heapscope watch`. */
export interface SeriesPoint {
  index: number;
  capturedAt: string;
  /** Since the first capture of the series. */
  ms: number;
  pauseMs: number;
  allocations: number;
  bytes: number;
  leaked: number;
  leakedBytes: number;
  suppressed?: { count: number; bytes: number };
  /** Change since the previous capture (none for the first). */
  change?: { bytes: number; leakedBytes: number };
  /** The biggest grower since the previous capture, and its growth in bytes. */
  top?: { label: string; bytes: number };
}

export interface SeriesPayload {
  points: SeriesPoint[];
  /** Earlier captures left out by the cap (watch.json has every one). */
  omitted: number;
  peakBytes: number;
  peakLeakedBytes: number;
}

/** The Comparison section: which files, what grew between them, and (watch) over time. */
export interface ComparisonPayload {
  kind: "diff" | "watch";
  files: ComparisonFileView[];
  /** Null when there is nothing to compare yet (the first capture of a watch). */
  diff: ComparisonDiffView | null;
  /** What could not be compared, and why (the diff's notes). */
  notes: string[];
  series: SeriesPayload | null;
}
