// Names for data and bss addresses from a Go binary's symbol table (heapspurs --program): the
// global that holds a root pointer ("main.registry", "time.localLoc").
//
// Go's linker (gc) links at fixed addresses, non-PIE by default on linux/amd64, so a symbol's value
// is its runtime address; for a PIE binary pass the load bias. Build O(s log s) for s data
// symbols; a lookup is a binary search, O(log s).

import { type ByteSource, ElfFile } from "../elf.ts";
import { lastAtOrBelow } from "../sorted.ts";

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_OBJECT = 1;
/** Bytes of one Elf64_Sym. */
const SYM_SIZE = 24;
const TWO32 = 4294967296;

export class ProgramSymbols {
  /** Sorted by address. */
  readonly address: Float64Array;
  readonly size: Float64Array;
  readonly names: readonly string[];

  constructor(entries: { name: string; address: number; size: number }[]) {
    entries.sort((a, b) => a.address - b.address || b.size - a.size);
    this.address = Float64Array.from(entries, (e) => e.address);
    this.size = Float64Array.from(entries, (e) => e.size);
    this.names = entries.map((e) => e.name);
  }

  /** Data symbols (STT_OBJECT) of an ELF file, at `bias` + their value. */
  static fromElf(source: ByteSource, bias = 0): ProgramSymbols {
    const read = typeof source === "function"
      ? source
      : (o: number, n: number) => source.subarray(o, o + n);
    const elf = new ElfFile(source);
    const sections = elf.sections();
    const out: { name: string; address: number; size: number }[] = [];
    const decoder = new TextDecoder();
    for (const want of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (const s of sections) {
        if (s.type !== want || s.size === 0) continue;
        const strs = sections[s.link];
        if (!strs) continue;
        const strtab = read(strs.offset, strs.size);
        const syms = read(s.offset, s.size);
        const v = new DataView(syms.buffer, syms.byteOffset, syms.byteLength);
        const count = Math.floor(syms.length / SYM_SIZE);
        for (let i = 1; i < count; i++) {
          const o = i * SYM_SIZE;
          const type = v.getUint8(o + 4) & 0xf;
          if (type !== STT_OBJECT || v.getUint16(o + 6, true) === 0) continue;
          const value = v.getUint32(o + 8, true) + v.getUint32(o + 12, true) * TWO32;
          const size = v.getUint32(o + 16, true) + v.getUint32(o + 20, true) * TWO32;
          const nameAt = v.getUint32(o, true);
          let end = nameAt;
          while (end < strtab.length && strtab[end] !== 0) end++;
          out.push({
            name: decoder.decode(strtab.subarray(nameAt, end)),
            address: value + bias,
            size,
          });
        }
      }
      if (out.length > 0) break; // .symtab is a superset of .dynsym
    }
    return new ProgramSymbols(out);
  }

  get count(): number {
    return this.names.length;
  }

  /** "main.registry" for its first byte, "main.table+0x10" inside it, undefined outside every symbol. */
  nameAt(address: number): string | undefined {
    const starts = this.address;
    const found = lastAtOrBelow(starts.length, (i) => starts[i]!, address);
    // A zero-size symbol (a section marker such as runtime.bss) names only its own address.
    for (let i = found; i >= 0 && i > found - 4; i--) {
      const start = this.address[i]!, size = this.size[i]!;
      if (address < start + Math.max(size, 1)) {
        const off = address - start;
        return off === 0 ? this.names[i] : `${this.names[i]}+0x${off.toString(16)}`;
      }
    }
    return undefined;
  }
}
