// Every block of the file in compact columns: what the report embeds so that a block that is not
// drawn can still be searched, shown on the card with its path from a root, and drawn on demand
// with its neighbourhood, and what the heap map paints.
//
// Encoded column by column as LEB128 varints (addresses as deltas in file order: the file is sorted
// by address, so most deltas take 1–2 bytes), then gzip-compressed and base64-encoded by
// report/html.ts. Measured on the synthetic 10^6-block sample: ~9 bytes per block before gzip.
// The caps below bound the embedded part; what they leave out is counted and said in the report.
// O(nodes + edges) to build, encode and decode.

import type { LeaksFile } from "../schema.ts";
import type { Adjacency } from "./adjacency.ts";

/** Blocks embedded at most: 2^21, twice the largest heap the report bench measures (10^6). */
export const MAX_INDEX_BLOCKS = 1 << 21;
/** Leaked blocks whose first bytes (≤ 64 each) are embedded beyond the drawn ones: 4 MiB of hex. */
export const MAX_BYTES_BLOCKS = 32_768;

export const STATUS_CODES = ["reachable", "leaked", "cycle", "possible"] as const;
/** Flag bits above the two status bits. */
export const DIRECT = 4, INDIRECT = 8, ROOTED = 16;

export interface BlockIndex {
  /** Blocks embedded (the first `count` of the file's node list) and in the file. */
  count: number;
  inFile: number;
  id: Float64Array;
  address: Float64Array;
  size: Float64Array;
  /** STATUS_CODES index in the low two bits, then DIRECT, INDIRECT, ROOTED. */
  flags: Uint8Array;
  zone: Uint16Array;
  zones: string[];
  /** Holder in the flood fill, -1 when none (a root holds it, or it is not reachable). */
  via: Int32Array;
  /** Allocation site, -1 when not recorded. */
  site: Int32Array;
  /** Requested size, -1 when unknown. */
  requested: Float64Array;
  /** Type (index into `types`), -1 when unknown; retained bytes, -1 when unknown. */
  type: Int32Array;
  types: string[];
  retained: Float64Array;
  outStart: Int32Array;
  outTarget: Int32Array;
  outOffset: Float64Array;
  /** 1 where the edge is weak evidence (the word may be stale). */
  outWeak: Uint8Array;
  inStart: Int32Array;
  inSource: Int32Array;
  inOffset: Float64Array;
  /** First bytes (hex) of leaked blocks, by block. */
  bytes: Map<number, string>;
}

