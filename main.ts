// heapscope's command line: parse options, capture → analyse → report, print, exit with a status.
//
// Exit status: 0 nothing leaked, 1 leaks found, 2 usage or input error, 3 target not analysable.

import { parseArgs } from "node:util";
import {
  type Analysis,
  AnalysisError,
  analyze,
  formatSites,
  releaseMemory,
  STATUS_REACHABLE,
} from "./analysis/mod.ts";
import {
  CaptureError,
  captureSnapshot,
  formatChecks,
  onInterrupt,
  recordedSites,
  runChecks,
  runRecorded,
  scanKernel,
  withSites,
} from "./ffi/mod.ts";
import {
  formatBytes,
  formatSummary,
  LeaksFileError,
  leaksJsonChunks,
  OutputFileError,
  readLeaksFile,
  removePendingTemps,
  toLeaksFile,
  writeAtomic,
  writeHtmlReport,
} from "./report/mod.ts";

const VERSION = "0.1.0";

const EXIT = { clean: 0, leaks: 1, usage: 2, cannot: 3 } as const;

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
  arg?: string;
  help: string;
  /** Allowed values for a string option. */
  choices?: string[];
}

/** Every option, once: parsing, validation and --help come from this table. */
const OPTIONS = {
  output: {
    type: "string",
    short: "o",
    default: "leaks.json",
    arg: "FILE",
    help: "where to write leaks.json",
  },
  html: { type: "string", arg: "FILE", help: "also write the one-file HTML report" },
  graph: {
    type: "string",
    default: "all",
    arg: "WHICH",
    choices: ["all", "leaked"],
    help: "nodes in leaks.json: all allocations, or leaked ones and their context",
  },
  top: { type: "string", default: "10", arg: "N", help: "direct leaks listed in the summary" },
  timeout: {
    type: "string",
    default: "30",
    arg: "SECONDS",
    help: "longest time the target may stay stopped",
  },
  signal: {
    type: "boolean",
    default: false,
    help: "run: kill -USR1 <pid> snapshots by size, -USR2 by count; the command keeps running",
  },
  "flame-graph": {
    type: "string",
    arg: "FILE",
    help: "run: folded stacks of leaked bytes for flamegraph.pl or speedscope",
  },
  sort: {
    type: "string",
    default: "size",
    arg: "BY",
    choices: ["size", "count"],
    help: "order of allocation sites (recorded processes)",
  },
  depth: {
    type: "string",
    default: "32",
    arg: "N",
    help: "run: frames recorded per allocation",
  },
  quiet: { type: "boolean", short: "q", default: false, help: "print nothing but errors" },
  "no-color": { type: "boolean", default: false, help: "plain text even on a terminal" },
  help: { type: "boolean", short: "h", default: false, help: "show this help" },
  version: { type: "boolean", short: "V", default: false, help: "show the version" },
} as const satisfies Record<string, OptionSpec>;

type Options = {
  [K in keyof typeof OPTIONS]: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean
    : string | undefined;
};

