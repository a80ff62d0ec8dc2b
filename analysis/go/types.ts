// The types of the Go heap-dump layer: the byte source, every record of the "go1.7 heap dump"
// format (runtime/heapdump.go, Go 1.7 to at least 1.19), and the parsed, indexed dump.
//
// Addresses and varints are plain numbers: Go heap addresses are 48-bit; a varint above 2^53 (only
// counters such as memstats, or a damaged file) loses its low bits, which no analysis relies on.

/**
 * Random access to the dump's bytes: a Uint8Array (tests, fuzzing, small dumps) or a reader of a
 * file range that the command layer implements over an open file, so that a dump of a few GB is
 * read in windows and never held whole.
 */
export type DumpSource = Uint8Array | FileRangeReader;

export interface FileRangeReader {
  /** File size in bytes. */
  readonly size: number;
  /** Fills `into` from file offset `offset`; returns how many bytes it read (less at the end). */
  read(offset: number, into: Uint8Array): number;
}

/** A byte range of the dump file: object, frame and segment contents are kept as these. */
export interface FileRange {
  offset: number;
  length: number;
}

/** Record tags (runtime/heapdump.go tag* constants). */
export const TAG = {
  eof: 0,
  object: 1,
  otherRoot: 2,
  type: 3,
  goroutine: 4,
  stackFrame: 5,
  params: 6,
  finalizer: 7,
  itab: 8,
  osThread: 9,
  memStats: 10,
  queuedFinalizer: 11,
  data: 12,
  bss: 13,
  defer: 14,
  panic: 15,
  memProf: 16,
  allocSample: 17,
} as const;
export type RecordKind = keyof typeof TAG;
export const RECORD_KINDS: readonly RecordKind[] = Object.keys(TAG) as RecordKind[];

export interface ParamsRecord {
  kind: "params";
  bigEndian: boolean;
  ptrSize: number;
  /** Range of the heap arenas in use. */
  heapStart: number;
  heapEnd: number;
  arch: string;
  /** runtime.buildVersion ("go1.19.8"); heapspurs labels it GOEXPERIMENT, as the wiki once did. */
  goVersion: string;
  ncpu: number;
}

export interface TypeRecord {
  kind: "type";
  address: number;
  size: number;
  /** "main.Item" for named types, the type string ("*main.Item", "[]uint8") for the others. */
  name: string;
  /** An interface holding this type holds a pointer in its data word (to a T, or a *T itself). */
  indirect: boolean;
}

/** Pointer fields of a memory range: byte offsets and the pointer values found there. */
export interface Fields {
  offsets: number[];
  values: number[];
}

export interface ObjectRecord extends Fields {
  kind: "object";
  address: number;
  contents: FileRange;
}

export interface OtherRootRecord {
  kind: "otherRoot";
  description: string;
  pointer: number;
}

export interface GoroutineRecord {
  kind: "goroutine";
  /** Address of the g. */
  address: number;
  sp: number;
  id: number;
  /** PC of the go statement that created it. */
  gopc: number;
  /** runtime _G* status: 1 runnable, 3 syscall, 4 waiting. */
  status: number;
  system: boolean;
  background: boolean;
  waitSince: number;
  waitReason: string;
  ctxt: number;
  m: number;
  topDefer: number;
  topPanic: number;
}

export interface StackFrameRecord extends Fields {
  kind: "stackFrame";
  /** Lowest address of the frame (its sp). */
  address: number;
  depth: number;
  /** sp of the frame it called, 0 for the innermost. */
  childSp: number;
  contents: FileRange;
  entryPc: number;
  pc: number;
  continuationPc: number;
  function: string;
}

export interface SegmentRecord extends Fields {
  kind: "data" | "bss";
  address: number;
  contents: FileRange;
}

export interface FinalizerRecord {
  kind: "finalizer" | "queuedFinalizer";
  object: number;
  /** The FuncVal (closure) and its code. */
  funcVal: number;
  entryPc: number;
  /** Type of the finalizer's argument and of the object (*ptrtype). */
  argType: number;
  objectType: number;
}

export interface ItabRecord {
  kind: "itab";
  address: number;
  type: number;
}

export interface OsThreadRecord {
  kind: "osThread";
  /** Address of the m. */
  address: number;
  goId: number;
  osId: number;
}

