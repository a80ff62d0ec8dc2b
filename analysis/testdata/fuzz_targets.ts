// Test helper: the fuzz targets (glibc walker, analyze(), ELF, Mach-O, dyld list, thread states,
// leaks.json reader), their seed inputs and the checks a mutated input's outcome must pass.
//
// `runInput(target, seed)` is deterministic: the same seed rebuilds the same mutated input. It
// returns "ok" (parsed, invariants hold), "rejected" (a deliberate, named error) or a failure.

import { analyze } from "../analyze.ts";
import { analyzeHeap } from "../analyze.ts";
import { decodeDyldImages } from "../dyld_images.ts";
import { ElfFile } from "../elf.ts";
import { enumerateGlibc } from "../glibc/mod.ts";
import {
  buildFixture,
  HEAP,
  LIBC_RELRO,
  MAIN_ARENA,
  MMAP,
  MP,
  STACK2,
  TARENA,
  THEAP,
} from "../glibc/testdata/fake_heap.ts";
import { machOSlide, machOWritableRanges, parseMachOFile } from "../macho.ts";
import { decodeMachThreadState, decodeMachVectorState } from "../mach_thread_state.ts";
import { MemoryImage } from "../memory.ts";
import type { Analysis, HeapEnumeration, Snapshot } from "../types.ts";
import { toLeaksFile } from "../../report/leaks_json.ts";
import { LeaksFileError, parseLeaksText } from "../../report/read_leaks.ts";
import { type Hints, mutateBytes, mutateJsonText, mutateSnapshot, Rng } from "./mutate.ts";
import { buildSynthetic } from "./synthetic.ts";

export const TARGETS = [
  "glibc",
  "analyze",
  "elf",
  "macho",
  "dyld",
  "thread",
  "leaks",
] as const;
export type Target = typeof TARGETS[number];

export type OutcomeKind = "ok" | "rejected" | "crash" | "invariant";

export interface Outcome {
  kind: OutcomeKind;
  /** Error or broken invariant, for failures; the deliberate message for "rejected" (trimmed). */
  detail?: string;
  /** What the mutator did, for replaying a failure by hand. */
  ops?: string[];
}

const root = new URL("../../", import.meta.url).pathname;
export const ELF_FILES = ["/bin/true", "/usr/lib/x86_64-linux-gnu/libc.so.6"];
export const MACHO_FILES = [
  `${root}build/macos-arm64/libheapscope.dylib`,
  `${root}build/macos-x86_64/libheapscope.dylib`,
];

/** Messages of errors the engine throws on its own: never deliberate. */
const ENGINE_ERROR =
  /outside the bounds|Invalid (typed )?array length|Maximum call stack|allocation failed|Invalid string length|is not a function|Cannot read properties|is not iterable|out of memory/i;

/** Per target, the deliberate errors a hostile input may end in. */
const DELIBERATE: Record<Target, RegExp> = {
  glibc: /^Cannot enumerate allocations of process \d+: /,
  analyze: /^Cannot enumerate (the )?allocations of process \d+: /,
  elf: /^(Not an ELF file|Unsupported ELF|Bad ELF|Truncated ELF file)/,
  macho:
    /^(Not a Mach-O file|Not a 64-bit Mach-O file|Truncated Mach-O|Truncated fat header|Load command \d+|Segment [^]*: sections overflow|Fat arch \d+)/,
  dyld: /^Cannot decode dyld_(all_image_infos|image_info)/,
  thread: /^Cannot decode /,
  leaks: /^Cannot read leaks file /,
};

/** "rejected" when `err` is a deliberate error of `target`, else "crash". */
export function classifyError(target: Target, err: unknown): Outcome {
  if (!(err instanceof Error)) return { kind: "crash", detail: `non-Error thrown: ${String(err)}` };
  const first = `${err.name}: ${err.message}`.split("\n")[0]!;
  const where = (err.stack ?? "").split("\n").slice(1, 4).map((l) => l.trim()).join(" | ");
  if (
    err instanceof TypeError || err instanceof ReferenceError || err instanceof SyntaxError ||
    ENGINE_ERROR.test(err.message) || !DELIBERATE[target].test(err.message) ||
    (target === "leaks" && !(err instanceof LeaksFileError))
  ) {
    return { kind: "crash", detail: `${first} at ${where}` };
  }
  return { kind: "rejected", detail: first.slice(0, 160) };
}

