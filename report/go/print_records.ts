// printRecords(): every record of a Go heap dump as a line (and its pointers), in file order, in
// heapspurs' --print wording: "Object @ 0xc000016000 with 4 pointers in 64 bytes",
// "  Pointer[0]@0xc000016000 = 0x7ff7bfeff450". Streams: O(1) memory besides the reader's window.

import type { HeapDumpReader } from "../../analysis/go/heapdump_reader.ts";
import { type OidTable, wordKey } from "../../analysis/go/oid_file.ts";
import type { ProgramSymbols } from "../../analysis/go/program_symbols.ts";
import { type DumpRecord, MEMSTATS_FIELDS } from "../../analysis/go/types.ts";

export interface PrintOptions {
  /** --oid: objects whose first word is an id are printed under its name. */
  oids?: OidTable;
  /** --program: data/bss words and pointers into them are named after their globals. */
  symbols?: ProgramSymbols;
  /** A name for any pointer value (e.g. from a built graph: the id name of the object). */
  pointerName?: (value: number) => string | undefined;
  /** --find: print only objects whose name matches (and the end-of-file line). */
  find?: RegExp;
}

const hex = (n: number) => "0x" + n.toString(16);
const STATUS: Record<number, string> = { 0: "Idle", 1: "Runnable", 3: "Syscall", 4: "Waiting" };

/** Lines of every record `r` has still to read. */
export function* printRecords(r: HeapDumpReader, opts: PrintOptions = {}): Generator<string> {
  const named = (v: number) => {
    const n = opts.pointerName?.(v) ?? opts.symbols?.nameAt(v);
    return n === undefined ? hex(v) : `${hex(v)} (${n})`;
  };
  for (let rec = r.next(); rec !== undefined; rec = r.next()) {
    if (opts.find && rec.kind !== "eof") {
      if (rec.kind !== "object") continue;
      const name = objectName(r, rec, opts.oids);
      if (name === undefined || !opts.find.test(name)) continue;
    }
    yield recordLine(r, rec, opts.oids);
    if (
      rec.kind === "object" || rec.kind === "stackFrame" || rec.kind === "data" ||
      rec.kind === "bss"
    ) {
      const segment = rec.kind === "data" || rec.kind === "bss";
      for (let i = 0; i < r.fieldCount; i++) {
        const v = r.fieldValues[i]!;
        if (v === 0) continue;
        const at = rec.address + r.fieldOffsets[i]!;
        const sym = segment ? opts.symbols?.nameAt(at) : undefined;
        yield `  Pointer[${i}]@${hex(at)}${sym ? ` (${sym})` : ""} = ${named(v)}`;
      }
    }
    if (rec.kind === "memProf") {
      for (const f of rec.frames) yield `  ${f.function} (${f.file}:${f.line})`;
    }
  }
}

/** The object-id name of an object record, if any. */
function objectName(
  r: HeapDumpReader,
  rec: DumpRecord & { kind: "object" },
  oids: OidTable | undefined,
): string | undefined {
  if (!oids || rec.contents.length < 8) return undefined;
  const k = oids.byValue.get(wordKey(r.bytes(rec.contents, 8), 0, r.bigEndian));
  return k === undefined ? undefined : oids.names[k];
}

/** The first line of a record. */
export function recordLine(r: HeapDumpReader, rec: DumpRecord, oids?: OidTable): string {
  switch (rec.kind) {
    case "eof":
      return "End Of File";
    case "params":
      return `DumpParams: BigEndian=${rec.bigEndian}, PointerSize=${rec.ptrSize}, ` +
        `Heap=${hex(rec.heapStart)}-${hex(rec.heapEnd)}, Architecture=${rec.arch}, ` +
        `GoVersion=${rec.goVersion}, Cpus=${rec.ncpu}`;
    case "type":
      return `TypeDescriptor for '${rec.name}' @ ${
        hex(rec.address)
      }: Objects are ${rec.size} bytes`;
    case "itab":
      return `Itab @ ${hex(rec.address)}: ${hex(rec.type)}`;
    case "object":
      return `${objectName(r, rec, oids) ?? "Object"} @ ${hex(rec.address)} with ` +
        `${r.fieldCount} pointers in ${rec.contents.length} bytes`;
    case "otherRoot":
      return `OtherRoot @ ${hex(rec.pointer)}: ${rec.description}`;
    case "goroutine": {
      const status = STATUS[rec.status] ?? `Unknown status ${rec.status}`;
      const why = rec.status === 4 ? ` (${rec.waitReason})` : "";
      return `Goroutine[${rec.id}] @ ${hex(rec.address)}: ${status}${why}, Stack @ ${hex(rec.sp)}`;
    }
    case "stackFrame":
      return `StackFrame[${rec.depth}] @ ${hex(rec.address)}: ${rec.function} with ` +
        `${r.fieldCount} pointers in ${rec.contents.length} bytes; child = ${hex(rec.childSp)}`;
    case "data":
    case "bss":
      return `${rec.kind === "data" ? "DataSegment" : "BssSegment"} @ ${hex(rec.address)}-` +
        `${hex(rec.address + rec.contents.length)} with ${r.fieldCount} pointers`;
    case "finalizer":
    case "queuedFinalizer":
      return `${rec.kind === "finalizer" ? "RegisteredFinalizer" : "QueuedFinalizer"} @ ` +
        `${hex(rec.object)}: FuncVal: ${hex(rec.funcVal)}, Type: ${hex(rec.argType)}, ` +
        `Object Type: ${hex(rec.objectType)}`;
    case "osThread":
      return `OsThread @ ${hex(rec.address)}: GoId = ${rec.goId}; OsId = ${hex(rec.osId)}`;
    case "memStats":
      return `MemStats: {${MEMSTATS_FIELDS.map((f) => `${f}:${rec.values[f]}`).join(" ")} ` +
        `PauseNs:[${rec.pauseNs.join(" ")}] NumGC:${rec.numGC}}`;
    case "defer":
      return `DeferRecord @ ${hex(rec.address)}: Goroutine = ${hex(rec.goroutine)}, ` +
        `SP = ${hex(rec.sp)}, PC = ${hex(rec.pc)}, FuncVal = ${hex(rec.funcVal)}, ` +
        `Entry = ${hex(rec.entryPc)}, Next = ${hex(rec.next)}`;
    case "panic":
      return `PanicRecord @ ${hex(rec.address)}: Goroutine = ${hex(rec.goroutine)}, ` +
        `Arg = {${hex(rec.argType)}, ${hex(rec.argData)}}, Next = ${hex(rec.next)}`;
    case "memProf":
      return `AllocFreeProfileRecord ${hex(rec.bucket)}: Size = ${rec.size}, ` +
        `Allocs = ${rec.allocs}, Frees = ${rec.frees}, ${rec.frames.length} frames`;
    case "allocSample":
      return `AllocStackTraceSample @ ${hex(rec.address)}: Record = ${hex(rec.bucket)}`;
  }
}