/** The index of `leaks` (blocks beyond MAX_INDEX_BLOCKS are left out). */
export function buildBlockIndex(
  leaks: LeaksFile,
  adj: Adjacency,
  maxBlocks = MAX_INDEX_BLOCKS,
): BlockIndex {
  const nodes = leaks.nodes;
  const inFile = nodes.length;
  const n = Math.min(inFile, maxBlocks);
  const zones: string[] = [], zoneOf = new Map<string, number>();
  const types: string[] = [], typeOf = new Map<string, number>();
  const index: BlockIndex = {
    count: n,
    inFile,
    id: new Float64Array(n),
    address: new Float64Array(n),
    size: new Float64Array(n),
    flags: new Uint8Array(n),
    zone: new Uint16Array(n),
    zones,
    via: new Int32Array(n).fill(-1),
    site: new Int32Array(n).fill(-1),
    requested: new Float64Array(n).fill(-1),
    type: new Int32Array(n).fill(-1),
    types,
    retained: new Float64Array(n).fill(-1),
    outStart: new Int32Array(n + 1),
    outTarget: new Int32Array(0),
    outOffset: new Float64Array(0),
    outWeak: new Uint8Array(0),
    inStart: new Int32Array(n + 1),
    inSource: new Int32Array(0),
    inOffset: new Float64Array(0),
    bytes: new Map(),
  };
  const rooted = new Uint8Array(n);
  for (const r of leaks.roots) {
    const b = adj.at(r.target);
    if (b >= 0 && b < n) rooted[b] = 1;
  }
  let bytesKept = 0;
  for (let b = 0; b < n; b++) {
    const node = nodes[b]!;
    index.id[b] = node.id;
    index.address[b] = parseInt(node.address.slice(2), 16);
    index.size[b] = node.size;
    let z = zoneOf.get(node.zone);
    if (z === undefined) {
      zoneOf.set(node.zone, z = zones.length);
      zones.push(node.zone);
    }
    index.zone[b] = z;
    index.flags[b] = STATUS_CODES.indexOf(node.status) |
      (node.leak === "direct" ? DIRECT : node.leak === "indirect" ? INDIRECT : 0) |
      (rooted[b] ? ROOTED : 0);
    const v = adj.via[b]!;
    if (v >= 0 && v < n) index.via[b] = v;
    if (node.site !== undefined && node.site >= 0) index.site[b] = node.site;
    if (node.requested !== undefined) index.requested[b] = node.requested;
    const typeName = node.type !== undefined ? leaks.types?.[node.type]?.name : undefined;
    if (typeName !== undefined) {
      let t = typeOf.get(typeName);
      if (t === undefined) {
        typeOf.set(typeName, t = types.length);
        types.push(typeName);
      }
      index.type[b] = t;
    }
    if (node.retained !== undefined) index.retained[b] = node.retained;
    if (node.bytes && bytesKept < MAX_BYTES_BLOCKS) {
      index.bytes.set(b, node.bytes);
      bytesKept++;
    }
  }
  // Edges between embedded blocks, both ways.
  let m = 0;
  for (let b = 0; b < n; b++) {
    for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) if (adj.outTarget[k]! < n) m++;
  }
  index.outTarget = new Int32Array(m);
  index.outOffset = new Float64Array(m);
  index.outWeak = new Uint8Array(m);
  let e = 0;
  for (let b = 0; b < n; b++) {
    index.outStart[b] = e;
    for (let k = adj.outStart[b]!; k < adj.outStart[b + 1]!; k++) {
      if (adj.outTarget[k]! >= n) continue;
      index.outTarget[e] = adj.outTarget[k]!;
      index.outOffset[e] = adj.outOffset[k]!;
      index.outWeak[e] = adj.outWeak[k]!;
      e++;
    }
  }
  index.outStart[n] = e;
  _invert(index);
  return index;
}

/** In-edges from the out-edges. */
function _invert(index: BlockIndex): void {
  const n = index.count, m = index.outTarget.length;
  const inStart = new Int32Array(n + 1);
  for (let k = 0; k < m; k++) inStart[index.outTarget[k]! + 1]!++;
  for (let i = 0; i < n; i++) inStart[i + 1]! += inStart[i]!;
  const inSource = new Int32Array(m), inOffset = new Float64Array(m);
  const fill = inStart.slice(0, n);
  for (let b = 0; b < n; b++) {
    for (let k = index.outStart[b]!; k < index.outStart[b + 1]!; k++) {
      const p = fill[index.outTarget[k]!]!++;
      inSource[p] = b;
      inOffset[p] = index.outOffset[k]!;
    }
  }
  index.inStart = inStart;
  index.inSource = inSource;
  index.inOffset = inOffset;
}

// ----- encoding -----

const MAGIC = 0x48534231; // "HSB1"

