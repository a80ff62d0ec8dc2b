// Snapshot files (`heapscope <pid> --save a.hsnap`, `heapscope analyze a.hsnap`): one compressed
// file holding everything the analysis reads, so that it runs later, elsewhere, without the process.
//
// Layout: one ASCII line `heapscope-snapshot <version> zstd <compressed bytes>\n` (what `head -1`
// shows; version 1 has no byte count), then one zstd stream of sections, each
// `<8-byte tag><u64 length><bytes>`:
//   META      JSON: the Snapshot without its memory bytes, and the index of the memory chunks
//   RECORDER  JSON: the recorder's table (heapscope run, or a pid started under it) without blocks,
//             or why it could not be read
//   BLOCKS    the recorder's live blocks, 32 bytes each (address, size, time as f64; stack, tid)
//   FRAMES    JSON: every recorded return address, symbolized when the file was written (the
//             executable and libraries need not exist where the file is analysed)
//   LINES     JSON (version 2, optional): file:line of every thread's stack frames (code address
//             → "file.c:40"), read from the debug info when the file was written: stack roots
//             name their line wherever the file is analysed (the carried files hold no DWARF)
//   FILES     JSON (version 2): the image files the analysis reads, each with the byte spans kept
//   FILEDATA  those spans' bytes, file after file, span after span
//   MEMORY    the copied memory, chunk after chunk, in index order
//   END       empty: its presence proves the sections are whole (node:zlib's zstd decoder stops
//             quietly at a cut, even inside a block); the byte count of the first line (version
//             2) also catches a cut in the frame's last bytes, after END, and bytes appended
// Unknown sections are skipped, so later versions may add some; a version above ours is refused.
//
// The image files (version 2): the analysis reads, beside the copied memory, the executable's and
// libraries' symbol tables (root names), .eh_frame and call sites (stack frames), read-only data
// (C++ type names), and a stripped library's debug file found by build id (its symbol table). A
// snapshot carries those files, so that it is analysed elsewhere, where they are missing or
// differ, exactly as where it was taken: of an image file every byte but its non-allocated
// sections other than symbol and string tables and notes (that is: without DWARF, .comment and
// the like, which no reader here needs), of a debug file its headers, symbol and string tables and
// notes. The cost, measured on real captures (zstd level 1, in the file): Debian's python3.11
// holding a 20,000-entry dict (python3.11, libc, libm, libz, libexpat, the loader, three debug files
// of libc6-dbg): 10.2 MiB kept of 15.1 MiB on disk, 4.7 MiB compressed, beside 1.0 MiB for its
// 16.5 MiB of memory; bench/real_programs/sessions.cpp (-g) under the recorder, on libstdc++: 5.9 MiB
// kept of 11.6 MiB, 2.6 MiB compressed, beside 0.4 MiB for 2.3 MiB of memory. Code is kept: the
// unwinder checks call sites in it. A version 1 file carries no files: they are read at their
// paths, with a warning.
//
// Compression, measured on a real capture (python3 holding a 300,000-entry dict, 90 MB copied, this
// 2-core VM): Deno's built-in zstd (node:zlib, native libzstd) level 1: 407 MB/s, ratio 15.9; level
// 3: 321 MB/s, 15.9; CompressionStream gzip: 67 MB/s, 12.5, deflate-raw 87 MB/s; the npm package
// @bokuweb/zstd-wasm level 1: 160 MB/s, 15.8. So zstd level 1 from the runtime: the fastest, the
// smallest, and no dependency to add. Decompression streams in 4 MiB pieces (~440 MB/s here; the
// default 16 KiB pieces ran at ~110 MB/s).
//
// A snapshot holds the process's memory, secrets included: cli/analyze.ts writes it atomically
// with mode 0600 (ffi/ encodes; writing outputs is the commands' part of the layering).
// Time and memory: O(copied bytes + kept file bytes) both ways; the compressed file is held whole
// before it is written.

import { debugFilePath, ElfFile, type ElfSection } from "../analysis/elf.ts";
import { EXIT, HeapscopeError } from "../analysis/errors.ts";
import type { FrameMap, RecordedBlock, RecordedStack, StackFrame } from "../analysis/sites.ts";
import type { FileReader, ImageFiles, MemoryChunk, Snapshot } from "../analysis/types.ts";
import { diskImageFiles } from "./image_files.ts";
import { readRecorderTable, RecorderTableError, type RecorderTableInfo } from "./recorder_table.ts";
import { threadFrameCodes } from "../analysis/root_names.ts";
import { frameLinesSync, symbolize } from "./symbolize.ts";
import { lastAtOrBelow } from "../analysis/sorted.ts";

