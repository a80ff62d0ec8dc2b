// `heapscope run -- <command…>`: launch a command under the allocation recorder, snapshot it at
// exit and on request, and report leaks with the stacks that allocated them.
//
// Protocol (see shim/recorder_linux.c): heapscope listens on a Unix socket in a private temporary
// folder and starts the command with LD_PRELOAD=librecorder.so, HEAPSCOPE_CONTROL=<socket> and
// HEAPSCOPE_PARENT_PID=<our pid>. The process we started connects; at exit (a destructor, after
// the program's own) it sends 'E', on the --signal it sends 'S', and waits. We capture its memory
// with ptrace, answer one byte so it goes on, then analyse the copy through the one pipeline
// (cli/pipeline.ts). SIGUSR1/SIGUSR2 sent to heapscope itself take a snapshot too (by size, by
// count): no signal to the command is needed. SIGINT, SIGTERM and SIGHUP are forwarded to the
// command. Children the command forks do not talk to us (they write their own dump files
// record.<pid> at exit).

import {
  aggregateSites,
  EXIT,
  type ExitStatus,
  framesOf,
  HeapscopeError,
  type SiteSort,
} from "../analysis/mod.ts";
import { foldedStacks } from "../analysis/sites.ts";
import type { SuppressionRule } from "../analysis/suppressions.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { materialize } from "../ffi/embedded.ts";
import { readRecorderDump } from "../ffi/recorder_table.ts";
import { symbolize } from "../ffi/symbolize.ts";
import { formatSites, printable, writeAtomic } from "../report/mod.ts";
import {
  helpText,
  type OptionTable,
  OUTPUT_OPTIONS,
  parseOptions,
  positiveInt,
  readSuppressions,
  SUPPRESSION_OPTIONS,
  UsageError,
} from "./options.ts";
import { analyseAndWrite, type Outcome } from "./pipeline.ts";
import { progressLine } from "./progress.ts";
import { parseSignal } from "./signals.ts";
import { useColor } from "./terminal.ts";

export const RUN_OPTIONS = {
  ...OUTPUT_OPTIONS,
  ...SUPPRESSION_OPTIONS,
  signal: {
    type: "string",
    arg: "SIGNAL",
    help: "snapshot when the command receives SIGNAL (e.g. SIGRTMIN+3; none by default: " +
      "`kill -USR1 <heapscope's pid>` or `heapscope <pid>` need no signal to the command)",
  },
  depth: {
    type: "string",
    default: "32",
    arg: "N",
    help: "frames recorded per allocation (at most 128)",
  },
} as const satisfies OptionTable;

const USAGE = "heapscope run [options] -- <command…>";

export function runHelp(): string {
  return helpText([USAGE], RUN_OPTIONS, [
    "Snapshot k (k = 1, 2, …) taken on request is written as leaks.k.json (and report.k.html).",
  ]);
}

export interface RunOptions {
  /** leaks.json path (default "leaks.json"); snapshots on request add ".<k>" before ".json". */
  output?: string;
  html?: string;
  /** Folded stacks of leaked bytes per site, for flamegraph.pl or speedscope. */
  flameGraph?: string;
  /** Signal number on which the command takes a snapshot (handler installed by the recorder). */
  signal?: number;
  sort?: SiteSort;
  /** Sites listed in the summary and kept in leaks.json (default 10). */
  top?: number;
  /** Frames kept per allocation (default 32, at most 128). */
  depth?: number;
  graph?: "auto" | "all" | "leaked";
  /** Leave every byte of the process's memory out of the outputs (--redact). */
  redact?: boolean;
  quiet?: boolean;
  color?: boolean;
  /** Path of librecorder.so (default: build/librecorder.so beside heapscope). */
  recorder?: string;
  /** Where the command's dump files go (default: a temporary folder, removed at the end). */
  recordDir?: string;
  /** Where the command's stdout/stderr go (default inherit). */
  stdio?: "inherit" | "null";
  /** Called after each snapshot has been analysed (tests, embedding). */
  onSnapshot?: (s: RunSnapshot) => void;
  /** Known leaks left out of the exit status (--suppressions). */
  suppressions?: SuppressionRule[];
}

