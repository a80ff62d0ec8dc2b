// captureLinuxSnapshot(): stop a Linux process, copy registers and the memory analysis needs, resume it.
//
// Everything slow happens before the attach: reading maps, parsing ELF files, debug symbols and the
// allocator's call frame information, finding which pages exist, and mapping and faulting in the
// destination (huge pages where the kernel allows). The pause covers re-checking identity and
// maps, the registers, letting threads stopped inside malloc finish (each alone, briefly), finding
// which pages exist now, and one batched copy per ≤32 MiB, with the --timeout deadline checked
// between copies. Of a thread's stack only the part the analysis reads is copied (from SP down to
// the red zone, and the TLS at the top of the mapping); of private anonymous memory only the
// pages that exist (an absent page reads as zeros, and reading it through the target would
// allocate it there).

import { onInterrupt } from "./on_interrupt.ts";
import type { Arch, Image, MemoryChunk, Region, Snapshot, ThreadState } from "../analysis/types.ts";
import { CopyBuffers, transparentHugePages } from "./copy_buffers.ts";
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
  stealMs,
  stealWarning,
} from "./procfs.ts";
import { decodeRegisters, GP_SIZE } from "../analysis/linux_registers.ts";
import { shim } from "./shim.ts";
import {
  mallocFunctionAt,
  type MallocFunctionRange,
  mallocFunctionRanges,
} from "../analysis/glibc/malloc_functions.ts";
import { permissionHints, residentRanges, Target } from "./target.ts";
import {
  CodeMap,
  dwarfRegisters,
  type Frame,
  type UnwindImage,
  unwindImage,
  unwindStack,
} from "../analysis/unwind/mod.ts";

/**
 * Hooks for tests only: they widen or break the capture's windows so that tests can hit them.
 * Product code never sets them; the command line passes them from the environment of a test run
 * (see captureTestHooksFromEnv).
 */
export interface CaptureTestHooks {
  /** Sleep this long after preparing, before the stop (ms). */
  attachDelayMs?: number;
  /** Sleep this long while stopped, before the copy (ms). */
  pauseMs?: number;
  /** Sleep this long after every read call of the copy (ms). */
  batchDelayMs?: number;
  /** Throw an unexpected Error inside the stopped window. */
  throwInPause?: boolean;
  /** Never let single threads run out of the allocator: only whole-process re-stops. */
  noRunOut?: boolean;
  /** Let the threads found inside the allocator run this many more rounds once they are out. */
  extraRunRounds?: number;
  /**
   * The longest the threads are let out of the allocator (ms; default ALLOCATOR_MAX_MS, within
   * the same share of --timeout): a test on a machine others load needs more than 2 s of runs.
   */
  allocatorMaxMs?: number;
}

export interface CaptureOptions {
  /**
   * Called between phases: "maps", "images", "buffers" (bytes prepared before the stop), "attach",
   * "registers", "allocator" (threads let out of malloc), "copy", "resume", "done".
   */
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Bound on the whole pause, from the attach to the resume (default 30000 ms). Past it the
   * target is resumed and the capture fails with code "timeout". */
  timeoutMs?: number;
  /** Tests only. */
  test?: CaptureTestHooks;
}

/**
 * The test hooks of a test run's environment (HEAPSCOPE_TEST_ATTACH_DELAY_MS, _PAUSE_MS,
 * _BATCH_DELAY_MS, _THROW, _NO_RUN_OUT, _EXTRA_RUN_ROUNDS), for the command line to pass on.
 * Returns undefined when none is set. `get` reads one variable (e.g. Deno.env.get).
 */
