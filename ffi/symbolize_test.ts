// Tests of symbolize() on live processes built here with bfd, gold and lld (PIE and not, with a
// shared library each), a C++ and a Rust program (rust-lld, legacy and v0 mangling): biases are
// checked against ld.so's own (dl_iterate_phdr), names against gdb, addr2line and c++filt.
//
// Set-up: `make symbols-programs` (run by the tests) needs gcc, g++, lld, rustc; the checks use
// gdb, binutils (addr2line, nm, c++filt) and llvm-symbolizer (Debian: llvm).

import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { frameLinesSync, ImageFinder, symbolize, type Symbolizer } from "./symbolize.ts";
import { readMaps } from "./maps.ts";
import { ElfFile, loadBias } from "../analysis/elf.ts";
import { demangle, loadDemangler } from "../analysis/demangle.ts";
import type { Region } from "../analysis/types.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BUILD = `${ROOT}build/symbols`;
const TOOLS: Symbolizer[] = ["llvm-symbolizer", "addr2line", "elf"];
const LAYOUTS = ["bfd", "gold", "lld"].flatMap((ld) => [`${ld}-pie`, `${ld}-nopie`]);

let built: Promise<void> | undefined;
/** Builds the test programs once per run (make does nothing when they are up to date). */
function buildPrograms(): Promise<void> {
  built ??= (async () => {
    const out = await new Deno.Command("make", {
      args: ["-s", "-C", ROOT, "symbols-programs"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.ok(
      out.success,
      `make symbols-programs failed:\n${err}\nHint: apt-get install -y g++ lld; rustc from rustup`,
    );
  })();
  return built;
}

/** A test program running until it is closed, with what it printed up to READY. */
interface Live {
  pid: number;
  lines: string[];
  regions: Region[];
  close(): Promise<void>;
}

async function start(program: string, args: string[] = []): Promise<Live> {
  const child = new Deno.Command(program, { args, stdin: "piped", stdout: "piped" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/^READY/m.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${program} exited before READY; it printed:\n${text}`);
    text += value;
  }
  const regions = readMaps(child.pid);
  return {
    pid: child.pid,
    lines: text.split("\n"),
    regions,
    async close() {
      await child.stdin.close();
      while (!(await reader.read()).done) { /* drain */ }
      assert.equal((await child.status).code, 0);
    },
  };
}

/** `pc NAME 0x…` lines: return addresses inside the named functions. */
function printedPcs(lines: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of lines) {
    const m = /^pc (\S+) (0x[0-9a-f]+)$/.exec(l);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Line of the `LINE <tag>` marker comment in a source file. */
function markerLine(file: string, tag: string): number {
  const lines = Deno.readTextFileSync(file).split("\n");
  const i = lines.findIndex((l) => l.includes(`/* LINE ${tag} */`));
  assert.ok(i >= 0, `no LINE ${tag} marker in ${file}`);
  return i + 1;
}

/** gdb attached to the live process: `info symbol` of each address (its own mapping logic). */
async function gdbSymbols(pid: number, addresses: number[]): Promise<string[]> {
  const args = ["-q", "-nx", "-batch", "-p", String(pid)];
  for (const a of addresses) args.push("-ex", `info symbol 0x${a.toString(16)}`);
  const out = await new Deno.Command("gdb", { args, stdout: "piped", stderr: "null" }).output();
  const text = new TextDecoder().decode(out.stdout);
  return text.split("\n").filter((l) => / in section /.test(l) || /^No symbol matches/.test(l));
}

const SOURCE = `${ROOT}tests/symbols`;
const EXPECTED: Record<string, { file: string; line: string }> = {
  layout_outer: { file: "layout.c", line: "layout_outer" },
  layout_lib_call: { file: "layout_lib.c", line: "layout_lib_call" },
  main: { file: "layout.c", line: "main2" },
};

for (const layout of LAYOUTS) {
  Deno.test(`symbolize() names the pcs of a ${layout} program and its library like gdb and ld.so do`, async () => {
    await buildPrograms();
    const live = await start(`${BUILD}/layout-${layout}`);
    try {
      const pcs = printedPcs(live.lines);
      assert.equal(pcs.size, 3);
      // Biases: heapscope's, from /proc/PID/maps and the program headers, against ld.so's.
      const finder = new ImageFinder(live.regions, 4096);
      const ldso = new Map<string, number>();
      for (const l of live.lines) {
        const m = /^bias (\S+) (0x[0-9a-f]+|0)$/.exec(l);
        if (m) ldso.set(realpathSync(m[1]!), Number(m[2]));
      }
      for (const pc of pcs.values()) {
        const image = finder.at(pc);
        assert.ok(image, `no image at ${pc.toString(16)}`);
        assert.equal(image.bias, ldso.get(realpathSync(image.path)), `bias of ${image.path}`);
      }
      for (const tool of TOOLS) {
        const frames = await symbolize(pcs.values(), live.regions, { tool });
        for (const [name, pc] of pcs) {
          const outer = frames.get(pc)!.at(-1)!;
          assert.equal(outer.function, name, `${tool} at ${name}`);
          assert.ok(outer.offset! > 0, `${tool} offset at ${name}`);
          if (tool === "elf") continue;
          const want = EXPECTED[name]!;
          const inner = frames.get(pc)![0]!;
          assert.equal(inner.file, `${SOURCE}/${want.file}`, `${tool} file at ${name}`);
          assert.equal(inner.line, markerLine(`${SOURCE}/${want.file}`, want.line), `${tool} line`);
        }
      }
      // gdb, attached to the same process, names the same call instructions.
      const named = await gdbSymbols(live.pid, [...pcs.values()].map((pc) => pc - 1));
      assert.deepEqual(named.map((l) => l.split(" ")[0]), [...pcs.keys()]);
    } finally {
      await live.close();
    }
  });
}

Deno.test("loadBias() alone is a page off on lld's packed segments; imageBias() is not", async () => {
  await buildPrograms();
  const live = await start(`${BUILD}/layout-lld-pie`);
  try {
    const path = `${BUILD}/layout-lld-pie`;
    const elf = new ElfFile(Deno.readFileSync(path));
    const code = live.regions.find((r) => r.path === path && r.perms[2] === "x")!;
    assert.equal(code.offset, 0, "lld maps its code from file page 0, as its read-only data");
    const truth = new ImageFinder(live.regions, 4096).at(printedPcs(live.lines).get("main")!)!;
    const old = loadBias(elf.loads, code.start, code.offset, 4096)!;
    assert.equal(truth.bias - old, -0x1000, "the old lookup was 0x1000 too low");
  } finally {
    await live.close();
  }
});

/** Function symbols of a binary by `nm` (not by heapscope's ELF reader): mangled name → vaddr. */
async function nmFunctions(path: string): Promise<Map<string, number>> {
  const out = await new Deno.Command("nm", { args: ["--defined-only", path] }).output();
  const map = new Map<string, number>();
  for (const l of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = /^([0-9a-f]+) [tTW] (\S+)$/.exec(l);
    if (m) map.set(m[2]!, parseInt(m[1]!, 16));
  }
  return map;
}

async function cxxfilt(names: string[]): Promise<string[]> {
  const out = await new Deno.Command("c++filt", { args: names }).output();
  return new TextDecoder().decode(out.stdout).split("\n").slice(0, names.length);
}

const PROGRAMS = [
  // [binary, which of its own symbols to check (mangled names matching)]
  { bin: "sessions-bfd", own: /^_Z.*(shop|main)/ },
  { bin: "sessions-lld", own: /^_Z.*(shop|main)/ },
  { bin: "sessions-rs-legacy", own: /^_ZN8sessions/ },
  { bin: "sessions-rs-v0", own: /^_R.*8sessions/ },
];

for (const { bin, own } of PROGRAMS) {
  Deno.test(`symbolize() gives every tool the same demangled names in ${bin}`, async () => {
    await buildPrograms();
    await loadDemangler();
    const path = `${BUILD}/${bin}`;
    const live = await start(path, ["wait"]);
    try {
      const syms = await nmFunctions(path);
      const printed = live.lines.find((l) => l.startsWith("fn make_tree "))!;
      const makeTree = [...syms].find(([n]) => /make_tree/.test(n))!;
      const bias = Number(printed.split(" ")[2]) - makeTree[1];
      const names = [...syms.keys()].filter((n) => own.test(n));
      assert.ok(names.length >= 3, `own symbols of ${bin}: ${names.join(" ")}`);
      // pc - 1 is the function's first byte: no inlined frames there.
      const pcs = names.map((n) => bias + syms.get(n)! + 1);
      const byTool = await Promise.all(
        TOOLS.map((tool) => symbolize(pcs, live.regions, { tool })),
      );
      const reference = await cxxfilt(names);
      names.forEach((name, i) => {
        const got = byTool.map((frames) => frames.get(pcs[i]!)!.at(-1)!.function);
        assert.deepEqual(got, TOOLS.map(() => demangle(name)), `names of ${name}`);
        // c++filt prints C++ return types, Rust hashes and crate disambiguators; we do not.
        const want = reference[i]!.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]+\]/g, "");
        assert.ok(want === got[0] || want.endsWith(" " + got[0]), `${got[0]} vs c++filt ${want}`);
      });
    } finally {
      await live.close();
    }
  });
}

Deno.test("frameLinesSync() answers the same lines from a tool started early (prefetch) as from one run when asked", async () => {
  await buildPrograms();
  const live = await start(`${BUILD}/layout-lld-pie`);
  try {
    const codes = [...printedPcs(live.lines).values()].map((pc) => pc - 1);
    assert.equal(codes.length, 3);
    const plain = frameLinesSync(live.regions)(codes);
    const early = frameLinesSync(live.regions);
    assert.equal(early.prefetch!(codes), true, "the tool did not start early");
    const fetched = early(codes.slice(0, 2)); // a subset of what was prefetched
    assert.equal(plain.size, 3, `lines: ${JSON.stringify([...plain])}`);
    for (const pc of codes.slice(0, 2)) assert.equal(fetched.get(pc), plain.get(pc));
    assert.match(plain.get(codes[0]!)!, /^layout(_lib)?\.c:\d+$/);
    // Asked about a pc the early tool was not: answered by a tool run then, the same way.
    const other = frameLinesSync(live.regions);
    other.prefetch!(codes.slice(0, 1));
    assert.deepEqual([...other(codes)].sort(), [...plain].sort());
  } finally {
    await live.close();
  }
});

/** Children of this process whose command is `name` (zombies included: they are not reaped). */
function children(name: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(Deno.readTextFileSync(`/proc/${e.name}/stat`));
      if (m && m[1] === name && Number(m[2]) === Deno.pid) out.push(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

Deno.test("frameLinesSync(): a tool started early and never read is stopped and reaped by release()", async () => {
  await buildPrograms();
  const live = await start(`${BUILD}/layout-lld-pie`);
  try {
    const codes = [...printedPcs(live.lines).values()].map((pc) => pc - 1);
    const early = frameLinesSync(live.regions);
    assert.equal(early.prefetch!(codes), true, "the tool did not start early");
    assert.equal(children("llvm-symbolizer").length, 1, "the early tool runs");
    // Left alone, it would outlive heapscope and abort on the closed pipe (SIGPIPE, SIGABRT).
    early.release!();
    assert.deepEqual(children("llvm-symbolizer"), [], "no tool left, not even a zombie");
    // Asked afterwards, the lines come from a tool run then.
    assert.equal(early(codes).size, 3);
    early.release!(); // nothing left to stop: a no-op
  } finally {
    await live.close();
  }
});
