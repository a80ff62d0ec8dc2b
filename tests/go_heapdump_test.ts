// End-to-end tests of the Go heap-dump analysis on a real Go program (victim/go/heapvictim.go,
// built by `make victim` with Debian's golang-go) that writes its own heap dump on SIGUSR1: every
// record kind it contains, anchors, owners, names and Go's leaked finalizer cycle, checked against
// the addresses the program prints; and Go runtime detection on a real capture of it.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { findAnchors } from "../analysis/go/anchors.ts";
import { detectGoRuntime } from "../analysis/go/detect_go.ts";
import { buildGoGraph, type GoHeapGraph } from "../analysis/go/go_graph.ts";
import {
  classifyGoHeap,
  GO_ANCHORED,
  GO_FINALIZER,
  GO_GARBAGE,
  GO_LEAKED_CYCLE,
} from "../analysis/go/go_liveness.ts";
import { HeapDumpReader } from "../analysis/go/heapdump_reader.ts";
import { entryLabel, findObjects } from "../analysis/go/names.ts";
import { parseOidFile } from "../analysis/go/oid_file.ts";
import { ownersOf } from "../analysis/go/owners.ts";
import { parseHeapDump } from "../analysis/go/parse_heapdump.ts";
import { ProgramSymbols } from "../analysis/go/program_symbols.ts";
import { RECORD_KINDS } from "../analysis/go/types.ts";
import { NODE_FINALIZER } from "../analysis/graph.ts";
import { captureSnapshot } from "../ffi/capture.ts";
import { formatHexdump } from "../report/go/hexdump.ts";
import { formatGoSummary, goAttachAdvice } from "../report/go/go_text.ts";
import { printRecords } from "../report/go/print_records.ts";
import { openRangeFile } from "../cli/heapdump_file.ts";
import { kill, spawnDetached, until } from "./procs.ts";

const root = new URL("../", import.meta.url).pathname;
const VICTIM = `${root}build/go/heapvictim`;
const OIDS = `${root}victim/go/oid.txt`;

interface Run {
  pid: number;
  out: string;
  dump: string;
  /** Addresses the program printed: name → list. */
  made: Map<string, number[]>;
}

let run: Run | undefined;

/** Starts the victim (not our child: the capture must not race Deno's reaper), waits for READY. */
async function start(): Promise<Run> {
  if (run) return run;
  assert(
    Deno.statSync(VICTIM).isFile,
    `${VICTIM} is missing\nHint: make victim (needs: apt-get install -y golang-go)`,
  );
  const dir = Deno.makeTempDirSync({ prefix: "heapscope-go-" });
  const out = `${dir}/out.txt`, dump = `${dir}/heap.dump`;
  // stdin is /dev/null: once it has written its dump, the victim exits by itself.
  const pid = await spawnDetached(`exec ${VICTIM} ${dump} > ${out}`);
  const text = () => {
    try {
      return Deno.readTextFileSync(out);
    } catch {
      return "";
    }
  };
  await until(() => /^READY$/m.test(text()), 20_000, "the Go victim's READY line");
  const made = new Map<string, number[]>();
  for (const m of text().matchAll(/^([a-z-]+)(?: \d+)? (0x[0-9a-f]+)$/gm)) {
    made.set(m[1]!, [...made.get(m[1]!) ?? [], parseInt(m[2]!, 16)]);
  }
  run = { pid, out, dump, made };
  return run;
}

/** Asks the running victim for its dump (SIGUSR1) and waits for DUMPED. */
async function dumped(): Promise<Run> {
  const r = await start();
  if (!/^DUMPED /m.test(Deno.readTextFileSync(r.out))) {
    Deno.kill(r.pid, "SIGUSR1");
    await until(() => /^DUMPED /m.test(Deno.readTextFileSync(r.out)), 20_000, "DUMPED");
  }
  return r;
}

