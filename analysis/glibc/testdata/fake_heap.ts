// Test helper: builds synthetic Snapshots byte by byte, laid out like glibc 2.36 malloc on x86_64.

import type { Image, Region, Snapshot, ThreadState } from "../../types.ts";
import { protect } from "../safe_link.ts";

/** Sparse fake address space: regions with zero-filled backing bytes, written word by word. */
export class FakeProcess {
  regions: Region[] = [];
  images: Image[] = [];
  threads: ThreadState[] = [];
  #bytes: { start: number; bytes: Uint8Array; copied: boolean }[] = [];

  /** Maps [start, end); `copied` false leaves it out of Snapshot.memory (e.g. ---p reservations). */
  map(
    start: number,
    end: number,
    perms: string,
    path = "",
    offset = 0,
    copied = perms[0] === "r",
  ): void {
    this.regions.push({ start, end, perms, offset, inode: path.startsWith("/") ? 1 : 0, path });
    this.#bytes.push({ start, bytes: new Uint8Array(end - start), copied });
  }

  #at(addr: number, len: number): { bytes: Uint8Array; off: number } {
    const c = this.#bytes.find((b) => addr >= b.start && addr + len <= b.start + b.bytes.length);
    if (c === undefined) throw new Error(`fake address 0x${addr.toString(16)} is not mapped`);
    return { bytes: c.bytes, off: addr - c.start };
  }

  w64(addr: number, value: number): void {
    const { bytes, off } = this.#at(addr, 8);
    const v = new DataView(bytes.buffer);
    v.setUint32(off, value % 4294967296, true);
    v.setUint32(off + 4, Math.floor(value / 4294967296), true);
  }

  /** Writes a signed 64-bit value (two's complement), e.g. a TPOFF64 GOT slot. */
  w64signed(addr: number, value: number): void {
    const { bytes, off } = this.#at(addr, 8);
    new DataView(bytes.buffer).setBigInt64(off, BigInt(value), true);
  }

  w16(addr: number, value: number): void {
    const { bytes, off } = this.#at(addr, 2);
    new DataView(bytes.buffer).setUint16(off, value, true);
  }

  text(addr: number, s: string): void {
    const enc = new TextEncoder().encode(s);
    const { bytes, off } = this.#at(addr, enc.length);
    bytes.set(enc, off);
  }

  /** A chunk header: prev_size (optional) and size with flag bits. */
  chunk(addr: number, size: number, prevSize?: number): void {
    if (prevSize !== undefined) this.w64(addr, prevSize);
    this.w64(addr + 8, size);
  }

  snapshot(): Snapshot {
    const sorted = [...this.regions].sort((a, b) => a.start - b.start);
    return {
      pid: 4242,
      command: "fake",
      platform: "linux",
      arch: "x86_64",
      pageSize: 4096,
      capturedAt: new Date(0).toISOString(),
      pauseMs: 0,
      regions: sorted,
      memory: this.#bytes.filter((b) => b.copied).map((b) => ({ start: b.start, bytes: b.bytes }))
        .sort((a, b) => a.start - b.start),
      threads: this.threads,
      images: this.images,
      warnings: [],
    };
  }
}

export const LIBC_PATH = "/usr/lib/x86_64-linux-gnu/libc.so.6";
export const LIBC = 0x7ffff7800000;
export const LIBC_RELRO = LIBC + 0x1000;
export const LIBC_DATA = LIBC + 0x2000;
export const MAIN_ARENA = LIBC_DATA + 0xc60;
export const MP = LIBC_DATA + 0x340;
export const HEAP = 0x555555559000;
export const HEAP_END = HEAP + 0x21000;
export const THEAP = 0x7fffe8000000; // 64 MiB aligned
export const TARENA = THEAP + 0x30;
export const MMAP = 0x7ffff7a00000;
export const STACK2 = 0x7ffff7000000;

