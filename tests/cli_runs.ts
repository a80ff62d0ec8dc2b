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
 * removed: capturedAt, pauseMs, pauseStealMs (and its warning), phases, and the ages the recorder's clock gives (ageMs, oldestMs,
 * meanAgeMs, timeline). Everything else must be byte for byte the same.
 */
export function withoutTimes(text: string): string {
  const data = JSON.parse(text) as Record<string, unknown>;
  delete data.capturedAt;
  delete data.pauseMs;
  delete data.pauseStealMs;
  delete data.phases;
  // The hypervisor's steal time is the moment's, as the pause is (ffi/procfs.ts stealWarning).
  if (Array.isArray(data.warnings)) {
    data.warnings = (data.warnings as string[]).filter((w) => !w.startsWith("the hypervisor ran"));
  }
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

/** The Deno binary the launcher runs (node_modules/.bin/deno is a link to it). */
const DENO = Deno.realPathSync(`${ROOT}/node_modules/.bin/deno`);

/** The shared libraries `ldd` says `binary` loads, the dynamic loader included. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await new Deno.Command("ldd", { args: [binary], stdout: "piped" }).output();
  const out: string[] = [];
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) out.push(Deno.realPathSync(m[1]!));
  }
  return out;
}

/** The files mapped into process `pid` (its executable, libraries, the recorder): /proc/PID/maps. */
export async function mappedFiles(pid: number): Promise<string[]> {
  const maps = await Deno.readTextFile(`/proc/${pid}/maps`);
  const out = new Set<string>();
  for (const line of maps.split("\n")) {
    const path = line.split(/\s+/).slice(5).join(" ");
    if (path.startsWith("/") && !path.startsWith("/dev/")) {
      out.add(path.replace(/ \(deleted\)$/, ""));
    }
  }
  return [...out];
}

/**
 * `./heapscope args…` where the files `hide` (and every debug file under /usr/lib/debug) cannot be
 * read: in a private mount namespace each is covered by an empty file, then the command runs as
 * `user`. Deno (and mount and setpriv, run once libc may be hidden) run on copies of their
 * libraries (they share libc and the loader with most targets), through the copied loader, so that
 * hiding the originals cannot stop them. The script checks that every hidden file reads as empty
 * before it runs heapscope.
 */
export async function heapscopeHidden(
  args: string[],
  hide: string[],
  opts: { user: number; env?: Record<string, string> },
): Promise<CliRun> {
  const libs = await Deno.makeTempDir({ prefix: "heapscope-libs-" });
  try {
    const mount = Deno.realPathSync("/usr/bin/mount");
    const setpriv = Deno.realPathSync("/usr/bin/setpriv");
    const needed = new Set([
      ...await sharedLibraries(DENO),
      ...await sharedLibraries(`${ROOT}/build/libheapscope.so`),
      ...await sharedLibraries(mount),
      ...await sharedLibraries(setpriv),
    ]);
    let loader = "";
    for (const lib of needed) {
      const name = lib.split("/").at(-1)!;
      await Deno.copyFile(lib, `${libs}/${name}`);
      if (/^ld-linux/.test(name)) loader = `${libs}/${name}`;
    }
    await Deno.chmod(libs, 0o755);
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const copied = (binary: string) => `${quote(loader)} --library-path ${quote(libs)} ${binary}`;
    const script = [
      "set -e",
      ...hide.map((p) => `${copied(mount)} --bind /dev/null ${quote(p)}`),
      `if [ -d /usr/lib/debug ]; then ${copied(mount)} -t tmpfs none /usr/lib/debug; fi`,
      ...hide.map((p) => `test ! -s ${quote(p)}`),
      `exec ${copied(setpriv)} --reuid=${opts.user} --regid=${opts.user} --clear-groups ` +
      `${copied(quote(DENO))} run --quiet --no-prompt --allow-all ` +
      `--config ${quote(`${ROOT}/deno.json`)} ${quote(`${ROOT}/main.ts`)} ` +
      args.map(quote).join(" "),
    ].join("\n");
    const r = await new Deno.Command("unshare", {
      args: ["--mount", "--propagation", "private", "sh", "-c", script],
      env: { ...opts.env, HEAPSCOPE_HOME: ROOT },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: r.code,
      stdout: new TextDecoder().decode(r.stdout),
      stderr: new TextDecoder().decode(r.stderr),
    };
  } finally {
    await Deno.remove(libs, { recursive: true });
  }
}
