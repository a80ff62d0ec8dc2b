// Small /proc readers for the capture: command line, auxv, status fields, Yama scope.

const TWO32 = 4294967296;

/** The command line of `pid` (arguments joined by spaces), else "[comm]", else "". */
export function readCommand(pid: number): string {
  try {
    const raw = Deno.readFileSync(`/proc/${pid}/cmdline`);
    const args = new TextDecoder().decode(raw).split("\0").filter((a) => a !== "");
    if (args.length > 0) return args.join(" ");
  } catch { /* fall back to comm */ }
  const comm = processName(pid);
  return comm ? `[${comm}]` : "";
}

/** /proc/PID/comm without the newline, or "" when unreadable. */
export function processName(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch {
    return "";
  }
}

/** The auxiliary vector (type → value) of `pid`; throws when unreadable. */
export function readAuxv(pid: number): Record<number, number> {
  const raw = Deno.readFileSync(`/proc/${pid}/auxv`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: Record<number, number> = {};
  for (let o = 0; o + 16 <= raw.length; o += 16) {
    const type = v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32;
    if (type === 0) break; // AT_NULL
    out[type] = v.getUint32(o + 8, true) + v.getUint32(o + 12, true) * TWO32;
  }
  return out;
}

/** Fields of /proc/PID/status ("TracerPid" → "0"), empty when the process is gone. */
export function readStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const line of Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
  } catch { /* gone */ }
  return out;
}

/** kernel.yama.ptrace_scope (0-3), or undefined when Yama is not enabled. */
export function yamaPtraceScope(): number | undefined {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/yama/ptrace_scope").trim());
  } catch {
    return undefined;
  }
}

/** What tells one program image of a pid from another: start time, executable, auxv bytes. */
export interface ProcessIdentity {
  /** Field 22 of /proc/PID/stat (clock ticks after boot): changes when the pid is reused. */
  startTime: string;
  /** Target of /proc/PID/exe, "" when unreadable. */
  exe: string;
  /** /proc/PID/auxv as hex: execve writes a new one (new stack, AT_RANDOM, AT_ENTRY). */
  auxv: string;
}

/** The identity of `pid` now; throws Deno.errors.NotFound when the process is gone. */
export function readIdentity(pid: number): ProcessIdentity {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after "comm)": state is field 3, so starttime (22) is index 19 of the rest.
  const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  let exe = "";
  try {
    exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch { /* kernel thread, or not permitted */ }
  let auxv = "";
  try {
    auxv = Array.from(
      Deno.readFileSync(`/proc/${pid}/auxv`),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
  } catch { /* not permitted: the attach says why */ }
  return { startTime, exe, auxv };
}

/**
 * Stack pointers of the threads of `pid` that are blocked in a system call, from
 * /proc/PID/task/TID/syscall ("nr args… sp pc"). Running or unreadable threads are left out: this
 * is an estimate made before the stop, used only to size buffers.
 */
export function readBlockedStackPointers(pid: number): number[] {
  const out: number[] = [];
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const f = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/syscall`).trim().split(" ");
      // "nr a1…a6 sp pc" in a syscall, "-1 sp pc" when blocked outside one, "running" otherwise.
      if ((f.length === 9 || f.length === 3) && /^-?\d+$/.test(f[0]!)) {
        const sp = parseInt(f[f.length - 2]!, 16);
        if (Number.isSafeInteger(sp) && sp > 0) out.push(sp);
      }
    } catch { /* exited, or not permitted */ }
  }
  return out;
}

/** PROC_PID_INIT_INO (include/linux/proc_ns.h, fixed since Linux 3.8): the initial PID namespace. */
const INITIAL_PID_NAMESPACE = 0xeffffffc;

/** Whether `pid` is an init: of the host (the initial PID namespace), of a container, or neither. */
export type InitKind = "host-init" | "namespace-init" | "not-init";

/** Inode of a namespace link, undefined when it cannot be read (not permitted, gone). */
function namespaceInode(path: string): number | undefined {
  try {
    return Deno.statSync(path).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * What kind of init process `pid` is. Only the host's init (PID 1 of the initial PID namespace) is
 * special for heapscope: stopping it stalls every service on the machine. PID 1 of a container's
 * namespace is the application itself, as analysable as any process. Decided from /proc/PID/status
 * NSpid (its pid in each namespace down to its own) and the inode of its PID namespace; when that
 * link is not readable (the VM's or host's init often refuses even root), a process in our own
 * namespace (one NSpid entry) shares our namespace's inode.
 */
export function initKind(pid: number): InitKind {
  const nspid = readStatus(pid)["NSpid"]?.split(/\s+/).map(Number);
  // Kernels before 4.1 have no NSpid: the pid we see is all we know.
  const own = nspid ? nspid[nspid.length - 1] : pid;
  if (own !== 1) return "not-init";
  const ino = namespaceInode(`/proc/${pid}/ns/pid`) ??
    (!nspid || nspid.length === 1 ? namespaceInode("/proc/self/ns/pid") : undefined);
  // An unreadable namespace two levels from ours cannot be the initial one: ours is above it.
  if (ino === undefined) return nspid && nspid.length > 1 ? "namespace-init" : "host-init";
  return ino === INITIAL_PID_NAMESPACE ? "host-init" : "namespace-init";
}

/**
 * The machine's steal time so far, ms: CPU time the hypervisor gave to something else while one
 * of this machine's CPUs wanted to run (/proc/stat's first line, its 8th number, in USER_HZ = 100
 * ticks a second: 10 ms steps, all CPUs together). Undefined when unreadable (no /proc, or a
 * kernel without the column).
 */
export function stealMs(text?: string): number | undefined {
  try {
    text ??= Deno.readTextFileSync("/proc/stat");
  } catch {
    return undefined;
  }
  const first = text.slice(0, text.indexOf("\n") >>> 0);
  const f = first.trim().split(/\s+/);
  if (f[0] !== "cpu" || f.length < 9) return undefined;
  const ticks = Number(f[8]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}

/**
 * The warning for steal time during a pause of `pauseMs` (`steal` ms, stealMs() after less before),
 * when it is enough to have made the pause longer: 30 ms or more and a fifth of the pause.
 */
export function stealWarning(pauseMs: number, steal: number | undefined): string | undefined {
  if (steal === undefined || steal < 30 || steal < pauseMs / 5) return undefined;
  return `the hypervisor ran something else on this machine's CPUs for ${steal} ms ` +
    `(steal time, all CPUs together) during the ${pauseMs.toFixed(0)} ms pause: the pause was ` +
    "longer for it, and heapscope cannot shorten that";
}
