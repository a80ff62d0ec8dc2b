// `heapscope doctor [pid]`: every check that decides whether an attach can work, before anything stops.
//
// Each check reads /proc or /sys only (nothing is traced or stopped) and says its exact fix.

import { foreignLibrary } from "../analysis/glibc/mod.ts";
import { CaptureError } from "./errors.ts";
import { initKind, readStatus, yamaPtraceScope } from "./procfs.ts";
import { shim } from "./shim.ts";

export type CheckState = "ok" | "warn" | "fail";

export interface Check {
  name: string;
  state: CheckState;
  detail: string;
  /** What to do about it (fail and warn only). */
  fix?: string;
}

const CAP_SYS_PTRACE = 19;

/** Whether the capability bit is set in a /proc/PID/status hex mask ("CapEff: 000001ffffffffff"). */
export function hasCapability(mask: string | undefined, bit: number): boolean {
  if (!mask) return false;
  return ((BigInt(`0x${mask}`) >> BigInt(bit)) & 1n) === 1n;
}

/** Markers of a container runtime, or undefined on a plain host. */
function containerRuntime(): string | undefined {
  for (const [file, name] of [["/.dockerenv", "docker"], ["/run/.containerenv", "podman"]]) {
    try {
      Deno.statSync(file!);
      return name;
    } catch { /* not this one */ }
  }
  try {
    const cg = Deno.readTextFileSync("/proc/1/cgroup");
    const m = /(docker|kubepods|lxc|containerd|libpod)/.exec(cg);
    if (m) return m[1];
  } catch { /* no cgroup info */ }
  return undefined;
}

/** Allocator named by the libraries mapped into `pid`, from /proc/PID/maps alone. */
export function allocatorFromMaps(
  maps: string,
): { name: string; evidence: string; hint?: string } {
  const libs = new Set(
    maps.split("\n").map((l) => l.trim().split(/\s+/).slice(5).join(" ")).filter((p) =>
      p.startsWith("/")
    ),
  );
  const foreign = foreignLibrary(libs);
  if (foreign) return foreign;
  const libc = [...libs].find((p) => /\/libc(\.so\.6|-[\d.]+\.so)$/.test(p));
  if (libc) return { name: "glibc malloc", evidence: `${libc} is mapped` };
  return {
    name: "unknown",
    evidence: "no libc.so is mapped (a static binary?); heapscope looks for main_arena in its data",
  };
}

export function runChecks(pid?: number): Check[] {
  const checks: Check[] = [];
  const self = readStatus(Deno.pid);
  const uid = Deno.uid();
  const capPtrace = hasCapability(self["CapEff"], CAP_SYS_PTRACE);
  const root = uid === 0;
  checks.push(
    root || capPtrace
      ? {
        name: "privileges",
        state: "ok",
        detail: root ? "running as root" : "CAP_SYS_PTRACE is in the effective set",
      }
      : {
        name: "privileges",
        state: "fail",
        detail: `running as uid ${uid} without CAP_SYS_PTRACE`,
        fix: "run `sudo ./heapscope …`, or `sudo setcap cap_sys_ptrace+ep node_modules/deno/deno`",
      },
  );

  const scope = yamaPtraceScope();
  if (scope === undefined) {
    checks.push({
      name: "yama",
      state: "ok",
      detail: "Yama is not enabled: ptrace_scope does not apply",
    });
  } else if (scope === 0) {
    checks.push({ name: "yama", state: "ok", detail: "kernel.yama.ptrace_scope is 0 (classic)" });
  } else if (scope === 3) {
    checks.push({
      name: "yama",
      state: "fail",
      detail: "kernel.yama.ptrace_scope is 3: ptrace is disabled for everyone",
      fix:
        "scope 3 cannot be lowered at run time: set kernel.yama.ptrace_scope=1 or 0 in /etc/sysctl.d and reboot",
    });
  } else if (scope === 2 && !capPtrace && !root) {
    checks.push({
      name: "yama",
      state: "fail",
      detail: "kernel.yama.ptrace_scope is 2: only CAP_SYS_PTRACE may attach",
      fix: "run as root, or `sudo sysctl kernel.yama.ptrace_scope=1`",
    });
  } else if (scope === 1 && !capPtrace && !root) {
    checks.push({
      name: "yama",
      state: "fail",
      detail: "kernel.yama.ptrace_scope is 1: only a parent may attach to its descendants",
      fix: "run as root, use `heapscope run -- cmd`, or `sudo sysctl kernel.yama.ptrace_scope=0`",
    });
  } else {
    checks.push({
      name: "yama",
      state: "ok",
      detail: `kernel.yama.ptrace_scope is ${scope}; CAP_SYS_PTRACE allows attaching`,
    });
  }

  const runtime = containerRuntime();
  const bounding = hasCapability(self["CapBnd"], CAP_SYS_PTRACE);
  const seccomp = self["Seccomp"];
  if (!runtime) {
    checks.push({ name: "container", state: "ok", detail: "not in a container" });
  } else if (!bounding) {
    checks.push({
      name: "container",
      state: "fail",
      detail: `in a ${runtime} container without CAP_SYS_PTRACE in its bounding set`,
      fix:
        "start the container with `--cap-add=SYS_PTRACE` (Kubernetes: securityContext.capabilities.add: [SYS_PTRACE])",
    });
  } else {
    checks.push({
      name: "container",
      state: seccomp === "2" ? "warn" : "ok",
      detail: `in a ${runtime} container with CAP_SYS_PTRACE${
        seccomp === "2" ? ", under a seccomp filter" : ""
      }`,
      fix: seccomp === "2"
        ? "if attaching fails with EPERM, the seccomp profile blocks ptrace: run with `--security-opt seccomp=unconfined`"
        : undefined,
    });
  }

  try {
    shim();
    checks.push({ name: "shim", state: "ok", detail: "the native shim loads and its ABI matches" });
  } catch (e) {
    checks.push({
      name: "shim",
      state: "fail",
      detail: e instanceof Error ? e.message : String(e),
      fix: e instanceof CaptureError && e.hints.length ? e.hints.at(-1) : "run `make shim`",
    });
  }

  if (pid !== undefined) checks.push(...targetChecks(pid));
  return checks;
}

