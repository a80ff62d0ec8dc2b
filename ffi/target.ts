// Target: a stopped process behind the shim's opaque handle (attach, registers, reads, resume).

import { CaptureError } from "./errors.ts";
import { processName, readStatus, yamaPtraceScope } from "./procfs.ts";
import { shim, unwrap } from "./shim.ts";

/** Register sets of hs_thread_regs. */
export type RegisterKind = "general" | "vector" | "thread-pointer";
const KIND: Record<RegisterKind, number> = { general: 0, vector: 1, "thread-pointer": 2 };

/** A process whose threads are all stopped until resume()/close(). Not thread-safe: use from the
 * thread that attached (the ptrace tracer). */
export class Target {
  readonly pid: number;
  #handle: Deno.PointerValue;
  #attached: boolean;

  private constructor(pid: number, handle: Deno.PointerValue) {
    this.pid = pid;
    this.#handle = handle;
    this.#attached = true;
  }

  /** Stop every thread of `pid`. Throws CaptureError with hints; on error nothing stays stopped. */
  static attach(pid: number, timeoutMs = 5000): Target {
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new CaptureError("no_process", `Cannot attach to process ${pid}: not a valid pid`, [
        "Pass the numeric id of a running process (see `ps`)",
      ]);
    }
    if (pid === Deno.pid) {
      throw new CaptureError("self", `Cannot attach to process ${pid}: it is heapscope itself`, [
        "heapscope stops its target while copying it, and cannot stop itself; point it at another process",
      ]);
    }
    const out = new BigUint64Array(1);
    const status = shim().hs_attach(pid, timeoutMs, out);
    try {
      unwrap(status, `Cannot attach to process ${pid}`);
    } catch (e) {
      throw e instanceof CaptureError ? attachError(pid, e) : e;
    }
    return new Target(pid, Deno.UnsafePointer.create(out[0]!));
  }

  /** Whether the threads are still stopped by us. */
  get attached(): boolean {
    return this.#attached;
  }

  /** Thread ids, in the order register indexes use. */
  threadIds(): number[] {
    const count = new Uint32Array(1);
    unwrap(
      shim().hs_thread_count(this.#live(), count),
      `Cannot list threads of process ${this.pid}`,
    );
    const ids = new BigInt64Array(count[0]!);
    unwrap(
      shim().hs_thread_ids(this.#live(), ids, ids.length, count),
      `Cannot list threads of process ${this.pid}`,
    );
    return Array.from(ids.subarray(0, count[0]!), Number);
  }

  /** Raw register set `kind` of thread number `index` (see shim/heapscope.h). */
  regs(index: number, kind: RegisterKind): Uint8Array {
    const buf = new Uint8Array(4096);
    const len = new Uint32Array(1);
    unwrap(
      shim().hs_thread_regs(this.#live(), index, KIND[kind], buf, buf.length, len),
      `Cannot read ${kind} registers of process ${this.pid}`,
    );
    return buf.subarray(0, len[0]!);
  }

  /**
   * Copy `ranges` ([address, length] pairs, flattened) into `dst` back to back, in one call.
   * Returns the number of bytes that could not be read (zero-filled).
   */
  read(ranges: Float64Array | number[], dst: Uint8Array): number {
    const n = ranges.length / 2;
    const r = new BigUint64Array(ranges.length);
    let total = 0;
    for (let i = 0; i < ranges.length; i++) r[i] = BigInt(ranges[i]!);
    for (let i = 1; i < ranges.length; i += 2) total += ranges[i]!;
    if (dst.length < total) {
      throw new CaptureError(
        "internal",
        `Cannot read memory of process ${this.pid}: buffer holds ${dst.length} bytes, ranges need ${total}`,
      );
    }
    const missing = new BigUint64Array(1);
    const status = shim().hs_read_ranges(this.#live(), r, n, dst, missing);
    if (status === -4) {
      unwrap(status, `Process ${this.pid} exited during the scan`);
    }
    unwrap(status, `Cannot read memory of process ${this.pid}`);
    return Number(missing[0]!);
  }

  /**
   * Let threads number `indices` run (every other thread stays stopped) for about `runUs`
   * microseconds, then stop them again: PTRACE_CONT and PTRACE_INTERRUPT, which leave nothing
   * behind if heapscope dies meanwhile. Threads that exit are dropped and new ones stopped, so list
   * the threads again afterwards. Returns how many threads ran and how many new ones were stopped.
   */
  runThreads(indices: readonly number[], runUs: number, timeoutMs = 1000): {
    ran: number;
    added: number;
  } {
    const ran = new Uint32Array(1), added = new Uint32Array(1);
    unwrap(
      shim().hs_run_threads(
        this.#live(),
        Uint32Array.from(indices),
        indices.length,
        Math.max(0, Math.round(runUs)),
        timeoutMs,
        ran,
        added,
      ),
      `Cannot let threads of process ${this.pid} run out of the allocator`,
    );
    return { ran: ran[0]!, added: added[0]! };
  }

  /** Whether the process still exists (and, while attached, is stopped). */
  alive(): boolean {
    return shim().hs_alive(this.#handle) === 1;
  }

  /** Detach and let every thread run again. Idempotent. */
  resume(): void {
    if (!this.#attached) return;
    this.#attached = false;
    unwrap(shim().hs_resume(this.#handle), `Cannot resume process ${this.pid}`);
  }

  /** Resume (if needed) and free the handle. Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    const h = this.#handle;
    this.#attached = false;
    this.#handle = null;
    shim().hs_close(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(): Deno.PointerValue {
    if (this.#handle === null) {
      throw new CaptureError("internal", `Process ${this.pid}: the target handle is closed`);
    }
    return this.#handle;
  }
}

/** Re-word an attach failure of the shim with the hints that fit it. */
function attachError(pid: number, e: CaptureError): CaptureError {
  const msg = (why: string) => `Cannot attach to process ${pid}: ${why}`;
  const status = readStatus(pid);
  switch (e.code) {
    case "no_process":
      return new CaptureError("no_process", msg("no such process"), [
        `Check the pid with \`ps -p ${pid}\`; the process may have exited`,
      ], e.detail);
    case "busy": {
      const tracer = Number(status["TracerPid"] ?? /traced by process (\d+)/.exec(e.detail)?.[1]);
      const name = tracer > 0 ? processName(tracer) : "";
      const who = tracer > 0 ? `process ${tracer}${name ? ` (${name})` : ""}` : "another process";
      return new CaptureError("busy", msg(`it is already traced by ${who}`), [
        `Only one tracer can attach at a time: detach or stop ${who} first`,
      ], e.detail);
    }
    case "permission":
      return new CaptureError(
        "permission",
        msg("ptrace is not permitted"),
        permissionHints(pid),
        e.detail,
      );
    case "zombie":
      return new CaptureError("zombie", msg("it is a zombie or a kernel thread"), [
        "A zombie has no memory left to analyse; kernel threads have no user memory",
      ], e.detail);
    case "exited":
      return new CaptureError("exited", msg("it exited while its threads were being stopped"), [
        "Retry while the process is running",
      ], e.detail);
    default:
      return new CaptureError(e.code, msg(e.detail || "the shim failed"), [], e.detail);
  }
}

/** Largest number of (start, length) pairs one hs_resident_ranges call returns. */
const RESIDENT_CAP = 65536;

/**
 * The parts of `spans` ([start, length], page-aligned) of process `pid` whose pages exist: present
 * (not the zero page) or swapped out. Works on a running or a stopped process; reads nothing of
 * the target's memory. `scan` says whether the kernel's PAGEMAP_SCAN did it (else pagemap entries).
 * O(resident runs) with PAGEMAP_SCAN, O(pages) without.
 */
export function residentRanges(
  pid: number,
  spans: readonly (readonly [number, number])[],
): { ranges: [number, number][]; scan: boolean } {
  const out: [number, number][] = [];
  if (spans.length === 0) return { ranges: out, scan: true };
  const r = new BigUint64Array(spans.length * 2);
  spans.forEach(([start, len], i) => {
    r[2 * i] = BigInt(start);
    r[2 * i + 1] = BigInt(len);
  });
  const buf = new BigUint64Array(RESIDENT_CAP * 2);
  const count = new Uint32Array(1), method = new Uint32Array(1);
  const cursor = new BigUint64Array(2);
  let scan = true;
  for (;;) {
    const status = shim().hs_resident_ranges(
      pid,
      r,
      spans.length,
      buf,
      RESIDENT_CAP,
      count,
      cursor,
      method,
    );
    if (status < 0) unwrap(status, `Cannot read the page map of process ${pid}`);
    if (method[0] === 0) scan = false;
    for (let i = 0; i < count[0]!; i++) {
      const start = Number(buf[2 * i]!), len = Number(buf[2 * i + 1]!);
      const last = out[out.length - 1];
      if (last && last[0] + last[1] === start) last[1] += len;
      else out.push([start, len]);
    }
    if (status === 0) return { ranges: out, scan };
  }
}

/** What to do when ptrace (or /proc/PID/*) is refused: privileges, owner, Yama. */
export function permissionHints(pid: number): string[] {
  const hints = ["Run heapscope as root (sudo), or give it CAP_SYS_PTRACE"];
  const uid = readStatus(pid)["Uid"]?.split(/\s+/)[1];
  const me = Deno.uid();
  if (uid !== undefined && me !== null && Number(uid) !== me) {
    hints.push(`The process belongs to uid ${uid} and heapscope runs as uid ${me}`);
  }
  const scope = yamaPtraceScope();
  if (scope !== undefined && scope > 0) {
    hints.push(
      `kernel.yama.ptrace_scope is ${scope}: ${
        scope === 3
          ? "ptrace is disabled until reboot"
          : "set it to 0 with `sudo sysctl kernel.yama.ptrace_scope=0`, or run as root"
      }`,
    );
  }
  return hints;
}