// ---- Base inputs (built once per process) ----

/** The fixture snapshot and where its allocator structures are. */
export interface HeapBase {
  snapshot: Snapshot;
  hints: Hints;
}

let heapBase: HeapBase | undefined;
export function getHeapBase(): HeapBase {
  if (heapBase) return heapBase;
  const { process, c } = buildFixture();
  const snapshot = process.snapshot();
  const chunks = [...Object.values(c), MMAP + 0x2000];
  const tp1 = MMAP + 0x24000, tp2 = STACK2 + 0x100000 - 0x940;
  const pointers: number[] = [LIBC_RELRO + 0xd78, LIBC_RELRO + 0xd70, tp1 - 0x50, tp2 - 0x50];
  pointers.push(tp1, tp1 + 8, tp2, tp2 + 8, THEAP, THEAP + 8, THEAP + 0x10, THEAP + 0x18);
  for (const a of [MAIN_ARENA, TARENA]) {
    pointers.push(a + 0x60, a + 0x68, a + 0x70, a + 0x78, a + 0x870, a + 0x878, a + 0x888);
    for (let i = 0; i < 10; i++) pointers.push(a + 0x10 + 8 * i);
  }
  for (const t of [c.tcache!, c.ttcache!]) {
    for (let i = 0; i < 4; i++) pointers.push(t + 16 + 0x80 + 8 * i, t + 16 + 2 * i);
  }
  for (const k of ["t1", "t2", "tt", "fast", "unsorted"]) pointers.push(c[k]! + 16, c[k]! + 24);
  pointers.push(MP + 0x10, MP + 0x3c, MP + 0x50, MP + 0x60);
  const hot = [
    { start: MAIN_ARENA, end: MAIN_ARENA + 0x898 },
    { start: MP, end: MP + 0x88 },
    { start: HEAP, end: c.top! + 0x20 },
    { start: THEAP, end: c.ttop! + 0x20 },
    { start: MMAP, end: MMAP + 0x20 },
    { start: MMAP + 0x2000, end: MMAP + 0x3020 },
    { start: tp1 - 0x100, end: tp1 + 0x10 },
    { start: tp2 - 0x100, end: tp2 + 0x10 },
  ];
  const t1 = c.t1! + 16, t2 = c.t2! + 16, tt = c.tt! + 16;
  const links = [
    { at: t1, targets: [t1, t2], safeLinked: true }, // tcache chains: next -> user pointer
    { at: t2, targets: [t2, t1, c.a! + 16], safeLinked: true },
    { at: tt, targets: [tt, c.ta! + 16], safeLinked: true },
    { at: c.fast! + 16, targets: [c.fast!, c.b!, c.d!], safeLinked: true }, // fastbin fd -> header
    { at: c.tcache! + 16 + 0x80, targets: [t1, t2, c.a! + 16], safeLinked: false }, // heads
    { at: c.ttcache! + 16 + 0x88, targets: [tt, c.ta! + 16], safeLinked: false },
    { at: MAIN_ARENA + 0x10 + 8 * 5, targets: [c.fast!, c.d!], safeLinked: false },
    { at: c.unsorted! + 16, targets: [c.unsorted!, MAIN_ARENA + 0x60], safeLinked: false },
    { at: MAIN_ARENA + 0x870, targets: [TARENA, MAIN_ARENA + 0x10, THEAP], safeLinked: false },
    { at: TARENA + 0x870, targets: [TARENA, MAIN_ARENA, THEAP + 0x30], safeLinked: false },
    { at: MAIN_ARENA + 0x60, targets: [c.d!, THEAP + 0x8d0, MMAP + 0x10], safeLinked: false },
    { at: TARENA + 0x60, targets: [c.tb!, THEAP, c.top!], safeLinked: false },
    { at: THEAP + 8, targets: [THEAP, THEAP + 0x4000000], safeLinked: false }, // heap_info.prev
  ];
  heapBase = { snapshot, hints: { chunks, pointers, hot, links } };
  return heapBase;
}

