// Test helper: turns an x86_64 ELF core file (gcore) plus /proc/PID/maps text into a Snapshot.
//
// Pure: the caller reads the files. O(program headers + notes + regions).

import { X86_64_GP } from "../../linux_registers.ts";
import type { Image, MemoryChunk, Region, Snapshot, ThreadState } from "../../types.ts";

const PT_LOAD = 1, PT_NOTE = 4;
const NT_PRSTATUS = 1, NT_FILE = 0x46494c45;
// pr_reg (x86_64 user_regs_struct, 27 words) sits at offset 112 of elf_prstatus.

export interface CoreFile {
  loads: { vaddr: number; memsz: number; bytes: Uint8Array; flags: number }[];
  threads: ThreadState[];
  /** NT_FILE entries: file-backed mappings. */
  files: { start: number; end: number; offset: number; path: string }[];
}

function u64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
}

/** Parses the PT_LOAD segments, NT_PRSTATUS and NT_FILE notes of a 64-bit little-endian core. */
export function parseCore(core: Uint8Array): CoreFile {
  const v = new DataView(core.buffer, core.byteOffset, core.byteLength);
  if (
    v.getUint32(0, false) !== 0x7f454c46 || core[4] !== 2 || core[5] !== 1 ||
    v.getUint16(16, true) !== 4
  ) {
    throw new Error("Not a 64-bit little-endian ELF core file");
  }
  const phoff = u64(v, 32), phentsize = v.getUint16(54, true), phnum = v.getUint16(56, true);
  const out: CoreFile = { loads: [], threads: [], files: [] };
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = v.getUint32(ph, true), flags = v.getUint32(ph + 4, true);
    const offset = u64(v, ph + 8),
      vaddr = u64(v, ph + 16),
      filesz = u64(v, ph + 32),
      memsz = u64(v, ph + 40);
    if (type === PT_LOAD && filesz > 0) {
      out.loads.push({ vaddr, memsz, flags, bytes: core.subarray(offset, offset + filesz) });
    } else if (type === PT_NOTE) {
      parseNotes(v, offset, offset + filesz, out);
    }
  }
  return out;
}

function parseNotes(v: DataView, from: number, to: number, out: CoreFile): void {
  let p = from;
  while (p + 12 <= to) {
    const namesz = v.getUint32(p, true),
      descsz = v.getUint32(p + 4, true),
      type = v.getUint32(p + 8, true);
    const desc = p + 12 + ((namesz + 3) & ~3);
    if (type === NT_PRSTATUS && descsz >= 112 + 27 * 8) {
      const regs = X86_64_GP.map((name, k) => ({ name, value: u64(v, desc + 112 + 8 * k) }));
      const get = (n: string) => regs.find((r) => r.name === n)!.value;
      out.threads.push({
        tid: v.getUint32(desc + 32, true),
        sp: get("rsp"),
        pc: get("rip"),
        tp: get("fs_base"),
        registers: regs,
      });
    } else if (type === NT_FILE) {
      const count = u64(v, desc), page = u64(v, desc + 8);
      let names = desc + 16 + count * 24;
      for (let k = 0; k < count; k++) {
        const e = desc + 16 + k * 24;
        let end = names;
        while (v.getUint8(end) !== 0) end++;
        const path = new TextDecoder().decode(
          new Uint8Array(v.buffer, v.byteOffset + names, end - names),
        );
        out.files.push({
          start: u64(v, e),
          end: u64(v, e + 8),
          offset: u64(v, e + 16) * page,
          path,
        });
        names = end + 1;
      }
    }
    p = desc + ((descsz + 3) & ~3);
  }
}

/** Parses /proc/PID/maps text. */
export function parseMaps(text: string): Region[] {
  const regions: Region[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/);
    if (!m) continue;
    regions.push({
      start: parseInt(m[1]!, 16),
      end: parseInt(m[2]!, 16),
      perms: m[3]!,
      offset: parseInt(m[4]!, 16),
      inode: Number(m[5]),
      path: m[6]!.trim(),
    });
  }
  return regions;
}

export interface CoreSnapshotOptions {
  pid: number;
  /** The target's maps; when absent, regions are derived from PT_LOADs and NT_FILE. */
  regions?: Region[];
  /** Extra bytes (e.g. libc's read-only mappings read from the file) for ranges the core lacks. */
  extra?: MemoryChunk[];
  pageSize?: number;
}

/**
 * A Snapshot from a parsed core: memory = PT_LOAD bytes clipped to readable regions, plus `extra`
 * where the core has nothing; threads from NT_PRSTATUS; one image per mapped file, bias = start of
 * its offset-0 mapping, writable = its rw mappings plus a directly following anonymous rw (.bss).
 */
export function coreSnapshot(core: CoreFile, opts: CoreSnapshotOptions): Snapshot {
  const regions = opts.regions ?? core.loads.map((l) => {
    const f = core.files.find((x) => x.start === l.vaddr);
    return {
      start: l.vaddr,
      end: l.vaddr + l.memsz,
      perms: (l.flags & 4 ? "r" : "-") + (l.flags & 2 ? "w" : "-") + (l.flags & 1 ? "x" : "-") +
        "p",
      offset: f?.offset ?? 0,
      inode: 0,
      path: f?.path ?? "",
    };
  });
  const memory: MemoryChunk[] = [];
  for (const l of core.loads) {
    for (const r of regions) {
      if (r.perms[0] !== "r" || r.path === "[vsyscall]") continue;
      const from = Math.max(r.start, l.vaddr), to = Math.min(r.end, l.vaddr + l.bytes.length);
      if (to > from) {
        memory.push({ start: from, bytes: l.bytes.subarray(from - l.vaddr, to - l.vaddr) });
      }
    }
  }
  for (const x of opts.extra ?? []) {
    const covered = memory.some((m) =>
      m.start < x.start + x.bytes.length && x.start < m.start + m.bytes.length
    );
    if (!covered) memory.push(x);
  }
  memory.sort((a, b) => a.start - b.start);

  const images: Image[] = [];
  for (const path of new Set(regions.filter((r) => r.path.startsWith("/")).map((r) => r.path))) {
    const mine = regions.filter((r) => r.path === path);
    const base = mine.find((r) => r.offset === 0) ?? mine[0]!;
    const writable = mine.filter((r) => r.perms[1] === "w").map((r) => ({
      start: r.start,
      end: r.end,
    }));
    const last = writable[writable.length - 1];
    const bss = last &&
      regions.find((r) => r.start === last.end && r.path === "" && r.perms[1] === "w");
    if (bss) writable.push({ start: bss.start, end: bss.end });
    images.push({ path, bias: base.start, writable });
  }
  return {
    pid: opts.pid,
    command: "",
    platform: "linux",
    arch: "x86_64",
    pageSize: opts.pageSize ?? 4096,
    capturedAt: new Date(0).toISOString(),
    pauseMs: 0,
    regions,
    memory,
    threads: core.threads,
    images,
    warnings: [],
  };
}
