// `heapscope why <source> <address…>`: why a block is alive (the path from a named root, owners,
// anchors, bytes), or which blocks have a type (--find). The source is a pid (attach), a snapshot
// or core file (analysed as `heapscope analyze` does, through cli/pipeline.ts's analyseSnapshot),
// or a saved leaks.json; nothing is written.

import { EXIT, type ExitStatus, HeapscopeError } from "../analysis/mod.ts";
import { blockAt, findByType, Owners, type WhyModel } from "../analysis/why.ts";
import { analysisWhyModel } from "../analysis/why_model.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { readLeaksFile } from "../report/mod.ts";
import { leaksWhyModel } from "../report/leaks_why_model.ts";
import {
  blockLabel,
  formatAnchors,
  formatHexdump,
  formatOwners,
  formatWhy,
} from "../report/why_text.ts";
import { helpText, type OptionTable, parseOptions, positiveInt, UsageError } from "./options.ts";
import { readOidFile } from "./oid.ts";
import { analyseSnapshot } from "./pipeline.ts";
import { progressLine } from "./progress.ts";
import { openSavedSource, readHead } from "./saved_source.ts";

export const WHY_OPTIONS = {
  owners: {
    type: "string",
    arg: "N",
    help: "the blocks that point at it, N levels up (-1: all, back to the roots)",
  },
  anchors: { type: "boolean", default: false, help: "the roots that reach it" },
  hexdump: { type: "boolean", default: false, help: "its bytes, every pointer marked and named" },
  find: { type: "string", arg: "REGEX", help: "list the blocks whose type matches REGEX" },
  oid: {
    type: "string",
    arg: "FILE",
    help: "object ids (a pid, snapshot or core): value → name",
  },
  exe: { type: "string", arg: "FILE", help: "core files: the executable the core came from" },
  sysroot: {
    type: "string",
    arg: "DIR",
    help: "core files: look for the executable and libraries under DIR",
  },
  top: { type: "string", default: "50", arg: "N", help: "blocks listed by --find" },
  timeout: {
    type: "string",
    default: "30",
    arg: "SECONDS",
    help: "pid source: longest time the target may stay stopped",
  },
} as const satisfies OptionTable;

const USAGE = [
  "heapscope why <pid|snapshot|core|leaks.json> <address>… [--owners N] [--anchors] [--hexdump]",
  "heapscope why <pid|snapshot|core|leaks.json> --find REGEX",
];

export function whyHelp(): string {
  return helpText(USAGE, WHY_OPTIONS, [
    "A pid is attached and analysed in memory, so every block is known (it is stopped only for",
    "the copy); so is a snapshot file (--save) or a core file. A leaks.json answers for the",
    "blocks it holds (every block with --graph all). Nothing is written.",
  ]);
}

export async function why(argv: string[]): Promise<ExitStatus> {
  const { values: o, positionals } = parseOptions("why", WHY_OPTIONS, argv);
  if (o.help) {
    console.log(whyHelp());
    return EXIT.clean;
  }
  const [source, ...addresses] = positionals;
  if (!source) {
    throw new UsageError(
      "Missing the source: a pid, a snapshot or core file, or a leaks.json",
      USAGE,
    );
  }
  if (addresses.length === 0 && !o.find) {
    throw new UsageError("Missing an address (or --find REGEX)", USAGE);
  }
  const depth = o.owners === undefined
    ? undefined
    : o.owners === "-1"
    ? -1
    : positiveInt("owners", o.owners);
  const re = o.find === undefined ? undefined : regex(o.find);
  const targets = addresses.map(parseAddress);
  const model = await load(source, o);
  const owners = new Owners(model);
  const out: string[] = [];
  if (re) {
    const top = positiveInt("top", o.top);
    const found = findByType(model, re, top + 1);
    out.push(
      `${
        found.length > top ? `more than ${top}` : found.length
      } block(s) of a type matching ${re}:`,
    );
    for (const i of found.slice(0, top)) out.push(`  ${blockLabel(model, i)} (${model.status(i)})`);
  }
  let missing = 0;
  for (const address of targets) {
    const i = blockAt(model, address);
    if (out.length) out.push("");
    if (i < 0) {
      missing++;
      out.push(`0x${address.toString(16)}: no block at this address in ${source}`);
      if (/\.json$/.test(source)) {
        out.push(
          "  Hint: a leaks.json written with --graph leaked holds only leaked blocks and their " +
            "context: write one with --graph all, or ask a running process: heapscope why <pid> <address>",
        );
      }
      continue;
    }
    out.push(...formatWhy(model, i, owners));
    if (depth !== undefined) out.push("", ...formatOwners(model, i, owners, depth));
    if (o.anchors) out.push("", ...formatAnchors(model, i, owners));
    if (o.hexdump) out.push("", ...formatHexdump(model, i));
  }
  if (!o.quiet) console.log(out.join("\n"));
  return missing > 0 ? EXIT.usage : EXIT.clean;
}

async function load(
  source: string,
  o: { oid?: string; timeout: string; quiet: boolean; exe?: string; sysroot?: string },
): Promise<WhyModel> {
  const progress = progressLine(!o.quiet && Deno.stderr.isTerminal());
  const oids = o.oid ? await readOidFile(o.oid) : undefined;
  if (/^\d+$/.test(source)) {
    const pid = Number(source);
    let snapshot;
    try {
      snapshot = await captureSnapshot(pid, {
        onProgress: progress.update,
        timeoutMs: positiveInt("timeout", o.timeout) * 1000,
      });
    } finally {
      progress.done();
    }
    const { analysis } = await analyseSnapshot(snapshot, { progress, oids });
    return analysisWhyModel(analysis);
  }
  const head = await readHead(source, USAGE[0]!);
  const saved = await openSavedSource(source, head, { exe: o.exe, sysroot: o.sysroot });
  if (saved) {
    if (!o.quiet) { for (const line of saved.notes) console.error(`heapscope: ${line}`); }
    try {
      const { analysis } = await analyseSnapshot(saved.snapshot, {
        progress,
        oids,
        imageFiles: saved.imageFiles,
        frameLines: saved.frameLines,
        ...(saved.recorder ? { recorder: saved.recorder } : {}),
      });
      return analysisWhyModel(analysis);
    } finally {
      saved.close();
    }
  }
  if (o.exe || o.sysroot) {
    throw new UsageError("--exe and --sysroot are for core files", USAGE);
  }
  return leaksWhyModel(await readLeaksFile(source));
}

function parseAddress(text: string): number {
  const t = text.trim().toLowerCase();
  const n = /^0x[0-9a-f]{1,16}$/.test(t) ? parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`Not an address: "${text}"`, ['Give it as hex: "0x55d0c1a2b3c0"']);
  }
  return n;
}

function regex(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch (e) {
    throw new HeapscopeError(`Invalid --find pattern: ${(e as Error).message}`, [
      "A JavaScript regular expression, e.g. 'Session|std::map'",
    ], EXIT.usage);
  }
}
