// `heapscope <pid>`: stop the process, copy its memory, resume it, analyse the copy, write.

import type { ExitStatus } from "../analysis/mod.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { captureTestHooksFromEnv } from "../ffi/linux_capture.ts";
import { snapshotFileOf } from "../ffi/snapshot_file.ts";
import { formatBytes } from "../report/format.ts";
import {
  helpText,
  type OptionTable,
  OUTPUT_OPTIONS,
  parseOptions,
  pidArgument,
  positiveInt,
  readSuppressions,
  SUPPRESSION_OPTIONS,
  UsageError,
} from "./options.ts";
import { saveSnapshotFile } from "./analyze.ts";
import { analyseAndWrite } from "./pipeline.ts";
import { progressLine } from "./progress.ts";
import { useColor } from "./terminal.ts";
import { readOidFile } from "./oid.ts";

export const ATTACH_OPTIONS = {
  ...OUTPUT_OPTIONS,
  ...SUPPRESSION_OPTIONS,
  timeout: {
    type: "string",
    default: "30",
    arg: "SECONDS",
    help: "longest time the target may stay stopped",
  },
  save: {
    type: "string",
    arg: "FILE",
    help: "capture only: write a snapshot file (`heapscope analyze FILE` later, anywhere); it " +
      "holds the process's memory, secrets included",
  },
  oid: {
    type: "string",
    arg: "FILE",
    help:
      'object ids: lines "0xcaffe14e00000016 Session"; a block whose first word is the value gets the name',
  },
} as const satisfies OptionTable;

const USAGE = "heapscope <pid> [options]";

export function attachHelp(): string {
  return helpText([USAGE], ATTACH_OPTIONS, [
    "Exit status: 0 no leaks, 1 leaks found (that no --suppressions rule suppresses), 2 usage error,",
    "3 the target could not be analysed.",
    "--save writes the process's memory to FILE (mode 0600): passwords, keys and personal data in",
    "it included. Keep and share it as you would the process's own data.",
  ]);
}

export async function attach(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("attach", ATTACH_OPTIONS, argv);
  if (o.help) {
    console.log(attachHelp());
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument: "${positionals[1]}"`, [`Usage: ${USAGE}`]);
  }
  const pid = pidArgument(positionals[0], USAGE);
  const timeoutMs = positiveInt("timeout", o.timeout) * 1000;
  const top = positiveInt("top", o.top);
  // Read before the target is stopped: a bad file is a usage error, not a wasted capture.
  const suppressions = await readSuppressions(o.suppressions);
  const progress = progressLine(!o.quiet && Deno.stderr.isTerminal());
  let snapshot;
  try {
    snapshot = await captureSnapshot(pid, {
      onProgress: progress.update,
      timeoutMs,
      // Only a test sets HEAPSCOPE_TEST_* (in heapscope's own environment, never the suite's).
      test: captureTestHooksFromEnv((n) => Deno.env.get(n)),
    });
  } finally {
    progress.done();
  }
  if (o.save) {
    const written = await saveSnapshotFile(o.save, await snapshotFileOf(snapshot));
    if (!o.quiet) {
      console.log(
        `snapshot      ${o.save}: ${formatBytes(written.bytes)} (${
          formatBytes(written.rawBytes - written.fileBytes)
        } of memory and metadata, ${
          formatBytes(written.fileBytes)
        } of the image files the analysis reads), paused ${snapshot.pauseMs.toFixed(1)} ms`,
      );
      console.log(`              analyse it with: heapscope analyze ${o.save}`);
      console.log("              it holds the process's memory, secrets included: keep it private");
    }
    return 0;
  }
  const outcome = await analyseAndWrite(snapshot, {
    oids: o.oid ? await readOidFile(o.oid) : undefined,
    suppressions,
    output: o.output,
    html: o.html,
    flameGraph: o["flame-graph"],
    graph: o.graph as "auto" | "all" | "leaked",
    redact: o.redact,
    top,
    sort: o.sort === "count" ? "count" : "size",
    quiet: o.quiet,
    color: useColor(o["no-color"]),
    progress,
  });
  return outcome.status;
}
