// Symbolizes return addresses: each pc → its image (from the regions saved at snapshot time) →
// function, file:line and inlined callers, with names demangled here.
//
// Tool order and why: `llvm-symbolizer` (or `llvm-symbolizer-14`) first: one process for every
// image (each input line names its module), JSON output that cannot be confused by odd function
// names, and inlined frames with --inlining. Else GNU `addr2line -f -i -e FILE`, one process per
// image, batched (all that image's addresses on its stdin). Else, with no tool, function+offset from
// the image's ELF .symtab/.dynsym (analysis/elf.ts gives the sections; the function symbols are
// read here). Addresses given to tools are file vaddrs of pc - 1 (the call instruction, not the
// one after it, which may belong to the next line or function); the pc → file vaddr bias comes
// from every mapping of the image together (analysis/elf.ts imageBias: lld packs several segments
// into one file page). Every tool is asked for mangled names and analysis/demangle.ts demangles
// them, so the three paths name a function alike (llvm-symbolizer 14 half-demangles Rust legacy
// names and not v0 ones; addr2line -C neither). O(pcs · log symbols + mappings · segments).

import type { Region } from "../analysis/types.ts";
import { ElfFile, imageBias, mappingBiases } from "../analysis/elf.ts";
import type { FrameMap, StackFrame } from "../analysis/sites.ts";
import { demangle, loadDemangler } from "../analysis/demangle.ts";
import { shim } from "./shim.ts";
import { lastAtOrBelow } from "../analysis/sorted.ts";

export type Symbolizer = "llvm-symbolizer" | "addr2line" | "elf";

export interface SymbolizeOptions {
  /** Force a tool (default: the first found in the order above). */
  tool?: Symbolizer;
  pageSize?: number;
}

export interface ImageAt {
  path: string;
  bias: number;
}

const hex = (n: number) => "0x" + n.toString(16);

/**
 * Which symbolizer this machine has, in order of preference: found on PATH, not run (starting
 * llvm-symbolizer to ask its version costs ~0.1 s; a tool that is there but fails gives no lines,
 * and ELF symbols name the frames). Looked up once per process.
 */
export function availableSymbolizer(): { tool: Symbolizer; command?: string } {
  return found ??= findSymbolizer();
}

let found: { tool: Symbolizer; command?: string } | undefined;

function findSymbolizer(): { tool: Symbolizer; command?: string } {
  for (const command of ["llvm-symbolizer", "llvm-symbolizer-14", "llvm-symbolizer-15"]) {
    if (onPath(command)) return { tool: "llvm-symbolizer", command };
  }
  if (onPath("addr2line")) return { tool: "addr2line", command: "addr2line" };
  return { tool: "elf" };
}

/** An executable file named `command` in a directory of PATH. */
function onPath(command: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${command}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch { /* not in this directory */ }
  }
  return false;
}

/** Frames for every pc (return addresses). Unknown pcs get a frame with only pc (and image). */
export async function symbolize(
  pcs: Iterable<number>,
  regions: readonly Region[],
  opts: SymbolizeOptions = {},
): Promise<FrameMap> {
  await loadDemangler();
  const found = opts.tool
    ? { tool: opts.tool, command: opts.tool === "llvm-symbolizer" ? "llvm-symbolizer" : opts.tool }
    : availableSymbolizer();
  const images = new ImageFinder(regions, opts.pageSize ?? 4096);
  const byImage = new Map<string, { image: ImageAt; pcs: number[] }>();
  const out: FrameMap = new Map();
  for (const pc of new Set(pcs)) {
    const image = images.at(pc);
    if (!image) {
      out.set(pc, [{ pc: hex(pc) }]);
      continue;
    }
    const key = `${image.path}@${image.bias}`;
    const g = byImage.get(key) ?? { image, pcs: [] };
    g.pcs.push(pc);
    byImage.set(key, g);
  }
  const groups = [...byImage.values()];
  if (found.tool === "llvm-symbolizer") {
    await llvmSymbolize(found.command!, groups, out);
  } else if (found.tool === "addr2line") {
    await Promise.all(groups.map((g) => addr2line(g.image, g.pcs, out)));
  }
  // Whatever a tool could not name (no debug info, stripped, tool failure): ELF symbols.
  for (const g of groups) {
    const missing = g.pcs.filter((pc) => !out.get(pc)?.some((f) => f.function));
    if (missing.length > 0) elfSymbolize(g.image, missing, out);
  }
  for (const frames of out.values()) {
    for (const f of frames) if (f.function) f.function = demangle(f.function);
  }
  return out;
}

