// An ELF core file's bytes → a Snapshot (pure): cores from `gcore` and from the kernel.
//
// PT_LOAD segments are the regions (their p_flags the permissions) and, where the core holds their
// bytes (p_filesz), the copied memory; NT_PRSTATUS starts each thread (its registers, the thread
// pointer from fs_base on x86_64) and the notes after it (NT_PRFPREG, NT_ARM_TLS) belong to it;
// NT_FILE names the file behind each mapping and its offset; NT_AUXV is the auxiliary vector;
// NT_PRPSINFO the pid and command line. Images are not made here (their ELF files are read by the
// caller, ffi/core_load.ts), nor is the brk heap named until they exist (`nameBrkHeap`).
// O(segments + notes); the memory is views of the core's bytes, never copied.

import { ElfFile, EM_AARCH64, EM_X86_64, PT_LOAD, PT_NOTE } from "./elf.ts";
import { decodeRegisters } from "./linux_registers.ts";
import type { Arch, Image, MemoryChunk, Region, Snapshot, ThreadState } from "./types.ts";

const ET_CORE = 4;
const NT_PRSTATUS = 1;
const NT_PRFPREG = 2;
const NT_PRPSINFO = 3;
const NT_AUXV = 6;
/** "FILE" and "SIGI" as little-endian words (include/uapi/linux/elf.h). */
const NT_FILE = 0x46494c45;
const NT_SIGINFO = 0x53494749;
const NT_ARM_TLS = 0x401;
const AT_PHDR = 3;
const AT_PAGESZ = 6;
const AT_ENTRY = 9;
const AT_SYSINFO_EHDR = 33;
/** struct elf_prstatus: pr_pid at 32, pr_reg at 112 (x86_64 and aarch64 alike). */
const PRSTATUS_PID = 32;
const PRSTATUS_REG = 112;
/** Register set sizes: x86_64 user_regs_struct (27 words), aarch64 user_pt_regs (34 words). */
const GP_BYTES: Record<Arch, number> = { x86_64: 216, aarch64: 272 };
/** fs_base is word 21 of x86_64's user_regs_struct. */
const X86_64_FS_BASE = 21 * 8;
/** struct elf_prpsinfo (64-bit): pr_pid at 24, pr_fname[16] at 40, pr_psargs[80] at 56. */
const PRPSINFO_PID = 24;
const PRPSINFO_FNAME = 40;
const PRPSINFO_PSARGS = 56;
const PSARGS_BYTES = 80;
const TWO32 = 4294967296;
/**
 * How far above the end of the executable's data the kernel may start the brk heap:
 * arch_randomize_brk() randomizes it within 1 GiB for 64-bit tasks on arm64 and on x86_64 since
 * Linux 6.5 (32 MiB before). Seen here: 550 MiB above a PIE's data.
 */
const BRK_RANDOM = 1 << 30;

/** What a core says beside the Snapshot. */
export interface CoreFile {
  /** Regions, threads, memory, auxv; `images` empty (see the header). */
  snapshot: Snapshot;
  /** The executable's path as the core names it (the file mapped at AT_PHDR), when known. */
  executable?: string;
  /** Signal that ended the process (the kernel's cores), 0 for gcore's. */
  signal: number;
  /** Bytes the segments claim beyond the end of the file (a core cut short by a size limit). */
  missingBytes: number;
  /** Writable anonymous regions whose bytes the core does not hold (coredump_filter). */
  undumped: Region[];
  /**
   * File mappings only NT_FILE names (gcore leaves out the segments it does not dump): their
   * permissions here are a guess ("r--p") for the caller to take from the file's segments.
   */
  permsUnknown: Region[];
}

/** A core file heapscope cannot use; the message names it and what is wrong. */
export class CoreFileError extends Error {
  constructor(message: string, readonly hints: string[] = []) {
    super(message);
    this.name = "CoreFileError";
  }
}

/** Whether `head` starts an ELF core file (ELF magic, 64-bit, e_type ET_CORE). */
export function isCoreFile(head: Uint8Array): boolean {
  return head.length >= 18 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c &&
    head[3] === 0x46 && head[4] === 2 && (head[16]! | (head[17]! << 8)) === ET_CORE;
}

