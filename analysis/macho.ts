// Mach-O load-command parser: header, segments with sections, UUID, dylib names, fat files.
//
// Used on whole files (tests, tools) and on the header + load commands of an image copied out of a
// macOS target, so it reads nothing past the load commands. The data segments an image's
// globals live in (__DATA, __DATA_CONST, __DATA_DIRTY, and the arm64e shared cache's __AUTH,
// __AUTH_CONST) are its "data" roots at runtime address vmaddr + slide, where
// slide = load address - __TEXT.vmaddr. O(load commands).

export const MH_MAGIC_64 = 0xfeedfacf;
export const FAT_MAGIC = 0xcafebabe;
export const FAT_MAGIC_64 = 0xcafebabf;
export const CPU_TYPE_X86_64 = 0x01000007;
export const CPU_TYPE_ARM64 = 0x0100000c;
export const CPU_SUBTYPE_ARM64E = 2;
export const MH_EXECUTE = 2;
export const MH_DYLIB = 6;
export const LC_SEGMENT_64 = 0x19;
export const LC_UUID = 0x1b;
export const LC_ID_DYLIB = 0x0d;
export const LC_LOAD_DYLIB = 0x0c;
export const LC_LOAD_WEAK_DYLIB = 0x80000018;
export const LC_REEXPORT_DYLIB = 0x8000001f;
export const VM_PROT_WRITE = 2;

const DATA_SEGMENTS = new Set(["__DATA", "__DATA_CONST", "__DATA_DIRTY", "__AUTH", "__AUTH_CONST"]);
const TWO32 = 4294967296;
const MAX_FAT_ARCHS = 64; // Java class files share 0xcafebabe; their "count" is a version number

export interface MachOSection {
  name: string;
  segment: string;
  addr: number;
  size: number;
  offset: number;
  flags: number;
}

export interface MachOSegment {
  name: string;
  vmaddr: number;
  vmsize: number;
  fileoff: number;
  filesize: number;
  maxprot: number;
  initprot: number;
  sections: MachOSection[];
  /** __DATA, __DATA_CONST, __DATA_DIRTY (or the shared cache's __AUTH, __AUTH_CONST). */
  isData: boolean;
}

export type MachOArch = "arm64" | "arm64e" | "x86_64" | "unknown";

export interface MachOFile {
  cputype: number;
  cpusubtype: number;
  arch: MachOArch;
  filetype: number;
  flags: number;
  /** Bytes of header plus load commands. */
  headerSize: number;
  segments: MachOSegment[];
  /** LC_UUID as 32 lowercase hex digits. */
  uuid?: string;
  /** LC_ID_DYLIB install name (dylibs only). */
  installName?: string;
  /** LC_LOAD_DYLIB / LC_LOAD_WEAK_DYLIB / LC_REEXPORT_DYLIB names, in order. */
  dylibs: string[];
}

export interface FatArch {
  cputype: number;
  cpusubtype: number;
  arch: MachOArch;
  offset: number;
  size: number;
  align: number;
}

function archOf(cputype: number, cpusubtype: number): MachOArch {
  if (cputype === CPU_TYPE_X86_64) return "x86_64";
  if (cputype === CPU_TYPE_ARM64) {
    return (cpusubtype & 0x00ffffff) === CPU_SUBTYPE_ARM64E ? "arm64e" : "arm64";
  }
  return "unknown";
}

function fixedString(bytes: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(off, end));
}

function cString(bytes: Uint8Array, off: number, limit: number): string {
  let end = off;
  while (end < limit && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(off, end));
}