export function captureTestHooksFromEnv(
  get: (name: string) => string | undefined,
): CaptureTestHooks | undefined {
  const num = (name: string) => {
    const v = Number(get(`HEAPSCOPE_TEST_${name}`) ?? 0);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const hooks: CaptureTestHooks = {};
  const set = <K extends keyof CaptureTestHooks>(k: K, v: CaptureTestHooks[K] | undefined) => {
    if (v !== undefined) hooks[k] = v;
  };
  set("attachDelayMs", num("ATTACH_DELAY_MS"));
  set("pauseMs", num("PAUSE_MS"));
  set("batchDelayMs", num("BATCH_DELAY_MS"));
  set("throwInPause", get("HEAPSCOPE_TEST_THROW") ? true : undefined);
  set("noRunOut", get("HEAPSCOPE_TEST_NO_RUN_OUT") ? true : undefined);
  set("extraRunRounds", num("EXTRA_RUN_ROUNDS"));
  return Object.keys(hooks).length > 0 ? hooks : undefined;
}

const AT_PAGESZ = 6;
/** Bytes per hs_read_ranges call: the deadline is checked between calls (≈5 ms each here). */
const BATCH_BYTES = 32 * 1024 * 1024;
/** Largest copied chunk (Snapshot.memory entry): 1 GiB, a multiple of every page size. */
const CHUNK_BYTES = 1 << 30;
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
/** First run of a round (µs of the thread's own CPU time); the runs grow by RUN_GROWTH per round
 * up to RUN_MAX_US, with ±50 % jitter so that a thread in a loop is not stopped at the same point
 * of it every time. A malloc or free takes well under a microsecond to a few µs, an mremap of a
 * big block or a malloc_consolidate of a large arena tens of µs. */
const RUN_FIRST_US = 30;
const RUN_GROWTH = 1.25;
const RUN_MAX_US = 2000;
/**
 * Rounds in which a thread ran without its PC or SP moving before it counts as stuck (asleep on
 * something no running thread will release: a fork holding every arena lock, a signal): then the
 * whole process is let run for a moment instead. A lock waiter is woken within a round or two.
 */
const STUCK_ROUNDS = 8;
/** Frames of the allocator's own image walked up from a stopped PC: glibc's deepest malloc chain
 * (realloc → _int_realloc → _int_malloc → sysmalloc → grow_heap → mprotect) is 6 frames deep,
 * a lock wait under it 2 more. */
const ALLOCATOR_FRAMES = 16;
/** Re-stops at most this often when a thread is still inside a malloc function. */
const ALLOCATOR_RETRIES = 20;
/** How long the target runs between two stops of that retry (ms). */
const RETRY_RUN_MS = 2;
/** Letting threads out and re-stops end once this share of --timeout has passed, leaving the
 * rest for the copy... */
const RETRY_SHARE = 0.25;
/** ...or after this long (ms): a thread that has not left malloc in 2 s of trying (thousands of
 * runs) is in a loop that lives in the allocator (measured: a realloc loop whose frees trim the
 * heap spends 99 % of its time in madvise and memmove); the pause must stay short regardless. */
const ALLOCATOR_MAX_MS = 2000;
/** Pages read per stack read of the unwinder (a frame chain of a few KiB fits one or two). */
const STACK_PAGE = 4096;

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
  const hooks = opts.test ?? {};
  shim(); // load the library now: dlopen must not lengthen the pause
  const arch = hostArch();
  const warnings: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const allocatorMaxMs = hooks.allocatorMaxMs ?? ALLOCATOR_MAX_MS;

  progress("maps", 0, 1);
  const started = performance.now();
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
  const earlyImages = table.images(pid, early, pageSize);
  const unwinder = new AllocatorUnwinder(pid, arch, warnings);
  unwinder.prepare(early, earlyImages);
  // The copy planned from this map sizes the destination, faulted in now so the pause does not pay
  // for it (a thread stack whose SP cannot be read before the stop is planned whole); the slack
  // absorbs growth before the stop. Only the pages that exist count.
  const planned = residentParts(
    pid,
    copyPlan(
      early,
      earlyImages,
      readBlockedStackPointers(pid).map((sp) => ({ sp: sp - SP_MARGIN, tp: 0 })),
      pageSize,
    ),
  );
  const estimate = sum(planned.spans);
  const thp = transparentHugePages();
  const buffersFrom = performance.now();
  const buffers = new CopyBuffers(
    planned.spans.map(([, len]) => len),
    (1 << 20) + Math.ceil(estimate / 64),
    { hugePages: thp !== "never", onProgress: (done, total) => progress("buffers", done, total) },
  );
  const buffersMs = performance.now() - buffersFrom;
  if (
    thp !== "never" && buffers.preparedBytes >= 64 << 20 &&
    buffers.hugeBytes * 2 < buffers.preparedBytes
  ) {
    // Huge pages asked for but mostly not given (fragmented memory, defrag off): the copy is slower.
    warnings.push(
      `only ${mib(buffers.hugeBytes)} of the ${mib(buffers.preparedBytes)} copy buffers got ` +
        `transparent huge pages: the copy into 4 KiB pages takes longer`,
    );
  }
  if (thp === "never" && estimate > 0) {
    warnings.push(
      "transparent huge pages are off (/sys/kernel/mm/transparent_hugepage/enabled is never): the " +
        "copy goes into 4 KiB pages, whose first copy is several times slower in some VMs",
    );
  }
  await testDelay(hooks.attachDelayMs);

  let target: Target | undefined;
  const interrupt = onInterrupt(() => target?.close());

  let regions: Region[] = early;
  let images: Image[] = [];
  let threads: ThreadState[] = [];
  const memory: MemoryChunk[] = [];
  let pauseMs = 0;
  let retries = 0;
  let runRounds = 0;
  let pagemapScan = true;
  let prepareMs = 0, copyFrom = 0, copyMs = 0;
  // The hypervisor's steal time around the pause (ffi/procfs.ts stealMs).
  let stealBefore: number | undefined, pauseStealMs: number | undefined;
  try {
    progress("attach", 0, 1);
    const t0 = performance.now();
    prepareMs = t0 - started - buffersMs;
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
    stealBefore = stealMs();
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
        unwinder.prepare(regions, images);
        progress("registers", 0, 1);
        const threadWarnings: string[] = [];
        threads = readThreads(target, arch, threadWarnings);
        // A thread stopped inside malloc/free (by its call chain: a PC in mremap or in a lock wait
        // counts when malloc called it) may have a chunk half split, half linked. Let each such
        // thread run alone, briefly, until it is out, the others staying stopped; if one cannot
        // leave (a lock another thread holds, a signal), let the whole process run a few ms and
        // stop it again, within a share of the deadline.
        let busy = unwinder.busyThreads(target, threads);
        if ((busy.length > 0 || (hooks.extraRunRounds ?? 0) > 0) && !hooks.noRunOut) {
          progress("allocator", 0, busy.length);
          const end = t0 + Math.min(timeoutMs * RETRY_SHARE, allocatorMaxMs);
          runRounds += await letThreadsOut(target, arch, unwinder, threads, busy, end, hooks);
          // The threads that ran may have mapped, moved (mremap) or unmapped memory, loaded a
          // library or started threads: read the maps and the threads again.
          regions = readProc(pid, "maps", () => readMaps(pid));
          images = table.images(pid, regions, pageSize, (start, length) => {
            const buf = new Uint8Array(length);
            return t().read([start, length], buf) === 0 ? buf : undefined;
          });
          unwinder.prepare(regions, images);
          threadWarnings.length = 0;
          threads = readThreads(target, arch, threadWarnings);
          busy = unwinder.busyThreads(target, threads);
        }
        const late = performance.now() + RETRY_RUN_MS >=
          t0 + Math.min(timeoutMs * RETRY_SHARE, allocatorMaxMs);
        if (busy.length === 0 || retries >= ALLOCATOR_RETRIES || late) {
          warnings.push(...threadWarnings);
          for (const b of busy) {
            warnings.push(
              `thread ${b.tid} was inside ${b.fn} when the heap was copied: blocks it was ` +
                `changing may be misclassified (it did not leave malloc in ${runRounds} runs ` +
                `alone and ${retries} re-stops, ${(performance.now() - t0).toFixed(0)} ms)`,
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
      await testDelay(hooks.pauseMs);
      if (hooks.throwInPause) {
        throw new Error("test hook throwInPause: an unexpected error inside the stopped window");
      }
      const plan = residentParts(pid, copyPlan(regions, images, threads, pageSize));
      pagemapScan = plan.scan;
      const spans = plan.spans;
      const total = sum(spans);
      let done = 0;
      let lastYield = performance.now();
      for (const span of spans) memory.push({ start: span[0], bytes: buffers.take(span[1]) });
      copyFrom = performance.now();
      for (const call of readCalls(memory)) {
        if (performance.now() >= deadline) throw overdue(done, total);
        progress("copy", done, total);
        const missing = target.read(call.ranges, call.dst);
        if (missing > 0) warnings.push(`${missing} bytes could not be read and were zero-filled`);
        done += call.dst.length;
        await testDelay(hooks.batchDelayMs);
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
      copyMs = performance.now() - copyFrom;
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
      const stealAfter = stealMs();
      if (stealBefore !== undefined && stealAfter !== undefined) {
        pauseStealMs = Math.max(0, stealAfter - stealBefore);
      }
    }
  } finally {
    target?.close();
    await interrupt.release();
  }
  warnings.push(...table.warnings);
  const steal = stealWarning(pauseMs, pauseStealMs);
  if (steal) warnings.push(steal);
  // The target runs again: what the copy did not fill goes back before the analysis.
  buffers.discardUnused();
  if (buffers.coldBytes > 0) {
    warnings.push(
      `${mib(buffers.coldBytes)} of the copy went into memory faulted in during the pause (the ` +
        `process grew after the buffers were prepared)`,
    );
  }
  if (!pagemapScan) {
    warnings.push(
      "the kernel has no PAGEMAP_SCAN (Linux < 6.7): which pages exist was read from " +
        "/proc/PID/pagemap entries, and zero pages were copied",
    );
  }
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
    // The pause split in two: the stop (attach, maps, registers, allocator check, the plan) and
    // the copy itself.
    captureMs: { prepare: prepareMs, buffers: buffersMs, stop: pauseMs - copyMs, copy: copyMs },
    ...(pauseStealMs !== undefined ? { pauseStealMs } : {}),
    warnings,
  };
  if (auxv) snapshot.auxv = auxv;
  if (retries > 0) snapshot.allocatorRetries = retries;
  if (runRounds > 0) snapshot.allocatorSteps = runRounds;
  return snapshot;
}

/** A thread whose call chain is inside the allocator, and the malloc function it is in. */
export interface BusyThread {
  tid: number;
  fn: string;
}

/**
 * Let the threads of `busy` run, alone (every other thread stopped), in short bursts until their
 * call chains are out of the allocator, `end` (performance.now()) has passed, or every one left is
 * stuck (STUCK_ROUNDS without moving). Each burst stops a thread at a point of its own choosing,
 * so a thread that spends most of its time in malloc needs many: the rounds are cheap (only the
 * busy threads' registers and a few stack pages are read). Returns the rounds run; the threads must
 * be read again afterwards. O(rounds · busy threads).
 */
async function letThreadsOut(
  target: Target,
  arch: Arch,
  unwinder: AllocatorUnwinder,
  threads: readonly ThreadState[],
  busy: BusyThread[],
  end: number,
  hooks: CaptureTestHooks,
): Promise<number> {
  // The extra rounds of a test run the threads found busy, or every thread when none was.
  const first = new Set(busy.map((b) => b.tid));
  if (first.size === 0) { for (const t of threads) first.add(t.tid); }
  let extra = hooks.extraRunRounds ?? 0;
  let runUs = RUN_FIRST_US;
  let rounds = 0;
  let lastYield = performance.now();
  const still = new Map<number, { pc: number; sp: number; rounds: number }>();
  for (const t of threads) still.set(t.tid, { pc: t.pc, sp: t.sp, rounds: 0 });
  while ((busy.length > 0 || extra > 0) && performance.now() < end) {
    const ids = target.threadIds();
    const run = busy.length > 0 ? busy.map((b) => b.tid) : ids.filter((tid) => first.has(tid));
    if (busy.length === 0) extra--;
    const indices = run.map((tid) => ids.indexOf(tid)).filter((i) => i >= 0);
    if (indices.length === 0) break;
    const { ran, added } = target.runThreads(indices, runUs * (0.5 + Math.random()));
    rounds++;
    if (ran === 0 && busy.length > 0) break; // they hold a signal or are job-control stopped
    runUs = Math.min(RUN_MAX_US, runUs * RUN_GROWTH);
    // Threads started or ended meanwhile change the indexes: then read them all again.
    const now = target.threadIds();
    const same = added === 0 && now.length === ids.length;
    const ranThreads = same
      ? indices.map((i) => readThread(target, arch, i, now[i]!))
      : readThreads(target, arch, []);
    busy = unwinder.busyThreads(target, ranThreads);
    let stuck = 0;
    for (const b of busy) {
      const t = ranThreads.find((x) => x.tid === b.tid)!;
      const s = still.get(t.tid);
      if (s && s.pc === t.pc && s.sp === t.sp) s.rounds++;
      else still.set(t.tid, { pc: t.pc, sp: t.sp, rounds: 0 });
      if (still.get(t.tid)!.rounds >= STUCK_ROUNDS) stuck++;
    }
    if (busy.length > 0 && stuck === busy.length && extra <= 0) break;
    if (performance.now() - lastYield > YIELD_MS) {
      // Let a SIGINT/SIGTERM/SIGHUP listener run (it resumes the target and exits).
      await new Promise((r) => setTimeout(r, 0));
      lastYield = performance.now();
    }
  }
  return rounds;
}

/**
 * Which stopped threads are inside glibc's malloc, decided from their call chains: each is unwound
 * (analysis/unwind, with the allocator image's .eh_frame) while its frames stay in the image that
 * holds malloc, and is busy when one of those frames is in a malloc function: a PC in __mremap
 * called from realloc, in __lll_lock_wait called from _int_free, or anywhere under
 * tcache_thread_shutdown.
 */
class AllocatorUnwinder {
  #pid: number;
  #arch: Arch;
  #warnings: string[];
  #ranges: MallocFunctionRange[] = [];
  #unwindImages = new Map<string, UnwindImage>();
  #code = new CodeMap([]);
  #stacks: Region[] = [];

  constructor(pid: number, arch: Arch, warnings: string[]) {
    this.#pid = pid;
    this.#arch = arch;
    this.#warnings = warnings;
  }

  /**
   * Index the malloc functions of `images` and load the .eh_frame of the images holding them
   * (libc, or the executable of a static program). Cached by path: a second call with the same
   * images costs O(regions).
   */
  prepare(regions: readonly Region[], images: readonly Image[]): void {
    this.#ranges = mallocFunctionRanges(images);
    const textByPath = new Map<string, { start: number; end: number }[]>();
    for (const m of regions) {
      if (m.perms[2] !== "x" || !m.path.startsWith("/")) continue;
      const path = m.path.replace(/ \(deleted\)$/, "");
      const list = textByPath.get(path) ?? [];
      list.push({ start: m.start, end: m.end });
      textByPath.set(path, list);
    }
    const list: UnwindImage[] = [];
    for (const img of images) {
      const text = textByPath.get(img.path) ?? [];
      const holds = this.#ranges.some((r) =>
        text.some((t) => t.start <= r.start && r.start < t.end)
      );
      if (!holds) continue;
      const key = `${img.path}@${img.bias}`;
      let u = this.#unwindImages.get(key);
      if (!u) {
        u = loadUnwindImage(this.#pid, img, text, regions, this.#warnings);
        this.#unwindImages.set(key, u);
      }
      u.text = text;
      list.push(u);
    }
    this.#code = new CodeMap(list);
    this.#stacks = regions.filter((r) => r.perms.startsWith("rw"));
  }

  /** The threads whose call chain is inside a malloc function. O(threads · frames). */
  busyThreads(target: Target, threads: readonly ThreadState[]): BusyThread[] {
    const out: BusyThread[] = [];
    for (const t of threads) {
      const fn = this.allocatorFunction(target, t);
      if (fn !== undefined) out.push({ tid: t.tid, fn });
    }
    return out;
  }

  /** The malloc function on `t`'s call chain, or undefined. */
  allocatorFunction(target: Target, t: ThreadState): string | undefined {
    const direct = mallocFunctionAt(this.#ranges, t.pc);
    if (direct !== undefined) return direct;
    if (!this.#code.find(t.pc)) return undefined; // not in malloc's image: cannot be under malloc
    const frames = this.frames(target, t);
    for (let i = 1; i < frames.length; i++) {
      const f = frames[i]!;
      if (!this.#code.find(f.pc)) break; // left the allocator's image: the rest is the program
      // A return address points after the call: the call itself is one byte before.
      const fn = mallocFunctionAt(this.#ranges, f.pc - 1);
      if (fn !== undefined) return fn;
    }
    return undefined;
  }

  /** `t`'s innermost frames (at most ALLOCATOR_FRAMES), reading its stack from the target. */
  frames(target: Target, t: ThreadState): Frame[] {
    const stack = this.#stacks.find((r) => r.start <= t.sp && t.sp < r.end);
    if (!stack) return [];
    // Only the live stack is read: [SP − red zone, end). Below it pages may not exist, and reading
    // an absent page through the target would allocate it.
    const low = Math.max(stack.start, t.sp - RED_ZONE);
    const pages = new Map<number, Uint8Array | undefined>();
    const readWord = (a: number): number | undefined => {
      if (a < low || a + 8 > stack.end || a % 8 !== 0) return undefined;
      const page = a - (a % STACK_PAGE);
      if (!pages.has(page)) {
        // The page from `low` up (a word never straddles pages: both are 8-aligned).
        const from = Math.max(page, low);
        const buf = new Uint8Array(STACK_PAGE);
        const dst = buf.subarray(from - page, Math.min(STACK_PAGE, stack.end - page));
        pages.set(page, target.read([from, dst.length], dst) === 0 ? buf : undefined);
      }
      const bytes = pages.get(page);
      if (!bytes) return undefined;
      const v = new DataView(bytes.buffer);
      const o = a - page;
      return v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
    };
    return unwindStack({
      arch: this.#arch,
      pc: t.pc,
      sp: t.sp,
      registers: dwarfRegisters(this.#arch, t.registers),
      readWord,
      images: this.#code,
      stack: { start: low, end: stack.end },
      maxFrames: ALLOCATOR_FRAMES,
      // Past the allocator's image the rest of the chain cannot be under malloc.
      stopAfter: (f) => !this.#code.find(f.pc),
    });
  }
}

/** The unwinder's view of `img`: its file (through /proc/PID/map_files when it can), at its bias. */
function loadUnwindImage(
  pid: number,
  img: Image,
  text: { start: number; end: number }[],
  regions: readonly Region[],
  warnings: string[],
): UnwindImage {
  const first = regions.find((r) => r.path.replace(/ \(deleted\)$/, "") === img.path);
  const candidates = [
    ...(first
      ? [`/proc/${pid}/map_files/${first.start.toString(16)}-${first.end.toString(16)}`]
      : []),
    img.path,
  ];
  for (const path of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch {
      continue;
    }
    return unwindImage(img.path, (o, n) => bytes.subarray(o, o + n), img.bias, text, warnings);
  }
  warnings.push(
    `${img.path}: unreadable, so threads inside malloc are recognised by their PC only`,
  );
  return { path: img.path, bias: img.bias, text };
}

/** Tests only: sleep `ms` asynchronously, so that signal listeners run meanwhile. */
async function testDelay(ms: number | undefined): Promise<void> {
  if (ms !== undefined && ms > 0) await new Promise((r) => setTimeout(r, ms));
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
  return target.threadIds().map((tid, i) => readThread(target, arch, i, tid, warnings));
}

/** Thread number `index` (`tid`); without `warnings`, its general registers only. */
function readThread(
  target: Target,
  arch: Arch,
  index: number,
  tid: number,
  warnings?: string[],
): ThreadState {
  const gp = target.regs(index, "general");
  if (gp.length < GP_SIZE[arch]) {
    throw new CaptureError(
      "unsupported",
      `Cannot capture process ${target.pid}: thread ${tid} has a ${gp.length}-byte register set`,
      ["32-bit processes are not supported"],
    );
  }
  if (!warnings) return decodeRegisters(arch, tid, gp, undefined, 0);
  let fp: Uint8Array | undefined;
  try {
    fp = target.regs(index, "vector");
  } catch (e) {
    if (e instanceof CaptureError && e.code === "exited") throw e;
    warnings.push(`thread ${tid}: vector registers unreadable: ${(e as Error).message}`);
  }
  const tpBytes = target.regs(index, "thread-pointer");
  const tv = new DataView(tpBytes.buffer, tpBytes.byteOffset, tpBytes.byteLength);
  const tp = tv.getUint32(0, true) + tv.getUint32(4, true) * 4294967296;
  return decodeRegisters(arch, tid, gp, fp, tp);
}

/** A span to copy; `sparse` when it is private anonymous memory (only existing pages copied). */
export interface PlannedSpan {
  start: number;
  length: number;
  sparse: boolean;
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
  const merged: [number, number][] = [];
  for (const s of copyPlan(regions, images, threads, pageSize)) {
    const last = merged[merged.length - 1];
    if (last && last[0] + last[1] === s.start) last[1] += s.length;
    else merged.push([s.start, s.length]);
  }
  return merged;
}

/**
 * copySpans() with each span marked `sparse` when it is private anonymous memory ([heap], stacks,
 * anonymous mmaps): there a page that does not exist holds zeros and no pointer, and only the pages
 * that exist are copied. File-backed and shared mappings are copied whole: a page missing from the
 * target's page table can still hold data in the page cache. Neighbours of one kind are merged.
 */
export function copyPlan(
  regions: readonly Region[],
  images: readonly Image[],
  threads: readonly Pick<ThreadState, "sp" | "tp">[] = [],
  pageSize = 4096,
): PlannedSpan[] {
  const writable = images.flatMap((i) => i.writable);
  const libcOrLd = new Set(
    images.filter((i) => /^(libc[.-]|ld-linux|ld\.so|ld-2\.|ld-musl)/.test(basename(i.path)))
      .map((i) => i.path),
  );
  const picked: PlannedSpan[] = [];
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
    picked.push({ start: from, length: r.end - from, sparse: privateAnonymous(r) });
  }
  picked.sort((a, b) => a.start - b.start);
  const merged: PlannedSpan[] = [];
  for (const s of picked) {
    const last = merged[merged.length - 1];
    if (last && last.start + last.length === s.start && last.sparse === s.sparse) {
      last.length += s.length;
    } else merged.push({ ...s });
  }
  return merged;
}

/** Private memory backed by no file: the heap, stacks, anonymous mmaps (named ones included). */
function privateAnonymous(r: Region): boolean {
  return r.perms[3] === "p" && r.inode === 0 && !r.path.startsWith("/");
}

/**
 * The spans to copy from `plan`: sparse spans cut to the pages of `pid` that exist, the others
 * whole, merged where they touch. `scan` is false when the kernel lacked PAGEMAP_SCAN.
 */
function residentParts(
  pid: number,
  plan: readonly PlannedSpan[],
): { spans: [number, number][]; scan: boolean } {
  const sparse = plan.filter((s) => s.sparse).map((s) => [s.start, s.length] as const);
  let resident: { ranges: [number, number][]; scan: boolean };
  try {
    resident = residentRanges(pid, sparse);
  } catch (e) {
    if (e instanceof CaptureError && e.code === "no_process") {
      throw new CaptureError("no_process", `Cannot attach to process ${pid}: no such process`, [
        `Check the pid with \`ps -p ${pid}\`; the process may have exited`,
      ], e.detail);
    }
    if (e instanceof CaptureError && e.code === "permission") {
      throw new CaptureError(
        "permission",
        `Cannot attach to process ${pid}: /proc/${pid}/pagemap is not readable`,
        permissionHints(pid),
        e.detail,
      );
    }
    throw e;
  }
  const all: [number, number][] = [
    ...resident.ranges,
    ...plan.filter((s) => !s.sparse).map((s) => [s.start, s.length] as [number, number]),
  ].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, len] of all) {
    const last = merged[merged.length - 1];
    if (last && last[0] + last[1] === start) last[1] += len;
    else merged.push([start, len]);
  }
  // No chunk above CHUNK_BYTES: typed arrays and the readers over them stay far from 2^32-byte
  // offsets (the glibc walker misread every heap past 4 GiB of one 5 GiB chunk at 10^7 blocks).
  const spans: [number, number][] = [];
  for (const [start, len] of merged) {
    for (let off = 0; off < len; off += CHUNK_BYTES) {
      spans.push([start + off, Math.min(CHUNK_BYTES, len - off)]);
    }
  }
  return { spans, scan: resident.scan };
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
