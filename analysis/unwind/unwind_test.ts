// unwindStack() against gdb's backtrace of the same stopped thread, and its parts on known bytes.
//
// gdb runs each program to a system call (`catch syscall`), prints every frame's pc and sp with its
// own unwinder, and dumps the registers and the thread's stack mapping; the test unwinds that same
// stack from those registers with the ELF files' CFI and must find the same frames.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadBias } from "../elf.ts";
import { ElfFile } from "../elf.ts";
import { DwarfCursor } from "./dwarf_cursor.ts";
import { evaluateExpression } from "./dwarf_expr.ts";
import { CodeMap, dwarfRegisters, type Frame, unwindImage, unwindStack } from "./mod.ts";

const TWO32 = 4294967296;

interface GdbFrame {
  pc: number;
  sp: number;
  name: string;
}

interface GdbStop {
  registers: Record<string, number>;
  frames: GdbFrame[];
  maps: string;
  stack: { start: number; bytes: Uint8Array };
}

// gdb's Python: every frame's pc/sp/name by gdb's unwinder, the registers, and the stack mapping.
const DUMP_PY = `
import gdb, json, os
mask = (1 << 64) - 1
inf = gdb.selected_inferior()
names = ["rax","rbx","rcx","rdx","rsi","rdi","rbp","rsp","r8","r9","r10","r11","r12","r13","r14","r15","rip"]
regs = {n: int(gdb.parse_and_eval("$" + n)) & mask for n in names}
frames = []
f = gdb.newest_frame()
while f is not None and len(frames) < 64:
    # Inlined calls are gdb's symbolic frames over one physical frame: the unwinder sees the latter.
    if f.type() != gdb.INLINE_FRAME:
        frames.append({"pc": f.pc(), "sp": int(f.read_register("rsp")) & mask, "name": f.name() or ""})
    f = f.older()
maps = open("/proc/%d/maps" % inf.pid).read()
sp = regs["rsp"]
stack = None
for line in maps.splitlines():
    lo, hi = [int(x, 16) for x in line.split()[0].split("-")]
    if lo <= sp < hi:
        stack = (lo, hi)
mem = bytes(inf.read_memory(stack[0], stack[1] - stack[0]))
json.dump({"registers": regs, "frames": frames, "maps": maps,
           "stack": {"start": stack[0], "hex": mem.hex()}}, open(os.environ["HS_GDB_OUT"], "w"))
gdb.execute("kill")
`;

