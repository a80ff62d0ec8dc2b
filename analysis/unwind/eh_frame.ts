// CfiTable: the .eh_frame call frame information of one ELF file, found by address.
//
// Located through PT_GNU_EH_FRAME (.eh_frame_hdr), whose sorted table gives an FDE in O(log FDEs);
// a file without that table gets one built by a linear pass over .eh_frame (O(FDEs) once). Only
// the two sections are read (the header, then .eh_frame once); FDEs are parsed on demand and CIEs
// cached. Addresses are link-time (ELF vaddr): the unwinder subtracts the load bias.

import { ElfFile } from "../elf.ts";
import {
  type CfiRow,
  type Cie,
  type Fde,
  parseCie,
  parseFde,
  readRecordHeader,
  rowAt,
} from "./cfi.ts";
import { CfiError, DW_EH_PE_omit, DwarfCursor } from "./dwarf_cursor.ts";
import { lastAtOrBelow } from "../sorted.ts";

const PT_GNU_EH_FRAME = 0x6474e550;
/** The only table encoding binutils and lld write: datarel | sdata4 (8-byte entries). */
const TABLE_DATAREL_SDATA4 = 0x3b;
/** Rows kept by address: the threads of a process stop at the same few PCs (500 threads in one
 * nanosleep), and running the CFI program again costs tens of µs per frame. */
const ROW_CACHE = 4096;
/** Largest .eh_frame read whole (libc's is ~170 KB, LLVM's libLLVM ~20 MB). */
const MAX_EH_FRAME = 256 << 20;

/** Reads [offset, offset + length) of the ELF file (may return fewer bytes at its end). */
export type FileReader = (offset: number, length: number) => Uint8Array;

export class CfiTable {
  #eh: DwarfCursor;
  /** Sorted (pc_begin, FDE offset in .eh_frame) pairs. */
  #starts: Float64Array;
  #fdeOffsets: Float64Array;
  #cies = new Map<number, Cie>();
  #fdes = new Map<number, Fde>();
  #rows = new Map<number, CfiRow | null>();

  private constructor(eh: DwarfCursor, starts: Float64Array, fdeOffsets: Float64Array) {
    this.#eh = eh;
    this.#starts = starts;
    this.#fdeOffsets = fdeOffsets;
  }

  /** Number of FDEs (functions with CFI). */
  get size(): number {
    return this.#starts.length;
  }

  /**
   * The CFI of an ELF file, or undefined when it has none (no PT_GNU_EH_FRAME and no
   * `.eh_frame`-sized hint). Throws CfiError on malformed data.
   */
  static fromElf(elf: ElfFile, read: FileReader): CfiTable | undefined {
    const hdrSeg = elf.segments.find((s) => s.type === PT_GNU_EH_FRAME);
    if (!hdrSeg || hdrSeg.filesz < 12) return undefined;
    const hdrBytes = read(hdrSeg.offset, hdrSeg.filesz);
    const hdr = new DwarfCursor(hdrBytes, hdrSeg.vaddr);
    const version = hdr.u8();
    if (version !== 1) throw new CfiError(`.eh_frame_hdr version ${version}`);
    const ehPtrEnc = hdr.u8(), countEnc = hdr.u8(), tableEnc = hdr.u8();
    const ehAddr = hdr.pointer(ehPtrEnc, hdrSeg.vaddr);
    // .eh_frame's extent: its section header when there is one, else the rest of its segment.
    const sec = elf.sections().find((s) => s.addr === ehAddr && s.size > 0);
    const seg = elf.loads.find((s) => s.vaddr <= ehAddr && ehAddr < s.vaddr + s.filesz);
    if (!seg) throw new CfiError(`.eh_frame at 0x${ehAddr.toString(16)} is in no PT_LOAD`);
    const size = Math.min(sec?.size ?? seg.vaddr + seg.filesz - ehAddr, MAX_EH_FRAME);
    const ehBytes = read(seg.offset + (ehAddr - seg.vaddr), size);
    const eh = new DwarfCursor(ehBytes, ehAddr);
    if (countEnc !== DW_EH_PE_omit && tableEnc === TABLE_DATAREL_SDATA4) {
      const count = hdr.pointer(countEnc, hdrSeg.vaddr);
      if (hdr.pos + count * 8 > hdrBytes.length) {
        throw new CfiError(".eh_frame_hdr table truncated");
      }
      const starts = new Float64Array(count), offsets = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        starts[i] = hdr.i32() + hdrSeg.vaddr;
        offsets[i] = hdr.i32() + hdrSeg.vaddr - ehAddr;
      }
      return new CfiTable(eh, starts, offsets);
    }
    return CfiTable.fromEhFrame(eh);
  }

  /** A table from a whole .eh_frame buffer at link-time `vaddr`, indexed by one pass. */
  static fromEhFrame(eh: DwarfCursor): CfiTable {
    const pairs: [number, number][] = [];
    const table = new CfiTable(eh, new Float64Array(0), new Float64Array(0));
    let off = 0;
    while (off + 4 <= eh.bytes.length) {
      const rec = readRecordHeader(eh, off);
      if (rec.type === "end") break;
      if (rec.type === "fde") {
        const fde = table.#fde(off);
        if (fde.pcEnd > fde.pcBegin) pairs.push([fde.pcBegin, off]);
      }
      off = rec.next;
    }
    pairs.sort((a, b) => a[0] - b[0]);
    table.#starts = Float64Array.from(pairs, (p) => p[0]);
    table.#fdeOffsets = Float64Array.from(pairs, (p) => p[1]);
    return table;
  }

  /** The FDE covering link-time address `pc`, or undefined. O(log FDEs) plus one parse. */
  find(pc: number): Fde | undefined {
    const s = this.#starts;
    const found = lastAtOrBelow(s.length, (i) => s[i]!, pc);
    if (found < 0) return undefined;
    const fde = this.#fde(this.#fdeOffsets[found]!);
    return pc < fde.pcEnd ? fde : undefined;
  }

  /** The rules at link-time address `pc` (cached), or undefined when no FDE covers it. */
  row(pc: number): CfiRow | undefined {
    const hit = this.#rows.get(pc);
    if (hit !== undefined) return hit ?? undefined;
    const fde = this.find(pc);
    const row = fde ? rowAt(fde, pc) : null;
    if (this.#rows.size >= ROW_CACHE) this.#rows.clear();
    this.#rows.set(pc, row);
    return row ?? undefined;
  }

  #fde(offset: number): Fde {
    let f = this.#fdes.get(offset);
    if (!f) {
      f = parseFde(this.#eh, offset, (o) => this.#cie(o));
      this.#fdes.set(offset, f);
    }
    return f;
  }

  #cie(offset: number): Cie {
    let c = this.#cies.get(offset);
    if (!c) {
      c = parseCie(this.#eh, offset);
      this.#cies.set(offset, c);
    }
    return c;
  }
}