/** Writes an arena: self-referential bins, top, next, system_mem. */
export function writeArena(
  p: FakeProcess,
  a: number,
  top: number,
  next: number,
  systemMem: number,
): void {
  p.w64(a + 0x60, top);
  for (let i = 1; i <= 127; i++) {
    const bin = a + 0x60 + 16 * (i - 1);
    p.w64(bin + 0x10, bin);
    p.w64(bin + 0x18, bin);
  }
  p.w64(a + 0x870, next);
  p.w64(a + 0x888, systemMem);
  p.w64(a + 0x890, systemMem);
}

/** Pushes the chunk with user pointer `user` on tcache bin `bin` of the struct at `tcache`. */
export function tcachePush(
  p: FakeProcess,
  tcache: number,
  bin: number,
  user: number,
  head: number,
  count: number,
): void {
  p.w64(user, protect(user, head));
  p.w64(user + 8, 0x5eed5eed5eed); // tcache_key
  p.w64(tcache + 0x80 + 8 * bin, user);
  p.w16(tcache + 2 * bin, count);
}

/** Every address a test needs to poke at in the standard fixture. */
export interface Fixture {
  process: FakeProcess;
  /** Expected live set, sorted by address. */
  expected: { address: number; size: number; zone: string }[];
  /** Chunk headers of interest. */
  c: Record<string, number>;
}

/**
 * A process with: libc (version banner, GOT TPOFF slot −0x50, main_arena with self-referential
 * bins, mp_), a [heap] with the main tcache struct, in-use chunks, two tcache-freed 0x20 chunks
 * (safe-linked), a fastbin 0x70 chunk, an unsorted free 0x100 chunk with footer, top; a thread arena
 * heap at a 64 MiB-aligned address with its own tcache; a merged anonymous VMA holding a plain
 * mmapped chunk, a memalign'd one (stale header at the base) and the main thread's TLS.
 */