export const SNAPSHOT_FORMAT = "heapscope-snapshot";
/**
 * Version written. 1: META, RECORDER, BLOCKS, FRAMES, MEMORY, END. 2: + FILES, FILEDATA (the
 * image files the analysis reads). Both are read.
 */
export const SNAPSHOT_VERSION = 2;
/** The usual file name suffix (not required). */
export const SNAPSHOT_SUFFIX = ".hsnap";

/** zstd level 1: fastest and (on heap memory) as small as level 3; see the header. */
const ZSTD_LEVEL = 1;
/** Decompressed piece size: 16 KiB (the default) costs 4× the time in per-piece overhead. */
const INFLATE_PIECE = 4 << 20;
/** Section header: 8-byte tag + u64 length. */
const SECTION_HEADER = 16;
/** Bytes per recorded block in BLOCKS: address, size, timeNs (f64), stack, tid (u32). */
const BLOCK_BYTES = 32;
/** The first line is this long at most; anything longer is not a snapshot file. */
const MAX_HEADER_LINE = 64;
const SHT_SYMTAB = 2;
/** Section types kept of a file beside its segments: SHT_SYMTAB, SHT_STRTAB, SHT_NOTE, SHT_DYNSYM. */
const KEPT_SECTION_TYPES = [SHT_SYMTAB, 3, 7, 11];
/** ELF64 header size: the program and section header tables are found from it. */
const ELF_HEADER_BYTES = 64;
/** Bytes per ELF64 section header. */
const SECTION_HEADER_BYTES = 64;

/** What a snapshot file holds. */
export interface SnapshotFile {
  snapshot: Snapshot;
  /**
   * The recorder's table when the process ran under it; `problem` when it was there but could not
   * be read (the analysis then warns as a live run would); absent for an unrecorded process.
   */
  recorder?: { table?: RecorderTableInfo; problem?: string };
  /** Symbolized frames of every recorded return address (recorded processes). */
  frames?: FrameMap;
  /** The image files the analysis reads (version 2; absent in a version 1 file). */
  files?: CarriedFile[];
  /** file:line of the threads' frames, by code address (analysis/root_names.ts frameCodes). */
  lines?: Map<number, string>;
}

/** One file carried in a snapshot: the byte spans of it that are kept, and their bytes. */
export interface CarriedFile {
  /** The path the analysis asks for: an image's path, or a debug file's build-id path. */
  path: string;
  /** [offset, length] of each kept span, sorted, not overlapping nor touching. */
  spans: [number, number][];
  /** The spans' bytes, one after another. */
  bytes: Uint8Array;
}

/** A snapshot file that cannot be read or written: names the file and says what to do (exit 2). */
export class SnapshotFileError extends HeapscopeError {
  constructor(readonly path: string, problem: string, hints: string[] = []) {
    super(`Cannot read snapshot file "${path}": ${problem}`, hints, EXIT.usage);
    this.name = "SnapshotFileError";
  }
}

/**
 * What a snapshot file of `snapshot` holds: the snapshot, the image files the analysis reads, and
 * for a recorded process its table and every recorded return address symbolized now, while the
 * executable and libraries are at hand (the process must still run: its files are read through
 * /proc/PID/map_files). O(recorded blocks + distinct return addresses + kept file bytes).
 */
export async function snapshotFileOf(snapshot: Snapshot): Promise<SnapshotFile> {
  const files = carriedFiles(snapshot);
  const lines = threadLines(snapshot);
  let table: RecorderTableInfo | undefined;
  try {
    table = readRecorderTable(snapshot);
  } catch (e) {
    if (!(e instanceof RecorderTableError)) throw e;
    return { snapshot, files, lines, recorder: { problem: e.message } };
  }
  if (!table) return { snapshot, files, lines };
  const pcs = new Set<number>();
  for (const s of table.stacks.values()) for (const pc of s.pcs) pcs.add(pc);
  const frames = await symbolize(pcs, snapshot.regions, { pageSize: snapshot.pageSize });
  return { snapshot, files, lines, recorder: { table }, frames };
}

