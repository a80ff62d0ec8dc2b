// `heapscope heapdump <dump>`: a Go heap dump (runtime/debug.WriteHeapDump), the heapspurs toolkit
// on heapscope's graph: summary + leaks.json + HTML, --print, --anchors, --owners N, --hexdump,
// --find, with --program (names of globals) and --oid (names of objects).

import { EXIT, type ExitStatus, HeapscopeError } from "../analysis/errors.ts";
import { findAnchors } from "../analysis/go/anchors.ts";
import { buildGoGraph, type GoHeapGraph } from "../analysis/go/go_graph.ts";
import { classifyGoHeap } from "../analysis/go/go_liveness.ts";
import { HeapDumpReader } from "../analysis/go/heapdump_reader.ts";
import { findObjects, objectLine, pointerName } from "../analysis/go/names.ts";
import { type OidTable, parseOidFile } from "../analysis/go/oid_file.ts";
import { ownersOf } from "../analysis/go/owners.ts";
import { parseHeapDump } from "../analysis/go/parse_heapdump.ts";
import { ProgramSymbols } from "../analysis/go/program_symbols.ts";
import { holderDominators } from "../analysis/analyze_graph.ts";
import { nativeDominatorTree } from "../ffi/graph_kernel.ts";
import { toGoLeaksFile } from "../report/go/go_leaks_file.ts";
import {
  formatAnchors,
  formatGoSummary,
  formatObject,
  formatOwners,
} from "../report/go/go_text.ts";
import { formatHexdump } from "../report/go/hexdump.ts";
import { printRecords } from "../report/go/print_records.ts";
import { writeHtmlReport } from "../report/html.ts";
import { writeAtomic } from "../report/write_atomic.ts";
import { formatBytes, printable } from "../report/format.ts";
import { openRangeFile, type RangeFile } from "./heapdump_file.ts";
import { helpText, type OptionTable, parseOptions, positiveInt, UsageError } from "./options.ts";

export const HEAPDUMP_OPTIONS = {
  output: {
    type: "string",
    short: "o",
    default: "leaks.json",
    arg: "FILE",
    help: "where to write leaks.json ('-' for standard output)",
  },
  html: {
    type: "string",
    arg: "FILE",
    help: "also write the HTML report (with --address --owners: the owners graph only)",
  },
  graph: {
    type: "string",
    default: "auto",
    arg: "WHICH",
    choices: ["auto", "all", "leaked"],
    help: "objects in leaks.json: all, or leaked ones and what they point to; auto: all up to " +
      "100,000",
  },
  top: { type: "string", default: "1000", arg: "N", help: "objects listed by --find" },
  print: { type: "boolean", default: false, help: "every record in file order (as heapspurs)" },
  program: { type: "string", arg: "BINARY", help: "the Go binary: names of data/bss globals" },
  oid: { type: "string", arg: "FILE", help: "object ids: 'VALUE NAME' lines (first word)" },
  find: { type: "string", arg: "REGEX", help: "objects whose id name or type matches" },
  address: { type: "string", arg: "ADDR", help: "the object of interest (hex)" },
  anchors: { type: "boolean", default: false, help: "with --address: the roots that keep it" },
  owners: { type: "string", arg: "N", help: "with --address: owners to depth N (-1: all)" },
  hexdump: { type: "boolean", default: false, help: "with --address: its bytes and pointers" },
} as const satisfies OptionTable;

const USAGE = "heapscope heapdump <dump> [options]";

export function heapdumpHelp(): string {
  return helpText(
    [
      USAGE,
      "heapscope heapdump <dump> --print [--program BINARY] [--oid FILE] [--find REGEX]",
      "heapscope heapdump <dump> --address ADDR [--anchors | --owners N | --hexdump]",
    ],
    HEAPDUMP_OPTIONS,
    [
      "Write a dump from the Go program (e.g. on SIGUSR1):",
      '  f, _ := os.Create("heap.dump"); runtime.GC(); debug.WriteHeapDump(f.Fd()); f.Close()',
      "Unreachable Go objects are garbage the GC frees, not leaks; a cycle through an object with a",
      "finalizer is never freed (Go's leaked cycle): that is what exit status 1 means here.",
      "Exit status: 0 no leaked cycle, 1 leaked cycles found, 2 usage or input-file error.",
    ],
  );
}

