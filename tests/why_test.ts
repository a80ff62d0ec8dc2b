// End-to-end tests of "why is it alive, what is it, who holds the most" on real programs: the C
// victim (globals, a blocked thread's frame, TLS, a register), the C++ sessions program on the real
// libstdc++ (types from vtables and container layouts, the registry global, `heapscope why`), the
// same binary stripped, and a Rust program (statics and frames through demangled symbols).

import assert from "node:assert/strict";
import type { LeaksFile, LeaksNode } from "../report/schema.ts";
import { startVictim, VICTIM } from "./expect.ts";
import { ROOT, spawnProcess, type TestProcess } from "./truth.ts";

const HEAPSCOPE = `${ROOT}/heapscope`;
const PROGRAMS = `${ROOT}/bench/real_programs`;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  return { code: r.code, out };
}

/** Build once per test run, into a temporary folder. */
const built = new Map<string, Promise<string>>();
function build(name: string, command: (out: string) => [string, string[]]): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const dir = await Deno.makeTempDir({ prefix: "heapscope-why-" });
      const out = `${dir}/${name}`;
      const [cmd, args] = command(out);
      const r = await run(cmd, args);
      assert.equal(r.code, 0, `building ${name}: ${r.out}`);
      return out;
    })();
    built.set(name, p);
  }
  return p;
}

const sessions = () =>
  build(
    "sessions",
    (o) => ["g++", ["-std=c++17", "-g", "-O1", "-o", o, `${PROGRAMS}/sessions.cpp`]],
  );
const rustGraph = () =>
  build("graph", (o) => ["rustc", ["-g", "-C", "opt-level=1", "-o", o, `${PROGRAMS}/graph.rs`]]);

/** Start `cmd`, wait for its READY line, analyse it with heapscope, return leaks.json. */
async function capture(
  cmd: string[],
  extra: string[] = [],
): Promise<{ proc: TestProcess; leaks: LeaksFile; json: string; summary: string }> {
  const proc = spawnProcess(cmd);
  await proc.waitForLine((l) => l.startsWith("READY"), 30_000);
  const json = `${await Deno.makeTempDir({ prefix: "heapscope-why-" })}/leaks.json`;
  const r = await run(HEAPSCOPE, [String(proc.pid), "-o", json, "--no-color", ...extra]);
  assert.ok(r.code === 0 || r.code === 1, r.out);
  return { proc, leaks: JSON.parse(await Deno.readTextFile(json)), json, summary: r.out };
}

const typeOf = (f: LeaksFile, n: LeaksNode) =>
  n.type === undefined ? undefined : f.types![n.type]!.name;
const byAddress = (f: LeaksFile, a: number) => f.nodes.find((n) => parseInt(n.address, 16) === a);
const rootOf = (f: LeaksFile, n: LeaksNode) => f.roots.find((r) => r.target === n.id);