let fileCache: Map<string, Uint8Array> | undefined;
function file(path: string): Uint8Array {
  fileCache ??= new Map();
  let b = fileCache.get(path);
  if (!b) {
    b = Deno.readFileSync(path);
    fileCache.set(path, b);
  }
  return b;
}

/** A fat (universal) file holding every thin Mach-O given, 16 KiB aligned, as lipo writes it. */
function fatOf(thin: Uint8Array[]): Uint8Array {
  const align = 14;
  let off = 1 << align;
  const placed = thin.map((b) => {
    const at = off;
    off = Math.ceil((at + b.length) / (1 << align)) * (1 << align);
    return at;
  });
  const out = new Uint8Array(off);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xcafebabe, false);
  v.setUint32(4, thin.length, false);
  thin.forEach((b, i) => {
    const tv = new DataView(b.buffer, b.byteOffset, b.length);
    const o = 8 + 20 * i;
    v.setUint32(o, tv.getUint32(4, true), false);
    v.setUint32(o + 4, tv.getUint32(8, true), false);
    v.setUint32(o + 8, placed[i]!, false);
    v.setUint32(o + 12, b.length, false);
    v.setUint32(o + 16, align, false);
    out.set(b, placed[i]!);
  });
  return out;
}

/** Header + load commands of a thin Mach-O: where the parser looks. */
function machOHot(b: Uint8Array, at = 0): { start: number; end: number }[] {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  return [{ start: at, end: at + 32 + v.getUint32(at + 20, true) }];
}

let machoBases: { bytes: Uint8Array; hot: { start: number; end: number }[] }[] | undefined;
function getMachOBases() {
  if (machoBases) return machoBases;
  const thin = MACHO_FILES.map(file);
  const fat = fatOf(thin);
  const v = new DataView(fat.buffer);
  machoBases = [
    ...thin.map((bytes) => ({ bytes, hot: machOHot(bytes) })),
    {
      bytes: fat,
      hot: [
        { start: 0, end: 48 },
        ...machOHot(fat, v.getUint32(16, false)),
        ...machOHot(fat, v.getUint32(36, false)),
      ],
    },
  ];
  return machoBases;
}

/** ELF header, program headers and section headers: where the parser looks. */
function elfHot(b: Uint8Array): { start: number; end: number }[] {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const phoff = Number(v.getBigUint64(32, true)), shoff = Number(v.getBigUint64(40, true));
  return [
    { start: 0, end: 64 },
    { start: phoff, end: phoff + v.getUint16(54, true) * v.getUint16(56, true) },
    { start: shoff, end: shoff + v.getUint16(58, true) * v.getUint16(60, true) },
  ];
}

let leaksBases: string[] | undefined;
function getLeaksBases(): string[] {
  if (leaksBases) return leaksBases;
  const s = buildSynthetic();
  const fixture = analyze(getHeapBase().snapshot);
  leaksBases = [analyzeHeap(s.snapshot, s.enumeration), fixture].map((a) =>
    JSON.stringify(toLeaksFile(a))
  );
  return leaksBases;
}

