// `heapscope run`: launch a command under the allocation recorder, snapshot it at exit and on
// request, and report leaks with the stacks that allocated them.
//
// Protocol (see shim/recorder_linux.c): heapscope listens on a Unix socket in a private temporary
// folder and starts the command with LD_PRELOAD=librecorder.so, HEAPSCOPE_CONTROL=<socket> and
// HEAPSCOPE_PARENT_PID=<our pid>. The process we started connects; at exit (a destructor, after
// the program's own) it sends 'E', on SIGUSR1 'S' (with --signal), on SIGUSR2 'C', and waits. We
// capture its memory with ptrace (captureSnapshot), answer one byte so it goes on, then analyse the
// copy. SIGUSR1/SIGUSR2 sent to heapscope itself take a snapshot too; SIGINT, SIGTERM and SIGHUP
// are forwarded to the command. Children the command forks do not talk to us (they write their
// own dump files record.<pid> at exit).

import { materialize } from "./embedded.ts";
import { type Analysis, analyze, type Snapshot } from "../analysis/mod.ts";
import {
  aggregateSites,
  foldedStacks,
  formatSites,
  framesOf,
  type LeaksSites,
  type RecorderTable,
  selectedPcs,
  selectSites,
  type SiteSort,
  withFrames,
} from "../analysis/sites.ts";
import { STATUS_REACHABLE } from "../analysis/types.ts";
import {
  formatSummary,
  printable,
  toLeaksFile,
  writeAtomic,
  writeHtmlReport,
} from "../report/mod.ts";
import type { LeaksFile } from "../report/mod.ts";
import { captureSnapshot } from "./mod.ts";
import { readRecorderDump, readRecorderTable } from "./recorder_table.ts";
import { scanKernel } from "./scan_kernel.ts";
import { symbolize } from "./symbolize.ts";

export interface RunOptions {
  /** leaks.json path (default "leaks.json"); signal snapshots add ".<k>" before ".json". */
  output?: string;
  html?: string;
  /** Folded stacks of leaked bytes per site, for flamegraph.pl or speedscope. */
  flameGraph?: string;
  /** Install SIGUSR1/SIGUSR2 snapshot handlers in the command. */
  signal?: boolean;
  sort?: SiteSort;
  /** Sites listed in the summary and kept in leaks.json (default 10). */
  top?: number;
  /** Frames kept per allocation (default 32, at most 128). */
  depth?: number;
  graph?: "all" | "leaked";
  quiet?: boolean;
  /** Path of librecorder.so (default: build/librecorder.so beside heapscope). */
  recorder?: string;
  /** Where the command's dump files go (default: a temporary folder, removed at the end). */
  recordDir?: string;
  /** Where the command's stdout/stderr go (default inherit). */
  stdio?: "inherit" | "null";
  /** Called after each snapshot has been analysed (tests, embedding). */
  onSnapshot?: (s: RunSnapshot) => void;
}

/** One analysed snapshot of the recorded command. */
export interface RunSnapshot {
  kind: "exit" | "signal";
  /** 0 for the exit snapshot, 1, 2, ... for signal snapshots. */
  index: number;
  analysis: Analysis;
  table: RecorderTable;
  sites: LeaksSites;
  leaks: LeaksFile;
  output: string;
}

const EXIT = { clean: 0, leaks: 1, usage: 2, cannot: 3 } as const;
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Default location of the recorder: $HEAPSCOPE_HOME/build or ../build from this file. */
export function recorderPath(): string {
  const home = Deno.env.get("HEAPSCOPE_HOME");
  if (home) return `${home}/build/librecorder.so`;
  // In a compiled binary the library is embedded: LD_PRELOAD needs a real file.
  return materialize(new URL("../build/librecorder.so", import.meta.url).pathname);
}

/**
 * Run `argv` under the recorder; returns heapscope's exit status: 0 no leaks in the last
 * snapshot, 1 leaks, 2 usage error, 3 no snapshot could be analysed. The command's own exit status
 * is printed.
 */
