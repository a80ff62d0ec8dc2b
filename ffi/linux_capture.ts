// captureLinuxSnapshot(): stop a Linux process, copy registers and the memory analysis needs, resume it.
//
// Everything slow (reading maps, parsing ELF files and debug symbols, allocating and faulting in the
// destination buffers) happens before the attach; the pause covers re-checking identity and maps,
// the registers and one batched copy per ≤32 MiB, with the --timeout deadline checked between
// copies. Of a thread's stack only the part the analysis reads is copied (from SP down to the
// red zone, and the TLS at the top of the mapping).

import { onInterrupt } from "./on_interrupt.ts";
import type { Arch, Image, MemoryChunk, Region, Snapshot, ThreadState } from "../analysis/types.ts";
import { CopyBuffers } from "./copy_buffers.ts";
import { CaptureError } from "./errors.ts";
import { ImageTable } from "./images.ts";
import { readMaps } from "./maps.ts";
import {
  type ProcessIdentity,
  readAuxv,
  readBlockedStackPointers,
  readCommand,
  readIdentity,
  readStatus,
} from "./procfs.ts";
import { decodeRegisters, GP_SIZE } from "../analysis/linux_registers.ts";
import { shim } from "./shim.ts";
import { mallocFunctionAt, mallocFunctionRanges } from "../analysis/glibc/mod.ts";
import type { MallocFunctionRange } from "../analysis/glibc/mod.ts";
import { permissionHints, Target } from "./target.ts";

export interface CaptureOptions {
  /** Called between phases: "maps", "images", "attach", "registers", "copy", "resume", "done". */
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Bound on the whole pause, from the attach to the resume (default 30000 ms). Past it the
   * target is resumed and the capture fails with code "timeout". */
  timeoutMs?: number;
}

const AT_PAGESZ = 6;
/** Bytes per hs_read_ranges call: the deadline is checked between calls (≈5 ms each here). */
const BATCH_BYTES = 32 * 1024 * 1024;
/** Longest stretch of copying before signal listeners get a turn of the event loop. */
const YIELD_MS = 50;
/** Below SP the stack is dead but for the x86_64 red zone (aarch64 has none; 128 covers both). */
const RED_ZONE = 128;
/** How far below the thread pointer static TLS reaches (analysis/roots.ts, glibc/tcache.ts). */
const TLS_REACH = 8192;
/** glibc's arena heaps start at multiples of HEAP_MAX_SIZE (64 MiB): never cut one short. */
const ARENA_ALIGN = 64 * 1024 * 1024;
/** How far a blocked thread's SP seen before the stop may sit above the one read while stopped. */
const SP_MARGIN = 16384;
/** Single steps (and ms) per thread inside a malloc function before falling back to re-stops. */
const STEP_MAX = 100_000;
const STEP_MS = 50;
/** Re-stops at most this often when a thread is stopped inside a malloc function. */
const ALLOCATOR_RETRIES = 20;
/** How long the target runs between two stops of that retry (ms). */
const RETRY_RUN_MS = 2;
/** Retries stop once this share of --timeout has passed, leaving the rest for the copy. */
const RETRY_SHARE = 0.25;

/**
 * Snapshot of process `pid`. The target is stopped from the attach to the resume only
 * (`pauseMs`, at most `timeoutMs`), and resumed on every path out, including an exception,
 * SIGINT/SIGTERM/SIGHUP and, through PTRACE_SEIZE semantics, heapscope being killed.
 * A target that exits, execs or is replaced by another process with its pid fails the capture.
 */