/** dyld_all_image_infos (version 17) at INFOS with three images, as dyld_images_test lays it out. */
const INFOS = 0x1_f000_0000, ARRAY = 0x6000_0000_1000, STRINGS = 0x1_0000_8000;
let dyldBase: { snapshot: Snapshot; hints: Hints } | undefined;
function getDyldBase() {
  if (dyldBase) return dyldBase;
  const infos = new Uint8Array(232), arr = new Uint8Array(3 * 24), strs = new Uint8Array(4096);
  const iv = new DataView(infos.buffer), av = new DataView(arr.buffer);
  iv.setUint32(0, 17, true);
  iv.setUint32(4, 3, true);
  iv.setBigUint64(8, BigInt(ARRAY) | 0x2a0e_8000_0000_0000n, true);
  iv.setBigUint64(32, 0x1_8000_0000n, true);
  iv.setBigUint64(176, 0x1_8b4c_0000n, true);
  iv.setBigUint64(192, BigInt(STRINGS + 100), true);
  for (let i = 0; i < 3; i++) {
    av.setBigUint64(i * 24, BigInt(0x1_0000_0000 + i * 0x10_0000), true);
    av.setBigUint64(i * 24 + 8, BigInt(STRINGS + i * 32), true);
    strs.set(new TextEncoder().encode(`/usr/lib/lib${i}.dylib`), i * 32);
  }
  strs.set(new TextEncoder().encode("/usr/lib/dyld"), 100);
  const memory = [
    { start: STRINGS, bytes: strs },
    { start: INFOS, bytes: infos },
    { start: ARRAY, bytes: arr },
  ];
  const snapshot: Snapshot = {
    pid: 1,
    command: "dyld",
    platform: "darwin",
    arch: "aarch64",
    pageSize: 16384,
    capturedAt: new Date(0).toISOString(),
    pauseMs: 0,
    regions: [],
    memory,
    threads: [],
    images: [],
    warnings: [],
  };
  const pointers = [INFOS, INFOS + 4, INFOS + 8, INFOS + 176, INFOS + 192];
  for (let i = 0; i < 3; i++) pointers.push(ARRAY + i * 24, ARRAY + i * 24 + 8);
  const hot = [{ start: INFOS, end: INFOS + 232 }, { start: ARRAY, end: ARRAY + 72 }];
  dyldBase = { snapshot, hints: { chunks: [], pointers, hot } };
  return dyldBase;
}

// ---- Invariants ----

function copiedBytes(s: Snapshot): number {
  return s.memory.reduce((n, m) => n + m.bytes.length, 0);
}

/** What every enumeration of a hostile snapshot must still satisfy; a message when it does not. */
export function checkEnumeration(s: Snapshot, heap: HeapEnumeration): string | undefined {
  const slots = Math.floor(copiedBytes(s) / 16);
  if (heap.allocations.length > slots) {
    return `${heap.allocations.length} allocations from ${slots} 16-byte slots of copied memory`;
  }
  if (heap.warnings.length > slots + 64) return `${heap.warnings.length} warnings`;
  let prevEnd = -Infinity;
  for (const a of heap.allocations) {
    if (!Number.isSafeInteger(a.address) || !Number.isSafeInteger(a.size) || a.size < 0) {
      return `allocation with address ${a.address} size ${a.size}`;
    }
    if (a.address < prevEnd) return `allocation 0x${a.address.toString(16)} overlaps or unsorted`;
    prevEnd = a.address + a.size;
    const r = s.regions.find((r) => a.address >= r.start && a.address < r.end);
    if (r === undefined || a.address + a.size > r.end) {
      return `allocation 0x${a.address.toString(16)}+${a.size} is outside every region`;
    }
  }
  for (const w of heap.warnings) {
    if (/corrupt/i.test(w) && !/0x[0-9a-f]+/.test(w)) {
      return `corruption warning without an address: ${w}`;
    }
  }
  return undefined;
}

function checkAnalysis(s: Snapshot, a: Analysis): string | undefined {
  const bad = checkEnumeration(s, a.heap);
  if (bad) return bad;
  const n = a.heap.allocations.length;
  if (a.status.length !== n || a.leak.length !== n || a.via.length !== n) return "per-node arrays";
  if (a.edgeSource.length !== a.edgeTarget.length) return "edge arrays differ in length";
  if (a.edgeSource.length > copiedBytes(s) / 8) return `${a.edgeSource.length} edges`;
  for (let e = 0; e < a.edgeSource.length; e++) {
    if (a.edgeSource[e]! >= n || a.edgeTarget[e]! >= n) return `edge ${e} names a missing node`;
  }
  for (const c of a.cycles) if (c.some((v) => v >= n || v < 0)) return "cycle names a missing node";
  for (const r of a.roots) if (r.target >= n || r.target < 0) return "root names a missing node";
  return undefined;
}