export async function runRecorded(argv: string[], opts: RunOptions = {}): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) console.log(s);
  };
  const fail = (code: number, msg: string, hints: string[] = []) => {
    console.error(`heapscope: ${msg}${hints.map((h) => `\nHint: ${h}`).join("")}`);
    return code;
  };
  if (argv.length === 0) {
    return fail(EXIT.usage, "Nothing to run: no command after `run --`", [
      "heapscope run [options] -- ./program args...",
    ]);
  }
  const recorder = opts.recorder ?? recorderPath();
  try {
    Deno.statSync(recorder);
  } catch {
    return fail(EXIT.usage, `Cannot find the recorder "${recorder}"`, [
      "Build it with `make recorder` (or `make`) in the heapscope folder",
    ]);
  }
  const depth = opts.depth ?? 32;
  if (!Number.isInteger(depth) || depth < 1 || depth > 128) {
    return fail(EXIT.usage, `Invalid --depth "${opts.depth}": expected 1..128`);
  }
  const tmp = await Deno.makeTempDir({ prefix: "heapscope-run-" });
  const recordDir = opts.recordDir ?? tmp;
  const socketPath = `${tmp}/control.sock`;
  const listener = Deno.listen({ transport: "unix", path: socketPath });
  const env: Record<string, string> = {
    LD_PRELOAD: [recorder, Deno.env.get("LD_PRELOAD")].filter(Boolean).join(":"),
    HEAPSCOPE_CONTROL: socketPath,
    HEAPSCOPE_PARENT_PID: String(Deno.pid),
    HEAPSCOPE_RECORD_DIR: recordDir,
    HEAPSCOPE_DEPTH: String(depth),
  };
  if (opts.signal) env.HEAPSCOPE_SIGNAL = "1";

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      stdin: "inherit",
      stdout: opts.stdio ?? "inherit",
      stderr: opts.stdio ?? "inherit",
    }).spawn();
  } catch (e) {
    listener.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    return fail(EXIT.usage, `Cannot run "${argv[0]}": ${(e as Error).message}`, [
      "Check the command name and that it is executable",
    ]);
  }
  const pid = child.pid;
  log(`heapscope: recording process ${pid} (${printable(argv.join(" "))})`);

  let signalCount = 0;
  let lastStatus: number = EXIT.cannot;
  let exitSnapshot = false;
  // Snapshots run one at a time, in request order.
  let queue: Promise<void> = Promise.resolve();
  const snapshot = (kind: "exit" | "signal", sort: SiteSort, ack?: () => Promise<void>) => {
    queue = queue.then(async () => {
      const index = kind === "exit" ? 0 : ++signalCount;
      try {
        const snap = await captureSnapshot(pid);
        await ack?.();
        ack = undefined;
        lastStatus = await report(snap, kind, index, sort, opts, log);
        if (kind === "exit") exitSnapshot = true;
      } catch (e) {
        console.error(
          `heapscope: ${kind} snapshot of process ${pid} failed: ${(e as Error).message}`,
        );
        if (e instanceof Error && "hints" in e && Array.isArray(e.hints)) {
          for (const h of e.hints) console.error(`Hint: ${h}`);
        }
      } finally {
        await ack?.();
      }
    });
    return queue;
  };

  const serve = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(16);
        const reply = async () => {
          await conn.write(new Uint8Array([0x41])).catch(() => 0);
        };
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            for (const b of buf.subarray(0, n)) {
              const what = String.fromCharCode(b);
              if (what === "E") await snapshot("exit", opts.sort ?? "size", reply);
              else if (what === "S") await snapshot("signal", "size", reply);
              else if (what === "C") await snapshot("signal", "count", reply);
            }
          }
        } catch {
          // the command went away
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});

  const handlers: [Deno.Signal, () => void][] = [];
  for (const sig of FORWARDED) {
    const h = () => {
      try {
        child.kill(sig);
      } catch { /* gone */ }
    };
    Deno.addSignalListener(sig, h);
    handlers.push([sig, h]);
  }
  if (opts.signal) {
    const by = (sort: SiteSort) => () => void snapshot("signal", sort);
    handlers.push(["SIGUSR1", by("size")], ["SIGUSR2", by("count")]);
    Deno.addSignalListener("SIGUSR1", handlers.at(-2)![1]);
    Deno.addSignalListener("SIGUSR2", handlers.at(-1)![1]);
  }

  const status = await child.status;
  await queue;
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  listener.close();
  await serve;
  const how = status.signal
    ? `was killed by ${status.signal}`
    : `exited with status ${status.code}`;
  log(`heapscope: process ${pid} ${how}`);

  if (!exitSnapshot) {
    // No snapshot at exit (killed, _exit, or the recorder could not reach us): the dump file, if
    // any, still says what was live and where it came from, without a leak analysis.
    try {
      const dump = readRecorderDump(`${recordDir}/record.${pid}`);
      const { rows, stackIds } = aggregateSites(dump);
      const sorted = rows.filter((r) => r.count > 0).sort((a, b) => b.bytes - a.bytes);
      const shown = sorted.slice(0, opts.top ?? 10);
      // Symbolize only the stacks printed (and, for the flame graph, every live site's).
      const needed = (opts.flameGraph ? sorted : shown).map((r) =>
        dump.stacks.get(stackIds[r.site]!)
      );
      const frames = await symbolize(selectedPcs({ recorded: needed }), dump.regions);
      const stacks = stackIds.map((id) => {
        const st = dump.stacks.get(id);
        return st ? framesOf(st, frames) : [];
      });
      log(`heapscope: no snapshot at exit; live at exit per the recorder's dump:`);
      log(formatSites({ sites: shown, stacks, omittedSites: sorted.length - shown.length }));
      if (opts.flameGraph) {
        await Deno.writeTextFile(opts.flameGraph, foldedStacks(sorted, stacks, "live"));
      }
    } catch {
      if (signalCount === 0) {
        console.error(`heapscope: no snapshot of process ${pid} was taken`);
        console.error(
          "Hint: the program must end through exit() or a return from main (not _exit or a signal)",
        );
      }
    }
  }
  // The socket's folder (and the dumps, unless --record-dir chose where they go).
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  return lastStatus;
}