export async function captureLinuxSnapshot(
  pid: number,
  opts: CaptureOptions = {},
): Promise<Snapshot> {
  const progress = opts.onProgress ?? (() => {});
  shim(); // load the library now: dlopen must not lengthen the pause
  const arch = hostArch();
  const warnings: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 30_000;

  progress("maps", 0, 1);
  const before = readProc(pid, "stat", () => readIdentity(pid));
  const early = readProc(pid, "maps", () => readMaps(pid));
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
  // Parse every ELF now, outside the pause. The copy planned from this map sizes the destination
  // buffers, faulted in now so the pause does not pay for it (a thread stack whose SP cannot be
  // read before the stop is planned whole); the slack absorbs growth before the stop.
  const planned = copySpans(
    early,
    table.images(pid, early, pageSize),
    readBlockedStackPointers(pid).map((sp) => ({ sp: sp - SP_MARGIN, tp: 0 })),
    pageSize,
  );
  const estimate = sum(planned);
  const buffers = new CopyBuffers(
    planned.map(([, len]) => len),
    (1 << 20) + Math.ceil(estimate / 64),
    pageSize,
  );
  await testDelay("HEAPSCOPE_TEST_ATTACH_DELAY_MS");

  let target: Target | undefined;
  const interrupt = onInterrupt(() => target?.close());

  let regions: Region[] = early;
  let images: Image[] = [];
  let threads: ThreadState[] = [];
  const memory: MemoryChunk[] = [];
  let pauseMs = 0;
  let retries = 0;
  let steps = 0;
  try {
    progress("attach", 0, 1);
    const t0 = performance.now();
    const deadline = t0 + timeoutMs;
    const overdue = (done: number, total: number) =>
      timeoutError(pid, timeoutMs, done, total, performance.now() - t0);
    const attach = (): Target => {
      try {
        return Target.attach(pid, Math.max(1, Math.ceil(deadline - performance.now())));
      } catch (e) {
        if (
          e instanceof CaptureError && /did not stop in time/.test(e.detail) &&
          performance.now() >= deadline
        ) {
          throw overdue(0, estimate);
        }
        throw e;
      }
    };
    target = attach();
    // Time stopped before the current stop (retries), and when the current stop began.
    let stoppedBefore = 0;
    let stoppedAt = t0;
    try {
      const t = () => target!;
      for (;;) {
        // While stopped: is it still the program whose maps and ELF files were read before?
        checkSameProgram(pid, before, readProc(pid, "stat", () => readIdentity(pid)));
        // The maps may have changed before the stop (new threads, mmaps): these are
        // authoritative, and the copy is planned from them alone.
        regions = readProc(pid, "maps", () => readMaps(pid));
        images = table.images(pid, regions, pageSize, (start, length) => {
          const buf = new Uint8Array(length);
          return t().read([start, length], buf) === 0 ? buf : undefined;
        });
        progress("registers", 0, 1);
        const threadWarnings: string[] = [];
        threads = readThreads(target, arch, threadWarnings);
        // A thread stopped inside malloc/free may have a chunk half split, half linked. First
        // single-step each such thread out of the allocator while the others stay stopped; if
        // one cannot leave (step or time limit, a signal), let the whole process run a few ms and
        // stop it again, within a share of the deadline.
        const ranges = mallocFunctionRanges(images);
        let busy = threadsInAllocator(threads, ranges);
        if (busy.length > 0 && !Deno.env.get("HEAPSCOPE_TEST_NO_STEP")) {
          const ids = target.threadIds();
          for (const b of busy) {
            steps += target.stepOut(ids.indexOf(b.tid), ranges, STEP_MAX, STEP_MS).steps;
          }
          threadWarnings.length = 0;
          threads = readThreads(target, arch, threadWarnings);
          busy = threadsInAllocator(threads, ranges);
        }
        const late = performance.now() + RETRY_RUN_MS >= t0 + timeoutMs * RETRY_SHARE;
        if (busy.length === 0 || retries >= ALLOCATOR_RETRIES || late) {
          warnings.push(...threadWarnings);
          for (const b of busy) {
            warnings.push(
              `thread ${b.tid} was inside ${b.fn} when the heap was copied: blocks it was ` +
                `changing may be misclassified (${retries} re-stops did not find every thread ` +
                `outside malloc)`,
            );
          }
          break;
        }
        retries++;
        target.close();
        stoppedBefore += performance.now() - stoppedAt;
        await new Promise((r) => setTimeout(r, RETRY_RUN_MS));
        stoppedAt = performance.now();
        target = attach();
      }
      const changed = mapChanges(early, regions);
      if (changed) {
        warnings.push(
          `the memory map changed just before the stop (${changed}); the copy follows the map read while stopped`,
        );
      }
      await testDelay("HEAPSCOPE_TEST_PAUSE_MS");
      if (Deno.env.get("HEAPSCOPE_TEST_THROW")) {
        throw new Error("HEAPSCOPE_TEST_THROW: an unexpected error inside the stopped window");
      }
      const spans = copySpans(regions, images, threads, pageSize);
      const total = sum(spans);
      let done = 0;
      let lastYield = performance.now();
      for (const span of spans) memory.push({ start: span[0], bytes: buffers.take(span[1]) });
      for (const call of readCalls(memory)) {
        if (performance.now() >= deadline) throw overdue(done, total);
        progress("copy", done, total);
        const missing = target.read(call.ranges, call.dst);
        if (missing > 0) warnings.push(`${missing} bytes could not be read and were zero-filled`);
        done += call.dst.length;
        await testDelay("HEAPSCOPE_TEST_BATCH_DELAY_MS");
        if (performance.now() - lastYield > YIELD_MS) {
          // Let a SIGINT/SIGTERM/SIGHUP listener run (it resumes the target and exits).
          await new Promise((r) => setTimeout(r, 0));
          lastYield = performance.now();
        }
      }
      if (!target.alive()) {
        throw new CaptureError("exited", `Process ${pid} exited during the scan`, [
          "Nothing can be analysed after the process ended; capture it while it runs",
        ]);
      }
      progress("copy", done, total);
    } catch (e) {
      // Killed while stopped: SIGKILL wakes the threads, so whatever fails first (ESRCH from a
      // register read, /proc/PID/exe vanishing like an execve) may come before the exit itself.
      // Resume first: the wait for the exit must not lengthen the pause.
      let died = false;
      if (e instanceof CaptureError && e.code !== "exited" && e.code !== "timeout") {
        target.close();
        died = await exitedSoon(pid, before);
      }
      if (e instanceof CaptureError && (e.code === "exited" || died)) {
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
      pauseMs = stoppedBefore + performance.now() - stoppedAt;
    }
  } finally {
    target?.close();
    await interrupt.release();
  }
  warnings.push(...table.warnings);
  memory.sort((a, b) => a.start - b.start);
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
  if (retries > 0) snapshot.allocatorRetries = retries;
  if (steps > 0) snapshot.allocatorSteps = steps;
  return snapshot;
}

/** Tests only: sleep `name` ms (asynchronously, so that signal listeners run meanwhile); the
 * knobs are HEAPSCOPE_TEST_ATTACH_DELAY_MS (before the stop), HEAPSCOPE_TEST_PAUSE_MS (stopped,
 * before the copy) and HEAPSCOPE_TEST_BATCH_DELAY_MS (after every read call of the copy). */
async function testDelay(name: string): Promise<void> {
  const ms = Number(Deno.env.get(name) ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/** Whether process `pid` (as `before` identifies it) is gone or a zombie within 250 ms. */
async function exitedSoon(pid: number, before: ProcessIdentity): Promise<boolean> {
  const end = performance.now() + 250;
  for (;;) {
    const st = readStatus(pid)["State"];
    if (st === undefined || /^[ZX]/.test(st)) return true;
    try {
      if (readIdentity(pid).startTime !== before.startTime) return true;
    } catch {
      return true;
    }
    if (performance.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Throw when the stopped process is not the one read before the attach (pid reuse, execve). */
function checkSameProgram(pid: number, before: ProcessIdentity, now: ProcessIdentity): void {
  if (now.startTime !== before.startTime) {
    throw new CaptureError(
      "changed",
      `Cannot capture process ${pid}: it exited and another process now has its pid`,
      ["Check the pid with `ps -p " + pid + "` and run heapscope again"],
      `starttime ${before.startTime} → ${now.startTime}`,
    );
  }
  if (now.exe !== before.exe || now.auxv !== before.auxv) {
    const what = now.exe !== before.exe ? `${before.exe || "?"} → ${now.exe || "?"}` : now.exe;
    throw new CaptureError(
      "changed",
      `Cannot capture process ${pid}: it replaced its program (execve: ${what}) while heapscope was attaching`,
      [
        "Nothing was analysed: the memory read before the stop belonged to the old program",
        "Run heapscope again once the process has finished starting up",
      ],
    );
  }
}

/** "N added, M removed" between two reads of the maps, or "" when they are the same. */
function mapChanges(a: readonly Region[], b: readonly Region[]): string {
  const key = (r: Region) => `${r.start}-${r.end} ${r.perms} ${r.offset} ${r.inode} ${r.path}`;
  const ka = new Set(a.map(key));
  const kb = new Set(b.map(key));
  const added = b.filter((r) => !ka.has(key(r))).length;
  const removed = a.filter((r) => !kb.has(key(r))).length;
  return added || removed ? `${added} region(s) added, ${removed} removed` : "";
}

function timeoutError(
  pid: number,
  timeoutMs: number,
  done: number,
  total: number,
  elapsedMs: number,
): CaptureError {
  const rate = done > 0 ? done / elapsedMs : 0; // bytes per ms
  const needS = rate > 0
    ? Math.ceil((total / rate / 1000) * 2 + 1)
    : Math.ceil(timeoutMs / 1000 * 10 + 1);
  return new CaptureError(
    "timeout",
    `Cannot capture process ${pid} within --timeout ${timeoutMs / 1000} s: resumed it after ${
      elapsedMs.toFixed(1)
    } ms with ${mib(done)} of ${mib(total)} copied`,
    [
      `Raise the bound, e.g. \`--timeout ${needS}\` (the target stays stopped up to that long)`,
      "Nothing was analysed: heapscope never reports a partly copied heap",
    ],
  );
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function sum(spans: readonly (readonly [number, number])[]): number {
  return spans.reduce((s, [, len]) => s + len, 0);
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

/** The threads whose PC is in a malloc function, with its name. O(threads · functions). */
export function threadsInAllocator(
  threads: readonly Pick<ThreadState, "tid" | "pc">[],
  ranges: readonly MallocFunctionRange[],
): { tid: number; fn: string }[] {
  const out: { tid: number; fn: string }[] = [];
  for (const t of threads) {
    const fn = mallocFunctionAt(ranges, t.pc);
    if (fn !== undefined) out.push({ tid: t.tid, fn });
  }
  return out;
}

/**
 * What to copy, as merged [start, length] spans: every readable+writable region but [vvar] and
 * [vsyscall] and device mappings, the read-only (RELRO) parts of each image's writable segment, and
 * all read-only mappings of libc and the dynamic loader (the glibc parser reads their GOT/rodata).
 * A thread stack that holds the SP of some of `threads` is copied from the lowest such SP (less the
 * red zone) or thread pointer (less the TLS reach), page-aligned, to its end: below that it is dead
 * and the analysis never reads it (analysis/roots.ts). O(regions · (images + threads)).
 */
export function copySpans(
  regions: readonly Region[],
  images: readonly Image[],
  threads: readonly Pick<ThreadState, "sp" | "tp">[] = [],
  pageSize = 4096,
): [number, number][] {
  const writable = images.flatMap((i) => i.writable);
  const libcOrLd = new Set(
    images.filter((i) => /^(libc[.-]|ld-linux|ld\.so|ld-2\.|ld-musl)/.test(basename(i.path)))
      .map((i) => i.path),
  );
  const picked: [number, number][] = [];
  for (const [i, r] of regions.entries()) {
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
    if (!(rw || relro || loader)) continue;
    const from = rw ? liveStackStart(r, regions[i - 1], threads, pageSize) : r.start;
    picked.push([from, r.end - from]);
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

/**
 * Where the copy of rw region `r` starts: `r.start`, or, for a thread stack (the main [stack], or
 * an anonymous mapping right above a PROT_NONE guard that is not an arena heap) holding some
 * thread's SP, the lowest SP − red zone / thread pointer − TLS reach in it, rounded down to a page.
 * Anything else holding an SP (a stack carved out of the heap, a user-supplied mapping) is whole.
 */
function liveStackStart(
  r: Region,
  below: Region | undefined,
  threads: readonly Pick<ThreadState, "sp" | "tp">[],
  pageSize: number,
): number {
  const guarded = r.path === "" && r.start % ARENA_ALIGN !== 0 && below !== undefined &&
    below.end === r.start && below.perms.startsWith("---");
  if (r.path !== "[stack]" && !guarded) return r.start;
  let low = Infinity;
  for (const t of threads) {
    if (t.sp >= r.start && t.sp < r.end) low = Math.min(low, t.sp - RED_ZONE);
  }
  if (low === Infinity) return r.start;
  for (const t of threads) {
    if (t.tp >= r.start && t.tp < r.end) low = Math.min(low, t.tp - TLS_REACH);
  }
  return Math.max(r.start, low - (low % pageSize));
}

/** One hs_read_ranges call: ranges (flattened [address, length]) copied back to back into dst. */
interface ReadCall {
  ranges: number[];
  dst: Uint8Array;
}

/**
 * The read calls that fill `chunks`: neighbours whose buffers are adjacent in one block share a
 * call, a call copies at most BATCH_BYTES (a bigger chunk is cut), so the deadline is checked often.
 */
function readCalls(chunks: readonly MemoryChunk[]): ReadCall[] {
  const out: ReadCall[] = [];
  let cur: { ranges: number[]; buf: Uint8Array; from: number; to: number } | undefined;
  const flush = () => {
    if (cur) out.push({ ranges: cur.ranges, dst: cur.buf.subarray(cur.from, cur.to) });
    cur = undefined;
  };
  for (const c of chunks) {
    const base = c.bytes.byteOffset;
    for (let off = 0; off < c.bytes.length; off += BATCH_BYTES) {
      const len = Math.min(BATCH_BYTES, c.bytes.length - off);
      const at = base + off;
      if (
        !cur || cur.buf.buffer !== c.bytes.buffer || cur.to !== at ||
        cur.to - cur.from + len > BATCH_BYTES
      ) {
        flush();
        cur = { ranges: [], buf: new Uint8Array(c.bytes.buffer), from: at, to: at };
      }
      cur.ranges.push(c.start + off, len);
      cur.to += len;
    }
  }
  flush();
  return out;
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