function usage(): string {
  const lines = [
    "heapscope: find leaked heap blocks and leaked cycles in a running process",
    "",
    "Usage:",
    "  heapscope <pid> [options]                      attach, analyse, write leaks.json",
    "  heapscope run [options] -- <command…>          run under the allocation recorder: leaks with stacks",
    "  heapscope report <leaks.json> --html <file>    render a saved analysis",
    "  heapscope doctor [pid]                         check privileges, Yama, container, target",
    "",
    "Options:",
  ];
  for (const [name, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.arg ? ` ${spec.arg}` : ""
    }`;
    const def = spec.default !== undefined && spec.type === "string"
      ? ` (default ${spec.default})`
      : "";
    lines.push(`  ${flag.padEnd(28)} ${spec.help}${def}`);
  }
  lines.push(
    "",
    "Exit status: 0 no leaks, 1 leaks found, 2 usage error, 3 the target could not be analysed.",
  );
  return lines.join("\n");
}

class UsageError extends Error {
  constructor(message: string, readonly hints: string[] = []) {
    super(message);
  }
}

function parse(argv: string[]): { opts: Options; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(OPTIONS).map((
          [k, v],
        ) => [k, "short" in v ? { type: v.type, short: v.short } : { type: v.type }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new UsageError(msg.replace(/\. To specify a positional.*$/s, ""), [
      "Run 'heapscope --help' for the options",
    ]);
  }
  const opts = {} as Record<string, unknown>;
  for (const [k, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    const v = (parsed.values as Record<string, unknown>)[k] ?? spec.default;
    if (spec.choices && typeof v === "string" && !spec.choices.includes(v)) {
      throw new UsageError(`Invalid value for --${k}: "${v}"`, [
        `Use one of: ${spec.choices.join(", ")}`,
      ]);
    }
    opts[k] = v;
  }
  return { opts: opts as Options, positionals: parsed.positionals };
}

function positiveInt(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!v || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`Invalid value for --${name}: "${v}"`, ["Give a positive number"]);
  }
  return n;
}

/** Phase and count on stderr, only when stderr is a terminal. */
function progressPrinter(enabled: boolean) {
  if (!enabled) return { update: (_p: string, _d: number, _t: number) => {}, done: () => {} };
  const enc = new TextEncoder();
  let last = 0;
  return {
    update(phase: string, done: number, total: number) {
      const now = performance.now();
      if (now - last < 80 && done !== total) return;
      last = now;
      // The copy counts bytes; every other phase counts items.
      const n = (v: number) => phase === "copy" ? formatBytes(v) : String(v);
      const count = total > 1 ? ` ${n(done)}/${n(total)}` : "";
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2Kheapscope: ${phase}${count}`));
    },
    done() {
      Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
    },
  };
}

async function runAttach(pidText: string, opts: Options): Promise<number> {
  if (!/^\d+$/.test(pidText)) {
    throw new UsageError(`Not a process id: "${pidText}"`, ["Usage: heapscope <pid> [options]"]);
  }
  const pid = Number(pidText);
  const timeoutMs = positiveInt("timeout", opts.timeout) * 1000;
  const top = positiveInt("top", opts.top);
  const progress = progressPrinter(!opts.quiet && Deno.stderr.isTerminal());
  let analysis: Analysis;
  try {
    const snapshot = await captureSnapshot(pid, { onProgress: progress.update, timeoutMs });
    analysis = analyze(snapshot, { progress: progress.update, kernel: scanKernel() });
  } finally {
    progress.done();
  }
  // A process started under `heapscope run` carries the recorder's table: its leaks get stacks.
  const sort = opts.sort === "count" ? "count" : "size";
  const graph = opts.graph === "leaked" ? "leaked" : "all";
  const recorded = await recordedSites(analysis.snapshot, analysis, { sort, top, graph });
  releaseMemory(analysis); // the copy is not needed for the output: leaked blocks' bytes are kept
  progress.update("write json", 0, 1);
  const t0 = performance.now();
  const output = opts.output ?? "leaks.json";
  // An interrupted write removes its temporaries: every existing output stays as it was.
  const guard = onInterrupt(removePendingTemps);
  const withStacks = recorded
    ? withSites(toLeaksFile(analysis, { graph }), recorded.sites)
    : undefined;
  await writeAtomic(
    output,
    withStacks ? [JSON.stringify(withStacks), "\n"] : leaksJsonChunks(analysis, { graph }),
  );
  analysis.phaseMs["write-json"] = performance.now() - t0;
  const outputs = [{ label: "json", path: output }];
  if (opts.html) {
    const t1 = performance.now();
    await writeHtmlReport(withStacks ?? toLeaksFile(analysis, { graph }), opts.html);
    analysis.phaseMs["write-html"] = performance.now() - t1;
    outputs.push({ label: "html", path: opts.html });
  }
  await guard.release();
  progress.done();
  if (!opts.quiet) {
    const color = !opts["no-color"] && Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
    console.log(formatSummary(analysis, { outputs, top, color }));
    if (recorded) {
      const leakedSites = recorded.sites.sites.filter((site) => site.leakedCount > 0);
      console.log(formatSites({ ...recorded.sites, sites: leakedSites }));
    }
  }
  return analysis.status.some((s) => s !== STATUS_REACHABLE) ? EXIT.leaks : EXIT.clean;
}

