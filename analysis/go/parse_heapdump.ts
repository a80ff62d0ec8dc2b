// parseHeapDump(): one streaming pass over a Go heap dump into a compact index (HeapDump).
//
// Objects become columns (address, size, file offset of the contents, non-nil pointer fields);
// their bytes stay in the file. Memory is O(objects + non-nil pointer fields) in typed arrays, about
// 40 bytes per object and 12 per pointer, plus the small record kinds as objects. Time O(file).

import { HeapDumpReader, type ReaderOptions } from "./heapdump_reader.ts";
import { type OidTable, wordKey } from "./oid_file.ts";
import {
  type DumpObjects,
  type DumpSource,
  type GoroutineRecord,
  type HeapDump,
  type IndexedFrame,
  type IndexedSegment,
  RECORD_KINDS,
  type RecordKind,
} from "./types.ts";

export interface ParseOptions extends ReaderOptions {
  /** Object ids: an object whose first word is one of them is named after it. */
  oids?: OidTable;
  /** Called every `progressEvery` records with the file offset reached. */
  onProgress?: (offset: number, size: number) => void;
}

/** Records between progress calls: ~10^5 records are a few MB, a few ms of parsing. */
const PROGRESS_EVERY = 100_000;

/** Parses the whole dump. Throws HeapDumpError on a file it cannot read. */
export function parseHeapDump(source: DumpSource, opts: ParseOptions = {}): HeapDump {
  const r = new HeapDumpReader(source, opts);
  return indexRecords(r, opts);
}

/** The index of every record `r` still has to read (it must be at the first record). */
export function indexRecords(r: HeapDumpReader, opts: ParseOptions = {}): HeapDump {
  const counts = Object.fromEntries(RECORD_KINDS.map((k) => [k, 0])) as Record<RecordKind, number>;
  const objects = new ObjectColumns(opts.oids !== undefined);
  const dump: HeapDump = {
    fileSize: r.size,
    types: new Map(),
    itabs: new Map(),
    objects: new ObjectColumns(false).finish(), // replaced below
    otherRoots: [],
    goroutines: [],
    frames: [],
    segments: [],
    finalizers: [],
    queuedFinalizers: [],
    osThreads: [],
    defers: [],
    panics: [],
    memProf: [],
    allocSamples: [],
    oidNames: opts.oids?.names ?? [],
    recordCounts: counts,
    warnings: [],
  };
  let goroutine: GoroutineRecord | undefined;
  let n = 0;
  for (let rec = r.next(); rec !== undefined; rec = r.next()) {
    counts[rec.kind]++;
    if (++n % PROGRESS_EVERY === 0) opts.onProgress?.(r.offset, r.size);
    switch (rec.kind) {
      case "object": {
        let oid = -1;
        if (opts.oids && rec.contents.length >= 8) {
          const key = wordKey(r.bytes(rec.contents, 8), 0, r.bigEndian);
          oid = opts.oids.byValue.get(key) ?? -1;
        }
        objects.push(rec.address, rec.contents.length, rec.contents.offset, r, oid);
        break;
      }
      case "stackFrame": {
        if (!goroutine) {
          r.warnings.push(`stack frame of ${rec.function} before any goroutine: ignored`);
          break;
        }
        const { fieldOffsets, fieldValues } = nonNil(r);
        const { kind: _, offsets: _o, values: _v, ...frame } = rec;
        const f: IndexedFrame = {
          ...frame,
          goroutine: dump.goroutines.length - 1,
          fieldOffsets,
          fieldValues,
        };
        dump.frames.push(f);
        break;
      }
      case "data":
      case "bss": {
        const { fieldOffsets, fieldValues } = nonNil(r);
        const { offsets: _o, values: _v, ...seg } = rec;
        const s: IndexedSegment = { ...seg, fieldOffsets, fieldValues };
        dump.segments.push(s);
        break;
      }
      case "params":
        dump.params = rec;
        break;
      case "type":
        dump.types.set(rec.address, rec);
        break;
      case "itab":
        dump.itabs.set(rec.address, rec.type);
        break;
      case "goroutine":
        goroutine = rec;
        dump.goroutines.push(rec);
        break;
      case "otherRoot":
        dump.otherRoots.push(rec);
        break;
      case "finalizer":
        dump.finalizers.push(rec);
        break;
      case "queuedFinalizer":
        dump.queuedFinalizers.push(rec);
        break;
      case "osThread":
        dump.osThreads.push(rec);
        break;
      case "memStats":
        dump.memStats = rec;
        break;
      case "defer":
        dump.defers.push(rec);
        break;
      case "panic":
        dump.panics.push(rec);
        break;
      case "memProf":
        dump.memProf.push(rec);
        break;
      case "allocSample":
        dump.allocSamples.push(rec);
        break;
      case "eof":
        break;
    }
  }
  dump.objects = objects.finish();
  dump.warnings.push(...r.warnings);
  if (r.droppedFields > r.warnings.length) {
    dump.warnings.push(`${r.droppedFields} pointer fields outside their records were ignored`);
  }
  if (!dump.params) {
    dump.warnings.push("the dump has no params record: 8-byte little-endian assumed");
  }
  return dump;
}