export function buildFixture(): Fixture {
  const p = new FakeProcess();
  p.map(LIBC, LIBC + 0x1000, "r--p", LIBC_PATH, 0);
  p.map(LIBC_RELRO, LIBC_DATA, "r--p", LIBC_PATH, 0x1d2000);
  p.map(LIBC_DATA, LIBC_DATA + 0x2000, "rw-p", LIBC_PATH, 0x1d3000);
  p.text(
    LIBC + 0x400,
    "GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\n",
  );
  p.w64signed(LIBC_RELRO + 0xd78, -0x50); // GOT slot of `tcache` (R_X86_64_TPOFF64)
  p.w64signed(LIBC_RELRO + 0xd70, -0x40); // GOT slot of `thread_arena`
  p.images.push({
    path: LIBC_PATH,
    bias: LIBC,
    writable: [{ start: LIBC_RELRO, end: LIBC_DATA + 0x2000 }],
  });

  // Main heap.
  p.map(HEAP, HEAP_END, "rw-p", "[heap]");
  const c = {
    tcache: HEAP,
    a: HEAP + 0x290,
    t1: HEAP + 0x2b0,
    t2: HEAP + 0x2d0,
    b: HEAP + 0x2f0,
    fast: HEAP + 0x320,
    d: HEAP + 0x390,
    unsorted: HEAP + 0x3d0,
    e: HEAP + 0x4d0,
    top: HEAP + 0x520,
    ttcache: THEAP + 0x8d0,
    ta: THEAP + 0xb60,
    tt: THEAP + 0xb90,
    tb: THEAP + 0xbc0,
    ttop: THEAP + 0xbe0,
    mm: MMAP,
    mmAligned: MMAP + 0x2000 + 0xff0,
  };
  p.chunk(c.tcache, 0x291, 0);
  p.chunk(c.a, 0x21);
  p.chunk(c.t1, 0x21);
  p.chunk(c.t2, 0x21);
  tcachePush(p, c.tcache + 16, 0, c.t1 + 16, 0, 1);
  tcachePush(p, c.tcache + 16, 0, c.t2 + 16, c.t1 + 16, 2);
  p.chunk(c.b, 0x31);
  p.chunk(c.fast, 0x71);
  p.w64(c.fast + 16, protect(c.fast + 16, 0));
  p.w64(MAIN_ARENA + 0x10 + 8 * 5, c.fast); // fastbinsY[5]
  p.w64(MAIN_ARENA + 0x8, 1); // have_fastchunks
  p.chunk(c.d, 0x41);
  p.chunk(c.unsorted, 0x101);
  p.chunk(c.e, 0x50, 0x100); // P clear, footer = 0x100
  p.chunk(c.top, (HEAP_END - c.top) | 1);
  writeArena(p, MAIN_ARENA, c.top, TARENA, HEAP_END - HEAP);
  p.w64(c.unsorted + 16, MAIN_ARENA + 0x60);
  p.w64(c.unsorted + 24, MAIN_ARENA + 0x60);
  p.w64(MAIN_ARENA + 0x70, c.unsorted);
  p.w64(MAIN_ARENA + 0x78, c.unsorted);

  // mp_.
  p.w64(MP + 0x10, 0x20000);
  p.w64(MP + 0x3c, 2); // n_mmaps (int) and n_mmaps_max (0 here)
  p.w64(MP + 0x50, 0x23000);
  p.w64(MP + 0x60, HEAP);
  p.w64(MP + 0x68, 64);
  p.w64(MP + 0x70, 0x408);

  // Thread arena heap.
  p.map(THEAP, THEAP + 0x21000, "rw-p");
  p.map(THEAP + 0x21000, THEAP + 0x4000000, "---p", "", 0, false);
  p.w64(THEAP, TARENA);
  p.w64(THEAP + 0x8, 0);
  p.w64(THEAP + 0x10, 0x21000);
  p.w64(THEAP + 0x18, 0x21000);
  p.w64(THEAP + 0x20, 0x1000);
  writeArena(p, TARENA, c.ttop, MAIN_ARENA, 0x21000);
  p.w64(TARENA + 4, 2); // flags: NONCONTIGUOUS
  p.chunk(c.ttcache, 0x295);
  p.chunk(c.ta, 0x35);
  p.chunk(c.tt, 0x35);
  tcachePush(p, c.ttcache + 16, 1, c.tt + 16, 0, 1);
  p.chunk(c.tb, 0x25);
  p.chunk(c.ttop, (THEAP + 0x21000 - c.ttop) | 1);

  // Thread 2: pthread stack with TCB at its top.
  p.map(STACK2 - 0x1000, STACK2, "---p", "", 0, false);
  p.map(STACK2, STACK2 + 0x100000, "rw-p");
  const tp2 = STACK2 + 0x100000 - 0x940;
  p.w64(tp2 - 0x50, c.ttcache + 16);
  p.w64(tp2, tp2);

  // Merged anonymous VMA: plain mmapped chunk, memalign'd mmapped chunk, main thread TLS pages.
  p.map(MMAP, MMAP + 0x25000, "rw-p");
  p.chunk(c.mm, 0x2002, 0);
  p.chunk(MMAP + 0x2000, 0x21002, 0); // stale header of the memalign'd mapping
  p.chunk(c.mmAligned, (0x21000 - 0xff0) | 2, 0xff0);
  const tp1 = MMAP + 0x24000;
  p.w64(tp1 - 0x50, c.tcache + 16);
  p.w64(tp1, tp1);

  p.map(0x7ffffffde000, 0x7ffffffff000, "rw-p", "[stack]");
  p.threads.push(
    { tid: 100, sp: 0x7fffffffe000, pc: 0, tp: tp1, registers: [] },
    { tid: 101, sp: STACK2 + 0xf0000, pc: 0, tp: tp2, registers: [] },
  );

  const arena = `arena 0x${TARENA.toString(16)}`;
  const expected = [
    { address: c.a + 16, size: 0x18, zone: "main-arena" },
    { address: c.b + 16, size: 0x28, zone: "main-arena" },
    { address: c.d + 16, size: 0x38, zone: "main-arena" },
    { address: c.e + 16, size: 0x48, zone: "main-arena" },
    { address: c.ta + 16, size: 0x28, zone: arena },
    { address: c.tb + 16, size: 0x18, zone: arena },
    { address: c.mm + 16, size: 0x2000 - 16, zone: "mmap" },
    { address: MMAP + 0x3000, size: 0x21000 - 0xff0 - 16, zone: "mmap" },
  ];
  return { process: p, expected, c };
}