let cached: { g: GoHeapGraph; r: Run } | undefined;
async function graph() {
  if (cached) return cached;
  const r = await dumped();
  using file = openRangeFile(r.dump, "Go heap dump");
  const bytesOf = Deno.readFileSync(r.dump);
  const oids = parseOidFile(Deno.readTextFileSync(OIDS), OIDS);
  const dump = parseHeapDump(file, { oids });
  const g = buildGoGraph(dump, {
    symbols: ProgramSymbols.fromElf(Deno.readFileSync(VICTIM)),
    bytes: (range, max) =>
      bytesOf.subarray(range.offset, range.offset + Math.min(max, range.length)),
  });
  cached = { g, r };
  return cached;
}

const one = (r: Run, name: string) => {
  const a = r.made.get(name);
  assert(a && a.length === 1, `the victim printed no single ${name}: ${r.made.get(name)}`);
  return a[0]!;
};

Deno.test({
  name: "detectGoRuntime() recognises a real Go process from its capture, with its Go version",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await start();
    const snap = await captureSnapshot(r.pid);
    const info = detectGoRuntime(snap);
    assert(info, "no Go runtime found");
    assertEquals(info.image, VICTIM);
    assertEquals(info.version, "go1.19.8");
    const advice = goAttachAdvice(r.pid, info).join("\n");
    assert(/is a Go program \(go1\.19\.8\)/.test(advice) && /WriteHeapDump/.test(advice), advice);
  },
});

Deno.test({
  name: "the Go victim's dump parses the same from a file in windows and from bytes, every kind",
  sanitizeResources: false,
  async fn() {
    const r = await dumped();
    const bytes = Deno.readFileSync(r.dump);
    using file = openRangeFile(r.dump, "Go heap dump");
    const a = parseHeapDump(file, { window: 4096 });
    const b = parseHeapDump(bytes);
    assertEquals(a, b);
    // Go 1.19 never writes an otherroot record (runtime/heapdump.go has no caller of it).
    for (const k of RECORD_KINDS.filter((k) => k !== "otherRoot")) {
      assert(b.recordCounts[k] > 0, `no ${k} record in the victim's dump`);
    }
    assertEquals(b.params?.goVersion, "go1.19.8");
    assert(b.frames.some((f) => f.function === "main.holder"));
    assert(b.memProf.some((m) => m.frames.some((f) => f.function === "main.makeCycle")));
  },
});

Deno.test({
  name: "Go victim: the registry's objects are anchored by BssSegment (main.registry), with owners",
  sanitizeResources: false,
  async fn() {
    const { g, r } = await graph();
    const l = classifyGoHeap(g);
    const items = r.made.get("registry-item")!, sessions = r.made.get("registry-session")!;
    assertEquals(items.length, 3);
    for (const [i, a] of items.entries()) {
      const v = g.lookup(a);
      assertEquals(g.nodes.address[v], a);
      assertEquals(l.state[v], GO_ANCHORED);
      const anchors = findAnchors(g, v).anchors;
      assertEquals(anchors.map((x) => entryLabel(x.entry)), ["BssSegment (main.registry)"]);
      // registry → hmap → bucket → Session → Item
      const path = anchors[0]!.path.map((p) => g.nodes.address[p]);
      assertEquals(path.slice(-2), [sessions[i], a]);
      const owners = ownersOf(g, v, -1);
      assertEquals(g.nodes.address[owners.lines[1]!.node], sessions[i]);
      assert(
        owners.lines.some((o) =>
          o.anchor && g.roots.entries[o.node]!.name === "BssSegment (main.registry)"
        ),
      );
    }
    // --find over object-id names.
    assertEquals(
      findObjects(g, /^main\.Session$/).map((v) => g.nodes.address[v]),
      [...sessions].sort(),
    );
  },
});

Deno.test({
  name: "Go victim: an object only a goroutine's frame holds is anchored by main.holder's frame",
  sanitizeResources: false,
  async fn() {
    const { g, r } = await graph();
    const v = g.lookup(one(r, "stack-only"));
    const anchors = findAnchors(g, v).anchors;
    assert(anchors.length > 0);
    for (const a of anchors) {
      assert(/^main\.holder frame \(goroutine \d+\)$/.test(entryLabel(a.entry)));
    }
    assertEquals(anchors[0]!.path, [v]);
    assertEquals(classifyGoHeap(g).state[v], GO_ANCHORED);
  },
});