// ---- Running one input ----

/** Builds the mutated input of `seed` for `target`, runs the parser on it and checks the result. */
export function runInput(target: Target, seed: number): Outcome {
  const rng = new Rng(seed);
  let ops: string[] = [];
  try {
    const problem = runTarget(target, rng, (o) => (ops = o));
    return problem === undefined
      ? { kind: "ok", ops }
      : { kind: "invariant", detail: problem, ops };
  } catch (err) {
    return { ...classifyError(target, err), ops };
  }
}

function runTarget(target: Target, rng: Rng, record: (ops: string[]) => void): string | undefined {
  switch (target) {
    case "glibc":
    case "analyze": {
      const base = getHeapBase();
      const m = mutateSnapshot(rng, base.snapshot, base.hints, 6);
      record(m.ops);
      if (target === "glibc") return checkEnumeration(m.value, enumerateGlibc(m.value));
      return checkAnalysis(m.value, analyze(m.value));
    }
    case "elf": {
      const base = file(rng.pick(ELF_FILES));
      const m = mutateBytes(rng, base, elfHot(base), 4);
      record(m.ops);
      const elf = new ElfFile(m.value);
      const loads = elf.loads;
      if (loads.length > m.value.length) return `${loads.length} PT_LOADs`;
      const sections = elf.sections();
      if (sections.length * 64 > m.value.length) return `${sections.length} sections`;
      elf.buildId();
      const syms = elf.findSymbols(["main_arena", "mp_", "tcache", "_r_debug", "malloc", "_start"]);
      if (syms.size > 6) return `${syms.size} symbols for 6 names`;
      return undefined;
    }
    case "macho": {
      const base = rng.pick(getMachOBases());
      const m = mutateBytes(rng, base.bytes, base.hot, 4);
      record(m.ops);
      for (const { file } of parseMachOFile(m.value)) {
        if (file.segments.length > m.value.length / 72) return `${file.segments.length} segments`;
        machOSlide(file, 0x1_0000_0000);
        machOWritableRanges(file, 0x1_0000_0000);
      }
      return undefined;
    }
    case "dyld": {
      const base = getDyldBase();
      const m = mutateSnapshot(rng, base.snapshot, base.hints, 4);
      record(m.ops);
      const list = decodeDyldImages(new MemoryImage(m.value.memory), INFOS);
      if (list.images.length > copiedBytes(m.value) / 24) return `${list.images.length} images`;
      return undefined;
    }
    case "thread": {
      const arch = rng.pick(["x86_64", "aarch64"] as const);
      const len = rng.pick([0, 8, 167, 168, 271, 272, 523, 524, 527, 528, 600, rng.int(700)]);
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = rng.chance(0.5) ? 0xff : rng.int(256);
      record([`${arch} ${len} bytes`]);
      const s = decodeMachThreadState(arch, bytes);
      // arm64 sp/pc are PAC-stripped to 47 bits (exact); x86_64 words above 2^53 may round.
      const exact = arch === "aarch64"
        ? Number.isSafeInteger
        : (x: number) => x >= 0 && x <= 2 ** 64;
      if (!exact(s.sp) || !exact(s.pc)) return "sp/pc not a plausible number";
      decodeMachVectorState(arch, bytes);
      return undefined;
    }
    case "leaks": {
      const m = mutateJsonText(rng, rng.pick(getLeaksBases()), 3);
      record(m.ops);
      const f = parseLeaksText(m.value, "fuzz.json");
      const ids = new Set(f.nodes.map((n) => n.id));
      if (ids.size !== f.nodes.length) return "duplicate node ids accepted";
      for (const e of f.edges) {
        if (!ids.has(e.source) || !ids.has(e.target)) return "dangling edge accepted";
      }
      for (const r of f.roots) if (!ids.has(r.target)) return "dangling root accepted";
      return undefined;
    }
  }
}