async function compile(dir: string, name: string, src: string, cc: string, flags: string[]) {
  const file = `${dir}/${name}.${cc === "g++" ? "cc" : "c"}`;
  Deno.writeTextFileSync(file, src);
  const out = await new Deno.Command(cc, {
    args: [...flags, "-g", "-pthread", "-o", `${dir}/${name}`, file],
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return `${dir}/${name}`;
}

/** Run `exe` under gdb until `catchSyscall` (whose first argument satisfies `cond`), dump. */
async function gdbStop(
  dir: string,
  exe: string,
  catchSyscall: string,
  cond = "",
): Promise<GdbStop> {
  const py = `${dir}/dump.py`, out = `${dir}/stop.json`;
  Deno.writeTextFileSync(py, DUMP_PY);
  const r = await new Deno.Command("gdb", {
    args: [
      "-q",
      "-nx",
      "-batch",
      "-ex",
      "set startup-with-shell off",
      "-ex",
      "set backtrace past-main on",
      "-ex",
      "set backtrace past-entry on",
      "-ex",
      `catch syscall ${catchSyscall}`,
      ...(cond ? ["-ex", `condition 1 ${cond}`] : []),
      "-ex",
      "run",
      "-x",
      py,
      exe,
    ],
    env: { HS_GDB_OUT: out },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  let raw: string;
  try {
    raw = Deno.readTextFileSync(out);
  } catch {
    throw new Error(`gdb did not stop ${exe} at ${catchSyscall}:\n${text}`);
  }
  const j = JSON.parse(raw);
  const hex = j.stack.hex as string;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return {
    registers: j.registers,
    frames: j.frames,
    maps: j.maps,
    stack: { start: j.stack.start, bytes },
  };
}

/** Our unwind of the stopped thread gdb dumped, with the CFI of every mapped ELF file. */
function ourUnwind(stop: GdbStop): Frame[] {
  const groups = new Map<string, { start: number; end: number; offset: number; perms: string }[]>();
  for (const line of stop.maps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const list = groups.get(m[5]!) ?? [];
    list.push({
      start: parseInt(m[1]!, 16),
      end: parseInt(m[2]!, 16),
      perms: m[3]!,
      offset: parseInt(m[4]!, 16),
    });
    groups.set(m[5]!, list);
  }
  const images = [];
  for (const [path, maps] of groups) {
    let file: Uint8Array;
    try {
      file = Deno.readFileSync(path);
    } catch {
      continue;
    }
    if (file[0] !== 0x7f || file[1] !== 0x45) continue;
    const read = (o: number, n: number) => file.subarray(o, o + n);
    const first = maps.find((m) => m.offset === 0)!;
    const bias = loadBias(new ElfFile(read).loads, first.start, 0, 4096);
    if (bias === undefined) continue;
    const text = maps.filter((m) => m.perms[2] === "x").map(({ start, end }) => ({ start, end }));
    images.push(unwindImage(path, read, bias, text));
  }
  const { start, bytes } = stop.stack;
  const view = new DataView(bytes.buffer);
  const readWord = (a: number) =>
    a >= start && a + 8 <= start + bytes.length
      ? view.getUint32(a - start, true) + view.getUint32(a - start + 4, true) * TWO32
      : undefined;
  const named = Object.entries(stop.registers).map(([name, value]) => ({ name, value }));
  return unwindStack({
    arch: "x86_64",
    pc: stop.registers["rip"]!,
    sp: stop.registers["rsp"]!,
    registers: dwarfRegisters("x86_64", named),
    readWord,
    images: new CodeMap(images),
    stack: { start, end: start + bytes.length },
  });
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Our frames agree with gdb's: same pcs and sps, frame by frame, over all of gdb's frames. */
function assertSameFrames(ours: Frame[], gdb: GdbFrame[], what: string): void {
  const show = () =>
    `${what}\ngdb:  ${gdb.map((f) => `${hex(f.pc)}/${hex(f.sp)} ${f.name}`).join("\n      ")}` +
    `\nours: ${ours.map((f) => `${hex(f.pc)}/${hex(f.sp)} ${f.method}`).join("\n      ")}`;
  assertEquals(ours.map((f) => f.pc), gdb.map((f) => f.pc), show());
  assertEquals(ours.map((f) => f.sp), gdb.map((f) => f.sp), show());
  // Each frame owns [sp, cfa), and the next frame starts at this frame's CFA.
  for (let i = 0; i + 1 < ours.length; i++) {
    assertEquals(ours[i]!.cfa, ours[i + 1]!.sp, show());
    assertEquals(ours[i]!.slots, { start: ours[i]!.sp, end: ours[i + 1]!.sp }, show());
  }
}

const READ_C = `
#include <unistd.h>
__attribute__((noinline)) int level2(char *b) { return (int)read(0, b, 1); }
__attribute__((noinline)) int level1(char *b) { int r = level2(b); return r + 1; }
int main(void) { char b[4]; return level1(b) - 1; }
`;

const REALLOC_C = `
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
static void *worker(void *arg) {
  (void)arg;
  char *p = malloc(200 << 10);
  memset(p, 1, 200 << 10);
  for (int i = 0; i < 100; i++) {
    p = realloc(p, (size_t)(200 + (i % 2) * 600) << 10);
    if (!p) abort();
    p[0] = 2;
  }
  free(p);
  return 0;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  pthread_join(t, 0);
  return 0;
}
`;

// std::flush of std::cout goes through libstdc++.so (std::ostream::flush) down to libc's write.
const WRITER_CC = `
#include <iostream>
#include <vector>
struct Writer {
  std::vector<int> v{1, 2, 3};
  __attribute__((noinline)) void inner(int n) { std::cout << n << std::flush; v.push_back(n); }
  __attribute__((noinline)) void outer(int n) { for (int i = 0; i < 2; i++) inner(n + i); }
};
int main() { Writer w; w.outer(1); return (int)w.v.size() - 5; }
`;

Deno.test("unwindStack() matches gdb for a C program stopped inside read (main → level1 → level2 → read)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hs_unwind_" });
  try {
    const exe = await compile(dir, "reader", READ_C, "gcc", ["-O1"]);
    const stop = await gdbStop(dir, exe, "read", "$rdi == 0");
    const names = stop.frames.map((f) => f.name);
    assert(
      names.includes("level2") && names.includes("level1") && names.includes("main"),
      names.join(" "),
    );
    const ours = ourUnwind(stop);
    assertSameFrames(ours, stop.frames, "read");
    assert(ours.every((f, i) => i === 0 || f.method === "cfi"), "every step used CFI");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unwindStack() matches gdb for a thread stopped in mremap inside realloc", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hs_unwind_" });
  try {
    const exe = await compile(dir, "realloc", REALLOC_C, "gcc", ["-O2"]);
    const stop = await gdbStop(dir, exe, "mremap");
    const names = stop.frames.map((f) => f.name);
    // The PC is in __mremap, outside every malloc function: only the caller says "realloc".
    assert(/mremap/.test(names[0]!), names.join(" "));
    assert(/realloc/.test(names[1]!), names.join(" "));
    // (gdb also shows mremap_chunk, inlined into realloc: one physical frame, not compared.)
    assert(names.includes("worker") && names.includes("start_thread"), names.join(" "));
    assertSameFrames(ourUnwind(stop), stop.frames, "mremap");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unwindStack() matches gdb through libstdc++ for a C++ method called from a C++ method", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hs_unwind_" });
  try {
    const exe = await compile(dir, "writer", WRITER_CC, "g++", ["-O1", "-std=c++17"]);
    const stop = await gdbStop(dir, exe, "write", "$rdi == 1");
    const names = stop.frames.map((f) => f.name);
    assert(names.some((n) => /Writer::inner/.test(n)), names.join(" "));
    assert(names.some((n) => /Writer::outer/.test(n)), names.join(" "));
    assert(names.some((n) => /std::ostream::flush|basic_ostream.*flush/.test(n)), names.join(" "));
    assertSameFrames(ourUnwind(stop), stop.frames, "C++");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unwindStack() falls back to frame pointers for code without CFI, as gdb finds it", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hs_unwind_" });
  try {
    const exe = await compile(dir, "nocfi", READ_C, "gcc", [
      "-O0",
      "-fno-asynchronous-unwind-tables",
      "-fno-unwind-tables",
      "-fno-omit-frame-pointer",
    ]);
    const stop = await gdbStop(dir, exe, "read", "$rdi == 0");
    const ours = ourUnwind(stop);
    assertSameFrames(ours, stop.frames, "frame pointers");
    // level1 and main are reached through the frame-pointer chain (their code has no FDE).
    assert(ours.some((f) => f.method === "frame-pointer"), ours.map((f) => f.method).join(" "));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unwindStack() scans for a return address when there is neither CFI nor a frame pointer", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hs_unwind_" });
  try {
    const exe = await compile(dir, "scan", READ_C, "gcc", [
      "-O1",
      "-fno-asynchronous-unwind-tables",
      "-fno-unwind-tables",
      "-fomit-frame-pointer",
    ]);
    const stop = await gdbStop(dir, exe, "read", "$rdi == 0");
    const ours = ourUnwind(stop);
    // gdb finds level2's caller by its own prologue analysis; ours by the scan: same return
    // addresses into level1 and main.
    const want = stop.frames.filter((f) => /^(level1|main)$/.test(f.name)).map((f) => f.pc);
    assertEquals(want.length, 2, stop.frames.map((f) => f.name).join(" "));
    for (const pc of want) {
      const f = ours.find((o) => o.pc === pc);
      assert(f, `return address ${hex(pc)} not found: ${ours.map((o) => hex(o.pc)).join(" ")}`);
      assertEquals(f.method, "scan");
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("DwarfCursor reads LEB128 and pc-relative pointers", () => {
  const c = new DwarfCursor(
    Uint8Array.from([0xe5, 0x8e, 0x26, 0x7f, 0x80, 0x7f, 0xfc, 0xff, 0xff, 0xff]),
    0x1000,
  );
  assertEquals(c.uleb(), 624485);
  assertEquals(c.sleb(), -1);
  assertEquals(c.sleb(), -128);
  // sdata4 | pcrel: −4 relative to the field's own address 0x1006.
  assertEquals(c.pointer(0x1b), 0x1006 - 4);
});

Deno.test("evaluateExpression() computes glibc's PLT CFA rule: rsp + 8 + 8·((rip & 15) ≥ 11)", () => {
  // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3;
  // DW_OP_shl; DW_OP_plus — as readelf prints the .plt FDE of every PIE on this machine.
  const expr = Uint8Array.from([0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22]);
  const at = (rip: number) =>
    evaluateExpression(expr, {
      register: (n) => n === 7 ? 0x7ffc0000 : n === 16 ? rip : undefined,
      read: () => undefined,
    });
  assertEquals(at(0x401020), 0x7ffc0008);
  assertEquals(at(0x40102b), 0x7ffc0010);
});
