// Parses victim/leaky's machine-readable expectation (format: victim/README.md) and starts it.

import { requireBuilt, ROOT, spawnProcess, startWithTruth, TestProcess } from "./truth.ts";

export const VICTIM = `${ROOT}/victim/leaky`;

/** From the glibc chunk header; "unknown" where the allocator is not glibc (macOS builds). */
export type Zone = "main-arena" | "thread-arena" | "mmap" | "unknown";

export interface ExpectedBlock {
  /** The pointer malloc returned. */
  address: number;
  /** The requested size (usable size may be larger). */
  size: number;
  label: string;
  zone: Zone;
}

export interface ExpectedReachable extends ExpectedBlock {
  via: "data" | "heap" | "tls" | "stack" | "register";
}

export interface ExpectedLeak extends ExpectedBlock {
  leak: "direct" | "indirect";
}

export interface FreedBlock {
  address: number;
  size: number;
  label: string;
  bin: "tcache" | "fastbin";
}

export interface Expectation {
  pid: number;
  reachable: ExpectedReachable[];
  leaked: ExpectedLeak[];
  /** Each leaked cycle's member addresses, ascending. */
  cycles: number[][];
  /** Freed blocks: must not be reported as allocations at all. */
  freed: FreedBlock[];
  /** `--blocks N` load: N blocks of 16 + (i % 16) * 8 bytes held by one array block. */
  load: { blocks: number; array: number; arraySize: number };
}

function fail(what: string): never {
  throw new Error(`Victim output is malformed: ${what}`);
}

function address(v: unknown, where: string): number {
  if (typeof v !== "string" || !/^0x[0-9a-f]+$/.test(v)) fail(`${where} is not a hex address`);
  return parseInt(v.slice(2), 16);
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string): T {
  if (!allowed.includes(v as T)) fail(`${where} is ${JSON.stringify(v)}`);
  return v as T;
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`${where} is not an object`);
  return v as Record<string, unknown>;
}

function array(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) fail(`${where} is not an array`);
  return v;
}

function block(v: unknown, where: string): ExpectedBlock {
  const r = record(v, where);
  if (typeof r.size !== "number" || typeof r.label !== "string") fail(`${where} lacks size/label`);
  return {
    address: address(r.address, `${where}.address`),
    size: r.size,
    label: r.label,
    zone: oneOf(
      r.zone,
      ["main-arena", "thread-arena", "mmap", "unknown"] as const,
      `${where}.zone`,
    ),
  };
}

/** Parses the victim's stdout lines (the pid line, the expect line; other lines are ignored). */
export function parseExpectation(lines: string[]): Expectation {
  let pid: number | undefined;
  let raw: Record<string, unknown> | undefined;
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    const obj = record(JSON.parse(line), "a JSON line");
    if (typeof obj.pid === "number") pid = obj.pid;
    if (obj.expect !== undefined) raw = record(obj.expect, "expect");
  }
  if (pid === undefined) fail('no {"pid":N} line');
  if (raw === undefined) fail('no {"expect":…} line');
  const load = record(raw.load, "expect.load");
  return {
    pid,
    reachable: array(raw.reachable, "expect.reachable").map((v, i) => ({
      ...block(v, `reachable[${i}]`),
      via: oneOf(
        record(v, "").via,
        ["data", "heap", "tls", "stack", "register"] as const,
        `reachable[${i}].via`,
      ),
    })),
    leaked: array(raw.leaked, "expect.leaked").map((v, i) => ({
      ...block(v, `leaked[${i}]`),
      leak: oneOf(record(v, "").leak, ["direct", "indirect"] as const, `leaked[${i}].leak`),
    })),
    cycles: array(raw.cycles, "expect.cycles").map((c, i) =>
      array(c, `cycles[${i}]`).map((a, j) => address(a, `cycles[${i}][${j}]`))
    ),
    freed: array(raw.freed, "expect.freed").map((v, i) => {
      const r = record(v, `freed[${i}]`);
      return {
        address: address(r.address, `freed[${i}].address`),
        size: Number(r.size),
        label: String(r.label),
        bin: oneOf(r.bin, ["tcache", "fastbin"] as const, `freed[${i}].bin`),
      };
    }),
    load: {
      blocks: Number(load.blocks),
      array: address(load.array, "load.array"),
      arraySize: Number(load.arraySize),
    },
  };
}

export interface VictimOptions {
  /** Run under the LD_PRELOAD interposer (then dumpTruth(proc.pid) works). */
  truth?: boolean;
  /** Extra arguments, e.g. ["--blocks", "1000"]. */
  args?: string[];
  timeoutMs?: number;
}

/** Starts victim/leaky, waits for READY, and returns the process and what it expects. */
export async function startVictim(
  opts: VictimOptions = {},
): Promise<{ proc: TestProcess; expect: Expectation }> {
  requireBuilt(VICTIM, "victim");
  const cmd = [VICTIM, ...(opts.args ?? [])];
  const proc = opts.truth ? startWithTruth(cmd) : spawnProcess(cmd);
  try {
    const lines = await proc.waitForLine((l) => l === "READY", opts.timeoutMs ?? 20_000);
    return { proc, expect: parseExpectation(lines) };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}