/** Parse the core in `bytes` (`name` is used in messages). */
export function parseCoreFile(bytes: Uint8Array, name: string): CoreFile {
  if (!isCoreFile(bytes)) {
    throw new CoreFileError(`"${name}" is not a 64-bit ELF core file`, [
      "Pass a core from `gcore <pid>` or from the kernel (see /proc/sys/kernel/core_pattern)",
    ]);
  }
  const elf = new ElfFile(bytes);
  const arch: Arch | undefined = elf.machine === EM_X86_64
    ? "x86_64"
    : elf.machine === EM_AARCH64
    ? "aarch64"
    : undefined;
  if (!arch) {
    throw new CoreFileError(`Cannot analyse core "${name}": machine ${elf.machine}`, [
      "heapscope reads x86_64 and aarch64 cores",
    ]);
  }
  const notes = elf.segments.filter((s) => s.type === PT_NOTE).flatMap((s) =>
    readNotes(bytes, s.offset, Math.min(s.filesz, bytes.length - s.offset))
  );
  const threads: ThreadState[] = [];
  const files: { start: number; end: number; offset: number; path: string }[] = [];
  let auxv: Record<number, number> | undefined;
  let pid = 0, command = "", signal = 0, pageSizeFromFiles = 0;
  // Registers of the thread being read: its NT_PRSTATUS, then its other notes.
  let current: { tid: number; gp: Uint8Array; fp?: Uint8Array; tls?: number } | undefined;
  const finish = () => {
    if (!current) return;
    const g = new DataView(current.gp.buffer, current.gp.byteOffset, current.gp.byteLength);
    const tp = arch === "x86_64"
      ? g.getUint32(X86_64_FS_BASE, true) + g.getUint32(X86_64_FS_BASE + 4, true) * TWO32
      : current.tls ?? 0;
    threads.push(decodeRegisters(arch, current.tid, current.gp, current.fp, tp));
    current = undefined;
  };
  for (const n of notes) {
    const d = n.desc;
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const w = (o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * TWO32;
    if (n.name === "CORE" && n.type === NT_PRSTATUS) {
      finish();
      if (d.length < PRSTATUS_REG + GP_BYTES[arch]) continue;
      current = {
        tid: dv.getInt32(PRSTATUS_PID, true),
        gp: d.subarray(PRSTATUS_REG, PRSTATUS_REG + GP_BYTES[arch]),
      };
      if (signal === 0) signal = dv.getInt16(12, true); // pr_cursig of the first thread
    } else if (n.name === "CORE" && n.type === NT_PRFPREG && current) {
      current.fp = d;
    } else if (n.name === "LINUX" && n.type === NT_ARM_TLS && current && d.length >= 8) {
      current.tls = w(0);
    } else if (n.name === "CORE" && n.type === NT_PRPSINFO && d.length >= 136) {
      pid = dv.getInt32(PRPSINFO_PID, true);
      const args = cString(d.subarray(PRPSINFO_PSARGS, PRPSINFO_PSARGS + PSARGS_BYTES)).trimEnd();
      command = args || `[${cString(d.subarray(PRPSINFO_FNAME, PRPSINFO_FNAME + 16))}]`;
    } else if (n.name === "CORE" && n.type === NT_AUXV) {
      auxv = {};
      for (let o = 0; o + 16 <= d.length; o += 16) {
        const type = w(o);
        if (type === 0) break;
        auxv[type] = w(o + 8);
      }
    } else if (n.name === "CORE" && n.type === NT_FILE && d.length >= 16) {
      const count = w(0);
      pageSizeFromFiles = w(8);
      let names = 16 + count * 24;
      for (let i = 0; i < count && names < d.length; i++) {
        const end = d.indexOf(0, names);
        const path = new TextDecoder().decode(d.subarray(names, end < 0 ? d.length : end));
        files.push({
          start: w(16 + i * 24),
          end: w(16 + i * 24 + 8),
          offset: w(16 + i * 24 + 16) * pageSizeFromFiles,
          path,
        });
        names = end < 0 ? d.length : end + 1;
      }
    } else if (n.name === "CORE" && n.type === NT_SIGINFO && d.length >= 4 && signal === 0) {
      signal = dv.getInt32(0, true);
    }
  }
  finish();
  if (threads.length === 0) {
    throw new CoreFileError(`Cannot analyse core "${name}": it holds no thread (no NT_PRSTATUS)`, [
      "The core is damaged or was not written by gcore or the kernel",
    ]);
  }
  // The capture lists threads as /proc/PID/task does: by thread id.
  threads.sort((a, b) => a.tid - b.tid);
  if (pid === 0) pid = threads[0]!.tid;
  const pageSize = auxv?.[AT_PAGESZ] ?? (pageSizeFromFiles || 4096);

  const regions: Region[] = [];
  const memory: MemoryChunk[] = [];
  const undumped: Region[] = [];
  let missingBytes = 0;
  const inodes = new Map<string, number>();
  const byStart = new Map(files.map((f) => [f.start, f]));
  const vdso = auxv?.[AT_SYSINFO_EHDR];
  for (const s of elf.segments) {
    if (s.type !== PT_LOAD || s.memsz === 0) continue;
    const file = byStart.get(s.vaddr);
    const path = file?.path ?? (s.vaddr === vdso ? "[vdso]" : "");
    // The core has no inodes: one number per file keeps mappings of one file together.
    let inode = 0;
    if (file) {
      inode = inodes.get(path) ?? inodes.size + 1;
      inodes.set(path, inode);
    }
    const region: Region = {
      start: s.vaddr,
      end: s.vaddr + s.memsz,
      perms: `${s.flags & 4 ? "r" : "-"}${s.flags & 2 ? "w" : "-"}${s.flags & 1 ? "x" : "-"}p`,
      offset: file?.offset ?? 0,
      inode,
      path,
    };
    regions.push(region);
    const have = Math.max(0, Math.min(s.filesz, bytes.length - s.offset));
    missingBytes += s.filesz - have;
    if (have > 0) memory.push({ start: s.vaddr, bytes: bytes.subarray(s.offset, s.offset + have) });
    if (have === 0 && !file && region.perms[1] === "w") undumped.push(region);
  }
  const permsUnknown: Region[] = [];
  for (const f of files) {
    if (regions.some((r) => r.start < f.end && f.start < r.end)) continue;
    const inode = inodes.get(f.path) ?? inodes.size + 1;
    inodes.set(f.path, inode);
    const region = {
      start: f.start,
      end: f.end,
      perms: "r--p",
      offset: f.offset,
      inode,
      path: f.path,
    };
    regions.push(region);
    permsUnknown.push(region);
  }
  regions.sort((a, b) => a.start - b.start);
  memory.sort((a, b) => a.start - b.start);
  const phdr = auxv?.[AT_PHDR] ?? auxv?.[AT_ENTRY];
  const executable = phdr === undefined
    ? undefined
    : files.find((f) => f.start <= phdr && phdr < f.end)?.path;

  const snapshot: Snapshot = {
    pid,
    command,
    platform: "linux",
    arch,
    pageSize,
    capturedAt: "",
    pauseMs: 0,
    regions,
    memory,
    threads,
    images: [],
    warnings: [],
  };
  if (auxv) snapshot.auxv = auxv;
  return {
    snapshot,
    ...(executable ? { executable } : {}),
    signal,
    missingBytes,
    undumped,
    permsUnknown,
  };
}

/**
 * Name the brk heap "[heap]" as /proc/PID/maps does (a core does not say which mapping it is): the
 * writable anonymous regions that start within the kernel's brk randomization above the end of the
 * executable's data, contiguous from the first. With glibc symbols, the main arena's top chunk must
 * lie in them, or none is named. Returns the named span, or undefined. O(regions).
 */
export function nameBrkHeap(
  snapshot: Snapshot,
  executable: Image | undefined,
  topChunk?: number,
): { start: number; end: number } | undefined {
  if (!executable || executable.writable.length === 0) return undefined;
  const dataEnd = Math.max(...executable.writable.map((w) => w.end));
  const page = snapshot.pageSize;
  const from = Math.ceil(dataEnd / page) * page;
  const anon = (r: Region) => r.path === "" && r.perms.startsWith("rw");
  const sorted = [...snapshot.regions].sort((a, b) => a.start - b.start);
  const first = sorted.findIndex((r) => anon(r) && r.start >= from && r.start <= from + BRK_RANDOM);
  if (first < 0) return undefined;
  let last = first;
  while (
    last + 1 < sorted.length && sorted[last + 1]!.start === sorted[last]!.end &&
    anon(sorted[last + 1]!)
  ) last++;
  const span = { start: sorted[first]!.start, end: sorted[last]!.end };
  if (topChunk !== undefined && !(topChunk >= span.start && topChunk < span.end)) return undefined;
  for (let i = first; i <= last; i++) sorted[i]!.path = "[heap]";
  return span;
}

interface Note {
  name: string;
  type: number;
  desc: Uint8Array;
}

/** The notes of a PT_NOTE segment: 4-byte aligned name and descriptor after a 12-byte header. */
function readNotes(bytes: Uint8Array, offset: number, size: number): Note[] {
  const out: Note[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = offset;
  const end = offset + size;
  while (o + 12 <= end) {
    const namesz = v.getUint32(o, true), descsz = v.getUint32(o + 4, true);
    const type = v.getUint32(o + 8, true);
    const nameAt = o + 12, descAt = nameAt + align4(namesz);
    if (descAt + descsz > end) break;
    out.push({
      name: cString(bytes.subarray(nameAt, nameAt + namesz)),
      type,
      desc: bytes.subarray(descAt, descAt + descsz),
    });
    o = descAt + align4(descsz);
  }
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function cString(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
}