Deno.test({
  name:
    "Go victim: the cycle through an object with a finalizer is Go's leaked cycle; garbage is not",
  sanitizeResources: false,
  async fn() {
    const { g, r } = await graph();
    const l = classifyGoHeap(g);
    const a = g.lookup(one(r, "cycle-a")), b = g.lookup(one(r, "cycle-b"));
    assertEquals(l.state[a], GO_LEAKED_CYCLE);
    assertEquals(l.state[b], GO_LEAKED_CYCLE);
    assert(g.nodes.flags[a]! & NODE_FINALIZER);
    assertEquals(l.cycles.map((c) => [...c].sort((x, y) => x - y)), [[a, b].sort((x, y) => x - y)]);
    assertEquals(l.state[g.lookup(one(r, "garbage"))], GO_GARBAGE);
    assertEquals(l.state[g.lookup(one(r, "queued-finalizer"))], GO_FINALIZER);
    const summary = formatGoSummary(g, l).join("\n");
    assert(/✗ Go leaked cycle: 2 objects, 128 B, kept by a finalizer/.test(summary), summary);
    // What keeps b: the finalizer of a (it marks what a points to).
    const anchors = findAnchors(g, b).anchors;
    assertEquals(anchors.map((x) => x.entry.name), [
      `finalizer of 0x${one(r, "cycle-a").toString(16)}`,
    ]);
  },
});

Deno.test({
  name: "Go victim: --print lists records like heapspurs, --hexdump marks the pointers",
  sanitizeResources: false,
  async fn() {
    const { g, r } = await graph();
    using file = openRangeFile(r.dump, "Go heap dump");
    const oids = parseOidFile(Deno.readTextFileSync(OIDS), OIDS);
    const symbols = g.symbols!;
    const lines = [...printRecords(new HeapDumpReader(file), { oids, symbols })];
    assertEquals(
      lines[0]!.startsWith("DumpParams: BigEndian=false, PointerSize=8, Heap=0xc"),
      true,
    );
    assertEquals(lines.at(-1), "End Of File");
    for (const a of r.made.get("registry-item")!) {
      assert(lines.includes(`main.Item @ 0x${a.toString(16)} with 2 pointers in 48 bytes`));
    }
    assert(lines.some((l) => /^ {2}Pointer\[\d+\]@0x[0-9a-f]+ \(main\.registry\) = 0xc/.test(l)));
    assert(
      lines.some((l) => /^StackFrame\[\d+\] @ 0x[0-9a-f]+: main\.holder with 1 pointers/.test(l)),
    );
    // --find keeps only matching objects (and the end).
    const found = [...printRecords(new HeapDumpReader(file), { oids, find: /Session/ })];
    assertEquals(found.filter((l) => l.startsWith("main.Session @")).length, 3);
    assertEquals(found.at(-1), "End Of File");
    // Hexdump of an item: its object id in the first word, pointers marked at +8 (Name) and +0x18.
    const v = g.lookup(r.made.get("registry-item")![0]!);
    const o = g.objectOf[v]!, objs = g.dump.objects;
    const ptrs = [];
    for (let k = objs.fieldStart[o]!; k < objs.fieldStart[o + 1]!; k++) {
      ptrs.push({ offset: objs.fieldOffset[k]!, value: objs.fieldValue[k]! });
    }
    const hex = formatHexdump(g.bytes!(v, 4096)!, ptrs);
    assert(hex[0]!.startsWith("00000000  01 00 00 00 4e e1 ff ca *"), hex[0]);
    assertEquals(ptrs.map((p) => p.offset), [8, 24]);
  },
});

