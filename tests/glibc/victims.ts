// Test helpers for the victim/glibc programs: start one (under the interposer), read what it expects,
// run `./heapscope <pid>`, and check its leaks.json against the expectation and the interposer.
//
// Victims print (victim/glibc/expect.h) {"pid","glibc"}, then {"expect":{"live","leaked","freed"}},
// then READY; `make victim-glibc` builds them into build/victim-glibc/.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { LeaksFile, LeaksNode } from "../../report/schema.ts";
import { assertRunning } from "../procs.ts";
import {
  dumpTruth,
  requireBuilt,
  ROOT,
  spawnProcess,
  startWithTruth,
  type TestProcess,
} from "../truth.ts";

export const VICTIM_DIR = `${ROOT}/build/victim-glibc`;
const HEAPSCOPE = `${ROOT}/heapscope`;

export const hex = (n: number) => "0x" + n.toString(16);

export interface Block {
  address: number;
  size: number;
  label: string;
}

export interface GlibcExpect {
  pid: number;
  glibc: string;
  live: Block[];
  leaked: Block[];
  freed: Block[];
}

/** Parses a victim's {"pid"} and {"expect"} lines. */
export function parseExpect(lines: string[]): GlibcExpect {
  let head: { pid?: number; glibc?: string } = {};
  let body: Record<string, { address: string; size: number; label: string }[]> | undefined;
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (typeof o.pid === "number") head = o;
    if (o.expect !== undefined) body = o.expect;
  }
  if (head.pid === undefined || body === undefined) {
    throw new Error(`Victim output is malformed: ${JSON.stringify(lines.slice(-3))}`);
  }
  const blocks = (k: string): Block[] =>
    (body![k] ?? []).map((b) => ({
      address: parseInt(b.address, 16),
      size: b.size,
      label: b.label,
    }));
  return {
    pid: head.pid,
    glibc: head.glibc ?? "",
    live: blocks("live"),
    leaked: blocks("leaked"),
    freed: blocks("freed"),
  };
}

export interface StartedVictim {
  proc: TestProcess;
  expect: GlibcExpect;
}

/**
 * Starts build/victim-glibc/<name> (under the interposer unless `truth` is false) and waits for READY.
 */
export async function startVictim(
  name: string,
  args: string[] = [],
  opts: { truth?: boolean; env?: Record<string, string> } = {},
): Promise<StartedVictim> {
  const exe = `${VICTIM_DIR}/${name}`;
  requireBuilt(exe, "victim-glibc");
  const cmd = [exe, ...args];
  const proc = opts.truth === false
    ? spawnProcess(cmd, { env: opts.env })
    : startWithTruth(cmd, { env: opts.env });
  try {
    const lines = await proc.waitForLine((l) => l === "READY", 30_000);
    return { proc, expect: parseExpect(lines) };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

export interface HeapscopeRun {
  code: number;
  stdout: string;
  stderr: string;
  leaks?: LeaksFile;
}

/** `./heapscope <args> --output <tmp> --no-color`, with the leaks.json it wrote. */
export async function heapscope(args: string[]): Promise<HeapscopeRun> {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-glibc-" });
  try {
    const out = `${dir}/leaks.json`;
    const r = await new Deno.Command(HEAPSCOPE, {
      args: [...args, "--output", out, "--no-color"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const run: HeapscopeRun = {
      code: r.code,
      stdout: new TextDecoder().decode(r.stdout),
      stderr: new TextDecoder().decode(r.stderr),
    };
    try {
      run.leaks = JSON.parse(await Deno.readTextFile(out));
    } catch { /* nothing written */ }
    return run;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function byAddress(leaks: LeaksFile): Map<number, LeaksNode> {
  return new Map(leaks.nodes.map((n) => [parseInt(n.address, 16), n]));
}

/** Addresses of the blocks reported leaked ("leaked" or "cycle"; "possible" is not a leak). */
export function leakedAddresses(leaks: LeaksFile): number[] {
  return leaks.nodes.filter((n) => n.status === "leaked" || n.status === "cycle")
    .map((n) => parseInt(n.address, 16)).sort((a, b) => a - b);
}

/**
 * Captures `pid` with heapscope and checks the result: every live block enumerated and reachable
 * with usable ≥ requested, the leaked set exactly `expect.leaked`, no freed block enumerated.
 * Returns the run for further checks.
 */
export async function checkExpect(pid: number, expect: GlibcExpect): Promise<HeapscopeRun> {
  const run = await heapscope([String(pid)]);
  assert(run.code === 0 || run.code === 1, `heapscope failed (${run.code}): ${run.stderr}`);
  await assertRunning(pid);
  const nodes = byAddress(run.leaks!);
  const problems: string[] = [];
  for (const b of expect.live) {
    const n = nodes.get(b.address);
    if (n === undefined) problems.push(`live ${b.label} at ${hex(b.address)} not enumerated`);
    else if (n.status !== "reachable") {
      problems.push(`live ${b.label} at ${hex(b.address)} ${n.status}`);
    } else if (n.size < b.size) problems.push(`${b.label} at ${hex(b.address)}: usable ${n.size}`);
  }
  for (const b of expect.freed) {
    if (nodes.has(b.address)) problems.push(`freed ${b.label} at ${hex(b.address)} enumerated`);
  }
  const leaked = leakedAddresses(run.leaks!);
  const want = expect.leaked.map((b) => b.address).sort((a, b) => a - b);
  const extra = leaked.filter((a) => !want.includes(a)).map(hex);
  const missing = want.filter((a) => !leaked.includes(a)).map(hex);
  if (extra.length > 0) problems.push(`false leaks: ${extra.slice(0, 20).join(", ")}`);
  if (missing.length > 0) problems.push(`missed leaks: ${missing.slice(0, 20).join(", ")}`);
  assertEquals(
    problems,
    [],
    `${problems.length} problem(s); heapscope said:\n${run.stdout}${run.stderr}`,
  );
  return run;
}

/**
 * heapscope's allocations against the interposer's live set for the same stopped moment: dumped
 * before and after the capture, compared only when both agree (the victims are quiet: they agree
 * on the first try). Exact: same addresses, usable ≥ requested. Returns the number of blocks and
 * the run. `dir` is where the process dumps (default: the one startWithTruth() gave it).
 */
export async function compareWithTruth(
  target: TestProcess | number,
  dir?: string,
): Promise<{ count: number; run: HeapscopeRun }> {
  const pid = typeof target === "number" ? target : target.pid;
  for (let attempt = 1;; attempt++) {
    const before = await dumpTruth(pid, { dir });
    const run = await heapscope([String(pid), "--quiet"]);
    assert(run.code === 0 || run.code === 1, `heapscope failed (${run.code}): ${run.stderr}`);
    await assertRunning(pid);
    const after = await dumpTruth(pid, { dir });
    const same = before.size === after.size && [...before].every(([a, s]) => after.get(a) === s);
    if (!same && attempt < 5) continue;
    assert(same, "the heap never stayed quiet across a capture in 5 attempts");
    const nodes = byAddress(run.leaks!);
    const missing = [...after.keys()].filter((a) => !nodes.has(a)).map(hex);
    const extra = [...nodes.keys()].filter((a) => !after.has(a)).map(hex);
    assertEquals({ missing, extra }, { missing: [], extra: [] });
    for (const [a, size] of after) {
      assert(nodes.get(a)!.size >= size, `usable size of ${hex(a)} < requested ${size}`);
    }
    return { count: after.size, run };
  }
}
