// ImageIndex: which loaded image an address lies in, the symbol covering it, and the image file's
// bytes at it (read-only data the capture does not copy: C++ type names, vtables of non-PIE code).
//
// Symbols come from each image's .symtab (else .dynsym), and from its separate debug file (found
// by build id, /usr/lib/debug/.build-id/…) when the image itself is stripped; parsed on first use,
// O(symbols · log symbols) per image, then O(log symbols) per lookup.

import { debugFilePath, ElfFile, type ElfSegment, PT_LOAD, PT_TLS } from "./elf.ts";
import type { FileReader, Image, ImageFiles, Region } from "./types.ts";
import { lastAtOrBelow } from "./sorted.ts";

/** STT_OBJECT, STT_FUNC, STT_TLS. */
const SYMBOL_TYPES = [1, 2, 6];
/** STT_TLS: a thread-local variable; its value is an offset in its image's TLS block. */
const STT_TLS = 6;

export interface SymbolHit {
  name: string;
  /** address − symbol start. */
  offset: number;
  /** STT_* of the symbol. */
  type: number;
}

interface Loaded {
  image: Image;
  elf?: ElfFile;
  read?: FileReader;
  loads: ElfSegment[];
  symbols?: { value: number[]; end: number[]; name: string[]; type: number[] };
}

export class ImageIndex {
  #spans: { start: number; end: number; path: string }[];
  #byPath = new Map<string, Loaded>();
  #files: ImageFiles | undefined;

  constructor(images: readonly Image[], regions: readonly Region[], files?: ImageFiles) {
    this.#files = files;
    for (const image of images) this.#byPath.set(image.path, { image, loads: [] });
    this.#spans = regions
      .filter((r) => this.#byPath.has(r.path.replace(/ \(deleted\)$/, "")))
      .map((r) => ({ start: r.start, end: r.end, path: r.path.replace(/ \(deleted\)$/, "") }))
      .sort((a, b) => a.start - b.start);
  }

  /** The images' file mappings, sorted (what imageAt(address, true) searches), as columns. */
  fileSpans(): { starts: Float64Array; ends: Float64Array } {
    return {
      starts: Float64Array.from(this.#spans, (s) => s.start),
      ends: Float64Array.from(this.#spans, (s) => s.end),
    };
  }

  /**
   * The image mapped at `address`, or undefined. O(log mappings). With `filesOnly`, only its file
   * mappings count (not the .bss past them): a vtable or a type name is never there.
   */
  imageAt(address: number, filesOnly = false): Image | undefined {
    let lo = 0, hi = this.#spans.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.#spans[mid]!;
      if (address < s.start) hi = mid - 1;
      else if (address >= s.end) lo = mid + 1;
      else return this.#byPath.get(s.path)!.image;
    }
    if (filesOnly) return undefined;
    // Writable segments can reach past the file mappings (.bss): the images' own ranges.
    for (const l of this.#byPath.values()) {
      if (l.image.writable.some((w) => address >= w.start && address < w.end)) return l.image;
    }
    return undefined;
  }

  /** The symbol covering `address` (or the nearest before it, for symbols without a size). */
  symbolAt(address: number): SymbolHit | undefined {
    const image = this.imageAt(address);
    if (!image) return undefined;
    const l = this.#load(image.path);
    const t = l?.symbols;
    if (!t || t.value.length === 0) return undefined;
    const vaddr = address - image.bias;
    const found = lastAtOrBelow(t.value.length, (i) => t.value[i]!, vaddr);
    // Several symbols may start before vaddr: the closest one that covers it.
    for (let k = found; k >= 0 && k >= found - 8; k--) {
      if (vaddr < t.end[k]!) {
        return { name: t.name[k]!, offset: vaddr - t.value[k]!, type: t.type[k]! };
      }
    }
    return undefined;
  }

  /** The thread-local variable (STT_TLS symbol) at `offset` in the TLS block of image `path`. */
  tlsSymbolAt(path: string, offset: number): SymbolHit | undefined {
    const t = this.#load(path)?.symbols;
    if (!t) return undefined;
    for (let k = 0; k < t.value.length; k++) {
      if (t.type[k] === STT_TLS && offset >= t.value[k]! && offset < t.end[k]!) {
        return { name: t.name[k]!, offset: offset - t.value[k]!, type: STT_TLS };
      }
    }
    return undefined;
  }

  /** The PT_TLS segment of image `path` (its TLS block's initial image), if it has one. */
  tlsSegment(path: string): ElfSegment | undefined {
    return this.#load(path)?.elf?.segments.find((s) => s.type === PT_TLS);
  }

  /** `length` bytes of the image file at runtime `address`, when it maps file contents there. */
  read(address: number, length: number): Uint8Array | undefined {
    const image = this.imageAt(address);
    if (!image) return undefined;
    const l = this.#load(image.path);
    if (!l?.read) return undefined;
    const vaddr = address - image.bias;
    const seg = l.loads.find((s) => vaddr >= s.vaddr && vaddr + length <= s.vaddr + s.filesz);
    if (!seg) return undefined;
    const bytes = l.read(seg.offset + vaddr - seg.vaddr, length);
    return bytes.length === length ? bytes : undefined;
  }

  /** The NUL-terminated string at runtime `address` in an image file (at most `max` bytes). */
  cstring(address: number, max = 512): string | undefined {
    const image = this.imageAt(address);
    if (!image) return undefined;
    for (let len = 64; len <= max; len *= 2) {
      const bytes = this.read(address, len) ?? this.#tail(address, len);
      if (!bytes) return undefined;
      const nul = bytes.indexOf(0);
      if (nul >= 0) return new TextDecoder().decode(bytes.subarray(0, nul));
      if (bytes.length < len) return undefined;
    }
    return undefined;
  }

  /** Up to `len` bytes at `address`, stopping at the end of the segment's file bytes. */
  #tail(address: number, len: number): Uint8Array | undefined {
    const image = this.imageAt(address)!;
    const l = this.#load(image.path);
    if (!l?.read) return undefined;
    const vaddr = address - image.bias;
    const seg = l.loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    if (!seg) return undefined;
    return l.read(seg.offset + vaddr - seg.vaddr, Math.min(len, seg.vaddr + seg.filesz - vaddr));
  }

  #load(path: string): Loaded | undefined {
    const l = this.#byPath.get(path);
    if (!l || l.symbols) return l;
    l.symbols = { value: [], end: [], name: [], type: [] };
    const read = this.#files?.open(path);
    if (!read) return l;
    try {
      const elf = new ElfFile(read);
      l.elf = elf;
      l.read = read;
      l.loads = elf.loads.filter((s) => s.type === PT_LOAD);
      let syms = elf.definedSymbols(SYMBOL_TYPES);
      if (!syms.some((s) => s.table === "symtab")) {
        // Stripped: the debug file, when one is installed, has the full table.
        const id = elf.buildId();
        const dbg = id ? this.#files?.open(debugFilePath(id)) : undefined;
        if (dbg) {
          try {
            const more = new ElfFile(dbg).definedSymbols(SYMBOL_TYPES);
            if (more.length > syms.length) syms = more;
          } catch { /* not a usable debug file */ }
        }
      }
      for (const s of syms) {
        l.symbols.value.push(s.value);
        l.symbols.end.push(s.value + Math.max(1, s.size));
        l.symbols.name.push(s.name);
        l.symbols.type.push(s.type);
      }
    } catch { /* not ELF, or unreadable: no symbols */ }
    return l;
  }
}
