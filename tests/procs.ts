// Process helpers for tests that attach to real targets: start detached, poll, check, kill.

import { ok as assert } from "node:assert/strict";
import type { ImageFiles, Snapshot } from "../analysis/types.ts";
import { diskImageFiles } from "../ffi/image_files.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { readStatus } from "../ffi/procfs.ts";
import { built } from "./cli_runs.ts";
import { ROOT, spawnProcess } from "./truth.ts";

/**
 * Start `script` with sh in the background and return the pid of the background job. The job is
 * not our child (sh exits), so Deno's child reaper can never consume its ptrace stops.
 */
export async function spawnDetached(script: string): Promise<number> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `(${script}) </dev/null >/dev/null 2>&1 & echo $!`],
  }).output();
  assert(out.success, `could not start: ${script}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** SIGKILL, ignoring a process that is already gone. */
export function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* already gone */ }
}

/** Poll until `cond` holds; throws after `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = "a condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Every thread of `pid` runs (S or R; a transient D, e.g. a vfork parent, is waited out) and has
 * no tracer: heapscope left it as it found it.
 */
export async function assertRunning(pid: number): Promise<void> {
  let bad = "";
  const check = () => {
    bad = "";
    for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
      const s = readStatus(Number(e.name));
      if (s["State"] === undefined) continue; // the thread exited meanwhile
      assert(s["TracerPid"] === "0", `thread ${e.name} of ${pid} still has a tracer`);
      assert(!/^[tT]/.test(s["State"]), `thread ${e.name} of ${pid} is ${s["State"]}`);
      if (!/^[SR]/.test(s["State"])) bad = `thread ${e.name} of ${pid} is ${s["State"]}`;
    }
    return bad === "";
  };
  await until(check, 2000, `every thread of ${pid} to run`).catch(() => assert(false, bad));
}

/** How a `./heapscope` run ended. */
export interface HeapscopeRun {
  code: number;
  signal: string | null;
  stderr: string;
}

const HEAPSCOPE = new URL("../heapscope", import.meta.url).pathname;

/**
 * Start `./heapscope args…` as a separate process (never the tracer of our own children through
 * Deno's reaper); `done` resolves with its exit and stderr.
 */
export function startHeapscope(args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(HEAPSCOPE, {
    args: [...args, "--no-color"],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const done = (async (): Promise<HeapscopeRun> => {
    const stderr = new TextDecoder().decode(
      (await new Response(child.stderr).arrayBuffer()) as ArrayBuffer,
    );
    const s = await child.status;
    return { code: s.code, signal: s.signal, stderr };
  })();
  return { child, done };
}

/**
 * The C++ sessions program (bench/real_programs) captured at its READY line, with its images'
 * files: `use` runs on them, then the files are closed and the program stopped.
 */
export async function withCapturedSessions<T>(
  use: (snapshot: Snapshot, files: ImageFiles) => T | Promise<T>,
): Promise<T> {
  const proc = spawnProcess([built(`${ROOT}/build/real/sessions`, "offline-victims")]);
  try {
    await proc.waitForLine((l) => l.startsWith("READY"), 30_000);
    const snapshot = await captureSnapshot(proc.pid);
    const files = diskImageFiles(snapshot);
    try {
      return await use(snapshot, files);
    } finally {
      files.close();
    }
  } finally {
    await proc.stop();
  }
}
