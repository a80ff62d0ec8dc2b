// leaks.json, the versioned analysis format: types shared by the writer, the reader and the viewer.

export const LEAKS_FORMAT = "heapscope-leaks";
/** Version written. 2 = 1 plus the optional allocation-site fields (stacks, sites, timeline). */
export const LEAKS_VERSION = 2;
/** Versions read. */
export const LEAKS_READABLE_VERSIONS: readonly number[] = [1, 2];

export interface LeaksTarget {
  pid: number;
  command: string;
  platform: "linux" | "darwin";
  arch: string;
  allocator: string;
}

export interface LeaksSummary {
  allocations: number;
  bytes: number;
  reachable: number;
  leaked: number;
  leakedBytes: number;
  /** Leaked blocks that nothing else leaked holds (see README: a held-by-nobody cycle counts once). */
  direct: number;
  indirect: number;
  cycles: number;
}

export interface LeaksNode {
  id: number;
  /** "0x…", the pointer malloc returned. */
  address: string;
  /** Usable size in bytes. */
  size: number;
  zone: string;
  status: "reachable" | "leaked" | "cycle";
  /** Leaked nodes only. */
  leak?: "direct" | "indirect";
  /** Optional: hex of the first bytes of the block (at most 64). */
  bytes?: string;
  /** Reachable nodes: id of the node that holds it alive (absent when a root holds it directly). */
  via?: number;
  /** v2, recorded processes only: index into `stacks`/`sites[].site`, the thread and the age. */
  site?: number;
  thread?: number;
  ageMs?: number;
}

/** v2: one symbolized frame (innermost first), one site's counters, one timeline sample. */
export type {
  SiteRow as LeaksSite,
  StackFrame as LeaksStackFrame,
  TimelineSample as LeaksTimelineSample,
} from "../analysis/sites.ts";
import type { SiteRow, StackFrame, TimelineSample } from "../analysis/sites.ts";

export interface LeaksEdge {
  source: number;
  target: number;
  /** Byte offset of the pointer inside the source block. */
  offset: number;
}

export interface LeaksRoot {
  kind: "data" | "stack" | "register" | "tls" | "other";
  thread?: number;
  image?: string;
  /** "0x…" where the pointer was found; for registers, the register name. */
  address: string;
  target: number;
}

/** Aggregated counts for what the node list leaves out (`--graph leaked`). */
export interface LeaksOmitted {
  nodes: number;
  bytes: number;
  edges: number;
}

export interface LeaksFile {
  format: typeof LEAKS_FORMAT;
  version: 1 | 2;
  target: LeaksTarget;
  capturedAt: string;
  pauseMs: number;
  summary: LeaksSummary;
  nodes: LeaksNode[];
  edges: LeaksEdge[];
  cycles: number[][];
  roots: LeaksRoot[];
  /** Phase timings in ms (attach, copy, enumerate, scan, scc, ...). */
  phases?: Record<string, number>;
  /** Warnings from capture and enumeration. */
  warnings?: string[];
  /** Present when the node list is not every allocation. */
  omitted?: LeaksOmitted;
  /** v2, recorded processes only (`heapscope run`, or a pid started under it). */
  stacks?: StackFrame[][];
  sites?: SiteRow[];
  omittedSites?: number;
  timeline?: TimelineSample[];
}