/** file:line of every thread's frames, from the process's files (the LINES section). */
function threadLines(snapshot: Snapshot): Map<number, string> {
  const files = diskImageFiles(snapshot);
  try {
    const codes = threadFrameCodes(snapshot, files);
    return frameLinesSync(snapshot.regions, snapshot.pageSize)(codes);
  } finally {
    files.close();
  }
}

/**
 * The files the analysis of `snapshot` opens (analysis/image_index.ts, analysis/root_names.ts):
 * every image's file, and the debug file by build id of an image without .symtab, each reduced to
 * what those readers read (see the header). An image whose file cannot be read is left out: the
 * analysis then goes without it, here as where the snapshot was taken.
 */
export function carriedFiles(snapshot: Snapshot): CarriedFile[] {
  const disk = diskImageFiles(snapshot);
  const out: CarriedFile[] = [];
  try {
    for (const path of new Set(snapshot.images.map((i) => i.path))) {
      const read = disk.open(path);
      if (!read) continue;
      const image = keptSpans(read, "image");
      if (!image) continue;
      out.push(carry(path, read, image));
      if (image.hasSymtab || !image.buildId) continue;
      const debugPath = debugFilePath(image.buildId);
      const debugRead = disk.open(debugPath);
      const debug = debugRead ? keptSpans(debugRead, "debug") : undefined;
      if (debugRead && debug) out.push(carry(debugPath, debugRead, debug));
    }
  } finally {
    disk.close();
  }
  return out;
}

/**
 * The spans of an ELF file that readers here read: the ELF header, program and section headers,
 * symbol and string tables, notes, and for an image (not a debug file, whose segments describe
 * bytes it does not hold) every segment's bytes. Undefined when it is not a readable ELF file.
 */
function keptSpans(
  read: FileReader,
  kind: "image" | "debug",
): { spans: [number, number][]; hasSymtab: boolean; buildId?: string } | undefined {
  let elf: ElfFile;
  try {
    elf = new ElfFile(read);
  } catch {
    return undefined;
  }
  const spans: [number, number][] = [[0, ELF_HEADER_BYTES]];
  const head = read(0, ELF_HEADER_BYTES);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const phoff = Number(v.getBigUint64(32, true)), shoff = Number(v.getBigUint64(40, true));
  spans.push([phoff, v.getUint16(54, true) * v.getUint16(56, true)]);
  let sections: ElfSection[];
  try {
    sections = elf.sections();
  } catch {
    sections = [];
  }
  if (shoff > 0) spans.push([shoff, Math.max(sections.length, 1) * SECTION_HEADER_BYTES]);
  for (const s of sections) {
    if (KEPT_SECTION_TYPES.includes(s.type)) spans.push([s.offset, s.size]);
  }
  if (kind === "image") { for (const seg of elf.segments) spans.push([seg.offset, seg.filesz]); }
  let buildId: string | undefined;
  try {
    buildId = elf.buildId();
  } catch { /* no readable notes */ }
  return {
    spans: mergeSpans(spans),
    hasSymtab: sections.some((s) => s.type === SHT_SYMTAB),
    ...(buildId ? { buildId } : {}),
  };
}

/** Sorted, overlapping and touching spans joined. O(s log s). */
function mergeSpans(spans: [number, number][]): [number, number][] {
  const sorted = spans.filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [o, n] of sorted) {
    const last = out.at(-1);
    if (last && o <= last[0] + last[1]) last[1] = Math.max(last[1], o + n - last[0]);
    else out.push([o, n]);
  }
  return out;
}