/** One analysed snapshot of the recorded command. */
export interface RunSnapshot extends Outcome {
  kind: "exit" | "request";
  /** 0 for the exit snapshot, 1, 2, ... for snapshots on request. */
  index: number;
  output: string;
}

/** The `run` command line. */
export async function run(argv: string[], command: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("run", RUN_OPTIONS, argv);
  if (o.help) {
    console.log(runHelp());
    return EXIT.clean;
  }
  if (positionals.length) {
    throw new UsageError(`Unexpected argument before --: "${positionals[0]}"`, [`Usage: ${USAGE}`]);
  }
  if (command.length === 0) throw new UsageError("Missing the command to run", [`Usage: ${USAGE}`]);
  return await runRecorded(command, {
    output: o.output,
    html: o.html,
    flameGraph: o["flame-graph"],
    signal: o.signal === undefined ? undefined : parseSignal(o.signal),
    sort: o.sort === "count" ? "count" : "size",
    top: positiveInt("top", o.top),
    depth: positiveInt("depth", o.depth, 128),
    graph: o.graph as "auto" | "all" | "leaked",
    redact: o.redact,
    quiet: o.quiet,
    color: useColor(o["no-color"]),
    suppressions: await readSuppressions(o.suppressions),
  });
}

/** Default location of the recorder: $HEAPSCOPE_HOME/build or ../build from this file. */
export function recorderPath(): string {
  const home = Deno.env.get("HEAPSCOPE_HOME");
  if (home) return `${home}/build/librecorder.so`;
  // In a compiled binary the library is embedded: LD_PRELOAD needs a real file.
  return materialize(new URL("../build/librecorder.so", import.meta.url).pathname);
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Run `argv` under the recorder; returns heapscope's exit status: 0 no leaks in the last
 * snapshot, 1 leaks, 3 no snapshot could be analysed. The command's own exit status is printed.
 */
export async function runRecorded(argv: string[], opts: RunOptions = {}): Promise<ExitStatus> {
  const log = (s: string) => {
    if (!opts.quiet) console.log(s);
  };
  if (argv.length === 0) throw new UsageError("Missing the command to run", [`Usage: ${USAGE}`]);
  const recorder = opts.recorder ?? recorderPath();
  try {
    Deno.statSync(recorder);
  } catch {
    throw new UsageError(`Cannot find the recorder "${recorder}"`, [
      "Build it with `make` in the heapscope folder",
    ]);
  }
  const depth = opts.depth ?? 32;
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
  if (opts.signal !== undefined) env.HEAPSCOPE_SNAPSHOT_SIGNAL = String(opts.signal);

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
    throw new UsageError(`Cannot run "${argv[0]}": ${(e as Error).message}`, [
      "Check the command name and that it is executable",
    ]);
  }
  const pid = child.pid;
  log(`heapscope: recording process ${pid} (${printable(argv.join(" "))})`);

  let requests = 0;
  let lastStatus: ExitStatus = EXIT.cannot;
  let exitSnapshot = false;
  // Snapshots run one at a time, in request order.
  let queue: Promise<void> = Promise.resolve();
  const snapshot = (kind: "exit" | "request", sort: SiteSort, ack?: () => Promise<void>) => {
    queue = queue.then(async () => {
      const index = kind === "exit" ? 0 : ++requests;
      try {
        const snap = await captureSnapshot(pid);
        await ack?.();
        ack = undefined;
        const output = numberedPath(opts.output ?? "leaks.json", index);
        log(
          `heapscope: ${kind === "exit" ? "exit snapshot" : `snapshot ${index}`} of process ${pid}`,
        );
        const outcome = await analyseAndWrite(snap, {
          output,
          html: opts.html ? numberedPath(opts.html, index) : undefined,
          flameGraph: opts.flameGraph ? numberedPath(opts.flameGraph, index) : undefined,
          graph: opts.graph ?? "auto",
          redact: opts.redact ?? false,
          top: opts.top ?? 10,
          sort,
          quiet: opts.quiet ?? false,
          color: opts.color ?? false,
          progress: progressLine(false),
          suppressions: opts.suppressions,
        });
        if (!outcome.table) {
          throw new HeapscopeError(
            `process ${pid} has no recorder table (librecorder.so not loaded or not initialised)`,
          );
        }
        lastStatus = outcome.status;
        if (kind === "exit") exitSnapshot = true;
        opts.onSnapshot?.({ ...outcome, kind, index, output });
      } catch (e) {
        console.error(
          `heapscope: ${kind} snapshot of process ${pid} failed: ${(e as Error).message}`,
        );
        if (e instanceof HeapscopeError) { for (const h of e.hints) console.error(`Hint: ${h}`); }
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
              else if (what === "S") await snapshot("request", opts.sort ?? "size", reply);
              else if (what === "C") await snapshot("request", "count", reply);
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
    handlers.push([sig, () => {
      try {
        child.kill(sig);
      } catch { /* gone */ }
    }]);
  }
  handlers.push(["SIGUSR1", () => void snapshot("request", "size")]);
  handlers.push(["SIGUSR2", () => void snapshot("request", "count")]);
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);

  const status = await child.status;
  await queue;
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  listener.close();
  await serve;
  const how = status.signal
    ? `was killed by ${status.signal}`
    : `exited with status ${status.code}`;
  log(`heapscope: process ${pid} ${how}`);

  if (!exitSnapshot) await reportDump(pid, recordDir, requests, opts, log);
  // The socket's folder (and the dumps, unless recordDir chose where they go).
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  return lastStatus;
}

/**
 * No snapshot at exit (killed, _exit, or the recorder could not reach us): the dump file, if any,
 * still says what was live and where it came from, without a leak analysis.
 */
async function reportDump(
  pid: number,
  recordDir: string,
  requests: number,
  opts: RunOptions,
  log: (s: string) => void,
): Promise<void> {
  let dump;
  try {
    dump = readRecorderDump(`${recordDir}/record.${pid}`);
  } catch {
    if (requests === 0) {
      console.error(`heapscope: no snapshot of process ${pid} was taken`);
      console.error(
        "Hint: the program must end through exit() or a return from main (not _exit or a signal)",
      );
    }
    return;
  }
  const { rows, stackIds } = aggregateSites(dump);
  const sorted = rows.filter((r) => r.count > 0).sort((a, b) => b.bytes - a.bytes);
  const shown = sorted.slice(0, opts.top ?? 10);
  // Symbolize only the stacks printed (and, for the flame graph, every live site's).
  const needed = (opts.flameGraph ? sorted : shown).map((r) => dump.stacks.get(stackIds[r.site]!));
  const pcs = new Set<number>();
  for (const st of needed) for (const pc of st?.pcs ?? []) pcs.add(pc);
  const frames = await symbolize(pcs, dump.regions);
  const stacks = stackIds.map((id) => {
    const st = dump.stacks.get(id);
    return st ? framesOf(st, frames) : [];
  });
  log(`heapscope: no snapshot at exit; live at exit per the recorder's dump:`);
  log(formatSites({ sites: shown, stacks, omittedSites: sorted.length - shown.length }));
  if (opts.flameGraph) await writeAtomic(opts.flameGraph, foldedStacks(sorted, stacks, "live"));
}

/** With ".<k>" before the extension, for the k-th snapshot on request. */
export function numberedPath(path: string, index: number): string {
  if (index === 0 || path === "-") return path;
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash + 1 ? `${path.slice(0, dot)}.${index}${path.slice(dot)}` : `${path}.${index}`;
}
