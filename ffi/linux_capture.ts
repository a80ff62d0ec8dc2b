// captureLinuxSnapshot(): stop a Linux process, copy registers and the memory analysis needs, resume it.
//
// Everything slow (reading maps, parsing ELF files and debug symbols) happens before the attach;
// the pause covers re-reading the maps, the registers and one batched copy per ≤256 MiB.

import type { Arch, Image, MemoryChunk, Region, Snapshot, ThreadState } from "../analysis/types.ts";
import { CaptureError } from "./errors.ts";
import { ImageTable } from "./images.ts";
import { readMaps } from "./maps.ts";
import { readAuxv, readCommand } from "./procfs.ts";
import { decodeRegisters, GP_SIZE } from "./registers.ts";
import { shim } from "./shim.ts";
import { permissionHints, Target } from "./target.ts";

export interface CaptureOptions {
  /** Called between phases: "maps", "images", "attach", "registers", "copy", "resume", "done". */
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Bound on waiting for every thread to stop (default 5000 ms). */
  timeoutMs?: number;
}

const AT_PAGESZ = 6;
const BATCH_BYTES = 256 * 1024 * 1024;
const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const;

/**
 * Snapshot of process `pid`. The target is stopped from the attach to the resume only
 * (`pauseMs`), and resumed on every path out, including SIGINT/SIGTERM/SIGHUP.
 */
export async function captureLinuxSnapshot(
  pid: number,
  opts: CaptureOptions = {},
): Promise<Snapshot> {
  const progress = opts.onProgress ?? (() => {});
  shim(); // load the library now: dlopen must not lengthen the pause
  const arch = hostArch();
  const warnings: string[] = [];

  progress("maps", 0, 1);
  let regions = readProc(pid, "maps", () => readMaps(pid));
  let auxv: Record<number, number> | undefined;
  try {
    auxv = readAuxv(pid);
  } catch (e) {
    warnings.push(`auxv unreadable: ${(e as Error).message}`);
  }
  const pageSize = auxv?.[AT_PAGESZ] ?? 4096;
  const command = readCommand(pid);

  progress("images", 0, 1);
  const table = new ImageTable();
  table.images(pid, regions, pageSize); // parse every ELF now, outside the pause

  let target: Target | undefined;
  const onSignal = (signo: number) => () => {
    target?.close();
    Deno.exit(128 + signo);
  };
  const listeners = SIGNALS.map(([name, no]) => [name, onSignal(no)] as const);
  for (const [name, fn] of listeners) Deno.addSignalListener(name, fn);

  let images: Image[] = [];
  let threads: ThreadState[] = [];
  let memory: MemoryChunk[] = [];
  let pauseMs = 0;
  try {
    progress("attach", 0, 1);
    const t0 = performance.now();
    target = Target.attach(pid, opts.timeoutMs ?? 5000);
    try {
      // The maps may have changed before the stop (new threads, mmaps): these are authoritative.
      regions = readProc(pid, "maps", () => readMaps(pid));
      const t = target;
      images = table.images(pid, regions, pageSize, (start, length) => {
        const buf = new Uint8Array(length);
        return t.read([start, length], buf) === 0 ? buf : undefined;
      });
      progress("registers", 0, 1);
      threads = readThreads(target, arch, warnings);
      const spans = copySpans(regions, images);
      const total = spans.reduce((s, [, len]) => s + len, 0);
      let done = 0;
      for (const batch of batches(spans)) {
        progress("copy", done, total);
        const size = batch.reduce((s, [, len]) => s + len, 0);
        const buf = new Uint8Array(size);
        const missing = target.read(batch.flat(), buf);
        if (missing > 0) warnings.push(`${missing} bytes could not be read and were zero-filled`);
        let off = 0;
        for (const [start, len] of batch) {
          memory.push({ start, bytes: buf.subarray(off, off + len) });
          off += len;
        }
        done += size;
      }
      progress("copy", done, total);
    } catch (e) {
      if (e instanceof CaptureError && e.code === "exited") {
        throw new CaptureError(
          "exited",
          `Process ${pid} exited during the scan`,
          ["Nothing can be analysed after the process ended; capture it while it runs"],
          e.detail,
        );
      }
      throw e;
    } finally {
      progress("resume", 0, 1);
      target.close();
      pauseMs = performance.now() - t0;
    }
  } finally {
    target?.close();
    // Let a signal that arrived during the synchronous pause reach its listener (which exits with
    // 128+signo) before the listeners go away; otherwise it would be swallowed.
    await new Promise((r) => setTimeout(r, 0));
    for (const [name, fn] of listeners) Deno.removeSignalListener(name, fn);
  }
  warnings.push(...table.warnings);
  memory = memory.sort((a, b) => a.start - b.start);
  progress("done", 1, 1);

  const snapshot: Snapshot = {
    pid,
    command,
    platform: "linux",
    arch,
    pageSize,
    capturedAt: new Date().toISOString(),
    pauseMs,
    regions,
    memory,
    threads,
    images,
    warnings,
  };
  if (auxv) snapshot.auxv = auxv;
  const foreign = foreignAllocator(images);
  if (foreign) snapshot.foreignAllocator = foreign;
  return snapshot;
}

