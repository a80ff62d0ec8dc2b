// Reads the allocation recorder's table (shim/recorder_linux.c) from a Snapshot's copied memory or
// from a dump file written at exit, with what the recorder says about its own health (records it
// could not hold, the fill, the snapshot signal, a failed start-up).
//
// In memory: the exported `heapscope_recorder` struct (found through the ELF symbol table of the
// loaded librecorder.so) gives the addresses of the stripe tables, stack segments and timeline.
// Block addresses are stored XOR-encoded with the header's key; they are decoded in two 32-bit
// halves to keep BigInt out of the loop. Header fields are only appended: `header_size` says which
// exist (176 bytes from the recorder that counts dropped records on). O(table slots + stacks · depth).

import type { Snapshot } from "../analysis/types.ts";
import { MemoryImage } from "../analysis/memory.ts";
import { ElfFile } from "../analysis/elf.ts";
import type {
  RecordedBlock,
  RecordedStack,
  RecorderTable,
  TimelineSample,
} from "../analysis/sites.ts";
import { parseMaps } from "./maps.ts";
import type { Region } from "../analysis/types.ts";

const MEM_MAGIC = "HSRECMEM";
const DUMP_MAGIC = "HSDUMP1\0";
const TWO32 = 4294967296;
const UNWINDERS = ["dwarf", "fp", "libunwind"] as const;
/** struct hs_recorder up to `requests` (offset 132), before the health fields were appended. */
const HEADER_V1_SIZE = 136;
/** With dropped_count … init_errno (offsets 136–168). */
const HEADER_HEALTH_SIZE = 176;
/** With exit_sp (offset 176). */
const HEADER_EXIT_SIZE = 184;
/** Dump header bytes per dump version. */
const DUMP_HEADER = { 1: 72, 2: 96 } as const;
/** signal_state in the header (HS_SIG_* in shim/recorder_linux.c). */
const SIGNAL_STATES = ["none", "installed", "refused", "failed", "replaced"] as const;
/** init_error in the header (HS_INIT_*). */
const INIT_STAGES = ["", "mapping its tables", "pthread_atfork"] as const;
/** The errno values a failed start-up reports in practice, by number (x86_64 and aarch64 Linux). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  11: "EAGAIN",
  12: "ENOMEM",
  22: "EINVAL",
};

/** What became of the snapshot signal the recorder was asked to use. */
export type SnapshotSignalState = (typeof SIGNAL_STATES)[number];

/** What the recorder says about itself, beside the table. */
export interface RecorderHealth {
  /** Allocations the block table could not hold (it could not grow): never recorded, no site. */
  droppedCount: number;
  droppedBytes: number;
  /** Whether new blocks' requested bytes were filled (HEAPSCOPE_FILL); undefined when unknown. */
  fill?: boolean;
  /** HEAPSCOPE_SNAPSHOT_SIGNAL and what became of it ("replaced": the program took it over). */
  snapshotSignal?: { signal: number; state: SnapshotSignalState };
  /**
   * At the exit snapshot: where the stack of the frame that called the recorder's destructor
   * starts. Below it the exiting thread's stack holds only the recorder's own frames.
   */
  exitSp?: number;
}

/** A recorder table with the recorder's own account of it. */
export type RecorderTableInfo = RecorderTable & RecorderHealth;

export class RecorderTableError extends Error {
  constructor(message: string, readonly hints: string[] = []) {
    super(message);
    this.name = "RecorderTableError";
  }
}

/** A dump file's table plus the maps the process had at exit (for symbolization). */
export interface RecorderDump extends RecorderTable, RecorderHealth {
  regions: Region[];
}

/** Address of `heapscope_recorder` in the target, when a loaded image exports it. */
export function findRecorderSymbol(snapshot: Snapshot): number | undefined {
  // Only images that look like the recorder are opened: parsing every library's symbols is slow.
  for (const image of snapshot.images.filter((i) => /recorder/.test(i.path))) {
    try {
      const file = Deno.openSync(image.path);
      try {
        const elf = new ElfFile((off, len) => {
          const buf = new Uint8Array(len);
          file.seekSync(off, Deno.SeekMode.Start);
          let got = 0;
          while (got < len) {
            const n = file.readSync(buf.subarray(got));
            if (n === null || n === 0) break;
            got += n;
          }
          return buf.subarray(0, got);
        });
        const sym = elf.findSymbols(["heapscope_recorder"]).get("heapscope_recorder");
        if (sym) return image.bias + sym.value;
      } finally {
        file.close();
      }
    } catch {
      continue;
    }
  }
  return undefined;
}