/**
 * pc → image and load bias. The file mappings, in address order, are cut into loads: runs of
 * mappings of one file (same path and inode); each run's bias is computed once from all its
 * mappings. O(log mappings) per pc after an O(mappings · segments) first use of each image.
 */
export class ImageFinder {
  #regions: Region[];
  /** Index of each region's run: the runs are [runStart[i], runStart[i + 1]). */
  #run: Int32Array;
  #runStart: number[] = [];
  #bias = new Map<number, number | null>();
  #elf = new Map<string, ElfFile | null>();
  #pageSize: number;
  #local: (path: string) => string | undefined;

  /**
   * `local` says where a mapped file is here (a core's files under --sysroot, a snapshot's only
   * when the file here is the one the process ran); default: its own path.
   */
  constructor(
    regions: readonly Region[],
    pageSize: number,
    local: (path: string) => string | undefined = (p) => p,
  ) {
    this.#pageSize = pageSize;
    this.#local = local;
    this.#regions = regions.filter((r) => r.path.startsWith("/")).sort((a, b) => a.start - b.start);
    this.#run = new Int32Array(this.#regions.length);
    for (let i = 0; i < this.#regions.length; i++) {
      const r = this.#regions[i]!, prev = this.#regions[i - 1];
      if (!prev || prev.path !== r.path || prev.inode !== r.inode) this.#runStart.push(i);
      this.#run[i] = this.#runStart.length - 1;
    }
    this.#runStart.push(this.#regions.length);
  }

  /** The image mapped at `pc`, with its bias; undefined outside file mappings or non-ELF files. */
  at(pc: number): ImageAt | undefined {
    const regions = this.#regions;
    let lo = 0, hi = regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = regions[mid]!;
      if (pc < r.start) hi = mid - 1;
      else if (pc >= r.end) lo = mid + 1;
      else return this.#imageOf(mid);
    }
    return undefined;
  }

  #imageOf(index: number): ImageAt | undefined {
    const r = this.#regions[index]!;
    const path = this.#local(r.path);
    if (path === undefined) return undefined;
    const elf = this.#open(path);
    if (!elf) return undefined;
    const run = this.#run[index]!;
    let bias = this.#bias.get(run);
    if (bias === undefined) {
      const mappings = this.#regions.slice(this.#runStart[run], this.#runStart[run + 1]);
      bias = imageBias(elf.loads, mappings, this.#pageSize) ?? null;
      this.#bias.set(run, bias);
    }
    // A run that holds two loads of one file (dlmopen, or a file mapped again as data right
    // after its image) can vote for the other load: this mapping alone decides then.
    if (bias === null || !mappingBiases(elf.loads, r, this.#pageSize).includes(bias)) {
      bias = imageBias(elf.loads, [r], this.#pageSize) ?? null;
    }
    return bias === null ? undefined : { path, bias };
  }

  #open(path: string): ElfFile | null {
    let elf = this.#elf.get(path);
    if (elf === undefined) {
      try {
        elf = new ElfFile(fileReader(path));
      } catch {
        elf = null; // unreadable or not ELF: its pcs stay unnamed
      }
      this.#elf.set(path, elf);
    }
    return elf;
  }
}

/** Reads ranges of a file on demand: ElfFile needs only the headers of a possibly huge file. */
function fileReader(path: string): (offset: number, length: number) => Uint8Array {
  const file = Deno.openSync(path);
  try {
    const size = file.statSync().size;
    const headers = new Uint8Array(Math.min(size, HEADER_BYTES));
    readFully(file, headers, 0);
    return (o, n) => {
      if (o + n <= headers.length) return headers.subarray(o, o + n);
      const f = Deno.openSync(path);
      try {
        const b = new Uint8Array(Math.max(0, Math.min(n, size - o)));
        readFully(f, b, o);
        return b;
      } finally {
        f.close();
      }
    };
  } finally {
    file.close();
  }
}

/**
 * Bytes read up front from each image: the ELF header and program headers sit at its start (64 +
 * 56 · phnum bytes; 64 KiB covers 1000+ segments), so most images need one read.
 */
