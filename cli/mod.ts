// The command line: pick the command, run it, print every expected failure the same way.
//
// Commands, one file each: attach (`heapscope <pid>`), run, report, doctor, heapdump, analyze,
// diff, watch. Every expected failure is a HeapscopeError (UsageError, CaptureError, AnalysisError,
// LeaksFileError, OutputFileError, ...): its message, its `Hint:` lines, its exit status. Anything
// else is a bug: exit 3 with the stack, never 1 ("leaks found").

// Each command's module loads when it runs: this file imports only what every command needs, so
// that `--version`, `--help` and the commands that read files do not load the capture and the
// analysis (~0.1 s).

import { EXIT, type ExitStatus, HeapscopeError } from "../analysis/errors.ts";
import { useZeroedMemory } from "../analysis/arrays.ts";
import { CaptureError } from "../ffi/errors.ts";
import { hugeZeroedMemory } from "../ffi/huge_arrays.ts";
import { UsageError } from "./options.ts";

export const VERSION = "0.2.0";

type Command = (argv: string[], command: string[]) => Promise<ExitStatus>;

/** Every command: name → its function (argv before `--`, the command after it), loaded on use. */
const COMMANDS: Record<string, Command> = {
  run: async (argv, command) => (await import("./run.ts")).run(argv, command),
  report: async (argv) => (await import("./report.ts")).report(argv),
  doctor: async (argv) => (await import("./doctor.ts")).doctor(argv),
  heapdump: async (argv) => (await import("./heapdump.ts")).heapdump(argv),
  why: async (argv) => (await import("./why.ts")).why(argv),
  analyze: async (argv) => (await import("./analyze.ts")).analyzeCommand(argv),
  diff: async (argv) => (await import("./diff.ts")).diff(argv),
  watch: async (argv) => (await import("./watch.ts")).watch(argv),
};

async function usage(): Promise<string> {
  const { attachHelp } = await import("./attach.ts");
  return [
    "heapscope: find leaked heap blocks and leaked cycles in a running process",
    "",
    "Commands:",
    "  heapscope <pid> [options]                      attach, analyse, write leaks.json",
    "  heapscope run [options] -- <command…>          run under the allocation recorder: leaks with stacks",
    "  heapscope report <leaks.json> --html <file>    render a saved analysis",
    "  heapscope why <leaks.json|pid> <address>…      why a block is alive: path from a root, owners",
    "  heapscope doctor [pid]                         check privileges, Yama, container, target",
    "  heapscope heapdump <dump> [options]            a Go heap dump (runtime/debug.WriteHeapDump)",
    "  heapscope <pid> --save FILE                    capture only: a snapshot file (the process's",
    "                                                 memory, secrets included)",
    "  heapscope analyze <snapshot|core> [options]    analyse a snapshot file or an ELF core file",
    "  heapscope diff <a.json> <b.json> [c.json]      what grew between analyses of one process",
    "  heapscope watch <pid> --every 60s --out DIR    a snapshot per interval, growth over time",
    "",
    "`heapscope <command> --help` lists a command's options. The options of `heapscope <pid>`:",
    "",
    attachHelp(),
  ].join("\n");
}

/** Run the command line `argv`; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  // The analysis's big arrays on huge pages where the kernel has them (analysis/arrays.ts).
  useZeroedMemory(hugeZeroedMemory());
  try {
    // `run` takes everything after `--` as the command, untouched by option parsing.
    const dash = argv.indexOf("--");
    const before = dash >= 0 ? argv.slice(0, dash) : argv;
    const after = dash >= 0 ? argv.slice(dash + 1) : [];
    const first = before.find((a) => !a.startsWith("-"));
    if (before.length === 0 || ((before[0] === "--help" || before[0] === "-h") && !first)) {
      console.log(await usage());
      return before.length === 0 && dash < 0 ? EXIT.usage : EXIT.clean;
    }
    if (before[0] === "--version" || before[0] === "-V") {
      console.log(`heapscope ${VERSION}`);
      return EXIT.clean;
    }
    const name = before[0]!;
    const command = COMMANDS[name];
    if (command) return await command(before.slice(1), after);
    if (dash >= 0) throw new UsageError("Only `heapscope run` takes a command after --");
    if (!/^\d/.test(name) && !name.startsWith("-")) {
      throw new UsageError(`Unknown command or process id: "${name}"`, [
        `Commands: ${Object.keys(COMMANDS).join(", ")}; or a process id: heapscope <pid>`,
      ]);
    }
    const { attach } = await import("./attach.ts");
    return await attach(before);
  } catch (e) {
    if (e instanceof HeapscopeError || e instanceof CaptureError) {
      console.error(`heapscope: ${e.message}`);
      for (const h of e.hints) console.error(`  Hint: ${h}`);
      return e instanceof HeapscopeError ? e.exitStatus : EXIT.cannot;
    }
    // Not a user error: a bug. Still exit 3, never 1 ("leaks found"), and show where it happened.
    console.error(
      `heapscope: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`,
    );
    console.error("  Hint: Please report this with the command line you ran");
    return EXIT.cannot;
  }
}
