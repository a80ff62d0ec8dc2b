// buildGoGraph(): a parsed Go heap dump as the HeapGraph every input becomes: objects as nodes
// (sorted by address), their pointer fields as edges, and named roots: data/bss globals, goroutine
// stack frames, other roots, and what finalizers keep (the Go GC's own root set).
//
// Type names: Go's dump has none per object. An object named by the object-id file takes that
// name; otherwise an interface word pair (itab or type pointer, then data pointer) whose itab or
// type the dump describes names the object the data word points to. O(n + f log n) for n objects
// and f pointer fields (one index lookup per field); the sort is O(n + r log r) for r address runs.

import { AllocationIndex } from "../alloc_index.ts";
import { AllocationTable } from "../allocation_table.ts";
import { type HeapGraph, NODE_FINALIZER, type RootEntry } from "../graph.ts";
import type { ProgramSymbols } from "./program_symbols.ts";
import type { FileRange, HeapDump } from "./types.ts";

export const GO_ZONE = "go heap";
/** Overlap warnings kept: the count is always reported. */
const MAX_OVERLAP_WARNINGS = 10;

export interface GoGraphOptions {
  /** Reads an object's bytes from the dump (HeapDumpReader.bytes), for hexdumps. */
  bytes?: (range: FileRange, max: number) => Uint8Array;
  /** --program: names of data/bss globals. */
  symbols?: ProgramSymbols;
}

/** A HeapGraph over a Go heap dump, with what the Go views need besides. */
export interface GoHeapGraph extends HeapGraph {
  dump: HeapDump;
  symbols?: ProgramSymbols;
  /** Per node: index of its object in the dump's file order (into `dump.objects`). */
  objectOf: Uint32Array;
  /** Node whose [address, address + size) holds `address`, or -1. */
  lookup(address: number): number;
  /** Per node: its name from the object-id file, or undefined. */
  oidName(id: number): string | undefined;
}