/**
 * The recorder table of a snapshot, or undefined when the process was not started under the
 * recorder (or its start-up has not finished). Throws RecorderTableError when the recorder is
 * there but its tables were not copied, or when it could not start (it says why).
 */
export function readRecorderTable(snapshot: Snapshot): RecorderTableInfo | undefined {
  const at = findRecorderSymbol(snapshot);
  if (at === undefined) return undefined;
  const mem = new MemoryImage(snapshot.memory);
  const read = (addr: number, len: number) => readTableMemory(mem, snapshot.regions, addr, len);
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) {
      throw new RecorderTableError(
        `Cannot read the recorder's ${what} in process ${snapshot.pid}: memory not copied`,
        ["The recorder's tables live in anonymous read-write mappings; the capture must copy them"],
      );
    }
    return v;
  };
  const magic = mem.slice(at, 8);
  if (!magic || new TextDecoder().decode(magic) !== MEM_MAGIC) {
    throw new RecorderTableError(
      `Cannot read the recorder in process ${snapshot.pid}: bad magic at ${hex(at)}`,
    );
  }
  const version = need(mem.u32(at + 8), "header");
  if (version !== 1) {
    throw new RecorderTableError(
      `Cannot read the recorder in process ${snapshot.pid}: table version ${version}, expected 1`,
      ["Rebuild build/librecorder.so with this heapscope (make recorder)"],
    );
  }
  const headerSize = need(mem.u32(at + 12), "header");
  const health = headerSize >= HEADER_HEALTH_SIZE;
  const ready = need(mem.u32(at + 68), "header");
  if (ready !== 1) {
    const stage = health ? need(mem.u32(at + 164), "header") : 0;
    if (stage === 0) return undefined; // still starting
    const errno = need(mem.u32(at + 168), "header");
    throw new RecorderTableError(
      `The allocation recorder in process ${snapshot.pid} could not start: ` +
        `${INIT_STAGES[stage] ?? `stage ${stage}`} failed (${errnoName(errno)}); ` +
        "the program ran unrecorded",
      [
        "It said so on the program's stderr at start-up",
        "Free memory or raise the address-space limit (ulimit -v), then run it again",
      ],
    );
  }
  if (headerSize < HEADER_V1_SIZE) {
    throw new RecorderTableError(
      `Cannot read the recorder in process ${snapshot.pid}: header of ${headerSize} bytes, ` +
        `expected at least ${HEADER_V1_SIZE}`,
      ["Rebuild build/librecorder.so with this heapscope (make recorder)"],
    );
  }
  const keyLo = need(mem.u32(at + 16), "header");
  const keyHi = need(mem.u32(at + 20), "header");
  const depth = need(mem.u32(at + 24), "header");
  const stripeCount = need(mem.u32(at + 28), "header");
  const stripes = need(mem.u64(at + 32), "header");
  const stripeSize = need(mem.u32(at + 40), "header");
  const blockSize = need(mem.u32(at + 44), "header");
  const segments = need(mem.u64(at + 48), "header");
  const segmentCount = need(mem.u32(at + 56), "header");
  const seg0 = need(mem.u32(at + 60), "header");
  const stackSize = need(mem.u32(at + 64), "header");
  const stackCount = need(mem.u64(at + 72), "header");
  const timeline = need(mem.u64(at + 80), "header");
  const timelineCount = need(mem.u32(at + 92), "header");
  const startNs = need(mem.u64(at + 104), "header");
  const nowNs = need(mem.u64(at + 112), "header");
  const pid = need(mem.u64(at + 120), "header");
  const unwinder = UNWINDERS[need(mem.u32(at + 128), "header")] ?? "dwarf";

  const blocks: RecordedBlock[] = [];
  for (let s = 0; s < stripeCount; s++) {
    const base = stripes + s * stripeSize;
    const table = need(mem.u64(base), "stripe table");
    const cap = need(mem.u64(base + 8), "stripe table");
    const bytes = need(read(table, cap * blockSize), "block table");
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let j = 0; j < cap; j++) {
      const o = j * blockSize;
      const lo = v.getUint32(o, true), hi = v.getUint32(o + 4, true);
      if (lo === 0 && hi === 0) continue;
      blocks.push({
        address: ((hi ^ keyHi) >>> 0) * TWO32 + ((lo ^ keyLo) >>> 0),
        size: u64(v, o + 8),
        stack: v.getUint32(o + 16, true),
        tid: v.getUint32(o + 20, true),
        timeNs: u64(v, o + 24),
      });
    }
  }

  const stacks = new Map<number, RecordedStack>();
  for (let id = 1; id < stackCount; id++) {
    const q = Math.floor(id / seg0) + 1;
    const k = 31 - Math.clz32(q);
    if (k >= segmentCount) break;
    const segBase = mem.u64(segments + 8 * k);
    if (!segBase) continue;
    const e = segBase + (id - seg0 * (2 ** k - 1)) * stackSize;
    const raw = read(e, stackSize);
    if (!raw) continue;
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (v.getUint32(12, true) !== 1) continue; // not published (lost a race, or being written)
    stacks.set(id, stackFrom(v, id, 0, Math.min(v.getUint32(8, true), depth), 16, 64));
  }

  const samples: TimelineSample[] = [];
  const tl = read(timeline, timelineCount * 24);
  if (tl) {
    const v = new DataView(tl.buffer, tl.byteOffset, tl.byteLength);
    for (let i = 0; i < timelineCount; i++) samples.push(sample(v, i * 24));
  }
  let info: RecorderHealth = { droppedCount: 0, droppedBytes: 0 };
  if (health) {
    const signal = need(mem.u32(at + 152), "header") | 0;
    const state = SIGNAL_STATES[need(mem.u32(at + 156), "header")] ?? "none";
    info = {
      droppedCount: need(mem.u64(at + 136), "header"),
      droppedBytes: need(mem.u64(at + 144), "header"),
      fill: need(mem.u32(at + 160), "header") === 1,
      snapshotSignal: state === "none" ? undefined : { signal, state },
    };
    const exitSp = headerSize >= HEADER_EXIT_SIZE ? need(mem.u64(at + 176), "header") : 0;
    if (exitSp) info.exitSp = exitSp;
  }
  return {
    pid,
    depth,
    unwinder,
    startNs,
    nowNs,
    stacks,
    blocks,
    timeline: samples,
    source: `memory of process ${snapshot.pid}`,
    ...info,
  };
}