/** The spans' bytes, each span cut where the file ends (a header may claim more than it holds). */
function carry(path: string, read: FileReader, kept: { spans: [number, number][] }): CarriedFile {
  const spans: [number, number][] = [], parts: Uint8Array[] = [];
  for (const [offset, length] of kept.spans) {
    const bytes = read(offset, length);
    if (bytes.length === 0) continue;
    spans.push([offset, bytes.length]);
    parts.push(bytes);
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { path, spans, bytes };
}

/**
 * The ImageFiles of a snapshot file: its carried files, and nothing else (a file it does not
 * carry cannot be opened, as a file missing on disk). A read of a span left out comes back short,
 * as a read past a file's end does. Undefined for a version 1 file, which carries none.
 */
export function snapshotImageFiles(file: SnapshotFile): ImageFiles | undefined {
  if (!file.files) return undefined;
  const byPath = new Map(file.files.map((f) => [f.path, f]));
  return {
    open(path: string): FileReader | undefined {
      const f = byPath.get(path);
      if (!f) return undefined;
      // Where each span starts in `bytes`.
      const at: number[] = [];
      let sum = 0;
      for (const [, len] of f.spans) {
        at.push(sum);
        sum += len;
      }
      return (offset, length) => {
        // The last span starting at or before `offset` (binary search): O(log spans).
        const k = lastAtOrBelow(f.spans.length, (i) => f.spans[i]![0], offset);
        if (k < 0) return new Uint8Array(0);
        const [start, len] = f.spans[k]!;
        const from = offset - start;
        if (from >= len) return new Uint8Array(0);
        const n = Math.min(length, len - from);
        return f.bytes.slice(at[k]! + from, at[k]! + from + n);
      };
    },
  };
}

/** Whether `head` (the first bytes of a file) starts like a snapshot file. */
export function isSnapshotFile(head: Uint8Array): boolean {
  return new TextDecoder().decode(head.subarray(0, SNAPSHOT_FORMAT.length + 1)) ===
    `${SNAPSHOT_FORMAT} `;
}

/** The bytes of a snapshot file, as pieces to write one after another, and their sizes. */
export interface EncodedSnapshot {
  pieces: Uint8Array[];
  /** Bytes of the file (the pieces together). */
  bytes: number;
  /** Bytes before compression. */
  rawBytes: number;
  /** Of those, the carried image files' bytes. */
  fileBytes: number;
}

/**
 * Encode `file`: the header line and the compressed sections. Writing them (atomically, readable
 * by the owner only) is the caller's (cli/analyze.ts: saveSnapshotFile), as ffi/ does not write outputs.
 */
export async function encodeSnapshotFile(file: SnapshotFile): Promise<EncodedSnapshot> {
  const sections = encodeSections(file);
  const rawBytes = sections.reduce((n, s) => n + s.length, 0);
  const compressed = await zstd(sections);
  const size = compressed.reduce((n, c) => n + c.length, 0);
  const head = new TextEncoder().encode(`${SNAPSHOT_FORMAT} ${SNAPSHOT_VERSION} zstd ${size}\n`);
  const pieces = [head, ...compressed];
  return {
    pieces,
    bytes: pieces.reduce((n, c) => n + c.length, 0),
    rawBytes,
    fileBytes: (file.files ?? []).reduce((n, f) => n + f.bytes.length, 0),
  };
}

/** Read a snapshot file; throws SnapshotFileError naming the problem. */
export async function readSnapshotFile(path: string): Promise<SnapshotFile> {
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch (e) {
    throw new SnapshotFileError(
      path,
      e instanceof Deno.errors.NotFound ? "the file does not exist" : (e as Error).message,
      ["Write one with `heapscope <pid> --save FILE`"],
    );
  }
  return await decodeSnapshotFile(data, path);
}

/** Parse the bytes of a snapshot file (`name` is used in messages). */
export async function decodeSnapshotFile(data: Uint8Array, name: string): Promise<SnapshotFile> {
  const nl = data.subarray(0, MAX_HEADER_LINE).indexOf(0x0a);
  const line = nl < 0 ? "" : new TextDecoder().decode(data.subarray(0, nl));
  // Fields after the compression are the byte count (version 2), or a later version's.
  const m = /^heapscope-snapshot (\d+) (\w+)((?: \S+)*)$/.exec(line);
  if (!m) {
    throw new SnapshotFileError(
      name,
      "not a heapscope snapshot (the first line is not " +
        `"${SNAPSHOT_FORMAT} <version> zstd <bytes>")`,
      [
        "Pass a file written by `heapscope <pid> --save FILE`, or an ELF core file",
      ],
    );
  }
  const version = Number(m[1]);
  if (version > SNAPSHOT_VERSION) {
    throw new SnapshotFileError(
      name,
      `format version ${version}; this heapscope reads up to ${SNAPSHOT_VERSION}`,
      ["Analyse it with the heapscope that wrote it, or a newer one"],
    );
  }
  if (m[2] !== "zstd") {
    throw new SnapshotFileError(name, `unknown compression "${m[2]}"`, [
      "This heapscope reads zstd-compressed snapshots",
    ]);
  }
  const body = data.length - (nl + 1);
  const size = m[3] ? Number(m[3].trim().split(" ")[0]) : undefined;
  if (version >= 2 && (size === undefined || !Number.isSafeInteger(size))) {
    throw new SnapshotFileError(name, "its first line lacks the byte count", [
      "The file was damaged: copy it again, or capture a new snapshot",
    ]);
  }
  if (size !== undefined && body !== size) {
    throw new SnapshotFileError(
      name,
      body < size
        ? `the file is truncated (${body} of ${size} compressed bytes)`
        : `${body - size} bytes follow the ${size} compressed bytes`,
      ["The copy or the write was cut short or added to: copy the whole file, or capture a new one"],
    );
  }
  const parser = new SectionParser(name);
  await unzstd(data.subarray(nl + 1), (piece) => parser.push(piece), name);
  return parser.finish();
}

// ---- writing ---------------------------------------------------------------------------------

interface Meta {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  /** The Snapshot, every field but `memory`. */
  snapshot: Omit<Snapshot, "memory">;
  /** [start, length] of each memory chunk, in the order of the MEMORY section. */
  memory: [number, number][];
}

/** FILES: each carried file's path and kept spans; FILEDATA holds their bytes in this order. */
interface FileIndexEntry {
  path: string;
  spans: [number, number][];
}

interface RecorderMeta {
  problem?: string;
  table?: Omit<RecorderTableInfo, "stacks" | "blocks"> & { stacks: RecordedStack[] };
}

function encodeSections(file: SnapshotFile): Uint8Array[] {
  const { memory, ...rest } = file.snapshot;
  const meta: Meta = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    snapshot: rest,
    memory: memory.map((c) => [c.start, c.bytes.length]),
  };
  const out: Uint8Array[] = [...section("META", json(meta))];
  if (file.recorder) {
    const { table, problem } = file.recorder;
    const rec: RecorderMeta = {};
    if (problem !== undefined) rec.problem = problem;
    if (table) {
      const { stacks, blocks: _blocks, ...fields } = table;
      rec.table = { ...fields, stacks: [...stacks.values()] };
    }
    out.push(...section("RECORDER", json(rec)));
    if (table) out.push(...section("BLOCKS", encodeBlocks(table.blocks)));
  }
  if (file.frames) out.push(...section("FRAMES", json([...file.frames.entries()])));
  if (file.lines) out.push(...section("LINES", json([...file.lines.entries()])));
  if (file.files) {
    const index: FileIndexEntry[] = file.files.map((f) => ({ path: f.path, spans: f.spans }));
    out.push(...section("FILES", json(index)));
    const total = file.files.reduce((n, f) => n + f.bytes.length, 0);
    out.push(sectionHeader("FILEDATA", total), ...file.files.map((f) => f.bytes));
  }
  const total = memory.reduce((n, c) => n + c.bytes.length, 0);
  out.push(sectionHeader("MEMORY", total), ...memory.map((c) => c.bytes));
  out.push(sectionHeader("END", 0));
  return out;
}

