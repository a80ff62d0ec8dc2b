// Test helpers for the offline commands (analyze, diff, watch, --save, --suppressions): run
// ./heapscope as its own process, read what it wrote, compare leaks.json files apart from times.

import type { LeaksFile } from "../report/schema.ts";
import { ROOT } from "./truth.ts";

export const HEAPSCOPE = `${ROOT}/heapscope`;
export const RECORDER = `${ROOT}/build/librecorder.so`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `./heapscope args…` (with --no-color unless told otherwise), as another user with `user`. */
export async function heapscope(
  args: string[],
  opts: { user?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<CliRun> {
  const full = [HEAPSCOPE, ...args];
  const cmd = opts.user === undefined
    ? full
    : ["setpriv", `--reuid=${opts.user}`, `--regid=${opts.user}`, "--clear-groups", ...full];
  const r = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    env: opts.env,
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

/** What a run printed, for assertion messages. */
export function said(r: CliRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export async function readLeaks(path: string): Promise<LeaksFile> {
  return JSON.parse(await Deno.readTextFile(path)) as LeaksFile;
}

/**
 * leaks.json text with the fields that depend on when it was captured or how long a phase took
 * removed: capturedAt, pauseMs, phases, and the ages the recorder's clock gives (ageMs, oldestMs,
 * meanAgeMs, timeline). Everything else must be byte for byte the same.
 */
export function withoutTimes(text: string): string {
  const data = JSON.parse(text) as Record<string, unknown>;
  delete data.capturedAt;
  delete data.pauseMs;
  delete data.phases;
  delete data.timeline;
  for (const n of (data.nodes as Record<string, unknown>[] | undefined) ?? []) delete n.ageMs;
  for (const s of (data.sites as Record<string, unknown>[] | undefined) ?? []) {
    delete s.oldestMs;
    delete s.meanAgeMs;
  }
  return JSON.stringify(data);
}

/** The first line-level difference of two texts, or "" (for assertion messages on huge JSON). */
export function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return "";
  return `at ${i}:\n  ${a.slice(Math.max(0, i - 200), i + 200)}\n  vs\n  ${
    b.slice(Math.max(0, i - 200), i + 200)
  }`;
}

/** A fresh temporary folder every user may write (tests run some commands unprivileged). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o777);
  return dir;
}

/** Throws when a build product is missing, naming the make target that builds it. */
export function built(path: string, target: string): string {
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`Missing build product ${path}: run 'make ${target}' first`);
  }
  return path;
}