/**
 * [addr, addr+len) of the copy. The recorder's tables are private anonymous mappings, of which the
 * capture copies only the pages that exist: a part it left out there never existed and reads as
 * zeros (empty slots, unwritten entries). Elsewhere a part left out is missing: undefined.
 */
function readTableMemory(
  mem: MemoryImage,
  regions: readonly Region[],
  addr: number,
  len: number,
): Uint8Array | undefined {
  const whole = mem.slice(addr, len);
  if (whole) return whole;
  for (let at = addr; at < addr + len;) { // covered by private anonymous regions, end to end
    const r = regions.find((r) => r.start <= at && at < r.end);
    if (!r || r.path !== "" || r.inode !== 0 || r.perms[3] !== "p") return undefined;
    at = r.end;
  }
  const out = new Uint8Array(len);
  for (const { chunk, from, to } of mem.copiedParts(addr, addr + len)) {
    out.set(chunk.bytes.subarray(from - chunk.start, to - chunk.start), from - addr);
  }
  return out;
}

/** A problem the recorder reported about a table, with what to do about it. */
export interface RecorderWarning {
  message: string;
  hints: string[];
}

/**
 * What a user must know about a table's completeness: records the recorder dropped, a snapshot
 * signal that was refused or taken over by the program, memory that was not filled. Empty when
 * all is well. `table.source` names the process or dump in each message.
 */
export function recorderWarnings(
  table: RecorderTable & Partial<RecorderHealth>,
): RecorderWarning[] {
  const out: RecorderWarning[] = [];
  const where = table.source;
  if (table.droppedCount) {
    out.push({
      message: `The allocation recorder (${where}) could not hold ${table.droppedCount} ` +
        `allocations (${table.droppedBytes ?? 0} bytes): its table could not grow, so they have ` +
        "no allocation site and count as unrecorded",
      hints: [
        "The process ran short of memory for the recorder's tables; free memory or record a " +
        "shorter run",
      ],
    });
  }
  const sig = table.snapshotSignal;
  if (sig?.state === "refused" || sig?.state === "failed") {
    out.push({
      message: `The allocation recorder (${where}) installed no snapshot handler: signal ` +
        `${sig.signal < 0 ? "(not a number)" : sig.signal} was ${
          sig.state === "refused" ? "refused" : "not accepted by sigaction"
        }`,
      hints: [
        "The reason is on the program's stderr",
        "Choose a signal the program does not use, e.g. a real-time one (SIGRTMIN+6 is 40 on Linux)",
      ],
    });
  } else if (sig?.state === "replaced") {
    out.push({
      message: `The program (${where}) installed its own handler for signal ${sig.signal}, the ` +
        "snapshot signal: from then on that signal did what the program wants, not a snapshot",
      hints: ["Choose a signal the program does not use, e.g. a real-time one"],
    });
  }
  if (table.fill === false) {
    out.push({
      message: `The allocation recorder (${where}) did not fill new blocks (HEAPSCOPE_FILL=0): ` +
        "stale pointers left in recycled memory may keep dead blocks reachable",
      hints: ["Unset HEAPSCOPE_FILL for an accurate analysis"],
    });
  }
  return out;
}