/** runtime.MemStats in the dump's order (the exported struct's). */
export const MEMSTATS_FIELDS = [
  "Alloc",
  "TotalAlloc",
  "Sys",
  "Lookups",
  "Mallocs",
  "Frees",
  "HeapAlloc",
  "HeapSys",
  "HeapIdle",
  "HeapInuse",
  "HeapReleased",
  "HeapObjects",
  "StackInuse",
  "StackSys",
  "MSpanInuse",
  "MSpanSys",
  "MCacheInuse",
  "MCacheSys",
  "BuckHashSys",
  "GCSys",
  "OtherSys",
  "NextGC",
  "LastGC",
  "PauseTotalNs",
] as const;
/** MemStats.PauseNs is a ring of this many recent pauses. */
export const MEMSTATS_PAUSES = 256;

export interface MemStatsRecord {
  kind: "memStats";
  values: Record<typeof MEMSTATS_FIELDS[number], number>;
  pauseNs: number[];
  numGC: number;
}

export interface DeferRecord {
  kind: "defer";
  address: number;
  goroutine: number;
  sp: number;
  pc: number;
  funcVal: number;
  entryPc: number;
  next: number;
}

export interface PanicRecord {
  kind: "panic";
  address: number;
  goroutine: number;
  argType: number;
  argData: number;
  next: number;
}

export interface MemProfFrame {
  function: string;
  file: string;
  line: number;
}

export interface MemProfRecord {
  kind: "memProf";
  bucket: number;
  size: number;
  frames: MemProfFrame[];
  allocs: number;
  frees: number;
}

export interface AllocSampleRecord {
  kind: "allocSample";
  address: number;
  bucket: number;
}

export interface EofRecord {
  kind: "eof";
}

/** One record, with its offset in the file. */
export type DumpRecord =
  & { offset: number }
  & (
    | ParamsRecord
    | TypeRecord
    | ObjectRecord
    | OtherRootRecord
    | GoroutineRecord
    | StackFrameRecord
    | SegmentRecord
    | FinalizerRecord
    | ItabRecord
    | OsThreadRecord
    | MemStatsRecord
    | DeferRecord
    | PanicRecord
    | MemProfRecord
    | AllocSampleRecord
    | EofRecord
  );

/** A stack frame in the index: its goroutine (index into `goroutines`), fields as columns. */
export interface IndexedFrame extends Omit<StackFrameRecord, "offsets" | "values" | "kind"> {
  goroutine: number;
  fieldOffsets: Uint32Array;
  fieldValues: Float64Array;
}

export interface IndexedSegment extends Omit<SegmentRecord, "offsets" | "values"> {
  fieldOffsets: Uint32Array;
  fieldValues: Float64Array;
}

/**
 * Objects as columns in file order. Only non-zero pointer fields are kept (a nil pointer holds
 * nothing); `fieldStart[i]..fieldStart[i+1]` index `fieldOffset`/`fieldValue`.
 */
export interface DumpObjects {
  count: number;
  address: Float64Array;
  size: Float64Array;
  /** File offset of the contents. */
  contents: Float64Array;
  /** Pointer slots the dump declares for the object, nil ones included (heapspurs' count). */
  pointerSlots: Uint32Array;
  fieldStart: Uint32Array;
  fieldOffset: Uint32Array;
  fieldValue: Float64Array;
  /** Per object: index into `HeapDump.oidNames` when its first word is a known object id, else -1. */
  oid?: Int32Array;
}

/** A parsed dump: records kept as columns or small arrays, contents as file ranges. */
export interface HeapDump {
  fileSize: number;
  params?: ParamsRecord;
  types: Map<number, TypeRecord>;
  itabs: Map<number, number>;
  objects: DumpObjects;
  otherRoots: OtherRootRecord[];
  goroutines: GoroutineRecord[];
  frames: IndexedFrame[];
  segments: IndexedSegment[];
  finalizers: FinalizerRecord[];
  queuedFinalizers: FinalizerRecord[];
  osThreads: OsThreadRecord[];
  memStats?: MemStatsRecord;
  defers: DeferRecord[];
  panics: PanicRecord[];
  memProf: MemProfRecord[];
  allocSamples: AllocSampleRecord[];
  /** Names of the object-id file, in its order. */
  oidNames: string[];
  /** How many records of each kind the file holds. */
  recordCounts: Record<RecordKind, number>;
  warnings: string[];
}