async function runRun(command: string[], opts: Options): Promise<number> {
  if (command.length === 0) {
    throw new UsageError("Missing the command to run", [
      "Usage: heapscope run [options] -- <command…>",
    ]);
  }
  return await runRecorded(command, {
    output: opts.output,
    html: opts.html,
    flameGraph: opts["flame-graph"],
    signal: opts.signal,
    sort: opts.sort === "count" ? "count" : "size",
    top: positiveInt("top", opts.top),
    depth: positiveInt("depth", opts.depth),
    graph: opts.graph === "leaked" ? "leaked" : "all",
    quiet: opts.quiet,
  });
}

async function runReport(args: string[], opts: Options): Promise<number> {
  const [input, ...rest] = args;
  if (!input || rest.length) {
    throw new UsageError("Usage: heapscope report <leaks.json> --html <file>");
  }
  if (!opts.html) throw new UsageError("Missing --html <file>: where to write the report");
  const leaks = await readLeaksFile(input);
  // An interrupted write removes its temporaries: every existing output stays as it was.
  const guard = onInterrupt(removePendingTemps);
  await writeHtmlReport(leaks, opts.html);
  await guard.release();
  if (!opts.quiet) console.log(`html          ${opts.html}`);
  return leaks.summary.leaked > 0 ? EXIT.leaks : EXIT.clean;
}

function runDoctor(args: string[]): number {
  if (args.length > 1) throw new UsageError("Usage: heapscope doctor [pid]");
  const pidText = args[0];
  if (pidText !== undefined && !/^\d+$/.test(pidText)) {
    throw new UsageError(`Not a process id: "${pidText}"`, ["Usage: heapscope doctor [pid]"]);
  }
  const checks = runChecks(pidText === undefined ? undefined : Number(pidText));
  console.log(formatChecks(checks));
  return checks.some((c) => c.state === "fail") ? EXIT.cannot : EXIT.clean;
}

function fail(message: string, hints: string[] = []): void {
  console.error(`heapscope: ${message}`);
  for (const h of hints) console.error(`  Hint: ${h}`);
}

export async function main(argv: string[]): Promise<number> {
  try {
    // `run` takes everything after `--` as the command, untouched by option parsing.
    const dash = argv.indexOf("--");
    const command = dash >= 0 ? argv.slice(dash + 1) : [];
    const { opts, positionals } = parse(dash >= 0 ? argv.slice(0, dash) : argv);
    if (opts.help) {
      console.log(usage());
      return EXIT.clean;
    }
    if (opts.version) {
      console.log(`heapscope ${VERSION}`);
      return EXIT.clean;
    }
    const [first, ...rest] = positionals;
    if (first === undefined) {
      throw new UsageError("Missing a process id", [
        "Usage: heapscope <pid> [options]; see --help",
      ]);
    }
    if (first === "report") return await runReport(rest, opts);
    if (first === "run") {
      if (rest.length) {
        throw new UsageError(`Unexpected argument before --: "${rest[0]}"`, [
          "Usage: heapscope run [options] -- <command…>",
        ]);
      }
      return await runRun(command, opts);
    }
    if (dash >= 0) throw new UsageError("Only `heapscope run` takes a command after --");
    if (first === "doctor") return runDoctor(rest);
    if (rest.length) {
      throw new UsageError(`Unexpected argument: "${rest[0]}"`, [
        "Usage: heapscope <pid> [options]",
      ]);
    }
    return await runAttach(first, opts);
  } catch (e) {
    if (e instanceof UsageError) {
      fail(e.message, e.hints);
      return EXIT.usage;
    }
    if (e instanceof CaptureError || e instanceof AnalysisError) {
      fail(e.message, e.hints);
      return EXIT.cannot;
    }
    if (e instanceof OutputFileError) {
      fail(e.message, e.hints);
      return EXIT.usage;
    }
    if (e instanceof LeaksFileError) {
      fail(e.message);
      return EXIT.usage;
    }
    // Not a user error: a bug. Still exit 3, never 1 ("leaks found"), and show where it happened.
    fail(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`, [
      "Please report this with the command line you ran",
    ]);
    return EXIT.cannot;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
