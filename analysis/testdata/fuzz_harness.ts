// Test helper: drives fuzz inputs through Workers with a per-input time bound and tallies outcomes.
//
// Each input runs in a Worker; when one does not answer within `timeoutMs` the Worker is
// terminated, the seed is recorded as a hang and a fresh Worker takes over. O(inputs).

import { seedFor } from "./mutate.ts";
import type { Outcome, Target } from "./fuzz_targets.ts";

export interface Failure {
  target: Target;
  seed: number;
  kind: "crash" | "hang" | "invariant" | "slow";
  detail: string;
  ops: string[];
}

export interface Tally {
  target: Target;
  baseSeed: number;
  inputs: number;
  ok: number;
  rejected: number;
  crashes: number;
  hangs: number;
  invariants: number;
  /** Slowest input and its seed. */
  maxMs: number;
  maxMsSeed: number;
  /** Highest process RSS seen after an input, bytes. */
  maxRss: number;
  elapsedMs: number;
  failures: Failure[];
  /** Distinct deliberate rejection messages (first 60 characters) and their counts. */
  rejections: Map<string, number>;
}

export interface FuzzOptions {
  target: Target;
  baseSeed: number;
  /** Stop after this many inputs... */
  count?: number;
  /** ...or after this many seconds, whichever comes first. */
  seconds?: number;
  /** Per-input time bound: slower inputs are hangs (cut off) or, under it, counted as max. */
  timeoutMs?: number;
  /** Inputs slower than this (but answered) are reported as "slow" failures. */
  slowMs?: number;
  workers?: number;
  /** Replay exactly these seeds instead of deriving them from baseSeed. */
  seeds?: number[];
  /** Workers to use (and leave open); by default `workers` new ones, closed at the end. */
  pool?: Runner[];
}

interface Reply {
  seed: number;
  outcome: Outcome;
  ms: number;
  rss: number;
}

const WORKER_URL = new URL("./fuzz_worker.ts", import.meta.url);

/** One Worker running inputs of any target; replaced when an input hangs. */
export class Runner {
  #worker!: Worker;
  #pending: ((r: Reply) => void) | undefined;
  constructor() {
    this.#start();
  }
  #start() {
    this.#worker = new Worker(WORKER_URL, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<Reply>) => {
      const p = this.#pending;
      this.#pending = undefined;
      p?.(e.data);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      const p = this.#pending;
      this.#pending = undefined;
      p?.({
        seed: -1,
        outcome: { kind: "crash", detail: `worker error: ${e.message}` },
        ms: 0,
        rss: 0,
      });
    };
  }
  /** Runs one input; undefined when it did not finish within `timeoutMs` (the worker is replaced). */
  async run(
    target: Target,
    seed: number,
    timeoutMs: number,
    warm = false,
    spinMs?: number,
  ): Promise<Reply | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = new Promise<Reply>((resolve) => (this.#pending = resolve));
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    this.#worker.postMessage({ target, seed, warm, spinMs });
    const r = await Promise.race([reply, timeout]);
    clearTimeout(timer);
    if (r === undefined) {
      this.#pending = undefined;
      this.#worker.terminate();
      this.#start();
      await this.run(target, 0, 120_000, true);
    }
    return r;
  }
  close() {
    this.#worker.terminate();
  }
}

/** Fuzzes one target; never throws for a bad input, only tallies it. */
export async function fuzz(opts: FuzzOptions): Promise<Tally> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const slowMs = opts.slowMs ?? timeoutMs;
  const count = opts.seeds?.length ?? opts.count ?? Infinity;
  const deadline = opts.seconds === undefined ? Infinity : performance.now() + opts.seconds * 1000;
  const tally: Tally = {
    target: opts.target,
    baseSeed: opts.baseSeed,
    inputs: 0,
    ok: 0,
    rejected: 0,
    crashes: 0,
    hangs: 0,
    invariants: 0,
    maxMs: 0,
    maxMsSeed: 0,
    maxRss: 0,
    elapsedMs: 0,
    failures: [],
    rejections: new Map(),
  };
  const t0 = performance.now();
  const runners = opts.pool ?? Array.from({ length: opts.workers ?? 1 }, () => new Runner());
  // Building the base inputs (reading libc, the fixture) is not part of any input's time.
  await Promise.all(runners.map((r) => r.run(opts.target, 0, 120_000, true)));
  let next = 0;
  const take = (): number | undefined => {
    if (next >= count || performance.now() > deadline) return undefined;
    const i = next++;
    return opts.seeds?.[i] ?? seedFor(opts.baseSeed, i);
  };
  const fail = (seed: number, kind: Failure["kind"], detail: string, ops: string[] = []) => {
    if (tally.failures.length < 50) {
      tally.failures.push({ target: opts.target, seed, kind, detail, ops });
    }
  };
  await Promise.all(runners.map(async (runner) => {
    for (let seed = take(); seed !== undefined; seed = take()) {
      const r = await runner.run(opts.target, seed, timeoutMs);
      tally.inputs++;
      if (r === undefined) {
        tally.hangs++;
        fail(seed, "hang", `no answer within ${timeoutMs} ms`);
        continue;
      }
      if (r.ms > tally.maxMs) {
        tally.maxMs = r.ms;
        tally.maxMsSeed = seed;
      }
      tally.maxRss = Math.max(tally.maxRss, r.rss);
      const o = r.outcome;
      if (o.kind === "ok") tally.ok++;
      else if (o.kind === "rejected") {
        tally.rejected++;
        const key = (o.detail ?? "").replace(/0x[0-9a-f]+|\d+/g, "N").slice(0, 60);
        tally.rejections.set(key, (tally.rejections.get(key) ?? 0) + 1);
      } else if (o.kind === "crash") {
        tally.crashes++;
        fail(seed, "crash", o.detail ?? "", o.ops);
      } else {
        tally.invariants++;
        fail(seed, "invariant", o.detail ?? "", o.ops);
      }
      if (r.ms > slowMs) fail(seed, "slow", `${r.ms.toFixed(0)} ms`, o.ops);
    }
  }));
  if (opts.pool === undefined) { for (const r of runners) r.close(); }
  tally.elapsedMs = performance.now() - t0;
  return tally;
}

/** One line per tally: inputs, inputs/s, outcomes, slowest input, RSS. */
export function formatTally(t: Tally): string {
  const rate = t.inputs / (t.elapsedMs / 1000);
  return `${t.target.padEnd(8)} seed ${t.baseSeed}: ${t.inputs} inputs (${rate.toFixed(0)}/s), ` +
    `ok ${t.ok}, rejected ${t.rejected}, crashes ${t.crashes}, hangs ${t.hangs}, ` +
    `invariant ${t.invariants}, slowest ${t.maxMs.toFixed(1)} ms (seed ${t.maxMsSeed}), ` +
    `rss ${(t.maxRss / 2 ** 20).toFixed(0)} MiB`;
}
