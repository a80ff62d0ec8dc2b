// `heapscope diff a.json b.json [c.json]`: what grew between two analyses of one process (and, with
// a third, what of that growth is still alive): text summary, the diff as JSON with --output, and
// with --html the HTML report of the newest file with its Comparison section filled from the diff.

import { EXIT, type ExitStatus } from "../analysis/mod.ts";
import { diffLeaks } from "../report/leaks_diff.ts";
import { formatDiff } from "../report/diff_text.ts";
import { writeHtmlReport } from "../report/html.ts";
import { readLeaksFile } from "../report/read_leaks.ts";
import { writeAtomic } from "../report/write_atomic.ts";
import { helpText, type OptionTable, parseOptions, positiveInt, UsageError } from "./options.ts";

export const DIFF_OPTIONS = {
  output: {
    type: "string",
    short: "o",
    arg: "FILE",
    help: "also write the diff as JSON (format heapscope-diff; '-' for standard output)",
  },
  html: {
    type: "string",
    arg: "FILE",
    help: "also write the HTML report of the newest file, its Comparison section filled from " +
      "the diff (one self-contained file)",
  },
  redact: {
    type: "boolean",
    default: false,
    help: "leave every byte of the process's memory out of the HTML report",
  },
  top: { type: "string", default: "10", arg: "N", help: "rows per table in the summary" },
} as const satisfies OptionTable;

const USAGE = "heapscope diff <before.json> <after.json> [<third.json>] [options]";

export function diffHelp(): string {
  return helpText([USAGE], DIFF_OPTIONS, [
    "Two leaks.json files of one process: new leaks, leaks gone, growth by type, allocation site",
    "(recorded processes), retainer and zone, in blocks and bytes, biggest growth first. A block is",
    "the same block when its address, size and (where known) allocation site match.",
    "A third file applies the three-snapshot technique: blocks allocated between the first and the",
    "second that the third still has.",
    "Exit status: 0 no new leaks, 1 new leaks in the second file, 2 usage error or unreadable file.",
  ]);
}

export async function diff(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("diff", DIFF_OPTIONS, argv);
  if (o.help) {
    console.log(diffHelp());
    return EXIT.clean;
  }
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(
      positionals.length < 2 ? "Missing a leaks.json to compare" : "At most three files",
      [`Usage: ${USAGE}`],
    );
  }
  const top = positiveInt("top", o.top);
  const files = await Promise.all(positionals.map((p) => readLeaksFile(p)));
  const d = diffLeaks(files[0]!, files[1]!, files[2]);
  if (o.output) {
    const text = JSON.stringify(d, null, 1) + "\n";
    if (o.output === "-") console.log(text);
    else await writeAtomic(o.output, text);
  }
  // The report draws the newest file: the one the growth led to.
  if (o.html) {
    await writeHtmlReport(files.at(-1)!, o.html, { comparison: { diff: d }, redact: o.redact });
  }
  if (!o.quiet) {
    const print = o.output === "-" ? console.error : console.log;
    print(formatDiff(d, { top }));
    if (o.html) print(`${"html".padEnd(13)} ${o.html}`);
  }
  return d.newLeaks.count > 0 ? EXIT.leaks : EXIT.clean;
}