function targetChecks(pid: number): Check[] {
  const checks: Check[] = [];
  const st = readStatus(pid);
  if (!st["State"]) {
    return [{
      name: "process",
      state: "fail",
      detail: `process ${pid} does not exist`,
      fix: "check the pid with `ps -p PID`",
    }];
  }
  const state = st["State"];
  const name = st["Name"] ?? "?";
  const kernelThread = st["VmSize"] === undefined && Number(st["PPid"]) <= 2 && pid !== 1;
  if (pid === Deno.pid) {
    checks.push({
      name: "process",
      state: "fail",
      detail: `process ${pid} is heapscope itself`,
      fix: "give the pid of another process",
    });
  } else if (state.startsWith("Z")) {
    checks.push({
      name: "process",
      state: "fail",
      detail: `process ${pid} (${name}) is a zombie: it has no memory left`,
      fix: "nothing to analyse; its parent has not reaped it yet",
    });
  } else if (kernelThread) {
    checks.push({
      name: "process",
      state: "fail",
      detail: `process ${pid} (${name}) is a kernel thread: it has no user memory`,
      fix: "give the pid of a user process",
    });
  } else if (pid === 1 && initKind(pid) === "host-init") {
    // The capture refuses it (ffi/capture.ts): say so here too.
    checks.push({
      name: "process",
      state: "fail",
      detail: `process 1 (${name}) is the host's init: stopping it would stall the whole system`,
      fix: "analyse the service you suspect instead; heapscope refuses the host's pid 1",
    });
  } else if (initKind(pid) === "namespace-init") {
    checks.push({
      name: "process",
      state: "ok",
      detail: `process ${pid} (${name}), ${state}: PID 1 of its own PID namespace (a container)`,
    });
  } else {
    checks.push({ name: "process", state: "ok", detail: `process ${pid} (${name}), ${state}` });
  }

  const tracer = Number(st["TracerPid"] ?? 0);
  if (tracer !== 0) {
    const tracerName = readStatus(tracer)["Name"] ?? "?";
    checks.push({
      name: "tracer",
      state: "fail",
      detail: `process ${pid} is already traced by ${tracer} (${tracerName})`,
      fix:
        `detach ${tracerName} first (gdb: \`detach\`; strace: Ctrl-C); a process has one tracer at a time`,
    });
  } else {
    checks.push({ name: "tracer", state: "ok", detail: "no other tracer" });
  }

  const owner = Number(st["Uid"]?.split(/\s+/)[1] ?? -1);
  const me = Deno.uid();
  if (me !== 0 && owner !== me && !hasCapability(readStatus(Deno.pid)["CapEff"], CAP_SYS_PTRACE)) {
    checks.push({
      name: "owner",
      state: "fail",
      detail: `process ${pid} belongs to uid ${owner}, heapscope runs as uid ${me}`,
      fix: "run heapscope as root (sudo) or as the same user",
    });
  }

  let maps: string | undefined;
  try {
    maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch { /* not readable */ }
  if (maps === undefined) {
    checks.push({
      name: "allocator",
      state: "warn",
      detail: `/proc/${pid}/maps is not readable`,
      fix: "run as root to see the target's libraries",
    });
  } else {
    const a = allocatorFromMaps(maps);
    const supported = a.name === "glibc malloc" || a.name === "unknown";
    checks.push({
      name: "allocator",
      state: a.name === "glibc malloc" ? "ok" : supported ? "warn" : "fail",
      detail: `${a.name}: ${a.evidence}`,
      fix: supported && a.name !== "unknown"
        ? undefined
        : a.name === "unknown"
        ? "heapscope will say so if it finds no glibc arena"
        : a.hint ??
          `heapscope cannot enumerate ${a.name} yet; run the program with glibc malloc (e.g. without LD_PRELOAD of ${a.name})`,
    });
  }
  return checks;
}

/** Printable lines: "✓ name   detail" and "    fix: …" under failures and warnings. */
export function formatChecks(checks: Check[]): string {
  const mark = { ok: "✓", warn: "!", fail: "✗" };
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${mark[c.state]} ${c.name.padEnd(11)} ${c.detail}`);
    if (c.fix && c.state !== "ok") lines.push(`  ${"".padEnd(11)} fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.state === "fail").length;
  lines.push(failed ? `✗ ${failed} check(s) failed: attaching will not work` : "✓ ready to attach");
  return lines.join("\n");
}
