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