function json(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

function section(tag: string, body: Uint8Array): Uint8Array[] {
  return [sectionHeader(tag, body.length), body];
}

function sectionHeader(tag: string, length: number): Uint8Array {
  const h = new Uint8Array(SECTION_HEADER);
  h.fill(0x20, 0, 8);
  h.set(new TextEncoder().encode(tag), 0);
  new DataView(h.buffer).setBigUint64(8, BigInt(length), true);
  return h;
}

function encodeBlocks(blocks: readonly RecordedBlock[]): Uint8Array {
  const out = new Uint8Array(blocks.length * BLOCK_BYTES);
  const v = new DataView(out.buffer);
  for (let i = 0, o = 0; i < blocks.length; i++, o += BLOCK_BYTES) {
    const b = blocks[i]!;
    v.setFloat64(o, b.address, true);
    v.setFloat64(o + 8, b.size, true);
    v.setFloat64(o + 16, b.timeNs, true);
    v.setUint32(o + 24, b.stack, true);
    v.setUint32(o + 28, b.tid, true);
  }
  return out;
}

function decodeBlocks(bytes: Uint8Array): RecordedBlock[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: RecordedBlock[] = [];
  for (let o = 0; o + BLOCK_BYTES <= bytes.length; o += BLOCK_BYTES) {
    out.push({
      address: v.getFloat64(o, true),
      size: v.getFloat64(o + 8, true),
      stack: v.getUint32(o + 24, true),
      tid: v.getUint32(o + 28, true),
      timeNs: v.getFloat64(o + 16, true),
    });
  }
  return out;
}

/**
 * node:zlib, loaded when a snapshot file is written or read: not with this module, which every
 * attach imports (loading it costs ~25 ms).
 */
function nodeZlib(): Promise<typeof import("node:zlib")> {
  return import("node:zlib");
}

/** One zstd stream of `pieces`, as compressed pieces. */
async function zstd(pieces: Uint8Array[]): Promise<Uint8Array[]> {
  const zlib = await nodeZlib();
  const z = zlib.createZstdCompress({
    params: { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
  });
  const out: Uint8Array[] = [];
  z.on("data", (c: Uint8Array) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    z.on("end", resolve);
    z.on("error", reject);
  });
  for (const p of pieces) {
    if (p.length > 0 && !z.write(p)) await new Promise((r) => z.once("drain", r));
  }
  z.end();
  await done;
  return out;
}

async function unzstd(
  data: Uint8Array,
  onPiece: (piece: Uint8Array) => void,
  name: string,
): Promise<void> {
  const zlib = await nodeZlib();
  const z = zlib.createZstdDecompress({ chunkSize: INFLATE_PIECE });
  let failure: unknown;
  z.on("data", (c: Uint8Array) => {
    if (failure !== undefined) return;
    try {
      onPiece(c);
    } catch (e) {
      failure = e;
    }
  });
  const done = new Promise<void>((resolve, reject) => {
    z.on("end", resolve);
    z.on("error", reject);
  });
  z.end(data);
  try {
    await done;
  } catch (e) {
    throw new SnapshotFileError(name, `the compressed data is damaged (${(e as Error).message})`, [
      "Copy the file again, or capture a new snapshot",
    ]);
  }
  if (failure !== undefined) throw failure;
}

// ---- reading ---------------------------------------------------------------------------------

/** Takes the decompressed stream piece by piece and rebuilds the sections. */
class SectionParser {
  #name: string;
  #header = new Uint8Array(SECTION_HEADER);
  #headerFill = 0;
  #tag = "";
  #left = 0;
  /** Body of a small section being filled. */
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #meta: Meta | undefined;
  #recorder: RecorderMeta | undefined;
  #blocks: RecordedBlock[] | undefined;
  #frames: FrameMap | undefined;
  #lines: Map<number, string> | undefined;
  #fileIndex: FileIndexEntry[] | undefined;
  #fileData: Uint8Array | undefined;
  #memory: MemoryChunk[] | undefined;
  /** MEMORY: the chunk being filled and how far. */
  #chunk = 0;
  #chunkFill = 0;
  #ended = false;

  constructor(name: string) {
    this.#name = name;
  }

  push(piece: Uint8Array): void {
    let p = 0;
    while (p < piece.length) {
      if (this.#ended) throw this.#bad("data after the END section");
      if (this.#tag === "") {
        const n = Math.min(SECTION_HEADER - this.#headerFill, piece.length - p);
        this.#header.set(piece.subarray(p, p + n), this.#headerFill);
        this.#headerFill += n;
        p += n;
        if (this.#headerFill === SECTION_HEADER) this.#open();
        continue;
      }
      const n = Math.min(this.#left, piece.length - p);
      this.#take(piece.subarray(p, p + n));
      p += n;
      this.#left -= n;
      if (this.#left === 0) this.#close();
    }
  }

  finish(): SnapshotFile {
    if (!this.#ended) {
      throw this.#bad("the file is truncated (no END section)", [
        "The copy or the write was cut short: copy the whole file, or capture a new snapshot",
      ]);
    }
    const meta = this.#meta!;
    const snapshot = { ...meta.snapshot, memory: this.#memory ?? [] } as Snapshot;
    const out: SnapshotFile = { snapshot };
    if (this.#recorder) {
      const rec: SnapshotFile["recorder"] = {};
      if (this.#recorder.problem !== undefined) rec.problem = this.#recorder.problem;
      const t = this.#recorder.table;
      if (t) {
        const { stacks, ...fields } = t;
        rec.table = {
          ...fields,
          stacks: new Map(stacks.map((s) => [s.id, s])),
          blocks: this.#blocks ?? [],
        };
      }
      out.recorder = rec;
    }
    if (this.#frames) out.frames = this.#frames;
    if (this.#lines) out.lines = this.#lines;
    if (this.#fileIndex) out.files = this.#files(this.#fileIndex, this.#fileData);
    return out;
  }

  /** The carried files from FILES and FILEDATA; their sizes must agree. */
  #files(index: FileIndexEntry[], data: Uint8Array | undefined): CarriedFile[] {
    const out: CarriedFile[] = [];
    let at = 0;
    for (const { path, spans } of index) {
      const n = spans.reduce((sum, [, len]) => sum + len, 0);
      if (typeof path !== "string" || !data || at + n > data.length) {
        throw this.#bad("its FILES section does not match FILEDATA");
      }
      out.push({ path, spans, bytes: data.subarray(at, at + n) });
      at += n;
    }
    if (at !== (data?.length ?? 0)) throw this.#bad("its FILES section does not match FILEDATA");
    return out;
  }

  #open(): void {
    const tag = new TextDecoder().decode(this.#header.subarray(0, 8)).trimEnd();
    const length = Number(new DataView(this.#header.buffer).getBigUint64(8, true));
    this.#headerFill = 0;
    if (this.#meta === undefined && tag !== "META") throw this.#bad("it does not start with META");
    this.#tag = tag;
    this.#left = length;
    if (tag === "MEMORY") {
      const index = this.#meta!.memory;
      const total = index.reduce((n, [, len]) => n + len, 0);
      if (total !== length) {
        throw this.#bad(`MEMORY holds ${length} bytes, the index ${total}`);
      }
      this.#memory = index.map(([start, len]) => ({ start, bytes: new Uint8Array(len) }));
      this.#chunk = 0;
      this.#chunkFill = 0;
      this.#skipEmptyChunks();
    } else if (tag !== "END") {
      this.#body = new Uint8Array(length);
      this.#bodyFill = 0;
    }
    if (length === 0) this.#close();
  }

  #take(bytes: Uint8Array): void {
    if (this.#tag !== "MEMORY") {
      this.#body!.set(bytes, this.#bodyFill);
      this.#bodyFill += bytes.length;
      return;
    }
    let p = 0;
    const memory = this.#memory!;
    while (p < bytes.length) {
      const chunk = memory[this.#chunk]!;
      const n = Math.min(chunk.bytes.length - this.#chunkFill, bytes.length - p);
      chunk.bytes.set(bytes.subarray(p, p + n), this.#chunkFill);
      this.#chunkFill += n;
      p += n;
      if (this.#chunkFill === chunk.bytes.length) {
        this.#chunk++;
        this.#chunkFill = 0;
        this.#skipEmptyChunks();
      }
    }
  }

  #skipEmptyChunks(): void {
    const memory = this.#memory!;
    while (this.#chunk < memory.length && memory[this.#chunk]!.bytes.length === 0) this.#chunk++;
  }

  #close(): void {
    const tag = this.#tag;
    const body = this.#body;
    this.#tag = "";
    this.#body = undefined;
    const parse = <T>(what: string): T => {
      try {
        return JSON.parse(new TextDecoder().decode(body)) as T;
      } catch (e) {
        throw this.#bad(`its ${what} section is not JSON (${(e as Error).message})`);
      }
    };
    switch (tag) {
      case "META": {
        const meta = parse<Meta>("META");
        if (meta.format !== SNAPSHOT_FORMAT || !meta.snapshot || !Array.isArray(meta.memory)) {
          throw this.#bad("its META section is not a heapscope snapshot's");
        }
        this.#meta = meta;
        break;
      }
      case "RECORDER":
        this.#recorder = parse<RecorderMeta>("RECORDER");
        break;
      case "BLOCKS":
        this.#blocks = decodeBlocks(body!);
        break;
      case "FRAMES":
        this.#frames = new Map(parse<[number, StackFrame[]][]>("FRAMES"));
        break;
      case "LINES": {
        const lines = parse<[number, string][]>("LINES");
        if (!Array.isArray(lines)) throw this.#bad("its LINES section is not a list");
        this.#lines = new Map(
          lines.filter((e) =>
            Array.isArray(e) && typeof e[0] === "number" && typeof e[1] === "string"
          ),
        );
        break;
      }
      case "FILES": {
        const index = parse<FileIndexEntry[]>("FILES");
        if (!Array.isArray(index)) throw this.#bad("its FILES section is not a list");
        this.#fileIndex = index;
        break;
      }
      case "FILEDATA":
        this.#fileData = body!;
        break;
      case "END":
        this.#ended = true;
        break;
      default: // a section of a later version: not needed to analyse
    }
  }

  #bad(problem: string, hints: string[] = []): SnapshotFileError {
    return new SnapshotFileError(this.#name, problem, hints);
  }
}