export async function heapdump(argv: string[]): Promise<ExitStatus> {
  // `--owners -1` (heapspurs' spelling): a negative number is the value, not an option.
  const args = argv.flatMap((a, i) =>
    a === "--owners" && /^-\d+$/.test(argv[i + 1] ?? "") ? [] : [
      argv[i - 1] === "--owners" && /^-\d+$/.test(a) ? `--owners=${a}` : a,
    ]
  );
  const { values: o, positionals } = parseOptions("heapdump", HEAPDUMP_OPTIONS, args);
  if (o.help) {
    console.log(heapdumpHelp());
    return EXIT.clean;
  }
  const [path, ...rest] = positionals;
  if (!path || rest.length) throw new UsageError(`Usage: ${USAGE}`);
  const wantsAddress = o.anchors || o.hexdump || o.owners !== undefined;
  if (wantsAddress && !o.address) {
    throw new UsageError("--anchors, --owners and --hexdump need --address ADDR", [
      "Find an address with --find REGEX (with --oid) or in the program's own output",
    ]);
  }
  const owners = o.owners === undefined ? undefined : ownersDepth(o.owners);
  const find = o.find === undefined ? undefined : regex(o.find);
  const oids = o.oid ? readOids(o.oid) : undefined;
  const symbols = o.program ? programSymbols(o.program) : undefined;

  using file = openRangeFile(path, "Go heap dump");
  if (o.print && !oids) {
    // Streams: nothing but the reader's window is held.
    printLines(printRecords(new HeapDumpReader(file, { name: path }), { symbols, find }));
    return EXIT.clean;
  }
  const g = graphOf(file, path, oids, symbols);
  if (o.print) {
    const pointer = (v: number) => pointerName(g, v);
    printLines(
      printRecords(new HeapDumpReader(file, { name: path }), {
        oids,
        symbols,
        find,
        pointerName: pointer,
      }),
    );
    return EXIT.clean;
  }
  const l = classifyGoHeap(g);
  if (o.address !== undefined) {
    const id = nodeAt(g, o.address, path);
    const lines: string[] = [];
    if (o.anchors) lines.push(...formatAnchors(g, id, findAnchors(g, id)));
    if (owners !== undefined) {
      const r = ownersOf(g, id, owners);
      lines.push(...formatOwners(g, r));
      if (o.html) {
        await writeHtmlReport(
          toGoLeaksFile(g, l, { name: path, only: r.nodes, capturedAt: file.mtime }),
          o.html,
        );
        lines.push(
          `html          ${o.html} (${r.nodes.length} objects: ${
            objectLine(g, id)
          } and its owners)`,
        );
      }
    }
    if (o.hexdump) lines.push(...hexdumpOf(g, id));
    if (!o.anchors && owners === undefined && !o.hexdump) {
      lines.push(...formatObject(g, id, l), ...formatAnchors(g, id, findAnchors(g, id, 10)));
    }
    printLines(lines);
    return EXIT.clean;
  }
  if (find) {
    const top = positiveInt("top", o.top);
    const hits = findObjects(g, find);
    const lines = hits.slice(0, top).flatMap((v) => formatObject(g, v, l));
    if (hits.length > top) lines.push(`... ${hits.length - top} more objects match (--top N)`);
    if (hits.length === 0) lines.push(`No object's name or type matches ${find}`);
    printLines(lines);
    return EXIT.clean;
  }
  // Who keeps what alive: the dominator tree with one holder per anchor (a global, a frame).
  const dominators = holderDominators(g, undefined, nativeDominatorTree());
  const leaks = toGoLeaksFile(g, l, {
    name: path,
    graph: o.graph as "auto" | "all" | "leaked",
    capturedAt: file.mtime,
    dominators,
  });
  const json = JSON.stringify(leaks);
  if (o.output === "-") console.log(json);
  else await writeAtomic(o.output, json);
  if (o.html) await writeHtmlReport(leaks, o.html);
  if (!o.quiet) {
    const lines = formatGoSummary(g, l);
    const top = (leaks.retainers ?? []).slice(0, 5);
    if (top.length) {
      lines.push("", "top retainers (bytes kept alive, themselves included)");
      for (const r of top) {
        lines.push(`  ${printable(r.name)} holds ${formatBytes(r.bytes)} in ${r.blocks} objects`);
      }
    }
    if (o.output !== "-") lines.push(`json          ${o.output}`);
    if (o.html) lines.push(`html          ${o.html}`);
    (o.output === "-" ? console.error : console.log)(lines.join("\n"));
  }
  return l.cycles.length > 0 ? EXIT.leaks : EXIT.clean;
}

