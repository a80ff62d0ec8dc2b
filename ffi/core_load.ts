// A core file on disk → the Snapshot the analysis takes: the core parsed (analysis/core_file.ts),
// its images built from the executable and libraries it names (--exe, --sysroot, or their paths),
// the read-only parts a live capture copies (libc's and the loader's, RELRO) taken from those files
// where the core left them out, and the brk heap named.
//
// A live capture copies exactly copySpans() of the process (ffi/linux_capture.ts); a core holds
// what coredump_filter (or gdb's gcore) chose. Private file mappings never written hold the file's
// bytes, so reading them from the file gives what the process had, as long as the file is the same
// one: each image's build id in the core (its first page) is checked against the file's.
// O(core size) to read the core, O(images) files opened.

import { type CoreFile, CoreFileError, nameBrkHeap, parseCoreFile } from "../analysis/core_file.ts";
import { ElfFile, PF_R, PF_W, PF_X, PT_LOAD } from "../analysis/elf.ts";
import { AnalysisError, EXIT, HeapscopeError } from "../analysis/errors.ts";
import { MemoryImage } from "../analysis/memory.ts";
import type { FileReader, ImageFiles, MemoryChunk, Region, Snapshot } from "../analysis/types.ts";
import { diskImageFiles } from "./image_files.ts";
import { ImageTable } from "./images.ts";
import { copySpans } from "./linux_capture.ts";

export { isCoreFile } from "../analysis/core_file.ts";

export interface CoreOptions {
  /** The executable the core came from, when not at the path the core names. */
  exe?: string;
  /** A folder holding the machine's files (the core's paths are looked up under it). */
  sysroot?: string;
}

export interface LoadedCore {
  snapshot: Snapshot;
  /** What the user should know about the core (its signal, files taken from elsewhere). */
  notes: string[];
  /**
   * The image files the analysis reads (symbols, call frame information, read-only data, debug
   * files by build id), from where --exe and --sysroot say; `close()` when done.
   */
  imageFiles: ImageFiles & { close(): void };
  /** Where a file the core names is read here (--exe, --sysroot, else its own path). */
  localPath: (path: string) => string;
}

/** glibc 2.27–2.42: malloc_state.top is at offset 0x60 (design/glibc-heap.md §3). */
const ARENA_TOP = 0x60;
const SIGSTOP = 19;

/** A core file that cannot be used (exit 2): names it and says what to do. */
export class CoreLoadError extends HeapscopeError {
  constructor(message: string, hints: string[] = []) {
    super(message, hints, EXIT.usage);
    this.name = "CoreLoadError";
  }
}

/** Read and prepare the core at `path`. Throws CoreLoadError / AnalysisError with hints. */
export async function loadCoreFile(path: string, opts: CoreOptions = {}): Promise<LoadedCore> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CoreLoadError(`Cannot read core file "${path}": ${(e as Error).message}`);
  }
  let core: CoreFile;
  try {
    core = parseCoreFile(bytes, path);
  } catch (e) {
    if (e instanceof CoreFileError) throw new CoreLoadError(e.message, e.hints);
    throw e;
  }
  const snap = core.snapshot;
  const notes: string[] = [];
  const stat = await Deno.stat(path);
  snap.capturedAt = (stat.mtime ?? new Date()).toISOString();
  // gcore stops the process with SIGSTOP; the kernel's cores carry the fatal signal.
  if (core.signal && core.signal !== SIGSTOP) {
    notes.push(`core of process ${snap.pid}, ended by signal ${core.signal}`);
  }
  if (core.missingBytes > 0) {
    snap.warnings.push(
      `the core is ${core.missingBytes} bytes shorter than its segments say: it was cut short ` +
        "(ulimit -c, or systemd-coredump's size limits); memory past the cut is missing",
    );
  }

  // Where each file the core names is read from here.
  const local = (p: string): string => {
    if (opts.exe && p === core.executable) return opts.exe;
    return opts.sysroot ? `${opts.sysroot.replace(/\/$/, "")}${p}` : p;
  };
  const memory = new MemoryImage(snap.memory);
  permsFromFiles(core.permsUnknown, local, snap.pageSize);
  const localRegions = snap.regions.map((r) =>
    r.path.startsWith("/") ? { ...r, path: local(r.path) } : r
  );
  const table = new ImageTable();
  // pid 0: no /proc/0/map_files, so the files are opened by their (local) paths.
  const localImages = table.images(
    0,
    localRegions,
    snap.pageSize,
    (start, length) => memory.slice(start, length),
  );
  const original = new Map(localRegions.map((r, i) => [r.path, snap.regions[i]!.path]));
  snap.images = localImages.map((img) => ({ ...img, path: original.get(img.path) ?? img.path }));
  snap.warnings.push(...table.warnings);
  const missing = new Set<string>();
  for (const r of snap.regions) {
    if (!r.path.startsWith("/")) continue;
    try {
      Deno.statSync(local(r.path));
    } catch {
      missing.add(r.path);
    }
  }
  for (const p of missing) {
    snap.warnings.push(
      `${
        local(p)
      } (named by the core) cannot be read here: its symbols and read-only data are missing`,
    );
  }
  checkBuildIds(snap, memory, local, notes);

  // What a live capture would have copied that the core left out: read it from the files.
  snap.memory = fillFromFiles(snap, memory, local);

  const exeImage = core.executable
    ? snap.images.find((i) => i.path === core.executable)
    : undefined;
  const top = mainArenaTop(snap);
  const heap = nameBrkHeap(snap, exeImage, top);
  checkDumped(path, snap, core, heap, top, memory);
  return {
    snapshot: snap,
    notes,
    imageFiles: localImageFiles(localRegions, local),
    localPath: local,
  };
}

