// Streaming reader of Go heap dumps ("go1.7 heap dump", runtime/debug.WriteHeapDump): one record at
// a time, in file order, through a bounded window over the file.
//
// The record layouts are runtime/heapdump.go's (Go 1.7 to at least 1.19; the wiki's heapdump15-17
// notes describe the same). Contents of objects, frames and segments are not copied: a record
// carries their file range, and only the words its field list names are read. O(file size) time;
// memory is the window plus the largest field list.

import { EXIT, HeapscopeError } from "../errors.ts";
import {
  type DumpRecord,
  type DumpSource,
  type FileRange,
  type MemProfFrame,
  MEMSTATS_FIELDS,
  MEMSTATS_PAUSES,
  type MemStatsRecord,
  type ParamsRecord,
  TAG,
} from "./types.ts";

/** The first bytes of every dump the reader accepts (Go 1.5 and 1.6 dumps differ only here). */
export const HEADERS = ["go1.7 heap dump\n", "go1.6 heap dump\n", "go1.5 heap dump\n"];
const HEADER_LENGTH = 16;

/**
 * Window over a file source. 4 MiB: every object of a Go size class (at most 32 KiB) and its field
 * list fit many times over, so a large object is the only reason to read a word out of the window;
 * the cost is fixed whatever the dump's size.
 */
export const DEFAULT_WINDOW = 4 << 20;
/**
 * Longest string a record may hold: names of functions, types, files and wait reasons are at most
 * a few KiB; a larger length is damage, not data, and would otherwise allocate it.
 */
const MAX_STRING = 1 << 20;
/** A stack trace of a memory-profile record: Go records at most 32 frames (runtime.maxStack). */
const MAX_MEMPROF_FRAMES = 1024;
/** Warnings kept per kind of problem: enough to see a pattern, bounded on a damaged file. */
const MAX_WARNINGS = 20;
const TWO32 = 4294967296;

const FIELD_EOL = 0;
const FIELD_PTR = 1;
// Dumps before Go 1.5 could mark interface words; a reader still accepts the kinds (as pointers).
const FIELD_IFACE = 2;
const FIELD_EFACE = 3;

/** A dump that cannot be read: what, where, and a hint. Exit status 2 (an input file error). */
export class HeapDumpError extends HeapscopeError {
  constructor(message: string, hints: string[]) {
    super(message, hints, EXIT.usage);
    this.name = "HeapDumpError";
  }
}

export interface ReaderOptions {
  /** File name for messages. */
  name?: string;
  /** Window size for a file source (bytes). */
  window?: number;
}

const TAG_NAMES = Object.fromEntries(Object.entries(TAG).map(([k, v]) => [v, k]));

/**
 * Reads records one by one. After `next()` returns an object, stack frame or segment, its pointer
 * fields are in `fieldOffsets`/`fieldValues` (`fieldCount` of them, nil ones included) until the
 * next call; `next(true)` also copies them into the record.
 */
export class HeapDumpReader {
  readonly size: number;
  readonly name: string;
  readonly header: string;
  ptrSize = 8;
  bigEndian = false;
  fieldCount = 0;
  fieldOffsets = new Uint32Array(256);
  fieldValues = new Float64Array(256);
  /** Fields dropped because they lie outside their record (a damaged or unusual dump). */
  droppedFields = 0;
  warnings: string[] = [];
  #read: ((offset: number, into: Uint8Array) => number) | undefined;
  #buf: Uint8Array;
  #bufStart = 0;
  #bufEnd = 0;
  #pos = 0;
  #mark = 0;
  #done = false;
  #decoder = new TextDecoder();
  /**
   * Read-ahead for the words of an object larger than the window. 64 KiB: a few thousand fields per
   * read, small beside the window.
   */
  #side = new Uint8Array(64 << 10);
  #sideStart = 0;
  #sideEnd = 0;