/** Size of header + load commands of the thin 64-bit Mach-O at the start of `bytes`. */
export function machOHeaderSize(bytes: Uint8Array): number {
  if (bytes.length < 32) throw new RangeError(`Not a Mach-O file: ${bytes.length} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = v.getUint32(0, true);
  if (magic !== MH_MAGIC_64) {
    throw new RangeError(`Not a 64-bit Mach-O file: magic 0x${magic.toString(16)}`);
  }
  return 32 + v.getUint32(20, true);
}

/** Parse a thin, little-endian 64-bit Mach-O (header and load commands only). */
export function parseMachO(bytes: Uint8Array): MachOFile {
  const headerSize = machOHeaderSize(bytes);
  if (bytes.length < headerSize) {
    throw new RangeError(
      `Truncated Mach-O: load commands end at ${headerSize}, have ${bytes.length} bytes`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const u64 = (o: number) => v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32;
  const cputype = v.getUint32(4, true), cpusubtype = v.getUint32(8, true);
  const ncmds = v.getUint32(16, true);
  const file: MachOFile = {
    cputype,
    cpusubtype,
    arch: archOf(cputype, cpusubtype),
    filetype: v.getUint32(12, true),
    flags: v.getUint32(24, true),
    headerSize,
    segments: [],
    dylibs: [],
  };
  let off = 32;
  for (let i = 0; i < ncmds; i++) {
    if (off + 8 > headerSize) throw new RangeError(`Load command ${i} runs past the header`);
    const cmd = v.getUint32(off, true), size = v.getUint32(off + 4, true);
    if (size < 8 || off + size > headerSize) {
      throw new RangeError(`Load command ${i} (0x${cmd.toString(16)}) has bad size ${size}`);
    }
    if (cmd === LC_SEGMENT_64) {
      const name = fixedString(bytes, off + 8, 16);
      const nsects = v.getUint32(off + 64, true);
      if (72 + nsects * 80 > size) throw new RangeError(`Segment ${name}: sections overflow`);
      const sections: MachOSection[] = [];
      for (let s = 0; s < nsects; s++) {
        const so = off + 72 + s * 80;
        sections.push({
          name: fixedString(bytes, so, 16),
          segment: fixedString(bytes, so + 16, 16),
          addr: u64(so + 32),
          size: u64(so + 40),
          offset: v.getUint32(so + 48, true),
          flags: v.getUint32(so + 64, true),
        });
      }
      file.segments.push({
        name,
        vmaddr: u64(off + 24),
        vmsize: u64(off + 32),
        fileoff: u64(off + 40),
        filesize: u64(off + 48),
        maxprot: v.getUint32(off + 56, true),
        initprot: v.getUint32(off + 60, true),
        sections,
        isData: DATA_SEGMENTS.has(name),
      });
    } else if (cmd === LC_UUID && size >= 24) {
      file.uuid = Array.from(
        bytes.subarray(off + 8, off + 24),
        (b) => b.toString(16).padStart(2, "0"),
      )
        .join("");
    } else if (
      cmd === LC_ID_DYLIB || cmd === LC_LOAD_DYLIB || cmd === LC_LOAD_WEAK_DYLIB ||
      cmd === LC_REEXPORT_DYLIB
    ) {
      const name = cString(bytes, off + v.getUint32(off + 8, true), off + size);
      if (cmd === LC_ID_DYLIB) file.installName = name;
      else file.dylibs.push(name);
    }
    off += size;
  }
  return file;
}

/** The architectures of a fat (universal) file, or undefined when `bytes` is not one. */
export function parseFat(bytes: Uint8Array): FatArch[] | undefined {
  if (bytes.length < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = v.getUint32(0, false);
  if (magic !== FAT_MAGIC && magic !== FAT_MAGIC_64) return undefined;
  const n = v.getUint32(4, false);
  if (n === 0 || n > MAX_FAT_ARCHS) return undefined;
  const wide = magic === FAT_MAGIC_64;
  const entry = wide ? 32 : 20;
  if (8 + n * entry > bytes.length) throw new RangeError(`Truncated fat header: ${n} archs`);
  const out: FatArch[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + i * entry;
    const cputype = v.getUint32(o, false), cpusubtype = v.getUint32(o + 4, false);
    const offset = wide
      ? v.getUint32(o + 8, false) * TWO32 + v.getUint32(o + 12, false)
      : v.getUint32(o + 8, false);
    const size = wide
      ? v.getUint32(o + 16, false) * TWO32 + v.getUint32(o + 20, false)
      : v.getUint32(o + 12, false);
    const align = v.getUint32(o + (wide ? 24 : 16), false);
    if (offset + size > bytes.length) {
      throw new RangeError(`Fat arch ${i} [${offset}, +${size}) lies past the file end`);
    }
    out.push({ cputype, cpusubtype, arch: archOf(cputype, cpusubtype), offset, size, align });
  }
  return out;
}

/** Every Mach-O in `bytes`: one for a thin file, one per architecture for a fat file. */
export function parseMachOFile(
  bytes: Uint8Array,
): { arch: FatArch | undefined; file: MachOFile }[] {
  const fat = parseFat(bytes);
  if (!fat) return [{ arch: undefined, file: parseMachO(bytes) }];
  return fat.map((a) => ({
    arch: a,
    file: parseMachO(bytes.subarray(a.offset, a.offset + a.size)),
  }));
}

/** load address - __TEXT.vmaddr (the first segment that maps file offset 0 when __TEXT is absent). */
export function machOSlide(file: MachOFile, loadAddress: number): number {
  const text = file.segments.find((s) => s.name === "__TEXT") ??
    file.segments.find((s) => s.fileoff === 0 && s.filesize > 0);
  return loadAddress - (text?.vmaddr ?? 0);
}

/**
 * Runtime ranges of the data segments (plus any other segment mapped writable) of an image loaded
 * at `loadAddress`: the image's "data" roots.
 */
export function machOWritableRanges(
  file: MachOFile,
  loadAddress: number,
): { start: number; end: number; segment: string }[] {
  const slide = machOSlide(file, loadAddress);
  return file.segments
    .filter((s) => s.vmsize > 0 && (s.isData || (s.initprot & VM_PROT_WRITE) !== 0))
    .map((s) => ({ start: s.vmaddr + slide, end: s.vmaddr + slide + s.vmsize, segment: s.name }));
}