/**
 * The files named by the core, read where `local` says. Never through /proc/PID/map_files: the
 * core's pid is not the process (it has ended, or the pid is another process's now).
 */
function localImageFiles(
  localRegions: Region[],
  local: (p: string) => string,
): ImageFiles & { close(): void } {
  // pid 0 has no /proc/0/map_files: diskImageFiles then opens the (local) paths themselves.
  const disk = diskImageFiles({ pid: 0, regions: localRegions });
  return {
    open: (p: string): FileReader | undefined => disk.open(local(p)),
    close: () => disk.close(),
  };
}

/**
 * Refuse a core without the heap or the stacks (coredump_filter, or gcore honouring it), with the
 * advice that gets them next time; warn when other anonymous memory is missing.
 */
function checkDumped(
  path: string,
  snap: Snapshot,
  core: CoreFile,
  heap: { start: number; end: number } | undefined,
  top: number | undefined,
  memory: MemoryImage,
): void {
  const held = (addr: number) => memory.find(addr) >= 0;
  const lacks: string[] = [];
  const heapMissing = (heap !== undefined && !held(heap.start)) ||
    (top !== undefined && top !== 0 && !held(top)) ||
    (top === 0 && heap === undefined);
  if (heapMissing) lacks.push("the heap ([heap])");
  const stacks = snap.threads.filter((t) => !held(t.sp)).length;
  if (stacks > 0) lacks.push(`${stacks} of ${snap.threads.length} thread stacks`);
  if (core.undumped.length > 0) {
    lacks.push(`${core.undumped.length} writable anonymous mappings`);
  }
  if (lacks.length === 0) return;
  const msg = `Core "${path}" lacks ${lacks.join(", ")}: the process's coredump_filter left ` +
    "anonymous memory out";
  const hints = [
    "Before the next crash: echo 0x33 > /proc/<pid>/coredump_filter (bit 0: anonymous private " +
    "memory, bit 1: anonymous shared; 0x33 is the kernel's default), or set it for a service " +
    "with systemd's CoredumpFilter=",
    "gcore writes what coredump_filter allows: `gdb -p <pid> -ex 'set use-coredump-filter off' " +
    "-ex gcore -ex detach`",
  ];
  if (heapMissing || stacks === snap.threads.length) throw new AnalysisError(msg, hints);
  snap.warnings.push(`${msg}. ${hints[0]}`);
}