/**
 * Sites for an analysed snapshot of a process that runs under the recorder (`heapscope <pid>` of
 * a process started by `heapscope run`, or any LD_PRELOAD=librecorder.so process); undefined when
 * the process has no recorder. `sites` keeps the top N rows and the stacks of those rows and of
 * the nodes `graph` writes; `full` has every kept row (the flame graph's input). Symbolizes only
 * the kept stacks: most recorded stacks (every site that ever allocated) are never shown.
 */
export async function recordedSites(
  snap: Snapshot,
  analysis: Analysis,
  opts: { sort?: SiteSort; top?: number; graph?: "all" | "leaked" } = {},
): Promise<{ table: RecorderTable; full: LeaksSites; sites: LeaksSites } | undefined> {
  const table = readRecorderTable(snap);
  if (!table) return undefined;
  const selection = selectSites(analysis, table, {
    sort: opts.sort ?? "size",
    top: opts.top ?? 10,
    written: opts.graph === "leaked" ? leakedGraphNodes(analysis) : undefined,
  });
  const frames = await symbolize(selectedPcs(selection), snap.regions, {
    pageSize: snap.pageSize,
  });
  const sites = withFrames(selection, frames);
  return { table, full: { ...sites, sites: sites.keptRows }, sites };
}

/**
 * The nodes `--graph leaked` writes: leaked nodes and what they point to (the rule of
 * report/leaks_json.ts; withSites() compacts against the nodes actually written, so a difference
 * would only cost symbolization time).
 */
function leakedGraphNodes(a: Analysis): Uint8Array {
  const keep = new Uint8Array(a.status.length);
  for (let i = 0; i < keep.length; i++) if (a.status[i] !== STATUS_REACHABLE) keep[i] = 1;
  for (let e = 0; e < a.edgeSource.length; e++) {
    if (a.status[a.edgeSource[e]!] !== STATUS_REACHABLE) keep[a.edgeTarget[e]!] = 1;
  }
  return keep;
}