const HEADER_BYTES = 65536;

function readFully(file: Deno.FsFile, into: Uint8Array, at: number): void {
  file.seekSync(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < into.length) {
    const n = file.readSync(into.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
}

async function llvmSymbolize(
  command: string,
  groups: { image: ImageAt; pcs: number[] }[],
  out: FrameMap,
): Promise<void> {
  const order: { pc: number; image: ImageAt }[] = [];
  let input = "";
  for (const g of groups) {
    for (const pc of g.pcs) {
      order.push({ pc, image: g.image });
      input += `"${g.image.path}" ${hex(pc - 1 - g.image.bias)}\n`;
    }
  }
  if (order.length === 0) return;
  const text = await runWithInput(
    command,
    ["--output-style=JSON", "--inlining", "--no-demangle"],
    input,
  );
  if (text === undefined) return;
  const lines = text.split("\n").filter((l) => l.startsWith("{"));
  for (let i = 0; i < lines.length && i < order.length; i++) {
    const { pc, image } = order[i]!;
    let parsed: {
      Symbol?: {
        FunctionName?: string;
        FileName?: string;
        Line?: number;
        Column?: number;
        /** Function start as a file vaddr; "" for an inlined frame. */
        StartAddress?: string;
      }[];
    };
    try {
      parsed = JSON.parse(lines[i]!);
    } catch {
      continue;
    }
    const frames: StackFrame[] = [];
    for (const s of parsed.Symbol ?? []) {
      const f: StackFrame = { pc: hex(pc), image: image.path };
      if (s.FunctionName && s.FunctionName !== "??") f.function = s.FunctionName;
      if (s.FileName && s.FileName !== "??") f.file = s.FileName;
      if (s.Line) f.line = s.Line;
      if (s.Column) f.column = s.Column;
      const start = s.StartAddress ? Number(s.StartAddress) : NaN;
      const vaddr = pc - image.bias;
      if (Number.isFinite(start) && start < vaddr) f.offset = vaddr - start;
      frames.push(f);
    }
    if (frames.length > 0) out.set(pc, frames);
  }
}

async function addr2line(image: ImageAt, pcs: number[], out: FrameMap): Promise<void> {
  // An address after the last one marks the end of each address's output: addr2line prints the
  // inlined chain as pairs of lines, so a sentinel "0" address (which gives "??") separates them.
  const input = pcs.map((pc) => `${hex(pc - 1 - image.bias)}\n0\n`).join("");
  const text = await runWithInput("addr2line", ["-f", "-i", "-e", image.path], input);
  if (text === undefined) return;
  const lines = text.split("\n");
  let i = 0;
  for (const pc of pcs) {
    const frames: StackFrame[] = [];
    while (i + 1 < lines.length) {
      const fn = lines[i]!, loc = lines[i + 1]!;
      i += 2;
      if (fn === "??" && loc.startsWith("??:")) break; // the sentinel
      const f: StackFrame = { pc: hex(pc), image: image.path };
      if (fn !== "??") f.function = fn;
      const m = /^(.*):(\d+)(?: \(discriminator \d+\))?$/.exec(loc);
      if (m && m[1] !== "??") {
        f.file = m[1];
        if (Number(m[2]) > 0) f.line = Number(m[2]);
      }
      frames.push(f);
    }
    if (frames.some((f) => f.function)) out.set(pc, frames);
  }
  // addr2line gives no function start, and names the outermost (not inlined) frame by its DWARF
  // name (`each<main()::<lambda(int)> >`) where llvm-symbolizer and the symbol table give the
  // linkage name: the ELF symbol gives both, so the three paths agree.
  const syms = functionSymbols(image.path);
  for (const pc of pcs) {
    const s = symbolAt(syms, pc - 1 - image.bias);
    const outer = out.get(pc)?.at(-1);
    if (s && outer?.function) {
      outer.offset = pc - image.bias - s.start;
      outer.function = s.name;
    }
  }
}

interface FuncSym {
  start: number;
  size: number;
  name: string;
}

const symbolCache = new Map<string, FuncSym[]>();

/** Function symbols of an ELF file (.symtab, else .dynsym), sorted by address. */
function functionSymbols(path: string): FuncSym[] {
  const cached = symbolCache.get(path);
  if (cached) return cached;
  const list: FuncSym[] = [];
  try {
    const bytes = Deno.readFileSync(path);
    const elf = new ElfFile(bytes);
    const sections = elf.sections();
    for (const type of [2, /* SHT_SYMTAB */ 11 /* SHT_DYNSYM */]) {
      for (const s of sections) {
        if (s.type !== type || s.entsize < 24) continue;
        const strs = sections[s.link];
        if (!strs) continue;
        const v = new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.size);
        const dec = new TextDecoder();
        for (let o = s.entsize; o + 24 <= s.size; o += s.entsize) {
          if ((v.getUint8(o + 4) & 0xf) !== 2 /* STT_FUNC */) continue;
          const value = v.getUint32(o + 12, true) * 4294967296 + v.getUint32(o + 8, true);
          if (value === 0) continue;
          const nameOff = strs.offset + v.getUint32(o, true);
          let end = nameOff;
          while (end < bytes.length && bytes[end] !== 0) end++;
          list.push({
            start: value,
            size: v.getUint32(o + 16, true),
            name: dec.decode(bytes.subarray(nameOff, end)),
          });
        }
      }
      if (list.length > 0) break;
    }
  } catch {
    // unreadable: no symbols
  }
  list.sort((a, b) => a.start - b.start);
  symbolCache.set(path, list);
  return list;
}

/** The function symbol containing file vaddr `addr` (binary search). */
function symbolAt(syms: readonly FuncSym[], addr: number): FuncSym | undefined {
  const best = lastAtOrBelow(syms.length, (i) => syms[i]!.start, addr);
  const s = best >= 0 ? syms[best] : undefined;
  return s && (s.size === 0 || addr < s.start + s.size) ? s : undefined;
}

function elfSymbolize(image: ImageAt, pcs: number[], out: FrameMap): void {
  const syms = functionSymbols(image.path);
  for (const pc of pcs) {
    const addr = pc - 1 - image.bias;
    const s = symbolAt(syms, addr);
    const frame: StackFrame = { pc: hex(pc), image: image.path };
    if (s) {
      frame.offset = addr + 1 - s.start;
      frame.function = s.name;
    }
    out.set(pc, [frame]);
  }
}

async function runWithInput(
  command: string,
  args: string[],
  input: string,
): Promise<string | undefined> {
  try {
    const child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // Feed stdin while stdout is drained: inputs and outputs can both exceed a pipe's buffer.
    const feed = (async () => {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    })();
    const [out] = await Promise.all([child.output(), feed]);
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * "file:line" of code addresses, synchronously (for the analysis's root names, which are computed
 * in one synchronous pass): one llvm-symbolizer for all, each address an argument with its file. `pcs` are
 * exact code addresses (a caller asks for a return address minus 1). The line is that of the
 * outermost frame of an inlined chain: the line of the function the unwinder named. Addresses no
 * tool or no debug info can place are left out. O(pcs + images · one process).
 */
export function frameLinesSync(
  regions: readonly Region[],
  pageSize = 4096,
  local?: (path: string) => string | undefined,
): FrameLines {
  const images = new ImageFinder(regions, pageSize, local);
  let command: string | null | undefined;
  const tool = () => {
    command ??= availableSymbolizer().tool === "llvm-symbolizer"
      ? availableSymbolizer().command!
      : null;
    return command;
  };
  /** The tool's arguments for `pcs`: one "FILE ADDR" each (one process for every image). */
  const argsOf = (pcs: Iterable<number>) => {
    const asked: number[] = [];
    const args: string[] = [];
    for (const pc of new Set(pcs)) {
      const image = images.at(pc);
      if (!image) continue;
      asked.push(pc);
      args.push(`${image.path} ${hex(pc - image.bias)}`);
    }
    return { asked, args: ["--output-style=JSON", "--inlining", "--no-demangle", ...args] };
  };
  let early: { asked: number[]; child: SyncChild } | undefined;
  const lines = ((pcs) => {
    const out = new Map<number, string>();
    const cmd = tool();
    if (cmd === null) return out;
    const { asked, args } = argsOf(pcs);
    if (asked.length === 0) return out;
    let text: string;
    // The tool started early (prefetch) answers when it was asked about every one of these.
    const started = early;
    early = undefined;
    if (started) {
      const have = new Set(started.asked);
      const answer = started.child.output();
      if (answer !== undefined && asked.every((pc) => have.has(pc))) {
        return parseLines(answer, started.asked);
      }
    }
    try {
      const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
      if (!r.success) return out;
      text = new TextDecoder().decode(r.stdout);
    } catch {
      return out;
    }
    return parseLines(text, asked);
  }) as FrameLines;
  lines.prefetch = (pcs) => {
    const cmd = tool();
    if (cmd === null || early) return false;
    const { asked, args } = argsOf(pcs);
    if (asked.length === 0) return false;
    const child = spawnSync(cmd, args);
    if (child) early = { asked, child };
    return child !== undefined;
  };
  lines.release = () => {
    early?.child.cancel();
    early = undefined;
  };
  return lines;
}

/** frameLinesSync's answer: a function, and a way to start the tool early (see FrameLines). */
export type FrameLines = ((pcs: readonly number[]) => Map<number, string>) & {
  /** Start the tool now for `pcs` (true when it started): a later call within them reads it. */
  prefetch?: (pcs: readonly number[]) => boolean;
  /**
   * Stop a tool started by prefetch whose answer was never read. Left running, it outlives
   * heapscope and writes into a closed pipe: llvm-symbolizer then aborts (SIGPIPE, then SIGABRT),
   * which a system with a crash reporter (systemd-coredump, apport) records as a crash.
   */
  release?: () => void;
};

/** llvm-symbolizer's JSON for `asked` (one object per address, in order) as pc → "file:line". */
function parseLines(text: string, asked: readonly number[]): Map<number, string> {
  const out = new Map<number, string>();
  // Addresses given as arguments come back as one JSON array (one object per address).
  type Answer = { Symbol?: { FileName?: string; Line?: number }[] };
  let answers: Answer[];
  try {
    const parsed = JSON.parse(text.trim() || "[]") as Answer[] | Answer;
    answers = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return out; // output the tool garbled: no lines
  }
  for (let i = 0; i < answers.length && i < asked.length; i++) {
    const outer = answers[i]!.Symbol?.at(-1);
    if (outer?.FileName && outer.FileName !== "??" && outer.Line) {
      out.set(asked[i]!, `${outer.FileName.replace(/^.*\//, "")}:${outer.Line}`);
    }
  }
  return out;
}

/** A child started now whose standard output is read later, synchronously (shim/spawn.c). */
interface SyncChild {
  /** Everything it wrote, once it ended successfully; undefined when it failed. */
  output(): string | undefined;
  /** Kill it (SIGKILL: nothing of it is wanted, no handler of its runs) and reap it. */
  cancel(): void;
}

/** `command args…` started with its stdout on a pipe, or undefined (no shim, or it failed). */
function spawnSync(command: string, args: readonly string[]): SyncChild | undefined {
  let lib;
  try {
    lib = shim();
  } catch {
    return undefined;
  }
  const { hs_spawn_reader, hs_read_fd, hs_reap } = lib;
  if (!hs_spawn_reader || !hs_read_fd || !hs_reap) return undefined;
  const block = new TextEncoder().encode([command, ...args].map((a) => a + "\0").join(""));
  const pid = new Int32Array(1), fd = new Int32Array(1);
  if (hs_spawn_reader(cstring(command), block, BigInt(block.length), pid, fd) !== 0) {
    return undefined;
  }
  return {
    output() {
      const parts: Uint8Array[] = [];
      const got = new Float64Array(1);
      let status = 1;
      for (;;) {
        const buf = new Uint8Array(1 << 16);
        status = hs_read_fd(fd[0]!, buf, BigInt(buf.length), got);
        if (status < 0) break;
        parts.push(buf.subarray(0, got[0]!));
        if (status === 0) break;
      }
      const exit = new Int32Array(1);
      hs_reap(pid[0]!, fd[0]!, exit);
      if (status !== 0 || exit[0] !== 0) return undefined;
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return new TextDecoder().decode(all);
    },
    cancel() {
      try {
        Deno.kill(pid[0]!, "SIGKILL");
      } catch {
        // Already gone (and reaped below): nothing to stop.
      }
      hs_reap(pid[0]!, fd[0]!, new Int32Array(1));
    },
  };
}

function cstring(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}
