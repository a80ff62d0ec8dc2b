// Tests for analysis/elf.ts against real ELF files on this machine, checked against readelf's output.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { debugFilePath, ElfFile, ET_DYN, loadBias, PF_W, PT_LOAD, STT_TLS } from "./elf.ts";

const LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6";

function readelf(...args: string[]): string {
  const out = new Deno.Command("readelf", { args: ["-W", ...args] }).outputSync();
  assert(out.success, `readelf ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

/** st_value (hex, no 0x) and size of `name` in `readelf -s` output of `file`. */
function readelfSymbol(file: string, name: string): { value: number; size: number } | undefined {
  for (const line of readelf("-s", file).split("\n")) {
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (f.length >= 8 && f[7]?.replace(/@.*/, "") === name && f[6] !== "UND") {
      return { value: parseInt(f[1]!, 16), size: Number(f[2]) };
    }
  }
  return undefined;
}

Deno.test("ElfFile reads libc's writable PT_LOAD and build-id like readelf", () => {
  const elf = new ElfFile(Deno.readFileSync(LIBC));
  assertEquals(elf.type, ET_DYN);
  const writable = elf.loads.filter((s) => (s.flags & PF_W) !== 0);
  assertEquals(writable.length, 1);
  const id = /Build ID: ([0-9a-f]+)/.exec(readelf("-n", LIBC))?.[1];
  assert(id, "readelf shows a build-id for libc");
  assertEquals(elf.buildId(), id);
  // The same PT_LOAD, as readelf -l prints it: LOAD offset vaddr paddr filesz memsz flags align.
  const rw = readelf("-l", LIBC).split("\n").find((l) => /^\s*LOAD\b.*\bRW\b/.test(l));
  assert(rw, "readelf -l lists an RW LOAD");
  const f = rw.trim().split(/\s+/);
  assertEquals(writable[0]!.vaddr, parseInt(f[2]!, 16));
  assertEquals(writable[0]!.memsz, parseInt(f[5]!, 16));
});

Deno.test("ElfFile finds main_arena and TLS tcache in libc's debug file like readelf", () => {
  const id = new ElfFile(Deno.readFileSync(LIBC)).buildId()!;
  const debug = debugFilePath(id);
  // Read lazily from the file, as ffi/ does: only headers and symbol tables are touched.
  const file = Deno.openSync(debug);
  let touched = 0;
  try {
    const elf = new ElfFile((offset, length) => {
      const buf = new Uint8Array(length);
      file.seekSync(offset, Deno.SeekMode.Start);
      let n = 0;
      while (n < length) {
        const r = file.readSync(buf.subarray(n));
        if (r === null) break;
        n += r;
      }
      touched += n;
      return buf.subarray(0, n);
    });
    assertEquals(elf.buildId(), id);
    const syms = elf.findSymbols(["main_arena", "mp_", "tcache", "no_such_symbol_here"]);
    const want = readelfSymbol(debug, "main_arena");
    assert(want, "readelf -s shows main_arena in the debug file");
    assertEquals(syms.get("main_arena")?.value, want.value);
    assertEquals(syms.get("main_arena")?.size, want.size);
    assertEquals(syms.get("mp_")?.value, readelfSymbol(debug, "mp_")?.value);
    assertEquals(syms.get("tcache")?.type, STT_TLS);
    assertEquals(syms.get("tcache")?.value, readelfSymbol(debug, "tcache")?.value);
    assertEquals(syms.has("no_such_symbol_here"), false);
    assert(touched < Deno.statSync(debug).size, "the debug file was not read whole");
  } finally {
    file.close();
  }
});

Deno.test("ElfFile skips undefined symbols and reads /bin/true's dynsym", () => {
  const elf = new ElfFile(Deno.readFileSync("/bin/true"));
  // /bin/true imports malloc (UND) and must not report it as defined.
  assertEquals(elf.findSymbols(["malloc"]).has("malloc"), false);
  assert(elf.loads.length >= 2);
  const exported = elf.findSymbols(["malloc", "__libc_malloc"]);
  assertEquals(exported.size, 0);
  const libc = new ElfFile(Deno.readFileSync(LIBC)).findSymbols(["malloc"]);
  assertEquals(libc.get("malloc")?.table, "dynsym");
  assertEquals(libc.get("malloc")?.value, readelfSymbol(LIBC, "malloc")?.value);
});

Deno.test("loadBias() maps a runtime mapping back to vaddr 0", () => {
  const elf = new ElfFile(Deno.readFileSync(LIBC));
  const first = elf.loads[0]!;
  assertEquals(
    loadBias(elf.loads, 0x7f0000000000, first.offset, 4096),
    0x7f0000000000 - first.vaddr,
  );
  const rw = elf.loads.find((s) => s.type === PT_LOAD && (s.flags & PF_W) !== 0)!;
  const page = rw.offset - (rw.offset % 4096);
  const start = 0x7f0000000000 + (rw.vaddr - (rw.vaddr % 4096));
  assertEquals(loadBias(elf.loads, start, page, 4096), 0x7f0000000000);
  assertEquals(loadBias(elf.loads, 0, 2 ** 40, 4096), undefined);
});

Deno.test("ElfFile rejects a file that is not ELF", () => {
  let message = "";
  try {
    new ElfFile(new TextEncoder().encode("#!/bin/sh\n".padEnd(128, " ")));
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "Not an ELF file: bad magic");
});
