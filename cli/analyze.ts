// `heapscope analyze <snapshot|core>`: analyse a saved snapshot file or an ELF core file, later and
// elsewhere, without the process or root, through the one pipeline (cli/pipeline.ts).

import { EXIT, type ExitStatus } from "../analysis/mod.ts";
import { onInterrupt } from "../ffi/on_interrupt.ts";
import {
  type EncodedSnapshot,
  encodeSnapshotFile,
  type SnapshotFile,
} from "../ffi/snapshot_file.ts";
import { formatBytes } from "../report/format.ts";
import { removePendingTemps, writeAtomic } from "../report/write_atomic.ts";
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
import { analyseAndWrite } from "./pipeline.ts";
import { openSavedSource, readHead } from "./saved_source.ts";
import { progressLine } from "./progress.ts";
import { useColor } from "./terminal.ts";

export const ANALYZE_OPTIONS = {
  ...OUTPUT_OPTIONS,
  ...SUPPRESSION_OPTIONS,
  exe: {
    type: "string",
    arg: "FILE",
    help: "core files: the executable the core came from (default: the path the core names)",
  },
  sysroot: {
    type: "string",
    arg: "DIR",
    help: "core files: look for the executable and libraries under DIR (a copy of the machine " +
      "the core came from)",
  },
} as const satisfies OptionTable;

const USAGE = "heapscope analyze <snapshot.hsnap | core> [options]";

export function analyzeHelp(): string {
  return helpText(
    [USAGE, "heapscope analyze core.12345 --exe ./server [--sysroot DIR]"],
    ANALYZE_OPTIONS,
    [
      "A snapshot file is written by `heapscope <pid> --save FILE`. It holds the process's memory,",
      "secrets included (keys, passwords, personal data): keep it like the process's own data.",
      "A core file comes from `gcore <pid>` or from the kernel (core_pattern); the executable and",
      "libraries it names are read from --exe, --sysroot or their paths, as they were when it was",
      "written.",
      "Exit status: 0 no leaks, 1 leaks found (that no --suppressions rule suppresses), 2 usage",
      "error or unreadable file, 3 not analysable.",
    ],
  );
}

export async function analyzeCommand(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("analyze", ANALYZE_OPTIONS, argv);
  if (o.help) {
    console.log(analyzeHelp());
    return EXIT.clean;
  }
  const [input, ...rest] = positionals;
  if (!input) throw new UsageError("Missing the snapshot or core file", [`Usage: ${USAGE}`]);
  if (rest.length) throw new UsageError(`Unexpected argument: "${rest[0]}"`, [`Usage: ${USAGE}`]);
  const top = positiveInt("top", o.top);
  const head = await readHead(input, USAGE);
  const progress = progressLine(!o.quiet && Deno.stderr.isTerminal());
  const output = {
    output: o.output,
    html: o.html,
    flameGraph: o["flame-graph"],
    graph: o.graph as "auto" | "all" | "leaked",
    redact: o.redact,
    top,
    sort: (o.sort === "count" ? "count" : "size") as "count" | "size",
    quiet: o.quiet,
    color: useColor(o["no-color"]),
    progress,
    suppressions: await readSuppressions(o.suppressions),
  };
  const source = await openSavedSource(input, head, { exe: o.exe, sysroot: o.sysroot });
  if (source) {
    if (!o.quiet) { for (const line of source.notes) console.error(`heapscope: ${line}`); }
    try {
      const outcome = await analyseAndWrite(source.snapshot, {
        ...output,
        imageFiles: source.imageFiles,
        frameLines: source.frameLines,
        ...(source.recorder ? { recorder: source.recorder } : {}),
        ...(source.frames ? { frames: source.frames } : {}),
      });
      return outcome.status;
    } finally {
      source.close();
    }
  }
  throw new UsageError(
    `Cannot analyse "${input}": neither a heapscope snapshot nor an ELF core file`,
    [
      "Write a snapshot with `heapscope <pid> --save FILE`, or a core with `gcore <pid>`",
      "A leaks.json is rendered with `heapscope report`, compared with `heapscope diff`",
    ],
  );
}

/**
 * Write a snapshot file to `path` atomically, readable by its owner only (it holds the process's
 * memory); an interrupt removes the temporary file. Returns the sizes written.
 */
export async function saveSnapshotFile(path: string, file: SnapshotFile): Promise<EncodedSnapshot> {
  const encoded = await encodeSnapshotFile(file);
  // The temporary file is created under this umask, so the memory is never readable by others,
  // not even for the moment before a chmod.
  const umask = Deno.umask(0o077);
  const guard = onInterrupt(removePendingTemps);
  try {
    await writeAtomic(path, encoded.pieces);
  } finally {
    Deno.umask(umask);
    await guard.release();
  }
  return encoded;
}

/** "12.3 MiB (180 MiB of memory)" for the save message. */
export function sizeNote(bytes: number, rawBytes: number): string {
  return `${formatBytes(bytes)} (${formatBytes(rawBytes)} uncompressed)`;
}