/** The current record's non-nil pointer fields, copied. */
function nonNil(r: HeapDumpReader): { fieldOffsets: Uint32Array; fieldValues: Float64Array } {
  let k = 0;
  for (let i = 0; i < r.fieldCount; i++) if (r.fieldValues[i] !== 0) k++;
  const fieldOffsets = new Uint32Array(k), fieldValues = new Float64Array(k);
  k = 0;
  for (let i = 0; i < r.fieldCount; i++) {
    if (r.fieldValues[i] === 0) continue;
    fieldOffsets[k] = r.fieldOffsets[i]!;
    fieldValues[k++] = r.fieldValues[i]!;
  }
  return { fieldOffsets, fieldValues };
}

/** Growable object columns; capacity doubles, so pushing n objects costs O(n) copies in all. */
class ObjectColumns {
  count = 0;
  fields = 0;
  address = new Float64Array(1024);
  size = new Float64Array(1024);
  contents = new Float64Array(1024);
  pointerSlots = new Uint32Array(1024);
  fieldStart = new Uint32Array(1025);
  fieldOffset = new Uint32Array(4096);
  fieldValue = new Float64Array(4096);
  oid: Int32Array | undefined;

  constructor(withOids: boolean) {
    if (withOids) this.oid = new Int32Array(1024);
  }

  push(address: number, size: number, contents: number, r: HeapDumpReader, oid: number): void {
    const i = this.count;
    if (i === this.address.length) {
      const cap = i * 2;
      this.address = grow(this.address, cap);
      this.size = grow(this.size, cap);
      this.contents = grow(this.contents, cap);
      this.pointerSlots = grow(this.pointerSlots, cap);
      this.fieldStart = grow(this.fieldStart, cap + 1);
      if (this.oid) this.oid = grow(this.oid, cap);
    }
    this.address[i] = address;
    this.size[i] = size;
    this.contents[i] = contents;
    this.pointerSlots[i] = r.fieldCount;
    if (this.oid) this.oid[i] = oid;
    let f = this.fields;
    if (f + r.fieldCount > this.fieldOffset.length) {
      const cap = Math.max(this.fieldOffset.length * 2, f + r.fieldCount);
      this.fieldOffset = grow(this.fieldOffset, cap);
      this.fieldValue = grow(this.fieldValue, cap);
    }
    const offs = r.fieldOffsets, vals = r.fieldValues;
    for (let k = 0; k < r.fieldCount; k++) {
      const v = vals[k]!;
      if (v === 0) continue;
      this.fieldOffset[f] = offs[k]!;
      this.fieldValue[f++] = v;
    }
    this.fields = f;
    this.count = i + 1;
    this.fieldStart[i + 1] = f;
  }

  finish(): DumpObjects {
    const n = this.count, f = this.fields;
    return {
      count: n,
      address: fit(this.address, n),
      size: fit(this.size, n),
      contents: fit(this.contents, n),
      pointerSlots: fit(this.pointerSlots, n),
      fieldStart: fit(this.fieldStart, n + 1),
      fieldOffset: fit(this.fieldOffset, f),
      fieldValue: fit(this.fieldValue, f),
      oid: this.oid && fit(this.oid, n),
    };
  }
}

/**
 * The first `n` entries; copied to an exact-size array when the doubling left more than an eighth
 * unused (up to half of a 100-MB column), so that the index keeps only what it uses.
 */
function fit<T extends Float64Array | Uint32Array | Int32Array>(a: T, n: number): T {
  if (a.length - n <= a.length / 8) return a.subarray(0, n) as T;
  return a.slice(0, n) as T;
}

function grow<T extends Float64Array | Uint32Array | Int32Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}