/** `heapdump argv…` through the command's own function in a fresh Deno (cli/mod.ts wires it). */
async function heapdumpCommand(args: string[]) {
  const code = `import { heapdump } from "./cli/heapdump.ts";
import { HeapscopeError } from "./analysis/errors.ts";
try { Deno.exit(await heapdump(${JSON.stringify(args)})); }
catch (e) { if (!(e instanceof HeapscopeError)) throw e;
  console.error(e.format()); Deno.exit(e.exitStatus); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "heapdump command: summary, leaks.json and HTML of the victim; exit 1 for the leaked cycle",
  sanitizeResources: false,
  async fn() {
    const r = await dumped();
    const dir = Deno.makeTempDirSync({ prefix: "heapscope-go-cmd-" });
    try {
      const res = await heapdumpCommand([
        r.dump,
        "--program",
        VICTIM,
        "--oid",
        OIDS,
        "--output",
        `${dir}/leaks.json`,
        "--html",
        `${dir}/report.html`,
      ]);
      assertEquals(res.code, 1, res.stderr);
      assert(/✗ Go leaked cycle: 2 objects, 128 B/.test(res.stdout), res.stdout);
      const leaks = JSON.parse(Deno.readTextFileSync(`${dir}/leaks.json`));
      assertEquals(leaks.summary.cycles, 1);
      assertEquals(leaks.summary.leaked, 2);
      const byAddress = new Map(leaks.nodes.map((n: { address: string }) => [n.address, n]));
      const a = byAddress.get(`0x${one(r, "cycle-a").toString(16)}`) as Record<string, unknown>;
      assertEquals([a.status, a.leak], ["cycle", "direct"]);
      assert(!byAddress.has(`0x${one(r, "garbage").toString(16)}`), "garbage is not shown");
      // Dominators over the anchors: main.registry holds the registry's items.
      const item = byAddress.get(`0x${r.made.get("registry-item")![1]!.toString(16)}`) as Record<
        string,
        number
      >;
      assert(typeof item.retained === "number" && item.retained >= 1, JSON.stringify(item));
      const registry = leaks.retainers.find((x: { name: string }) =>
        /^BssSegment \(main\.registry\)/.test(x.name)
      );
      assert(registry && registry.blocks >= r.made.get("registry-item")!.length, res.stdout);
      assert(
        /top retainers[^\n]*\n(.*\n)*\s+BssSegment \(main\.registry\)/.test(res.stdout),
        res.stdout,
      );
      assert(Deno.readTextFileSync(`${dir}/report.html`).includes("go heap"));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "heapdump command: --address with --anchors and --owners -1, and bad input exits 2",
  sanitizeResources: false,
  async fn() {
    const r = await dumped();
    const item = `0x${r.made.get("registry-item")![1]!.toString(16)}`;
    const anchors = await heapdumpCommand([
      r.dump,
      "--program",
      VICTIM,
      "--address",
      item,
      "--anchors",
    ]);
    assertEquals(anchors.code, 0, anchors.stderr);
    assert(anchors.stdout.startsWith("BssSegment (main.registry) @ 0x"), anchors.stdout);
    const owners = await heapdumpCommand([
      r.dump,
      "--program",
      VICTIM,
      "--oid",
      OIDS,
      "--address",
      item,
      "--owners",
      "-1",
    ]);
    assertEquals(owners.code, 0, owners.stderr);
    assertEquals(owners.stdout.split("\n")[0], `main.Item @ ${item} with 2 pointers in 48 bytes`);
    assert(
      /^ {2}main\.Session @ /m.test(owners.stdout) &&
        /^ +BssSegment \(main\.registry\)$/m.test(owners.stdout),
      owners.stdout,
    );
    const none = await heapdumpCommand([r.dump, "--address", "0x10"]);
    assertEquals(none.code, 2);
    assert(/No object at 0x10 in .*\nHint: /.test(none.stderr), none.stderr);
    const notDump = await heapdumpCommand([OIDS]);
    assertEquals(notDump.code, 2);
    assert(/not a Go heap dump/.test(notDump.stderr), notDump.stderr);
  },
});

Deno.test("Go victim: stopped, its files removed", () => {
  if (!run) return;
  kill(run.pid);
  Deno.removeSync(run.dump.replace(/\/heap\.dump$/, ""), { recursive: true });
});