Deno.test("roots name the global, the blocked thread's frame, the register and the TLS of the C victim", async () => {
  const { proc, expect } = await startVictim();
  try {
    const json = `${await Deno.makeTempDir({ prefix: "heapscope-why-" })}/leaks.json`;
    const r = await run(HEAPSCOPE, [String(proc.pid), "-o", json, "--quiet"]);
    assert.equal(r.code, 1, r.out);
    const f: LeaksFile = JSON.parse(await Deno.readTextFile(json));
    const seen = new Set<string>();
    for (const e of expect.reachable) {
      const n = byAddress(f, e.address);
      assert.ok(n, e.label);
      const root = rootOf(f, n);
      if (e.via === "heap") continue;
      assert.ok(root?.name, `${e.label} (${e.via}) has a named root`);
      seen.add(e.via);
      if (e.via === "data") {
        assert.match(root.name, new RegExp(`^g_\\w+(\\+0x[0-9a-f]+)? in ${VICTIM}$`), e.label);
      }
      // The victim is built with -g: the frame's line too.
      if (e.via === "stack") {
        assert.match(root.name, /^\w+ frame in thread \d+ \(leaky\.c:\d+\)$/, e.label);
      }
      if (e.via === "register") assert.match(root.name, /^r12 of thread \d+$/, e.label);
      if (e.via === "tls") {
        // The victim's two __thread variables, by name (the executable's PT_TLS and symbols).
        const v = e.label.startsWith("main thread") ? "t_main_tls" : "t_tls_block";
        assert.match(
          root.name,
          new RegExp(`^${v} in ${VICTIM} \\(TLS of thread \\d+, tp-0x[0-9a-f]+\\)$`),
          e.label,
        );
      }
    }
    assert.deepEqual([...seen].sort(), ["data", "register", "stack", "tls"]);
    // A C program: no block is named as a libstdc++ container part (stdio's buffer pointers
    // {write_base, write_ptr, write_end} have a std::vector's shape).
    const std = (f.types ?? []).filter((t) => t.name.startsWith("std::")).map((t) => t.name);
    assert.deepEqual(std, []);
    // The frame is the function that holds the block in its local: the victim's blocked pthread.
    const stackBlock = expect.reachable.find((e) => e.via === "stack")!;
    const name = rootOf(f, byAddress(f, stackBlock.address)!)!.name!;
    const v = await run("gdb", ["-batch", "-p", String(proc.pid), "-ex", "thread apply all bt"]);
    const fn = name.split(" ")[0]!;
    assert.ok(v.out.includes(` ${fn} (`), `gdb's backtraces name ${fn}:\n${v.out}`);
    // ... and its line is one gdb's backtrace of that thread shows for the function.
    const line = /\((leaky\.c:\d+)\)$/.exec(name)![1]!;
    assert.ok(
      new RegExp(` ${fn} \\(.*\\) at \\S*${line.replace(".", "\\.")}\\b`).test(v.out),
      `gdb puts ${fn} at ${line}:\n${v.out}`,
    );
  } finally {
    await proc.stop();
  }
});

