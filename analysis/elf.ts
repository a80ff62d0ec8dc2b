// ELF64 little-endian reader: header, program headers, build-id and a few named symbols, read lazily.
//
// Pure: the bytes come from a ByteSource (a Uint8Array, or a function that reads a file range), so
// a multi-megabyte debug file costs only its headers and symbol tables. Symbol lookup is
// O(symbols) per table with one byte comparison for most names.

/** Bytes of a file: the whole file, or a reader of [offset, offset+length). */
export type ByteSource = Uint8Array | ((offset: number, length: number) => Uint8Array);

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PT_TLS = 7;
export const PT_PHDR = 6;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const STT_TLS = 6;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const NT_GNU_BUILD_ID = 3;
const TWO32 = 4294967296;

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfSection {
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  /** STT_* (low nibble of st_info). */
  type: number;
  /** STB_* (high nibble of st_info). */
  bind: number;
  shndx: number;
  /** Which table it came from. */
  table: "symtab" | "dynsym";
}

/** A parsed ELF64 LE file; sections and symbols are read on demand. */
export class ElfFile {
  readonly type: number;
  readonly machine: number;
  readonly entry: number;
  readonly segments: readonly ElfSegment[];
  #read: (offset: number, length: number) => Uint8Array;
  #shoff: number;
  #shnum: number;
  #shentsize: number;
  #sections?: ElfSection[];

  constructor(src: ByteSource) {
    this.#read = typeof src === "function" ? src : (o, n) => src.subarray(o, o + n);
    const h = this.#bytes(0, 64, "ELF header");
    if (h[0] !== 0x7f || h[1] !== 0x45 || h[2] !== 0x4c || h[3] !== 0x46) {
      throw new Error("Not an ELF file: bad magic");
    }
    if (h[4] !== 2) throw new Error(`Unsupported ELF class: ${h[4]} (only ELF64 is supported)`);
    if (h[5] !== 1) throw new Error(`Unsupported ELF data encoding: ${h[5]} (only little-endian)`);
    const v = view(h);
    this.type = v.getUint16(16, true);
    this.machine = v.getUint16(18, true);
    this.entry = u64(v, 24);
    const phoff = u64(v, 32);
    this.#shoff = u64(v, 40);
    const phentsize = v.getUint16(54, true);
    const phnum = v.getUint16(56, true);
    this.#shentsize = v.getUint16(58, true);
    this.#shnum = v.getUint16(60, true);
    if (phnum > 0 && phentsize < 56) throw new Error(`Bad ELF program header size: ${phentsize}`);
    const ph = this.#bytes(phoff, phnum * phentsize, "program headers");
    const pv = view(ph);
    const segments: ElfSegment[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      segments.push({
        type: pv.getUint32(o, true),
        flags: pv.getUint32(o + 4, true),
        offset: u64(pv, o + 8),
        vaddr: u64(pv, o + 16),
        filesz: u64(pv, o + 32),
        memsz: u64(pv, o + 40),
        align: u64(pv, o + 48),
      });
    }
    this.segments = segments;
  }

  /** PT_LOAD segments in file order. */
  get loads(): ElfSegment[] {
    return this.segments.filter((s) => s.type === PT_LOAD);
  }