/** The permissions of mappings only NT_FILE names, from the file's segment at their offset. */
function permsFromFiles(regions: Region[], local: (p: string) => string, pageSize: number): void {
  const elfs = new Map<string, ElfFile | null>();
  for (const r of regions) {
    let elf = elfs.get(r.path);
    if (elf === undefined) {
      try {
        elf = new ElfFile(Deno.readFileSync(local(r.path)));
      } catch {
        elf = null;
      }
      elfs.set(r.path, elf);
    }
    const seg = elf?.segments.find((s) =>
      s.type === PT_LOAD && Math.floor(s.offset / pageSize) * pageSize <= r.offset &&
      r.offset < s.offset + Math.max(s.filesz, 1)
    );
    if (seg) {
      r.perms = `${seg.flags & PF_R ? "r" : "-"}${seg.flags & PF_W ? "w" : "-"}${
        seg.flags & PF_X ? "x" : "-"
      }p`;
    }
  }
}

/** Warn when a file here is not the one the process had (its build id differs). */
function checkBuildIds(
  snap: Snapshot,
  memory: MemoryImage,
  local: (p: string) => string,
  notes: string[],
): void {
  for (const img of snap.images) {
    if (!img.buildId) continue;
    const first = snap.regions.find((r) => r.path === img.path && r.offset === 0);
    if (!first) continue;
    let inCore: string | undefined;
    try {
      inCore = new ElfFile((o, n) => memory.slice(first.start + o, n) ?? new Uint8Array(0))
        .buildId();
    } catch {
      continue; // the core does not hold the first page (coredump_filter bit 4 off)
    }
    if (inCore && inCore !== img.buildId) {
      snap.warnings.push(
        `${
          local(img.path)
        } is not the file process ${snap.pid} ran (build id ${img.buildId}, the core ` +
          `says ${inCore}): symbols and read-only data may be wrong`,
      );
    } else if (inCore && local(img.path) !== img.path) {
      notes.push(`${img.path} read from ${local(img.path)} (same build id)`);
    }
  }
}

/**
 * The core's memory plus, from the files, every part of the live capture's plan (copySpans) that
 * the core does not hold and that a file mapping covers. O(spans · regions).
 */
function fillFromFiles(
  snap: Snapshot,
  memory: MemoryImage,
  local: (p: string) => string,
): MemoryChunk[] {
  const out = [...snap.memory];
  const files = new Map<string, Deno.FsFile | null>();
  try {
    for (
      const [start, length] of copySpans(snap.regions, snap.images, snap.threads, snap.pageSize)
    ) {
      for (const r of snap.regions) {
        if (!r.path.startsWith("/") || r.end <= start || r.start >= start + length) continue;
        const from = Math.max(r.start, start), to = Math.min(r.end, start + length);
        for (const gap of gaps(memory, from, to)) {
          const bytes = readFileRange(
            files,
            local(r.path),
            r.offset + (gap.start - r.start),
            gap.end - gap.start,
          );
          if (bytes) out.push({ start: gap.start, bytes });
        }
      }
    }
  } finally {
    for (const f of files.values()) f?.close();
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The parts of [from, to) the core's memory does not hold. */
function gaps(memory: MemoryImage, from: number, to: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let at = from;
  for (const c of memory.chunks) {
    const cEnd = c.start + c.bytes.length;
    if (cEnd <= at || c.start >= to) continue;
    if (c.start > at) out.push({ start: at, end: Math.min(c.start, to) });
    at = Math.max(at, cEnd);
    if (at >= to) break;
  }
  if (at < to) out.push({ start: at, end: to });
  return out;
}

function readFileRange(
  files: Map<string, Deno.FsFile | null>,
  path: string,
  offset: number,
  length: number,
): Uint8Array | undefined {
  let f = files.get(path);
  if (f === undefined) {
    try {
      f = Deno.openSync(path);
    } catch {
      f = null;
    }
    files.set(path, f);
  }
  if (!f) return undefined;
  const buf = new Uint8Array(length);
  f.seekSync(offset, Deno.SeekMode.Start);
  let n = 0;
  while (n < length) {
    const r = f.readSync(buf.subarray(n));
    if (r === null || r === 0) break;
    n += r;
  }
  // Past the file's end a mapping reads as zeros (the rest of its last page).
  return buf;
}

/** main_arena.top when libc's symbols name main_arena and the core holds it. */
function mainArenaTop(snap: Snapshot): number | undefined {
  for (const img of snap.images) {
    const at = img.symbols?.["main_arena"];
    if (at === undefined) continue;
    const top = new MemoryImage(snap.memory).u64(at + ARENA_TOP);
    if (top !== undefined) return top;
  }
  return undefined;
}