/** Builds the graph. The dump's columns are shared, not copied. */
export function buildGoGraph(dump: HeapDump, opts: GoGraphOptions = {}): GoHeapGraph {
  const warnings = [...dump.warnings];
  const objs = dump.objects;
  const ptrSize = dump.params?.ptrSize ?? 8;

  // ---- nodes: sorted by address, overlapping objects dropped ----
  const sorted = sortByAddress(objs.address);
  let n = 0, prevEnd = -1, overlaps = 0;
  for (const o of sorted) {
    const a = objs.address[o]!;
    if (a < prevEnd) {
      if (++overlaps <= MAX_OVERLAP_WARNINGS) {
        warnings.push(`object at 0x${a.toString(16)} overlaps the one before it: ignored`);
      }
      continue;
    }
    sorted[n++] = o; // in place: n never passes the read position
    prevEnd = a + Math.max(objs.size[o]!, 1);
  }
  if (overlaps > MAX_OVERLAP_WARNINGS) warnings.push(`${overlaps} overlapping objects ignored`);
  const objectOf = n === sorted.length ? sorted : sorted.slice(0, n);
  const address = new Float64Array(n), size = new Float64Array(n);
  for (let v = 0; v < n; v++) {
    address[v] = objs.address[objectOf[v]!]!;
    size[v] = objs.size[objectOf[v]!]!;
  }
  const zone = new Uint16Array(n);
  const index = new AllocationIndex(new AllocationTable(address, size, zone, [GO_ZONE]));
  const lookup = (a: number) => index.lookup(a);

  // ---- types: object-id names first, then interface inference ----
  const typeNames: string[] = [];
  const typeIds = new Map<string, number>();
  const typeId = (name: string) => {
    let t = typeIds.get(name);
    if (t === undefined) {
      t = typeNames.push(name) - 1;
      typeIds.set(name, t);
    }
    return t;
  };
  const type = new Int32Array(n).fill(-1);
  const named = new Uint8Array(n); // 1: the type came from the object-id file
  if (objs.oid) {
    for (let v = 0; v < n; v++) {
      const k = objs.oid[objectOf[v]!]!;
      if (k >= 0) {
        type[v] = typeId(dump.oidNames[k]!);
        named[v] = 1;
      }
    }
  }
  const ifaceTarget = interfaceTyper(dump, lookup, (v, name) => {
    if (!named[v] && type[v] === -1) type[v] = typeId(name);
  }, ptrSize);

  // ---- edges (CSR by source) ----
  const start = new Uint32Array(n + 1);
  const target = new Uint32Array(objs.fieldOffset.length);
  const offset = new Uint32Array(objs.fieldOffset.length);
  let e = 0;
  for (let v = 0; v < n; v++) {
    start[v] = e;
    const o = objectOf[v]!;
    const from = objs.fieldStart[o]!, to = objs.fieldStart[o + 1]!;
    for (let k = from; k < to; k++) {
      const t = lookup(objs.fieldValue[k]!);
      if (t < 0) continue;
      target[e] = t;
      offset[e++] = objs.fieldOffset[k]!;
    }
    ifaceTarget(objs.fieldOffset, objs.fieldValue, from, to);
  }
  start[n] = e;

  // ---- finalizer flags ----
  const flags = new Uint8Array(n);
  for (const f of [...dump.finalizers, ...dump.queuedFinalizers]) {
    const v = lookup(f.object);
    if (v >= 0) flags[v]! |= NODE_FINALIZER;
  }

  // ---- roots ----
  const roots = new RootCollector(lookup);
  for (const s of dump.segments) {
    const seg = s.kind === "bss" ? "BssSegment" : "DataSegment";
    ifaceTarget(s.fieldOffsets, s.fieldValues, 0, s.fieldOffsets.length);
    for (let k = 0; k < s.fieldOffsets.length; k++) {
      const where = s.address + s.fieldOffsets[k]!;
      const sym = opts.symbols?.nameAt(where)?.replace(/\+0x[0-9a-f]+$/, "");
      roots.add(
        { kind: "data", name: sym ? `${seg} (${sym})` : seg },
        where,
        s.fieldValues[k]!,
      );
    }
  }
  for (const f of dump.frames) {
    const g = dump.goroutines[f.goroutine]!;
    ifaceTarget(f.fieldOffsets, f.fieldValues, 0, f.fieldOffsets.length);
    const entry: RootEntry = { kind: "stack", name: `${f.function} frame`, thread: g.id };
    for (let k = 0; k < f.fieldOffsets.length; k++) {
      roots.add(entry, f.address + f.fieldOffsets[k]!, f.fieldValues[k]!, true);
    }
  }
  for (const o of dump.otherRoots) roots.add({ kind: "other", name: o.description }, 0, o.pointer);
  // The GC marks what a finalizer's object points to (never the object itself: it must become
  // unreachable for the finalizer to run) and the finalizer's closure (runtime markrootSpans).
  for (const f of dump.finalizers) {
    const v = lookup(f.object);
    const entry: RootEntry = { kind: "finalizer", name: `finalizer of 0x${f.object.toString(16)}` };
    if (v >= 0) {
      for (let k = start[v]!; k < start[v + 1]!; k++) {
        roots.addNode(entry, address[v]! + offset[k]!, target[k]!);
      }
    }
    roots.add(entry, 0, f.funcVal);
  }
  // A queued finalizer holds its object (the argument it will be called with) and its closure.
  for (const f of dump.queuedFinalizers) {
    const entry: RootEntry = {
      kind: "finalizer",
      name: `queued finalizer of 0x${f.object.toString(16)}`,
    };
    roots.add(entry, 0, f.object);
    roots.add(entry, 0, f.funcVal);
  }

  const bytes = opts.bytes;
  return {
    nodes: { count: n, address, size, zone, zoneNames: [GO_ZONE], type, typeNames, flags },
    edges: { start, target: target.subarray(0, e), offset: offset.subarray(0, e) },
    roots: roots.finish(),
    bytes: bytes
      ? (id, max) => {
        const o = objectOf[id];
        if (o === undefined) return undefined;
        return bytes({ offset: objs.contents[o]!, length: objs.size[o]! }, max);
      }
      : undefined,
    warnings,
    dump,
    symbols: opts.symbols,
    objectOf,
    lookup,
    oidName: (id) => {
      const o = objectOf[id];
      const k = o === undefined ? -1 : objs.oid?.[o] ?? -1;
      return k >= 0 ? dump.oidNames[k] : undefined;
    },
  };
}

