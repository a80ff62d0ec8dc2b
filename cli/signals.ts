// Signal names and numbers for `heapscope run --signal` (Linux numbering: x86_64 and aarch64 share it).

import { UsageError } from "./options.ts";

/** Linux signal numbers (asm-generic, the same on x86_64 and aarch64). */
const NUMBERS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
};
/** glibc's SIGRTMIN as programs see it: 32 and 33 are the threading library's own. */
const RTMIN = 34;
const RTMAX = 64;
/**
 * Signals a snapshot handler must never take: uncatchable ones, faults a program relies on being
 * fatal or handles itself, and job control and child status, which the system sends.
 */
const REFUSED = new Set([
  "KILL",
  "STOP",
  "SEGV",
  "BUS",
  "ILL",
  "FPE",
  "TRAP",
  "ABRT",
  "SYS",
  "CHLD",
  "CONT",
  "TSTP",
  "TTIN",
  "TTOU",
]);

/** "SIGRTMIN+3", "RTMIN+3", "USR1", "SIGUSR2", "40" → a signal number; UsageError otherwise. */
export function parseSignal(text: string): number {
  const t = text.trim().toUpperCase().replace(/^SIG/, "");
  const hint = "Use a name (SIGUSR1, SIGRTMIN+3, SIGRTMAX-2) or a number; choose one the program " +
    "does not use itself (memcached stops on SIGUSR1, nginx upgrades on SIGUSR2)";
  let n: number | undefined;
  const rt = /^RT(MIN|MAX)([+-]\d+)?$/.exec(t);
  if (rt) n = (rt[1] === "MIN" ? RTMIN : RTMAX) + Number(rt[2] ?? 0);
  else if (/^\d+$/.test(t)) n = Number(t);
  else n = NUMBERS[t];
  if (n === undefined || n < 1 || n > RTMAX || n === 32 || n === 33) {
    throw new UsageError(`Invalid value for --signal: "${text}"`, [hint]);
  }
  const name = Object.entries(NUMBERS).find(([, v]) => v === n)?.[0];
  if (name && REFUSED.has(name)) {
    throw new UsageError(`--signal ${text}: SIG${name} cannot be used for snapshots`, [hint]);
  }
  return n;
}
