// Names for root references: which global, which function's stack frame, which register.
//
//   data      the symbol covering the word, with the offset inside it: "g_registry+0x8 in ./server"
//             (an image offset and its section kind when no symbol covers it)
//   stack     the function whose frame holds the slot, from an unwind of the copied stack with the
//             images' call frame information (analysis/unwind/), and its line where debug info
//             says: "make_tree frame in thread 1234 (tree.c:40)"
//   register  "rbx of thread 1234"
//   tls       "TLS of thread 1234 (tp-0x50)", with the variable when a symbol says
//   other     the mapping: "anonymous rw memory 0x7f…000-0x7f…000 +0x40"
// Each thread is unwound once, each image's symbols parsed once (on first use). O(log symbols)
// per name after that.

import type { RootEntry } from "./graph.ts";
import { ImageIndex } from "./image_index.ts";
import { MemoryImage } from "./memory.ts";
import type { ImageFiles, Snapshot } from "./types.ts";
import { CodeMap, dwarfRegisters, type Frame, unwindImage, unwindStack } from "./unwind/mod.ts";

const hex = (n: number) => "0x" + n.toString(16);
/** Auxiliary vector: the executable's entry point (it tells which image is the executable). */
const AT_ENTRY = 9;

/**
 * The code addresses of every thread's frames (RootNamer.frameCodes) of a snapshot, unwound with
 * the images' call frame information from `files`: a snapshot file carries their lines.
 */
export function threadFrameCodes(snapshot: Snapshot, files?: ImageFiles): number[] {
  const memory = new MemoryImage(snapshot.memory);
  const images = new ImageIndex(snapshot.images, snapshot.regions, files);
  return new RootNamer(snapshot, memory, images, files).frameCodes();
}

export class RootNamer {
  #snapshot: Snapshot;
  #images: ImageIndex;
  #memory: MemoryImage;
  #files?: ImageFiles;
  #demangle: (name: string) => string;
  #frames = new Map<number, Frame[]>();
  #code?: CodeMap;
  #frameLines?: (pcs: readonly number[]) => ReadonlyMap<number, string>;
  #lines?: ReadonlyMap<number, string>;
  #wanted?: number[];

  constructor(
    snapshot: Snapshot,
    memory: MemoryImage,
    images: ImageIndex,
    files?: ImageFiles,
    demangle: (name: string) => string = (n) => n,
    frameLines?: (pcs: readonly number[]) => ReadonlyMap<number, string>,
  ) {
    this.#frameLines = frameLines;
    this.#snapshot = snapshot;
    this.#memory = memory;
    this.#images = images;
    this.#files = files;
    this.#demangle = demangle;
  }

  /** The name of the root reference found at `where` in `entry`. */
  name(entry: RootEntry, where: number): string {
    return this.describe(entry, where).name;
  }

  /**
   * Name and kind of the root reference at `where` in `entry`. A pthread's TLS lies at the top of
   * its stack mapping, so the window the scan calls TLS can reach into the thread's first frames:
   * a slot a frame owns (known from the unwind, its CFA) is that frame's, not TLS.
   */
  describe(entry: RootEntry, where: number): { kind: RootEntry["kind"]; name: string } {
    if (entry.kind === "tls" && entry.thread !== undefined) {
      const f = this.#framesOf(entry.thread).find((f) =>
        f.cfa !== undefined && where >= f.slots.start && where < f.slots.end
      );
      if (f) return { kind: "stack", name: this.#stack(entry.thread, where) };
    }
    return { kind: entry.kind, name: this.#name(entry, where) };
  }

  #name(entry: RootEntry, where: number): string {
    const thread = entry.thread !== undefined ? ` of thread ${entry.thread}` : "";
    switch (entry.kind) {
      case "register":
        return `${entry.name ?? "register"}${thread}`;
      case "data":
        return this.#data(where, entry.image);
      case "stack":
        return entry.thread !== undefined
          ? this.#stack(entry.thread, where)
          : `stack ${hex(where)}`;
      case "tls":
        return this.#tls(where, entry.thread);
      default:
        return entry.name ?? this.#other(where);
    }
  }

  /** The function of the stack frame of `tid` that holds `where`, as "fn frame in thread N". */
  frameOf(tid: number, where: number): { function?: string; pc?: number; line?: string } {
    const f = this.#framesOf(tid).find((f) => where >= f.slots.start && where < f.slots.end);
    if (!f) return {};
    const code = f.method === "registers" ? f.pc : f.pc - 1;
    const fn = this.#function(code);
    const line = this.#lineOf(code);
    return { ...(fn ? { function: fn } : {}), pc: f.pc, ...(line ? { line } : {}) };
  }