function errnoName(n: number): string {
  const name = ERRNO_NAMES[n];
  return name ? `${name}, errno ${n}` : `errno ${n}`;
}

/** Parse a dump file's bytes (format in shim/recorder_linux.c). */
export function parseRecorderDump(bytes: Uint8Array, name = "dump"): RecorderDump {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) =>
    new RecorderTableError(`Cannot read recorder dump ${name}: ${why}`, [
      "The file is written by build/librecorder.so at exit as record.<pid>",
    ]);
  if (bytes.length < 72 || new TextDecoder().decode(bytes.subarray(0, 8)) !== DUMP_MAGIC) {
    throw bad("not a recorder dump (bad magic)");
  }
  const version = v.getUint32(8, true);
  if (version !== 1 && version !== 2) throw bad(`version ${version}, expected 1 or 2`);
  const headerSize = DUMP_HEADER[version];
  if (bytes.length < headerSize) throw bad(`truncated at byte ${bytes.length}`);
  const depth = v.getUint32(12, true);
  const pid = u64(v, 16), startNs = u64(v, 24), nowNs = u64(v, 32);
  const nStacks = u64(v, 40), nBlocks = u64(v, 48), nSamples = u64(v, 56), mapsLen = u64(v, 64);
  const health: RecorderHealth = version === 1
    ? { droppedCount: 0, droppedBytes: 0 }
    : { droppedCount: u64(v, 72), droppedBytes: u64(v, 80), fill: v.getUint32(92, true) === 1 };
  const unwinder = version === 1 ? "dwarf" : UNWINDERS[v.getUint32(88, true)] ?? "dwarf";
  let o = headerSize;
  try {
    const stacks = new Map<number, RecordedStack>();
    for (let i = 0; i < nStacks; i++) {
      const id = v.getUint32(o, true), frames = v.getUint32(o + 4, true);
      stacks.set(id, stackFrom(v, id, o, frames, 8, 56));
      o += 56 + frames * 8;
    }
    const blocks: RecordedBlock[] = [];
    for (let i = 0; i < nBlocks; i++, o += 32) {
      blocks.push({
        address: u64(v, o),
        size: u64(v, o + 8),
        stack: v.getUint32(o + 16, true),
        tid: v.getUint32(o + 20, true),
        timeNs: u64(v, o + 24),
      });
    }
    const timeline: TimelineSample[] = [];
    for (let i = 0; i < nSamples; i++, o += 24) timeline.push(sample(v, o));
    if (o + mapsLen > bytes.length) throw new RangeError("maps");
    const regions = parseMaps(new TextDecoder().decode(bytes.subarray(o, o + mapsLen)));
    return {
      pid,
      depth,
      unwinder,
      startNs,
      nowNs,
      stacks,
      blocks,
      timeline,
      regions,
      source: name,
      ...health,
    };
  } catch (e) {
    if (e instanceof RangeError) throw bad(`truncated at byte ${o}`);
    throw e;
  }
}

/** Read and parse a dump file. */
export function readRecorderDump(path: string): RecorderDump {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new RecorderTableError(`Cannot read recorder dump ${path}: ${(e as Error).message}`);
  }
  return parseRecorderDump(bytes, path);
}

/** Counters at `o + counters` (6 × u64), PCs at `o + pcsAt`. */
function stackFrom(
  v: DataView,
  id: number,
  o: number,
  frames: number,
  counters: number,
  pcsAt: number,
): RecordedStack {
  const c = (i: number) => u64(v, o + counters + 8 * i);
  const pcs: number[] = [];
  for (let i = 0; i < frames; i++) pcs.push(u64(v, o + pcsAt + 8 * i));
  return {
    id,
    pcs,
    liveCount: c(0),
    liveBytes: c(1),
    peakCount: c(2),
    peakBytes: c(3),
    totalCount: c(4),
    totalBytes: c(5),
  };
}

function sample(v: DataView, o: number): TimelineSample {
  return { timeNs: u64(v, o), liveBytes: u64(v, o + 8), liveCount: u64(v, o + 16) };
}

function u64(v: DataView, o: number): number {
  return v.getUint32(o + 4, true) * TWO32 + v.getUint32(o, true);
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}
