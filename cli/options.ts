// Command-line options, declared once as tables: parsing, validation and --help come from them.

import { parseArgs } from "node:util";
import { EXIT, HeapscopeError } from "../analysis/errors.ts";
import { parseSuppressions, type SuppressionRule } from "../analysis/suppressions.ts";

/** A usage error: exit status 2, with hints (e.g. the usage line). */
export class UsageError extends HeapscopeError {
  constructor(message: string, hints: string[] = []) {
    super(message, hints, EXIT.usage);
    this.name = "UsageError";
  }
}

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
  /** Name of the value in --help ("FILE"). */
  arg?: string;
  help: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** May be given more than once (the value is then a list). */
  multiple?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

/** The value type of each option of a table. */
export type OptionValues<T extends OptionTable> = {
  [K in keyof T]: T[K]["type"] extends "boolean" ? boolean
    : T[K]["multiple"] extends true ? string[]
    : T[K]["default"] extends string ? string
    : string | undefined;
};

/** Options every command takes. */
export const COMMON_OPTIONS = {
  quiet: { type: "boolean", short: "q", default: false, help: "print nothing but errors" },
  "no-color": { type: "boolean", default: false, help: "plain text even on a terminal" },
  help: { type: "boolean", short: "h", default: false, help: "show this help" },
} as const satisfies OptionTable;

/** Options of every command that writes an analysis (attach, run, analyze, heapdump). */
export const OUTPUT_OPTIONS = {
  output: {
    type: "string",
    short: "o",
    default: "leaks.json",
    arg: "FILE",
    help: "where to write leaks.json ('-' for standard output)",
  },
  html: { type: "string", arg: "FILE", help: "also write the one-file HTML report" },
  graph: {
    type: "string",
    default: "auto",
    arg: "WHICH",
    choices: ["auto", "all", "leaked"],
    help: "blocks in leaks.json: every block, or leaked ones and their context; auto: every " +
      "block up to 100,000, else leaked ones",
  },
  top: { type: "string", default: "10", arg: "N", help: "direct leaks and sites in the summary" },
  sort: {
    type: "string",
    default: "size",
    arg: "BY",
    choices: ["size", "count"],
    help: "order of allocation sites (recorded processes)",
  },
  "flame-graph": {
    type: "string",
    arg: "FILE",
    help: "folded stacks of leaked bytes for flamegraph.pl or speedscope (recorded processes)",
  },
  redact: {
    type: "boolean",
    default: false,
    help: "leave every byte of the process's memory out of leaks.json and the HTML report",
  },
} as const satisfies OptionTable;

/** --suppressions, of the commands whose exit status says whether leaks were found. */
export const SUPPRESSION_OPTIONS = {
  suppressions: {
    type: "string",
    arg: "FILE",
    multiple: true,
    help: "known leaks, one rule a line: leak:<function, file or library> (LeakSanitizer's " +
      "syntax, on recorded stacks), type:<regex>, size:<min>-<max>; suppressed leaks stay in " +
      "the JSON, marked, and do not make the exit status 1 (may be given more than once)",
  },
} as const satisfies OptionTable;

/** The rules of the --suppressions files, in order; undefined when none was given. */
export async function readSuppressions(paths: string[]): Promise<SuppressionRule[] | undefined> {
  if (paths.length === 0) return undefined;
  const rules: SuppressionRule[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new UsageError(
        `Cannot read suppressions file "${path}": ${
          e instanceof Deno.errors.NotFound ? "the file does not exist" : (e as Error).message
        }`,
        ["Give --suppressions the path of a file of rules (see --help)"],
      );
    }
    rules.push(...parseSuppressions(text, path));
  }
  return rules;
}

/**
 * Parse `argv` against `table` (plus the common options). Unknown options and values outside a
 * choice list are a UsageError that names them. Returns the values and the positionals.
 */
export function parseOptions<T extends OptionTable>(
  command: string,
  table: T,
  argv: string[],
): { values: OptionValues<T & typeof COMMON_OPTIONS>; positionals: string[] } {
  const all: OptionTable = { ...COMMON_OPTIONS, ...table };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(all).map(([k, v]) => [k, {
          type: v.type,
          ...(v.short ? { short: v.short } : {}),
          ...(v.multiple ? { multiple: true } : {}),
        }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new UsageError(msg.replace(/\. To specify a positional.*$/s, ""), [
      `Run 'heapscope ${command === "attach" ? "" : command + " "}--help' for the options`,
    ]);
  }
  const values: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(all)) {
    const v = (parsed.values as Record<string, unknown>)[k] ?? spec.default ??
      (spec.multiple ? [] : undefined);
    if (spec.choices && typeof v === "string" && !spec.choices.includes(v)) {
      throw new UsageError(`Invalid value for --${k}: "${v}"`, [
        `Use one of: ${spec.choices.join(", ")}`,
      ]);
    }
    values[k] = v;
  }
  return {
    values: values as OptionValues<T & typeof COMMON_OPTIONS>,
    positionals: parsed.positionals,
  };
}

/** --help text of a command: its usage lines, then every option with its default. */
export function helpText(usage: string[], table: OptionTable, notes: string[] = []): string {
  const lines = ["Usage:", ...usage.map((u) => `  ${u}`), "", "Options:"];
  for (
    const [name, spec] of Object.entries({ ...table, ...COMMON_OPTIONS }) as [string, OptionSpec][]
  ) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.arg ? ` ${spec.arg}` : ""
    }`;
    const def = spec.default !== undefined && spec.type === "string"
      ? ` (default ${spec.default})`
      : "";
    lines.push(`  ${flag.padEnd(28)} ${spec.help}${def}`);
  }
  if (notes.length) lines.push("", ...notes);
  return lines.join("\n");
}

/** A positive integer option value; a UsageError naming the option otherwise. */
export function positiveInt(name: string, v: string | undefined, max = Infinity): number {
  const n = Number(v);
  if (!v || !Number.isInteger(n) || n <= 0 || n > max) {
    throw new UsageError(`Invalid value for --${name}: "${v}"`, [
      max === Infinity ? "Give a positive whole number" : `Give a whole number from 1 to ${max}`,
    ]);
  }
  return n;
}

/** A process id argument; a UsageError naming the usage otherwise. */
export function pidArgument(text: string | undefined, usage: string): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) <= 0) {
    throw new UsageError(
      text === undefined ? "Missing a process id" : `Not a process id: "${text}"`,
      [`Usage: ${usage}`],
    );
  }
  return Number(text);
}