function graphOf(
  file: RangeFile,
  path: string,
  oids: OidTable | undefined,
  symbols: ProgramSymbols | undefined,
): GoHeapGraph {
  const dump = parseHeapDump(file, { name: path, oids });
  return buildGoGraph(dump, {
    symbols,
    bytes: (r, max) => file.slice(r.offset, Math.min(max, r.length)),
  });
}

function nodeAt(g: GoHeapGraph, text: string, path: string): number {
  if (!/^(0x)?[0-9a-f]+$/i.test(text)) {
    throw new UsageError(`Invalid value for --address: "${text}"`, [
      "Give a hex address: 0xc000372820",
    ]);
  }
  const a = parseInt(text.replace(/^0x/i, ""), 16);
  const id = g.lookup(a);
  if (id < 0) {
    throw new HeapscopeError(`No object at 0x${a.toString(16)} in ${path}`, [
      "Objects of the dump are listed by --print; with --oid, --find REGEX finds them by name",
    ], EXIT.usage);
  }
  return id;
}

function hexdumpOf(g: GoHeapGraph, id: number): string[] {
  const objs = g.dump.objects, o = g.objectOf[id]!;
  const pointers = [];
  for (let k = objs.fieldStart[o]!; k < objs.fieldStart[o + 1]!; k++) {
    const value = objs.fieldValue[k]!;
    const t = g.lookup(value);
    const name = pointerName(g, value) ?? (t >= 0 ? objectLine(g, t) : undefined);
    pointers.push({ offset: objs.fieldOffset[k]!, value, name });
  }
  return [objectLine(g, id), ...formatHexdump(g.bytes!(id, g.nodes.size[id]!)!, pointers)];
}

function ownersDepth(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < -1) {
    throw new UsageError(`Invalid value for --owners: "${text}"`, [
      "Give a depth: 1, 2, … or -1 for all",
    ]);
  }
  return n;
}

function regex(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch (e) {
    throw new UsageError(
      `Invalid value for --find: ${JSON.stringify(text)}: ${(e as Error).message}`,
      [
        "Give a JavaScript regular expression, e.g. 'WebrtcSource'",
      ],
    );
  }
}

function readOids(path: string): OidTable {
  let text;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new HeapscopeError(`Cannot read object-id file ${path}: ${(e as Error).message}`, [
      "Give a file of 'VALUE NAME' lines, e.g. '0xcaffe14e00000016 pkg.Type'",
    ], EXIT.usage);
  }
  return parseOidFile(text, path);
}

function programSymbols(path: string): ProgramSymbols {
  using f = openRangeFile(path, "program");
  try {
    return ProgramSymbols.fromElf((offset, length) => f.slice(offset, length));
  } catch (e) {
    if (e instanceof HeapscopeError) throw e;
    throw new HeapscopeError(`Cannot read the symbols of ${path}: ${(e as Error).message}`, [
      "--program takes the Go binary (ELF) that wrote the dump",
    ], EXIT.usage);
  }
}

function printLines(lines: Iterable<string>): void {
  // Batched: a --print of a large dump is millions of lines.
  const enc = new TextEncoder();
  let batch: string[] = [];
  const flush = () => {
    const bytes = enc.encode(batch.join("\n") + "\n");
    let off = 0;
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
    batch = [];
  };
  try {
    for (const l of lines) {
      batch.push(l);
      if (batch.length >= 4096) flush();
    }
    if (batch.length) flush();
  } catch (e) {
    // The reader went away (`| head`, `less` quit): nothing more to print, not an error.
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
}