/** With ".<k>" before the extension, for the k-th signal snapshot. */
export function numberedPath(path: string, index: number): string {
  if (index === 0) return path;
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash + 1 ? `${path.slice(0, dot)}.${index}${path.slice(dot)}` : `${path}.${index}`;
}

async function report(
  snap: Snapshot,
  kind: "exit" | "signal",
  index: number,
  sort: SiteSort,
  opts: RunOptions,
  log: (s: string) => void,
): Promise<number> {
  const analysis = analyze(snap, { kernel: scanKernel() });
  const top = opts.top ?? 10;
  const graph = opts.graph ?? "all";
  const recorded = await recordedSites(snap, analysis, { sort, top, graph });
  if (!recorded) {
    throw new Error(
      `process ${snap.pid} has no recorder table (librecorder.so not loaded or not initialised)`,
    );
  }
  const { table, full, sites } = recorded;
  const leaks = withSites(toLeaksFile(analysis, { graph }), sites);
  const output = numberedPath(opts.output ?? "leaks.json", index);
  await writeAtomic(output, JSON.stringify(leaks));
  const outputs = [{ label: "json", path: output }];
  if (opts.html) {
    const html = numberedPath(opts.html, index);
    await writeHtmlReport(leaks, html);
    outputs.push({ label: "html", path: html });
  }
  if (opts.flameGraph) {
    const fg = numberedPath(opts.flameGraph, index);
    await writeAtomic(fg, foldedStacks(full.sites, full.stacks, "leaked"));
    outputs.push({ label: "flame graph", path: fg });
  }
  log(
    `heapscope: ${kind} snapshot${index ? ` ${index}` : ""} of process ${snap.pid}: ` +
      `${table.blocks.length} recorded live blocks, ${table.stacks.size} stacks ` +
      `(${leaks.stacks?.length ?? 0} kept)` +
      (full.unmatchedBlocks ? `, ${full.unmatchedBlocks} not found in the heap` : ""),
  );
  log(formatSummary(analysis, { outputs, top }));
  const leakedSites = sites.sites.filter((r) => r.leakedCount > 0);
  if (leakedSites.length > 0) {
    log(`Top leaking sites (by ${sort}):`);
    log(formatSites({ ...sites, sites: leakedSites }));
  }
  opts.onSnapshot?.({ kind, index, analysis, table, sites, leaks, output });
  return leaks.summary.leaked > 0 ? EXIT.leaks : EXIT.clean;
}

/**
 * leaks.json version 2: stacks, sites and timeline, and per node its site, thread and age. Site
 * ids in the file are indexes into its `stacks`; stacks that neither a written node nor a row of
 * `sites` refers to are dropped here and the rest renumbered in order, so the file holds no stack
 * it does not use whichever nodes `file` kept. O(nodes + sites).
 */
export function withSites(file: LeaksFile, s: LeaksSites): LeaksFile {
  const used = new Uint8Array(s.stacks.length);
  for (const r of s.sites) used[r.site] = 1;
  for (const n of file.nodes) {
    const site = s.site[n.id] ?? -1;
    if (site >= 0) used[site] = 1;
  }
  const renumber = new Int32Array(s.stacks.length).fill(-1);
  const stacks: LeaksSites["stacks"] = [];
  s.stacks.forEach((frames, i) => {
    if (!used[i]) return;
    renumber[i] = stacks.length;
    stacks.push(frames);
  });
  const nodes = file.nodes.map((n) => {
    const site = s.site[n.id] ?? -1;
    if (site < 0) return n;
    return {
      ...n,
      site: renumber[site]!,
      thread: s.thread[n.id],
      ageMs: Math.round(s.ageMs[n.id]! * 1000) / 1000,
    };
  });
  return {
    ...file,
    version: 2,
    nodes,
    stacks,
    sites: s.sites.map((r) => ({ ...r, site: renumber[r.site]! })),
    omittedSites: s.omittedSites,
    timeline: s.timeline,
  } as unknown as LeaksFile;
}