  /**
   * The code address of every frame of every thread (a return address's call instruction, pc - 1;
   * the interrupted instruction itself for the innermost frame): what `frameLines` is asked about.
   */
  frameCodes(): number[] {
    const codes: number[] = [];
    for (const t of this.#snapshot.threads) {
      for (const f of this.#framesOf(t.tid)) codes.push(f.method === "registers" ? f.pc : f.pc - 1);
    }
    return codes;
  }

  /**
   * Ask `frameLines` only for the frames that hold one of `refs` (root references in stacks and
   * TLS windows, by thread): the tool then loads only those images' debug info (libc's alone costs
   * ~0.1 s). Without this call every frame is asked for.
   */
  wantLinesFor(refs: Iterable<{ thread: number; where: number }>): void {
    const codes = new Set<number>();
    for (const { thread, where } of refs) {
      const f = this.#framesOf(thread).find((f) => where >= f.slots.start && where < f.slots.end);
      if (f) codes.add(f.method === "registers" ? f.pc : f.pc - 1);
    }
    this.#wanted = [...codes];
  }

  /** file:line of a frame's code address: every thread's frames asked for at once, on first use. */
  #lineOf(code: number): string | undefined {
    if (!this.#frameLines) return undefined;
    if (!this.#lines) {
      try {
        const codes = this.#wanted ?? this.frameCodes();
        this.#lines = codes.length ? this.#frameLines(codes) : new Map();
      } catch {
        this.#lines = new Map(); // no tool, no lines: names stay without them
      }
    }
    return this.#lines.get(code);
  }

  #data(where: number, imagePath?: string): string {
    const image = this.#images.imageAt(where);
    const path = image?.path ?? imagePath ?? "?";
    const sym = this.#images.symbolAt(where);
    if (sym && sym.type !== 2) {
      const off = sym.offset ? `+${hex(sym.offset)}` : "";
      return `${this.#demangle(sym.name)}${off} in ${path}`;
    }
    return image ? `${path}+${hex(where - image.bias)}` : `${path} ${hex(where)}`;
  }

  #stack(tid: number, where: number): string {
    const f = this.frameOf(tid, where);
    const t = this.#snapshot.threads.find((t) => t.tid === tid);
    const line = f.line ? ` (${f.line})` : "";
    if (f.function) return `${f.function} frame in thread ${tid}${line}`;
    if (f.pc !== undefined) return `frame at ${hex(f.pc)} in thread ${tid}${line}`;
    const above = t ? ` (SP+${hex(where - t.sp)})` : "";
    return `stack of thread ${tid}${above}`;
  }

  #tls(where: number, tid?: number): string {
    const t = this.#snapshot.threads.find((t) => t.tid === tid);
    const thread = tid !== undefined ? ` of thread ${tid}` : "";
    if (!t?.tp) return `TLS${thread}`;
    const d = where - t.tp;
    const at = `tp${d < 0 ? "-" : "+"}${hex(Math.abs(d))}`;
    const variable = this.#tlsVariable(d);
    if (variable) return `${variable} (TLS${thread}, ${at})`;
    // glibc's thread control block at tp (x86_64 tcbhead_t): its second word is the thread's
    // dynamic TLS vector, a block ld.so allocated.
    if (this.#snapshot.arch === "x86_64" && d === 8) return `TLS${thread} (${at}: tcbhead_t.dtv)`;
    return `TLS${thread} (${at})`;
  }

  /**
   * The executable's thread-local variable at tp + d, from its PT_TLS segment and STT_TLS symbols.
   * The executable's block is the first of the static TLS: on x86_64 (TLS variant II) it ends at
   * tp, starting roundup(memsz, align) below it; on aarch64 (variant I) it starts after the 16-byte
   * TCB, rounded up to its alignment. Libraries' blocks lie at offsets ld.so chose: not named.
   */
  #tlsVariable(d: number): string | undefined {
    const entry = this.#snapshot.auxv?.[AT_ENTRY];
    const exe = entry === undefined ? undefined : this.#images.imageAt(entry);
    if (!exe) return undefined;
    const seg = this.#images.tlsSegment(exe.path);
    if (!seg || seg.memsz === 0) return undefined;
    const align = Math.max(1, seg.align);
    const up = (n: number) => Math.ceil(n / align) * align;
    const offset = this.#snapshot.arch === "x86_64" ? d + up(seg.memsz) : d - up(16);
    if (offset < 0 || offset >= seg.memsz) return undefined;
    const sym = this.#images.tlsSymbolAt(exe.path, offset);
    if (!sym) return undefined;
    const off = sym.offset ? `+${hex(sym.offset)}` : "";
    return `${this.#demangle(sym.name)}${off} in ${exe.path}`;
  }

  #other(where: number): string {
    const r = this.#snapshot.regions.find((r) => where >= r.start && where < r.end);
    if (!r) return `memory ${hex(where)}`;
    const what = r.path || `anonymous ${r.perms.slice(0, 2)} memory`;
    return `${what} ${hex(r.start)}-${hex(r.end)} +${hex(where - r.start)}`;
  }

  #function(pc: number): string | undefined {
    const sym = this.#images.symbolAt(pc);
    return sym && sym.type === 2 ? this.#demangle(sym.name) : undefined;
  }

  #framesOf(tid: number): Frame[] {
    let frames = this.#frames.get(tid);
    if (frames) return frames;
    frames = [];
    const t = this.#snapshot.threads.find((t) => t.tid === tid);
    const stack = t && this.#snapshot.regions.find((r) => t.sp >= r.start && t.sp < r.end);
    if (t && stack) {
      try {
        frames = unwindStack({
          arch: this.#snapshot.arch,
          pc: t.pc,
          sp: t.sp,
          registers: dwarfRegisters(this.#snapshot.arch, t.registers),
          readWord: (a) => this.#memory.u64(a),
          images: this.#codeMap(),
          stack: { start: stack.start, end: stack.end },
        });
      } catch { /* a broken stack names no frames */ }
    }
    this.#frames.set(tid, frames);
    return frames;
  }

  #codeMap(): CodeMap {
    if (this.#code) return this.#code;
    const images = [];
    for (const image of this.#snapshot.images) {
      const text = this.#snapshot.regions
        .filter((r) => r.perms[2] === "x" && r.path.replace(/ \(deleted\)$/, "") === image.path)
        .map((r) => ({ start: r.start, end: r.end }));
      const read = this.#files?.open(image.path);
      if (text.length === 0) continue;
      images.push(
        read ? unwindImage(image.path, read, image.bias, text) : {
          path: image.path,
          bias: image.bias,
          text,
        },
      );
    }
    return this.#code = new CodeMap(images);
  }
}