  /** Section headers (empty when the file has none, e.g. a copy from memory). */
  sections(): ElfSection[] {
    if (this.#sections) return this.#sections;
    const out: ElfSection[] = [];
    if (this.#shoff !== 0 && this.#shentsize >= 64) {
      let count = this.#shnum;
      if (count === 0) {
        // More than 0xff00 sections: the real count is in section 0's sh_size.
        count = u64(view(this.#bytes(this.#shoff, 64, "section header 0")), 32);
      }
      const sh = view(this.#bytes(this.#shoff, count * this.#shentsize, "section headers"));
      for (let i = 0; i < count; i++) {
        const o = i * this.#shentsize;
        out.push({
          type: sh.getUint32(o + 4, true),
          flags: u64(sh, o + 8),
          addr: u64(sh, o + 16),
          offset: u64(sh, o + 24),
          size: u64(sh, o + 32),
          link: sh.getUint32(o + 40, true),
          entsize: u64(sh, o + 56),
        });
      }
    }
    this.#sections = out;
    return out;
  }

  /** GNU build-id in lowercase hex, from PT_NOTE segments or, failing that, SHT_NOTE sections. */
  buildId(): string | undefined {
    const notes: { offset: number; size: number }[] = this.segments
      .filter((s) => s.type === PT_NOTE)
      .map((s) => ({ offset: s.offset, size: s.filesz }));
    for (const n of notes) {
      const id = findBuildId(this.#bytes(n.offset, n.size, "PT_NOTE"));
      if (id) return id;
    }
    for (const s of this.sections()) {
      if (s.type !== SHT_NOTE) continue;
      const id = findBuildId(this.#bytes(s.offset, s.size, "SHT_NOTE"));
      if (id) return id;
    }
    return undefined;
  }

  /**
   * Defined symbols among `names`, from .symtab and .dynsym (symtab wins). Undefined (SHN_UNDEF)
   * entries are skipped. Cost: one pass over each symbol table and its string table.
   */
  findSymbols(names: Iterable<string>): Map<string, ElfSymbol> {
    const wanted = new Map<number, { name: string; bytes: Uint8Array }[]>();
    const enc = new TextEncoder();
    for (const name of names) {
      const bytes = enc.encode(name);
      if (bytes.length === 0) continue;
      const list = wanted.get(bytes[0]!) ?? [];
      list.push({ name, bytes });
      wanted.set(bytes[0]!, list);
    }
    const found = new Map<string, ElfSymbol>();
    const sections = this.sections();
    for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (const s of sections) {
        if (s.type !== type || s.entsize < 24 || s.size === 0) continue;
        const strs = sections[s.link];
        if (!strs) continue;
        const strtab = this.#bytes(strs.offset, strs.size, "string table");
        const syms = view(this.#bytes(s.offset, s.size, "symbol table"));
        const count = Math.floor(s.size / s.entsize);
        for (let i = 1; i < count; i++) {
          const o = i * s.entsize;
          const nameOff = syms.getUint32(o, true);
          const candidates = wanted.get(strtab[nameOff] ?? 0);
          if (!candidates) continue;
          const shndx = syms.getUint16(o + 6, true);
          if (shndx === SHN_UNDEF) continue;
          for (const c of candidates) {
            if (found.has(c.name) || !matches(strtab, nameOff, c.bytes)) continue;
            const info = syms.getUint8(o + 4);
            found.set(c.name, {
              name: c.name,
              value: u64(syms, o + 8),
              size: u64(syms, o + 16),
              type: info & 0xf,
              bind: info >> 4,
              shndx,
              table: type === SHT_SYMTAB ? "symtab" : "dynsym",
            });
          }
        }
      }
    }
    return found;
  }

  /**
   * Every defined symbol of the types in `types` (STT_OBJECT 1, STT_FUNC 2, STT_TLS 6) with a name,
   * from .symtab, else .dynsym (a stripped file keeps only its exported ones), sorted by value.
   * O(symbols · log symbols).
   */
  definedSymbols(types: readonly number[]): ElfSymbol[] {
    const sections = this.sections();
    const dec = new TextDecoder();
    for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
      const out: ElfSymbol[] = [];
      for (const s of sections) {
        if (s.type !== type || s.entsize < 24 || s.size === 0) continue;
        const strs = sections[s.link];
        if (!strs) continue;
        const strtab = this.#bytes(strs.offset, strs.size, "string table");
        const syms = view(this.#bytes(s.offset, s.size, "symbol table"));
        const count = Math.floor(s.size / s.entsize);
        for (let i = 1; i < count; i++) {
          const o = i * s.entsize;
          const info = syms.getUint8(o + 4);
          const shndx = syms.getUint16(o + 6, true);
          if (shndx === SHN_UNDEF || !types.includes(info & 0xf)) continue;
          const nameOff = syms.getUint32(o, true);
          let end = nameOff;
          while (end < strtab.length && strtab[end] !== 0) end++;
          if (end === nameOff) continue;
          out.push({
            name: dec.decode(strtab.subarray(nameOff, end)),
            value: u64(syms, o + 8),
            size: u64(syms, o + 16),
            type: info & 0xf,
            bind: info >> 4,
            shndx,
            table: type === SHT_SYMTAB ? "symtab" : "dynsym",
          });
        }
      }
      if (out.length > 0) return out.sort((a, b) => a.value - b.value || b.size - a.size);
    }
    return [];
  }

  #bytes(offset: number, length: number, what: string): Uint8Array {
    const b = this.#read(offset, length);
    if (b.length < length) {
      throw new Error(
        `Truncated ELF file: ${what} needs ${length} bytes at offset ${offset}, got ${b.length}`,
      );
    }
    return b;
  }
}

/**
 * Load bias of an image from one of its mappings: the mapping at `mapStart` maps file offset
 * `mapOffset`. Runtime address = bias + vaddr. Returns undefined when no PT_LOAD covers the offset.
 */
export function loadBias(
  loads: readonly ElfSegment[],
  mapStart: number,
  mapOffset: number,
  pageSize: number,
): number | undefined {
  for (const s of loads) {
    const fileStart = pageDown(s.offset, pageSize);
    const fileEnd = s.offset + Math.max(s.filesz, 1);
    if (mapOffset < fileStart || mapOffset >= fileEnd) continue;
    return mapStart - (pageDown(s.vaddr, pageSize) + (mapOffset - fileStart));
  }
  return undefined;
}

/** One file mapping of a process, as /proc/PID/maps shows it. */
export interface FileMapping {
  start: number;
  /** File offset of `start` (page-aligned). */
  offset: number;
  /** "r-xp" style; only the x bit is used. */
  perms: string;
}

/**
 * Load bias of one load of an image from its mappings (runtime address = bias + vaddr).
 *
 * `loadBias` trusts the first PT_LOAD covering a mapping's file offset. That is wrong for lld
 * (and rust-lld, Rust's default linker since 1.90): it packs segments into the same file page
 * (R at offset 0, R E at 0x5e0, RW at 0x720 ...) and gives each its own virtual page, so every
 * mapping of a small image shows offset 0 and the first covering segment is the read-only one:
 * code addresses came out a page (vaddr minus file offset of the code segment) too low.
 *
 * Here each mapping proposes one bias per PT_LOAD covering its offset whose execute flag matches
 * the mapping's x bit (RELRO may take away w, nothing takes away x of code), and the bias that the
 * most mappings agree on wins; ties go to the one placing the lowest mapping at the first PT_LOAD
 * (ld.so maps the first segment lowest). Covers bfd, gold, lld and mold layouts, PIE or not, and
 * shared objects. O(mappings · segments). Undefined when no mapping is covered by any segment.
 */
export function imageBias(
  loads: readonly ElfSegment[],
  mappings: readonly FileMapping[],
  pageSize: number,
): number | undefined {
  const votes = new Map<number, number>();
  let lowest: FileMapping | undefined;
  for (const m of mappings) {
    if (!lowest || m.start < lowest.start) lowest = m;
    for (const bias of new Set(mappingBiases(loads, m, pageSize))) {
      votes.set(bias, (votes.get(bias) ?? 0) + 1);
    }
  }
  const first = loads[0];
  const natural = lowest && first ? lowest.start - pageDown(first.vaddr, pageSize) : undefined;
  let best: number | undefined, bestVotes = 0;
  for (const [bias, n] of votes) {
    if (n > bestVotes || (n === bestVotes && bias === natural)) {
      best = bias;
      bestVotes = n;
    }
  }
  return best;
}

/** The biases one mapping allows: one per PT_LOAD that covers its offset with a matching x flag. */
export function mappingBiases(
  loads: readonly ElfSegment[],
  m: FileMapping,
  pageSize: number,
): number[] {
  const exec = m.perms[2] === "x";
  const all: number[] = [], matching: number[] = [];
  for (const s of loads) {
    const fileStart = pageDown(s.offset, pageSize);
    const fileEnd = s.offset + Math.max(s.filesz, 1);
    if (m.offset < fileStart || m.offset >= fileEnd) continue;
    const bias = m.start - (pageDown(s.vaddr, pageSize) + (m.offset - fileStart));
    all.push(bias);
    if (((s.flags & PF_X) !== 0) === exec) matching.push(bias);
  }
  // No segment with the mapping's x flag: text relocations or an mprotect we cannot know of.
  return matching.length > 0 ? matching : all;
}

/** Where Debian/Fedora install the separate debug file of an image with this build-id. */
export function debugFilePath(buildId: string, root = "/usr/lib/debug"): string {
  return `${root}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
}

function pageDown(x: number, page: number): number {
  return x - (x % page);
}

function matches(strtab: Uint8Array, off: number, name: Uint8Array): boolean {
  if (strtab[off + name.length] !== 0) return false;
  for (let i = 1; i < name.length; i++) {
    if (strtab[off + i] !== name[i]) return false;
  }
  return true;
}

function findBuildId(notes: Uint8Array): string | undefined {
  const v = view(notes);
  let o = 0;
  while (o + 12 <= notes.length) {
    const namesz = v.getUint32(o, true);
    const descsz = v.getUint32(o + 4, true);
    const type = v.getUint32(o + 8, true);
    const nameAt = o + 12;
    const descAt = nameAt + align4(namesz);
    if (descAt + descsz > notes.length) return undefined;
    if (
      type === NT_GNU_BUILD_ID && namesz === 4 && notes[nameAt] === 0x47 &&
      notes[nameAt + 1] === 0x4e && notes[nameAt + 2] === 0x55 && notes[nameAt + 3] === 0
    ) {
      let hex = "";
      for (const b of notes.subarray(descAt, descAt + descsz)) {
        hex += b.toString(16).padStart(2, "0");
      }
      return hex;
    }
    o = descAt + align4(descsz);
  }
  return undefined;
}

function align4(n: number): number {
  // Not `(n + 3) & ~3`: that wraps to a negative offset for note sizes of 2^31 and up.
  return Math.ceil(n / 4) * 4;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32;
}