class _Writer {
  buf = new Uint8Array(1 << 16);
  pos = 0;
  private room(k: number) {
    if (this.pos + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + k));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  /** Unsigned LEB128 of a non-negative integer up to 2^53 (arithmetic, not 32-bit shifts). */
  uint(v: number) {
    this.room(8);
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  /** Zigzag: 0, -1, 1, -2 … → 0, 1, 2, 3 … */
  int(v: number) {
    this.uint(v < 0 ? -2 * v - 1 : 2 * v);
  }
  raw(bytes: Uint8Array) {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

class _Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  uint(): number {
    let v = 0, mul = 1, b: number;
    do {
      if (this.pos >= this.buf.length) throw new Error("block index is truncated");
      b = this.buf[this.pos++]!;
      v += (b & 127) * mul;
      mul *= 128;
    } while (b & 128);
    return v;
  }
  int(): number {
    const v = this.uint();
    return v % 2 ? -(v + 1) / 2 : v / 2;
  }
  raw(k: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + k);
    this.pos += k;
    return out;
  }
}

/** The index as bytes, column after column (see the header). */
export function encodeBlockIndex(index: BlockIndex): Uint8Array {
  const w = new _Writer();
  const n = index.count;
  const head = new TextEncoder().encode(
    JSON.stringify({ n, inFile: index.inFile, zones: index.zones, types: index.types }),
  );
  w.uint(MAGIC);
  w.uint(head.length);
  w.raw(head);
  let prev = 0;
  for (let b = 0; b < n; b++) {
    w.int(index.id[b]! - prev);
    prev = index.id[b]!;
  }
  prev = 0;
  for (let b = 0; b < n; b++) {
    w.int(index.address[b]! - prev);
    prev = index.address[b]!;
  }
  for (let b = 0; b < n; b++) w.uint(index.size[b]!);
  for (let b = 0; b < n; b++) w.uint(index.flags[b]!);
  for (let b = 0; b < n; b++) w.uint(index.zone[b]!);
  // Holders are usually close in address order: deltas from the block itself.
  for (let b = 0; b < n; b++) {
    w.int(index.via[b]! < 0 ? 0 : index.via[b]! - b + (index.via[b]! >= b ? 1 : 0));
  }
  for (let b = 0; b < n; b++) w.uint(index.site[b]! + 1);
  for (let b = 0; b < n; b++) w.uint(index.requested[b]! + 1);
  for (let b = 0; b < n; b++) w.uint(index.type[b]! + 1);
  for (let b = 0; b < n; b++) w.uint(index.retained[b]! + 1);
  for (let b = 0; b < n; b++) w.uint(index.outStart[b + 1]! - index.outStart[b]!);
  for (let b = 0; b < n; b++) {
    for (let k = index.outStart[b]!; k < index.outStart[b + 1]!; k++) {
      w.int(index.outTarget[k]! - b);
    }
  }
  // Offsets are 8-aligned almost always: stored /8 with the remainder in the low bits.
  for (let k = 0; k < index.outOffset.length; k++) {
    const o = index.outOffset[k]!;
    w.uint(o % 8 === 0 ? (o / 8) * 2 : o * 2 + 1);
  }
  w.uint(index.bytes.size);
  let last = 0;
  for (const [b, hex] of [...index.bytes.entries()].sort((x, y) => x[0] - y[0])) {
    w.uint(b - last);
    last = b;
    const raw = new Uint8Array(hex.length >> 1);
    for (let i = 0; i < raw.length; i++) raw[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    w.uint(raw.length);
    w.raw(raw);
  }
  // The weak edges, few: their count, then each index as the gap from the last.
  let weak = 0;
  for (let k = 0; k < index.outWeak.length; k++) weak += index.outWeak[k]!;
  w.uint(weak);
  for (let k = 0, lastK = 0; k < index.outWeak.length; k++) {
    if (!index.outWeak[k]) continue;
    w.uint(k - lastK);
    lastK = k;
  }
  return w.buf.slice(0, w.pos);
}

/** The index back from `encodeBlockIndex` bytes; throws on damaged input. */
export function decodeBlockIndex(bytes: Uint8Array): BlockIndex {
  const r = new _Reader(bytes);
  if (r.uint() !== MAGIC) throw new Error("block index: bad magic (not a heapscope report index)");
  const head = JSON.parse(new TextDecoder().decode(r.raw(r.uint()))) as {
    n: number;
    inFile: number;
    zones: string[];
    types: string[];
  };
  const n = head.n;
  const id = new Float64Array(n), address = new Float64Array(n), size = new Float64Array(n);
  let prev = 0;
  for (let b = 0; b < n; b++) id[b] = prev += r.int();
  prev = 0;
  for (let b = 0; b < n; b++) address[b] = prev += r.int();
  for (let b = 0; b < n; b++) size[b] = r.uint();
  const flags = new Uint8Array(n), zone = new Uint16Array(n);
  for (let b = 0; b < n; b++) flags[b] = r.uint();
  for (let b = 0; b < n; b++) zone[b] = r.uint();
  const via = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const d = r.int();
    via[b] = d === 0 ? -1 : d > 0 ? b + d - 1 : b + d;
  }
  const col = <T extends Int32Array | Float64Array>(out: T): T => {
    for (let b = 0; b < n; b++) out[b] = r.uint() - 1;
    return out;
  };
  const site = col(new Int32Array(n));
  const requested = col(new Float64Array(n));
  const type = col(new Int32Array(n));
  const retained = col(new Float64Array(n));
  const outStart = new Int32Array(n + 1);
  for (let b = 0; b < n; b++) outStart[b + 1] = outStart[b]! + r.uint();
  const m = outStart[n]!;
  const outTarget = new Int32Array(m), outOffset = new Float64Array(m);
  for (let b = 0; b < n; b++) {
    for (let k = outStart[b]!; k < outStart[b + 1]!; k++) outTarget[k] = b + r.int();
  }
  for (let k = 0; k < m; k++) {
    const v = r.uint();
    outOffset[k] = v % 2 === 0 ? (v / 2) * 8 : (v - 1) / 2;
  }
  const bytesMap = new Map<number, string>();
  const count = r.uint();
  let last = 0;
  for (let i = 0; i < count; i++) {
    last += r.uint();
    const raw = r.raw(r.uint());
    let hex = "";
    for (const x of raw) hex += x.toString(16).padStart(2, "0");
    bytesMap.set(last, hex);
  }
  const outWeak = new Uint8Array(m);
  const weak = r.uint();
  for (let i = 0, k = 0; i < weak; i++) {
    k += r.uint();
    if (k >= m) throw new Error("block index: a weak edge past the last edge (damaged input)");
    outWeak[k] = 1;
  }
  const index: BlockIndex = {
    count: n,
    inFile: head.inFile,
    id,
    address,
    size,
    flags,
    zone,
    zones: head.zones,
    via,
    site,
    requested,
    type,
    types: head.types,
    retained,
    outStart,
    outTarget,
    outOffset,
    outWeak,
    inStart: new Int32Array(n + 1),
    inSource: new Int32Array(0),
    inOffset: new Float64Array(0),
    bytes: bytesMap,
  };
  _invert(index);
  return index;
}

/** "0x…" of a block. */
export function blockAddress(index: BlockIndex, b: number): string {
  return "0x" + index.address[b]!.toString(16);
}

/** Status of a block. */
export function blockStatus(index: BlockIndex, b: number): (typeof STATUS_CODES)[number] {
  return STATUS_CODES[index.flags[b]! & 3]!;
}

/**
 * Blocks whose address contains the hex `needle` (or that contain the address when `needle` is a
 * whole address inside a block), at most `max`. O(blocks).
 */
export function findBlocks(index: BlockIndex, needle: string, max = 200): number[] {
  const out: number[] = [];
  if (!needle) return out;
  const exact = parseInt(needle, 16);
  for (let b = 0; b < index.count && out.length < max; b++) {
    const a = index.address[b]!;
    if (a.toString(16).includes(needle)) out.push(b);
  }
  if (out.length === 0 && Number.isFinite(exact)) {
    // An interior address: the block that contains it (addresses are sorted in the file).
    let lo = 0, hi = index.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (index.address[mid]! <= exact) lo = mid + 1;
      else hi = mid - 1;
    }
    const b = lo - 1;
    if (b >= 0 && exact < index.address[b]! + index.size[b]!) out.push(b);
  }
  return out;
}