/**
 * Object indices in address order. Go dumps objects span by span, ascending inside a span, so the
 * file is a few hundred ascending runs: sort the runs by first address and check the result; fall
 * back to a full sort when runs interleave (a damaged dump). O(n + r log r), else O(n log n).
 */
export function sortByAddress(address: Float64Array): Uint32Array {
  const n = address.length;
  const runStarts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 0 || address[i]! <= address[i - 1]!) runStarts.push(i);
  }
  const order = runStarts.map((s, k) => ({ s, e: runStarts[k + 1] ?? n }));
  order.sort((a, b) => address[a.s]! - address[b.s]!);
  const out = new Uint32Array(n);
  let j = 0;
  for (const r of order) for (let i = r.s; i < r.e; i++) out[j++] = i;
  for (let i = 1; i < n; i++) {
    if (address[out[i]!]! < address[out[i - 1]!]!) {
      return Uint32Array.from(out).sort((a, b) => address[a]! - address[b]!);
    }
  }
  return out;
}

/**
 * A function that, given pointer fields, names the objects that interface data words point to:
 * a field whose previous word (one pointer earlier) is an itab or type the dump describes.
 */
function interfaceTyper(
  dump: HeapDump,
  lookup: (a: number) => number,
  name: (node: number, typeName: string) => void,
  ptrSize: number,
): (offsets: ArrayLike<number>, values: ArrayLike<number>, from: number, to: number) => void {
  if (dump.types.size === 0) return () => {};
  const typeOf = (word: number): string | undefined => {
    const t = dump.types.get(dump.itabs.get(word) ?? word);
    // Go writes "pkg." for an unnamed type with a package path (e.g. some pointer types): no name.
    if (!t || !t.indirect || t.name.endsWith(".")) return undefined;
    // A pointer type's data word is the pointer: it points to the element type's object.
    return t.name.startsWith("*") ? t.name.slice(1) : t.name;
  };
  return (offsets, values, from, to) => {
    for (let k = from + 1; k < to; k++) {
      if (offsets[k]! - offsets[k - 1]! !== ptrSize) continue;
      const t = typeOf(values[k - 1]!);
      if (t === undefined) continue;
      const v = lookup(values[k]!);
      if (v >= 0) name(v, t);
    }
  };
}

/** Root references, grouped into named entries. */
class RootCollector {
  entries: RootEntry[] = [];
  #ids = new Map<string, number>();
  #entry: number[] = [];
  #where: number[] = [];
  #target: number[] = [];
  #lookup: (a: number) => number;
  #last: RootEntry | undefined;
  #lastId = -1;

  constructor(lookup: (a: number) => number) {
    this.#lookup = lookup;
  }

  /** A root word holding `value`; ignored unless it points into an object. */
  add(entry: RootEntry, where: number, value: number, unique = false): void {
    const v = this.#lookup(value);
    if (v >= 0) this.addNode(entry, where, v, unique);
  }

  /** A root reference to node `v`; `unique` entries (one per frame) are never merged by name. */
  addNode(entry: RootEntry, where: number, v: number, unique = false): void {
    let id: number;
    if (entry === this.#last) id = this.#lastId;
    else {
      const key = unique ? undefined : `${entry.kind}\0${entry.name}`;
      id = key === undefined ? -1 : this.#ids.get(key) ?? -1;
      if (id < 0) {
        id = this.entries.push(entry) - 1;
        if (key !== undefined) this.#ids.set(key, id);
      }
      this.#last = entry;
      this.#lastId = id;
    }
    this.#entry.push(id);
    this.#where.push(where);
    this.#target.push(v);
  }

  finish(): HeapGraph["roots"] {
    return {
      entries: this.entries,
      entry: Uint32Array.from(this.#entry),
      where: Float64Array.from(this.#where),
      target: Uint32Array.from(this.#target),
    };
  }
}
