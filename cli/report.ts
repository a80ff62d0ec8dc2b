// `heapscope report <leaks.json> --html <file>`: render a saved analysis.

import { EXIT, type ExitStatus } from "../analysis/mod.ts";
import { onInterrupt } from "../ffi/mod.ts";
import { readLeaksFile, removePendingTemps, writeHtmlReport } from "../report/mod.ts";
import { helpText, type OptionTable, parseOptions, UsageError } from "./options.ts";

export const REPORT_OPTIONS = {
  html: { type: "string", arg: "FILE", help: "where to write the one-file HTML report" },
  redact: {
    type: "boolean",
    default: false,
    help: "leave every byte of the process's memory out of the report",
  },
} as const satisfies OptionTable;

const USAGE = "heapscope report <leaks.json> --html <file>";

export function reportHelp(): string {
  return helpText([USAGE], REPORT_OPTIONS);
}

export async function report(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("report", REPORT_OPTIONS, argv);
  if (o.help) {
    console.log(reportHelp());
    return EXIT.clean;
  }
  const [input, ...rest] = positionals;
  if (!input || rest.length) throw new UsageError(`Usage: ${USAGE}`);
  if (!o.html) {
    throw new UsageError("Missing --html <file>: where to write the report", [`Usage: ${USAGE}`]);
  }
  const leaks = await readLeaksFile(input);
  // An interrupted write removes its temporaries: every existing output stays as it was.
  const guard = onInterrupt(removePendingTemps);
  try {
    await writeHtmlReport(leaks, o.html, { redact: o.redact });
  } finally {
    await guard.release();
  }
  if (!o.quiet) console.log(`html          ${o.html}`);
  // Suppressed leaks (--suppressions, counted in the summary) do not fail a run.
  return leaks.summary.leaked - (leaks.summary.suppressed ?? 0) > 0 ? EXIT.leaks : EXIT.clean;
}