  constructor(source: DumpSource, opts: ReaderOptions = {}) {
    this.name = opts.name ?? "(bytes)";
    if (source instanceof Uint8Array) {
      this.size = source.length;
      this.#buf = source;
      this.#bufEnd = source.length;
    } else {
      this.size = source.size;
      this.#read = (o, into) => source.read(o, into);
      this.#buf = new Uint8Array(Math.max(opts.window ?? DEFAULT_WINDOW, 64));
    }
    this.#ensure(Math.min(HEADER_LENGTH, this.size));
    const head = this.#decoder.decode(this.#at(0, Math.min(HEADER_LENGTH, this.size)));
    if (!HEADERS.includes(head)) {
      throw this.#error(
        `not a Go heap dump (it starts ${JSON.stringify(head.slice(0, 16))})`,
        0,
        "Write one with runtime/debug.WriteHeapDump(f.Fd()) in the Go program (see --help)",
      );
    }
    this.header = head.trim();
    this.#pos = HEADER_LENGTH;
  }

  /** File offset of the next record. */
  get offset(): number {
    return this.#pos;
  }

  /** Next record in file order; undefined after the EOF record. */
  next(copyFields = false): DumpRecord | undefined {
    if (this.#done) return undefined;
    const offset = this.#mark = this.#pos;
    if (offset >= this.size) {
      throw this.#error("the file ends without an EOF record", offset, TRUNCATED_HINT);
    }
    const tag = this.#uvarint();
    const u = () => this.#uvarint();
    switch (tag) {
      case TAG.eof:
        this.#done = true;
        return { offset, kind: "eof" };
      case TAG.object: {
        const address = u();
        const contents = this.#range();
        this.#fields(contents, address, "object");
        return { offset, kind: "object", address, contents, ...this.#copy(copyFields) };
      }
      case TAG.otherRoot:
        return { offset, kind: "otherRoot", description: this.#string(), pointer: u() };
      case TAG.type:
        return {
          offset,
          kind: "type",
          address: u(),
          size: u(),
          name: this.#string(),
          indirect: u() !== 0,
        };
      case TAG.goroutine:
        return {
          offset,
          kind: "goroutine",
          address: u(),
          sp: u(),
          id: u(),
          gopc: u(),
          status: u(),
          system: u() !== 0,
          background: u() !== 0,
          waitSince: u(),
          waitReason: this.#string(),
          ctxt: u(),
          m: u(),
          topDefer: u(),
          topPanic: u(),
        };
      case TAG.stackFrame: {
        const address = u(), depth = u(), childSp = u();
        const contents = this.#range();
        const entryPc = u(), pc = u(), continuationPc = u();
        const fn = this.#string();
        this.#fields(contents, address, `frame of ${fn}`);
        return {
          offset,
          kind: "stackFrame",
          address,
          depth,
          childSp,
          contents,
          entryPc,
          pc,
          continuationPc,
          function: fn,
          ...this.#copy(copyFields),
        };
      }
      case TAG.params: {
        const p: ParamsRecord = {
          kind: "params",
          bigEndian: u() !== 0,
          ptrSize: u(),
          heapStart: u(),
          heapEnd: u(),
          arch: this.#string(),
          goVersion: this.#string(),
          ncpu: u(),
        };
        if (p.ptrSize !== 4 && p.ptrSize !== 8) {
          throw this.#error(
            `pointer size ${p.ptrSize} in the params record`,
            offset,
            "Only 4- and 8-byte pointers exist; the file is damaged",
          );
        }
        this.ptrSize = p.ptrSize;
        this.bigEndian = p.bigEndian;
        return { offset, ...p };
      }
      case TAG.finalizer:
      case TAG.queuedFinalizer:
        return {
          offset,
          kind: tag === TAG.finalizer ? "finalizer" : "queuedFinalizer",
          object: u(),
          funcVal: u(),
          entryPc: u(),
          argType: u(),
          objectType: u(),
        };
      case TAG.itab:
        return { offset, kind: "itab", address: u(), type: u() };
      case TAG.osThread:
        return { offset, kind: "osThread", address: u(), goId: u(), osId: u() };
      case TAG.memStats: {
        const values = {} as MemStatsRecord["values"];
        for (const f of MEMSTATS_FIELDS) values[f] = u();
        const pauseNs: number[] = [];
        for (let i = 0; i < MEMSTATS_PAUSES; i++) pauseNs.push(u());
        return { offset, kind: "memStats", values, pauseNs, numGC: u() };
      }
      case TAG.data:
      case TAG.bss: {
        const kind = tag === TAG.data ? "data" : "bss";
        const address = u();
        const contents = this.#range();
        this.#fields(contents, address, `${kind} segment`);
        return { offset, kind, address, contents, ...this.#copy(copyFields) };
      }
      case TAG.defer:
        return {
          offset,
          kind: "defer",
          address: u(),
          goroutine: u(),
          sp: u(),
          pc: u(),
          funcVal: u(),
          entryPc: u(),
          next: u(),
        };
      case TAG.panic: {
        const address = u(), goroutine = u(), argType = u(), argData = u();
        u(); // was the panic's defer record; Go writes 0 since 1.5
        return { offset, kind: "panic", address, goroutine, argType, argData, next: u() };
      }
      case TAG.memProf: {
        const bucket = u(), size = u(), n = u();
        if (n > MAX_MEMPROF_FRAMES) {
          throw this.#error(`memory profile record with ${n} frames`, offset, DAMAGED_HINT);
        }
        const frames: MemProfFrame[] = [];
        for (let i = 0; i < n; i++) {
          frames.push({ function: this.#string(), file: this.#string(), line: u() });
        }
        return { offset, kind: "memProf", bucket, size, frames, allocs: u(), frees: u() };
      }
      case TAG.allocSample:
        return { offset, kind: "allocSample", address: u(), bucket: u() };
      default:
        throw this.#error(
          `unknown record tag ${tag}`,
          offset,
          "Known tags are 0..17 (runtime/heapdump.go); the file is damaged or from a newer Go",
        );
    }
  }

  /** The bytes of a file range (e.g. an object's contents), at most `max` of them. */
  bytes(range: FileRange, max = range.length): Uint8Array {
    const n = Math.max(0, Math.min(max, range.length, this.size - range.offset));
    if (n === 0) return new Uint8Array(0);
    if (range.offset >= this.#bufStart && range.offset + n <= this.#bufEnd) {
      return this.#at(range.offset, n).slice();
    }
    if (!this.#read) return this.#buf.slice(range.offset, range.offset + n);
    const out = new Uint8Array(n);
    this.#fill(range.offset, out);
    return out;
  }

  /** Pointer-sized word at a file offset, in the dump's byte order. */
  wordAt(fileOffset: number): number {
    const n = this.ptrSize;
    let b: Uint8Array, at: number;
    if (fileOffset >= this.#bufStart && fileOffset + n <= this.#bufEnd) {
      b = this.#buf;
      at = fileOffset - this.#bufStart;
    } else if (fileOffset >= this.#sideStart && fileOffset + n <= this.#sideEnd) {
      b = this.#side;
      at = fileOffset - this.#sideStart;
    } else {
      // A word of an object larger than the window: its fields come in ascending order, so read
      // ahead from here rather than one word at a time.
      const len = Math.min(this.#side.length, this.size - fileOffset);
      if (len < n) {
        throw this.#error(
          `a pointer word at ${fileOffset} is past the end`,
          this.#mark,
          TRUNCATED_HINT,
        );
      }
      this.#fill(fileOffset, this.#side.subarray(0, len));
      this.#sideStart = fileOffset;
      this.#sideEnd = fileOffset + len;
      b = this.#side;
      at = 0;
    }
    if (n === 4) {
      return this.bigEndian
        ? ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
        : (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    }
    let lo: number, hi: number;
    if (this.bigEndian) {
      hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
      lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
    } else {
      lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
      hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
    }
    return hi * TWO32 + lo;
  }

  #copy(copyFields: boolean): { offsets: number[]; values: number[] } {
    if (!copyFields) return { offsets: EMPTY, values: EMPTY };
    return {
      offsets: Array.from(this.fieldOffsets.subarray(0, this.fieldCount)),
      values: Array.from(this.fieldValues.subarray(0, this.fieldCount)),
    };
  }

  /** A length-prefixed memory range: skipped, its place kept. */
  #range(): FileRange {
    const length = this.#uvarint();
    const offset = this.#pos;
    if (length > this.size - offset) {
      throw this.#error(
        `a ${length}-byte memory range runs past the end of the file (${this.size} bytes)`,
        this.#mark,
        TRUNCATED_HINT,
      );
    }
    this.#pos = offset + length;
    return { offset, length };
  }

  /** A field list for `contents`; reads the pointer word of each field. */
  #fields(contents: FileRange, address: number, what: string): void {
    let n = 0;
    const ptr = this.ptrSize;
    for (;;) {
      const kind = this.#uvarint();
      if (kind === FIELD_EOL) break;
      if (kind !== FIELD_PTR && kind !== FIELD_IFACE && kind !== FIELD_EFACE) {
        throw this.#error(
          `field kind ${kind} in the ${what} at 0x${hex(address)}`,
          this.#mark,
          DAMAGED_HINT,
        );
      }
      const off = this.#uvarint();
      if (off + ptr > contents.length) {
        this.droppedFields++;
        if (this.droppedFields <= MAX_WARNINGS) {
          this.warnings.push(
            `pointer field at +0x${hex(off)} lies outside the ${contents.length}-byte ${what} ` +
              `at 0x${hex(address)} (record at offset ${this.#mark}): ignored`,
          );
        }
        continue;
      }
      if (n === this.fieldOffsets.length) {
        // Field lists are as long as the record's words at most, and those are in the file.
        const offsets = new Uint32Array(n * 2), values = new Float64Array(n * 2);
        offsets.set(this.fieldOffsets);
        values.set(this.fieldValues);
        this.fieldOffsets = offsets;
        this.fieldValues = values;
      }
      this.fieldOffsets[n] = off;
      this.fieldValues[n] = this.wordAt(contents.offset + off);
      n++;
    }
    this.fieldCount = n;
  }

  #string(): string {
    const n = this.#uvarint();
    if (n > MAX_STRING) {
      throw this.#error(`a string of ${n} bytes`, this.#mark, DAMAGED_HINT);
    }
    this.#ensure(n);
    const s = this.#decoder.decode(this.#at(this.#pos, n));
    this.#pos += n;
    return s;
  }

  #uvarint(): number {
    if (this.#pos + 10 > this.#bufEnd) {
      if (this.#pos >= this.size) {
        throw this.#error("the file ends inside a record", this.#mark, TRUNCATED_HINT);
      }
      this.#ensure(Math.min(10, this.size - this.#pos));
    }
    const buf = this.#buf;
    let p = this.#pos - this.#bufStart;
    const end = this.#bufEnd - this.#bufStart;
    let b = buf[p++]!;
    if (b < 0x80) {
      this.#pos++;
      return b;
    }
    let v = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (p >= end) throw this.#error("the file ends inside a varint", this.#mark, TRUNCATED_HINT);
      b = buf[p++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.#pos = p + this.#bufStart;
        return v;
      }
      mul *= 128;
    }
    throw this.#error("a varint longer than 10 bytes", this.#mark, DAMAGED_HINT);
  }

  #at(offset: number, n: number): Uint8Array {
    const o = offset - this.#bufStart;
    return this.#buf.subarray(o, o + n);
  }

  /** Makes [pos, pos + n) readable in the window, keeping the current record in it when it fits. */
  #ensure(n: number): void {
    if (this.#pos + n <= this.#bufEnd) return;
    if (this.#pos + n > this.size) {
      throw this.#error("the file ends inside a record", this.#mark, TRUNCATED_HINT);
    }
    if (!this.#read) return; // a Uint8Array source is all in the window
    if (n > this.#buf.length) {
      throw this.#error(
        `a field of ${n} bytes is larger than the read window`,
        this.#mark,
        DAMAGED_HINT,
      );
    }
    const start = this.#pos - this.#mark + n <= this.#buf.length ? this.#mark : this.#pos;
    const len = Math.min(this.#buf.length, this.size - start);
    this.#fill(start, this.#buf.subarray(0, len));
    this.#bufStart = start;
    this.#bufEnd = start + len;
  }

  #fill(offset: number, into: Uint8Array): void {
    if (!this.#read) {
      into.set(this.#buf.subarray(offset, offset + into.length));
      return;
    }
    let got = 0;
    while (got < into.length) {
      const n = this.#read(offset + got, into.subarray(got));
      if (n <= 0) {
        throw this.#error(
          `the file ends at ${offset + got}, before ${offset + into.length}`,
          this.#mark,
          TRUNCATED_HINT,
        );
      }
      got += n;
    }
  }

  #error(what: string, offset: number, hint: string): HeapDumpError {
    return new HeapDumpError(
      `Cannot read Go heap dump ${this.name}: ${what} (record at offset ${offset})`,
      [hint],
    );
  }
}

/** The name of a record tag ("object", "stackFrame"), or the number as text. */
export function tagName(tag: number): string {
  return TAG_NAMES[tag] ?? String(tag);
}

const EMPTY: number[] = [];
const TRUNCATED_HINT =
  "The dump is incomplete: was it copied while the program was still writing it? Write it again";
const DAMAGED_HINT = "The file is damaged or is not a Go heap dump; write the dump again";

function hex(n: number): string {
  return n.toString(16);
}
