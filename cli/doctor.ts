// `heapscope doctor [pid]`: can heapscope attach here? Each check and its fix, nothing stopped.

import { EXIT, type ExitStatus } from "../analysis/mod.ts";
import { formatChecks, runChecks } from "../ffi/mod.ts";
import { helpText, parseOptions, pidArgument, UsageError } from "./options.ts";

const USAGE = "heapscope doctor [pid]";

export function doctorHelp(): string {
  return helpText([USAGE], {});
}

export function doctor(argv: string[]): ExitStatus {
  const { values: o, positionals } = parseOptions("doctor", {}, argv);
  if (o.help) {
    console.log(doctorHelp());
    return EXIT.clean;
  }
  if (positionals.length > 1) throw new UsageError(`Usage: ${USAGE}`);
  const pid = positionals[0] === undefined ? undefined : pidArgument(positionals[0], USAGE);
  const checks = runChecks(pid);
  console.log(formatChecks(checks));
  return checks.some((c) => c.state === "fail") ? EXIT.cannot : EXIT.clean;
}