function hostArch(): Arch {
  const a = Deno.build.arch;
  if (a === "x86_64" || a === "aarch64") return a;
  throw new CaptureError(
    "unsupported",
    `Cannot capture on ${a}: only x86_64 and aarch64 are supported`,
  );
}

/** Run a /proc read, turning "no such file" into no_process and EACCES into permission. */
function readProc<T>(pid: number, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CaptureError("no_process", `Cannot attach to process ${pid}: no such process`, [
        `Check the pid with \`ps -p ${pid}\`; the process may have exited`,
      ]);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new CaptureError(
        "permission",
        `Cannot attach to process ${pid}: /proc/${pid}/${what} is not readable`,
        permissionHints(pid),
      );
    }
    throw e;
  }
}

function readThreads(target: Target, arch: Arch, warnings: string[]): ThreadState[] {
  const out: ThreadState[] = [];
  target.threadIds().forEach((tid, i) => {
    const gp = target.regs(i, "general");
    if (gp.length < GP_SIZE[arch]) {
      throw new CaptureError(
        "unsupported",
        `Cannot capture process ${target.pid}: thread ${tid} has a ${gp.length}-byte register set`,
        ["32-bit processes are not supported"],
      );
    }
    let fp: Uint8Array | undefined;
    try {
      fp = target.regs(i, "vector");
    } catch (e) {
      if (e instanceof CaptureError && e.code === "exited") throw e;
      warnings.push(`thread ${tid}: vector registers unreadable: ${(e as Error).message}`);
    }
    const tpBytes = target.regs(i, "thread-pointer");
    const tv = new DataView(tpBytes.buffer, tpBytes.byteOffset, tpBytes.byteLength);
    const tp = tv.getUint32(0, true) + tv.getUint32(4, true) * 4294967296;
    out.push(decodeRegisters(arch, tid, gp, fp, tp));
  });
  return out;
}

/**
 * What to copy, as merged [start, length] spans: every readable+writable region but [vvar] and
 * [vsyscall] and device mappings, the read-only (RELRO) parts of each image's writable segment, and
 * all read-only mappings of libc and the dynamic loader (the glibc parser reads their GOT/rodata).
 */
export function copySpans(
  regions: readonly Region[],
  images: readonly Image[],
): [number, number][] {
  const writable = images.flatMap((i) => i.writable);
  const libcOrLd = new Set(
    images.filter((i) => /^(libc[.-]|ld-linux|ld\.so|ld-2\.|ld-musl)/.test(basename(i.path)))
      .map((i) => i.path),
  );
  const picked: [number, number][] = [];
  for (const r of regions) {
    if (r.perms[0] !== "r") continue;
    if (r.path === "[vvar]" || r.path === "[vsyscall]" || r.path === "[vvar_vclock]") continue;
    if (
      r.path.startsWith("/dev/") && !r.path.startsWith("/dev/shm/") &&
      !r.path.startsWith("/dev/zero")
    ) {
      continue;
    }
    const rw = r.perms[1] === "w";
    const relro = writable.some((w) => w.start < r.end && r.start < w.end);
    const loader = r.perms[2] !== "x" && libcOrLd.has(r.path.replace(/ \(deleted\)$/, ""));
    if (rw || relro || loader) picked.push([r.start, r.end - r.start]);
  }
  picked.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, len] of picked) {
    const last = merged[merged.length - 1];
    if (last && last[0] + last[1] === start) last[1] += len;
    else merged.push([start, len]);
  }
  return merged;
}

/** Split spans into groups of at most BATCH_BYTES (a larger span gets a group of its own). */
function batches(spans: [number, number][]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  let size = 0;
  for (const s of spans) {
    if (cur.length > 0 && size + s[1] > BATCH_BYTES) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(s);
    size += s[1];
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/** A non-glibc allocator exported by some image other than libc, by its telltale symbols. */
function foreignAllocator(images: readonly Image[]): string | undefined {
  for (const i of images) {
    if (/^libc[.-]/.test(basename(i.path)) || !i.symbols) continue;
    const s = i.symbols;
    if ("je_malloc" in s || "mallocx" in s) return "jemalloc";
    if ("tc_malloc" in s || "tcmalloc" in s) return "tcmalloc";
    if ("mi_malloc" in s) return "mimalloc";
  }
  return undefined;
}