Deno.test("the C++ program's blocks are typed, g_registry holds the map, and why names the path", async () => {
  const prog = await sessions();
  const { proc, leaks: f, json, summary } = await capture([prog]);
  try {
    const leakedTypes = new Set(
      f.nodes.filter((n) => n.status !== "reachable" && n.leak === "direct").map((n) =>
        typeOf(f, n)
      ),
    );
    // The 15 leaked trees by their Session control blocks, the map object, the handler.
    assert.equal(
      f.nodes.filter((n) =>
        n.leak === "direct" && /^std::_Sp_counted_ptr_inplace<Session,/.test(typeOf(f, n) ?? "")
      ).length,
      15,
    );
    assert.ok(leakedTypes.has("std::map/std::set"), [...leakedTypes].join(" | "));
    assert.ok(
      f.nodes.some((n) => n.status !== "reachable" && typeOf(f, n) === "EchoHandler"),
      "the leaked handler is named by its vtable",
    );
    for (
      const part of [
        "std::string (heap body)",
        "std::vector (storage)",
        "std::_Rb_tree_node (map/set node)",
        "std::unordered_map/set (buckets)",
        "std::unordered_map/set (node)",
      ]
    ) {
      assert.ok(f.types!.some((t) => t.name === part && t.count > 0), part);
    }
    // g_registry holds nearly everything reachable; retained sizes add up to what is reachable.
    const top = f.retainers![0]!;
    assert.match(top.name, /^g_registry.* in /);
    assert.match(summary, /top retainers[^\n]*\n\s+g_registry\S* in \S+ holds /);
    const reachable = f.nodes.filter((n) => n.status === "reachable" || n.status === "possible");
    const total = reachable.reduce((s, n) => s + n.size, 0);
    const heldByHolders = f.retainers!.filter((r) => r.holder !== undefined);
    const shared = reachable.filter((n) => n.idom === -1 && n.heldBy === undefined);
    assert.equal(
      heldByHolders.reduce((s, r) => s + r.bytes, 0) + shared.reduce((s, n) => s + n.retained!, 0),
      total,
      "holders and shared top-level blocks retain every reachable byte exactly once",
    );
    for (const n of reachable) {
      if (n.idom !== undefined && n.idom >= 0) {
        assert.ok(f.nodes[n.idom]!.retained! >= n.retained!, "a dominator retains its subtree");
      }
    }
    // why of a map node: the path starts at g_registry.
    const node = f.nodes.find((n) =>
      typeOf(f, n) === "std::_Rb_tree_node (map/set node)" && n.status === "reachable"
    )!;
    const why = await run(HEAPSCOPE, ["why", json, node.address, "--anchors", "--owners", "1"]);
    assert.equal(why.code, 0, why.out);
    assert.match(why.out, /shortest path from a root:\n\s+g_registry\S* in /);
    assert.match(why.out, /anchors of 0x[0-9a-f]+ \(roots that reach it\):\n\s+g_registry/);
    // why of a leaked tree, asked of the live process: unreachable, with what holds it inside.
    const leakedSession = f.nodes.find((n) =>
      n.leak === "direct" && /Session/.test(typeOf(f, n) ?? "")
    )!;
    const live = await run(HEAPSCOPE, [
      "why",
      String(proc.pid),
      leakedSession.address,
      "--hexdump",
    ]);
    assert.equal(live.code, 0, live.out);
    assert.match(live.out, /unreachable from every root/);
    assert.match(live.out, /\*\+0x0 → \{vtable\(std::_Sp_counted_ptr_inplace<Session/);
    // A snapshot of the (idle) process answers the same, word for word, without the process.
    const snap = `${await Deno.makeTempDir({ prefix: "heapscope-why-" })}/sessions.hsnap`;
    const save = await run(HEAPSCOPE, [String(proc.pid), "--save", snap]);
    assert.equal(save.code, 0, save.out);
    const saved = await run(HEAPSCOPE, ["why", snap, leakedSession.address, "--hexdump"]);
    assert.equal(saved.code, 0, saved.out);
    assert.equal(saved.out, live.out);
    const savedPath = await run(HEAPSCOPE, ["why", snap, node.address]);
    assert.match(savedPath.out, /shortest path from a root:\n\s+g_registry\S* in /);
    // --find over type names.
    const found = await run(HEAPSCOPE, ["why", json, "--find", "EchoHandler|std::map"]);
    assert.match(found.out, /EchoHandler, \d+ B \(leaked\)/);
    assert.match(found.out, /std::map\/std::set, \d+ B \(cycle\)/);
  } finally {
    await proc.stop();
  }
});

Deno.test("a stripped C++ binary still has its types (from type_info names); roots fall back to image+offset", async () => {
  const prog = await sessions();
  const stripped = `${prog}-stripped`;
  const s = await run("strip", ["-o", stripped, prog]);
  assert.equal(s.code, 0, s.out);
  const { proc, leaks: f } = await capture([stripped]);
  try {
    assert.ok(f.nodes.some((n) => typeOf(f, n) === "EchoHandler"), "EchoHandler named");
    assert.ok(f.types!.some((t) => /^std::_Sp_counted_ptr_inplace<Session,/.test(t.name)));
    const names = f.roots.filter((r) => r.kind === "data" && r.image === stripped).map((r) =>
      r.name!
    );
    assert.ok(names.length > 0);
    for (const n of names) assert.match(n, new RegExp(`^${stripped}\\+0x[0-9a-f]+$`));
  } finally {
    await proc.stop();
  }
});

Deno.test("a Rust program's static and frames are named through demangled symbols", async () => {
  const prog = await rustGraph();
  const { proc, leaks: f } = await capture([prog]);
  try {
    const names = f.roots.map((r) => r.name ?? "");
    assert.ok(names.some((n) => /^graph::REGISTRY(\+0x[0-9a-f]+)? in /.test(n)), names.join("\n"));
    assert.ok(
      names.some((n) => /^graph::main frame in thread \d+ \(graph\.rs:\d+\)$/.test(n)),
      names.join("\n"),
    );
    assert.ok(!names.some((n) => /_ZN|_R[A-Z]|\$LT\$/.test(n)), "every name demangled");
  } finally {
    await proc.stop();
  }
});
