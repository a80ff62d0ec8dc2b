// End-to-end tests of the allocation recorder itself (shim/recorder_linux.c): the programs of
// tests/recorder/, python3 and a C++ program run with LD_PRELOAD as `heapscope run` starts them,
// and their memory is read back through heapscope's capture and the recorder's table. Covers the
// fill of recycled memory, records dropped when the table cannot grow (fault-injection build), a
// failed start-up, the snapshot signal, unchanged program behaviour, and the table code under
// ASan/UBSan (build/test/recorder_harness) and the whole recorder under UBSan.
//
// Set-up: `make recorder-test` (run here) needs gcc, g++ and libubsan (Debian: gcc, g++); python3
// must be on PATH; the capture needs ptrace rights over children (root, or ptrace_scope 0).

import assert from "node:assert/strict";
import { captureSnapshot } from "../ffi/capture.ts";
import {
  readRecorderDump,
  readRecorderTable,
  RecorderTableError,
  type RecorderTableInfo,
  recorderWarnings,
} from "../ffi/recorder_table.ts";
import { MemoryImage } from "../analysis/memory.ts";
import type { Snapshot } from "../analysis/types.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RECORDER = `${ROOT}build/librecorder.so`;
const FAULT = `${ROOT}build/test/librecorder_fault.so`;
const UBSAN = `${ROOT}build/test/librecorder_ubsan.so`;
const PROGS = `${ROOT}build/test/recorder`;
/** Longest a program may take to print its next line. The slowest step (the stale program's
 * 10^4 blocks under UBSan, with a capture) takes ~2 s on the 2-core CI VM; past this the recorder
 * has hung, which is what these tests must report rather than wait for. */
const DEADLINE_MS = 60_000;
/** The fill byte (HS_FILL_BYTE). */
const FILL = 0xbe;
/** The real-time signal the tests use for snapshots: SIGRTMIN+6 with glibc (SIGRTMIN is 34). */
const SNAPSHOT_SIGNAL = 40;
const TWO32 = 4294967296;

let built: Promise<void> | undefined;
/** `make recorder-test`, once per run. */
function build(): Promise<void> {
  built ??= (async () => {
    const make = await new Deno.Command("make", { args: ["-s", "-C", ROOT, "recorder-test"] })
      .output();
    assert.ok(make.success, `make recorder-test failed:\n${new TextDecoder().decode(make.stderr)}`);
  })();
  return built;
}

/** Resolves `p`, or throws `what` after DEADLINE_MS (after running `onTimeout`). */
async function deadline<T>(p: Promise<T>, what: string, onTimeout = () => {}): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} within ${DEADLINE_MS / 1000} s: the recorder may hang`));
    }, DEADLINE_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A program started as `heapscope run` starts one, read line by line. */
class Program {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly stderr: Promise<string>;
  #lines: string[] = [];
  #partial = "";
  #reader: ReadableStreamDefaultReader<string>;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(argv: string[], env: Record<string, string>) {
    this.name = argv.join(" ");
    this.child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reader = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdin = this.child.stdin.getWriter();
    this.stderr = new Response(this.child.stderr).text();
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The next line of output (skipping lines until one starts with `prefix`, when given). */
  line(prefix = ""): Promise<string> {
    return deadline(
      (async () => {
        for (;;) {
          while (this.#lines.length > 0) {
            const l = this.#lines.shift()!;
            if (l.startsWith(prefix)) return l;
          }
          const { value, done } = await this.#reader.read();
          if (done) throw new Error(`${this.name} ended before printing "${prefix}…"`);
          const parts = (this.#partial + value).split("\n");
          this.#partial = parts.pop()!;
          this.#lines.push(...parts);
        }
      })(),
      `${this.name} did not print "${prefix}…"`,
      () => this.kill(),
    );
  }

  /** Every line up to and including the first that starts with `prefix`. */
  async linesUntil(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const l = await this.line();
      out.push(l);
      if (l.startsWith(prefix)) return out;
    }
  }

  send(text: string): Promise<void> {
    return this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Close stdin, read the rest; the exit code, remaining stdout and stderr. */
  async finish(): Promise<{ code: number; rest: string; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    const rest = deadline(
      (async () => {
        let text = this.#lines.map((l) => l + "\n").join("") + this.#partial;
        for (;;) {
          const { value, done } = await this.#reader.read();
          if (done) return text;
          text += value;
        }
      })(),
      `${this.name} did not finish`,
      () => this.kill(),
    );
    const status = await deadline(
      this.child.status,
      `${this.name} did not exit`,
      () => this.kill(),
    );
    return { code: status.code, rest: await rest, stderr: await this.stderr };
  }

  kill() {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
  }
}

/** The recorder's environment: LD_PRELOAD and the given variables. */
function recorded(lib: string, env: Record<string, string> = {}): Record<string, string> {
  return { LD_PRELOAD: lib, ...env };
}

async function snapshotOf(pid: number): Promise<{ snap: Snapshot; table: RecorderTableInfo }> {
  const snap = await captureSnapshot(pid);
  const table = readRecorderTable(snap);
  assert.ok(table, `process ${pid} has a recorder table`);
  return { snap, table };
}

// ---- fill ----

interface NewBlock {
  address: number;
  requested: number;
  written: number;
  /** Bytes from `written` on: fill, zero (calloc), or fill up to `fillEnd` then zero. */
  expect: "fill" | "zero";
  fillEnd?: number;
  kind: string;
}

/** NEW and OLD lines of tests/recorder/stale.c. */
function parseStale(lines: string[]): { fresh: NewBlock[]; old: [number, number][] } {
  const fresh: NewBlock[] = [];
  const old: [number, number][] = [];
  for (const l of lines) {
    const f = l.split(" ");
    if (f[0] === "NEW") {
      fresh.push({
        address: Number(f[1]),
        requested: Number(f[2]),
        written: Number(f[3]),
        expect: f[4] === "zero" ? "zero" : "fill",
        fillEnd: f[4]!.startsWith("fill:") ? Number(f[4]!.slice(5)) : undefined,
        kind: f[5]!,
      });
    } else if (f[0] === "OLD") old.push([Number(f[1]), Number(f[2])]);
  }
  return { fresh, old: old.sort((a, b) => a[0] - b[0]) };
}

/** Pages of [start, start+len) that /proc/pid/pagemap shows present or swapped (a Set of page
 * indexes from the block's first page). */
async function backedPages(pid: number, start: number, len: number): Promise<Set<number>> {
  const page = 4096;
  const first = Math.floor(start / page), last = Math.floor((start + len - 1) / page);
  const file = await Deno.open(`/proc/${pid}/pagemap`);
  try {
    await file.seek(first * 8, Deno.SeekMode.Start);
    const buf = new Uint8Array((last - first + 1) * 8);
    let got = 0;
    while (got < buf.length) {
      const n = await file.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    const v = new DataView(buf.buffer);
    const backed = new Set<number>();
    for (let i = 0; i < got / 8; i++) {
      if (v.getUint32(i * 8 + 4, true) & 0xc0000000) backed.add(i); // bits 63 present, 62 swapped
    }
    return backed;
  } finally {
    file.close();
  }
}

/** Whether `w` (a word as lo/hi halves) points into one of the sorted old ranges. */
function pointsIntoOld(lo: number, hi: number, old: [number, number][]): boolean {
  const w = hi * TWO32 + lo;
  let a = 0, b = old.length - 1;
  while (a <= b) {
    const m = (a + b) >> 1;
    const [s, e] = old[m]!;
    if (w < s) b = m - 1;
    else if (w >= e) a = m + 1;
    else return true;
  }
  return false;
}

interface StaleRun {
  fresh: NewBlock[];
  old: [number, number][];
  table: RecorderTableInfo;
  mem: MemoryImage;
  /** Pages not backed before the capture, per big block address. */
  unbacked: Map<number, Set<number>>;
}

async function runStale(lib: string, env: Record<string, string> = {}): Promise<StaleRun> {
  await build();
  const p = new Program([`${PROGS}/stale`], recorded(lib, env));
  try {
    const { fresh, old } = parseStale(await p.linesUntil("READY"));
    // pagemap first: the capture's reads fault the zero page into untouched memory.
    const unbacked = new Map<number, Set<number>>();
    for (const b of fresh.filter((b) => b.kind.startsWith("big-"))) {
      const backed = await backedPages(p.pid, b.address, b.requested);
      const pages = Math.ceil((b.address + b.requested) / 4096) - Math.floor(b.address / 4096);
      const none = new Set<number>();
      for (let i = 0; i < pages; i++) if (!backed.has(i)) none.add(i);
      unbacked.set(b.address, none);
    }
    const { snap, table } = await snapshotOf(p.pid);
    const done = await p.finish();
    assert.equal(done.code, 0, `stale exited with ${done.code}: ${done.stderr}`);
    return { fresh, old, table, mem: new MemoryImage(snap.memory), unbacked };
  } finally {
    p.kill();
  }
}

/** A block's requested bytes as copied, and which were copied: the capture leaves out pages that
 * do not exist (they read as zeros). */
function blockBytes(mem: MemoryImage, address: number, len: number) {
  const bytes = new Uint8Array(len), copied = new Uint8Array(len);
  for (const { chunk, from, to } of mem.copiedParts(address, address + len)) {
    bytes.set(chunk.bytes.subarray(from - chunk.start, to - chunk.start), from - address);
    copied.fill(1, from - address, to - address);
  }
  return { bytes, copied };
}

/** Stale old pointers among the unwritten requested bytes of the new blocks. */
function stalePointers(run: StaleRun): number {
  let found = 0;
  for (const b of run.fresh) {
    const { bytes } = blockBytes(run.mem, b.address, b.requested);
    const v = new DataView(bytes.buffer);
    for (let o = Math.ceil(b.written / 8) * 8; o + 8 <= bytes.length; o += 8) {
      if (pointsIntoOld(v.getUint32(o, true), v.getUint32(o + 4, true), run.old)) found++;
    }
  }
  return found;
}

for (const [label, lib] of [["", RECORDER], [" (UBSan build)", UBSAN]] as const) {
  Deno.test(`recorder${label}: no requested byte of a new block keeps a stale word, and untouched pages stay untouched`, async () => {
    const run = await runStale(lib);
    assert.equal(run.table.fill, true);
    const byAddress = new Map(run.table.blocks.map((b) => [b.address, b]));
    const kinds = new Set<string>();
    for (const b of run.fresh) {
      kinds.add(b.kind);
      const at = `${b.kind} block at 0x${b.address.toString(16)}`;
      assert.equal(byAddress.get(b.address)?.size, b.requested, `${at}: requested size recorded`);
      const { bytes, copied } = blockBytes(run.mem, b.address, b.requested);
      const unbacked = run.unbacked.get(b.address) ?? new Set<number>();
      const firstPage = Math.floor(b.address / 4096);
      const pages = Math.ceil((b.address + b.requested) / 4096) - firstPage;
      if (b.kind === "big-mmapped" || b.kind === "big-realloc-mmapped") {
        // Skipped (but a realloc's copied tail): fresh from the kernel; only the page with glibc's
        // header was touched.
        assert.equal(unbacked.size, pages - 1, `${at}: pages untouched but the first`);
      }
      if (b.kind === "big-fresh") {
        assert.ok(unbacked.size > 0.9 * pages, `${at}: only ${unbacked.size} pages untouched`);
      }
      for (let i = b.written; i < b.requested; i++) {
        const page = Math.floor((b.address + i) / 4096) - firstPage;
        if (!copied[i]) {
          assert.ok(
            unbacked.has(page),
            `${at}: requested byte ${i} not copied, yet its page existed`,
          );
          continue;
        }
        const want = b.expect === "zero" || b.kind === "big-mmapped" || unbacked.has(page) ||
            (b.fillEnd !== undefined && i >= b.fillEnd)
          ? 0
          : FILL;
        if (bytes[i] !== want) {
          assert.fail(
            `${at}: requested byte ${i} is 0x${bytes[i]!.toString(16)}, want 0x${
              want.toString(16)
            }`,
          );
        }
      }
    }
    for (
      const k of [
        "malloc",
        "calloc",
        "memalign",
        "posix_memalign",
        "aligned_alloc",
        "realloc",
        "big-realloc-mmapped",
      ]
    ) assert.ok(kinds.has(k), `a ${k} block was checked`);
    assert.equal(stalePointers(run), 0);
    assert.deepEqual(recorderWarnings(run.table), []);
  });
}

Deno.test("recorder with HEAPSCOPE_FILL=0: the same new blocks do hold old pointers (what the fill is for)", async () => {
  const run = await runStale(RECORDER, { HEAPSCOPE_FILL: "0" });
  assert.equal(run.table.fill, false);
  const stale = stalePointers(run);
  assert.ok(stale > 100, `only ${stale} stale pointers without the fill`);
  assert.match(recorderWarnings(run.table).map((w) => w.message).join("\n"), /HEAPSCOPE_FILL=0/);
});

// ---- a table that cannot grow ----

/** The program's live block addresses, read from its g_blocks array in the copied memory. */
function programBlocks(mem: MemoryImage, at: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const p = mem.u64(at + 8 * i);
    assert.ok(p !== undefined, `g_blocks[${i}] was copied`);
    out.push(p);
  }
  return out;
}

for (
  const [label, lib, grows] of [
    ["no grows allowed", FAULT, 0],
    ["5 grows allowed", FAULT, 5],
    ["5 grows allowed, UBSan build", UBSAN, 5],
  ] as const
) {
  Deno.test(`recorder (${label}): records the table cannot hold are dropped and counted; no hang; a failed realloc counts once`, async () => {
    await build();
    const dir = await Deno.makeTempDir({ prefix: "recorder-grow-" });
    const count = 20000; // 64 stripes × 128 records without growth: most are dropped
    const p = new Program(
      [`${PROGS}/grow_fail`, String(count)],
      recorded(lib, { HEAPSCOPE_FAULT_GROWS: String(grows), HEAPSCOPE_RECORD_DIR: dir }),
    );
    try {
      const [, at] = (await p.line("BLOCKS")).split(" ");
      await p.line("READY alloc");
      let { snap, table } = await snapshotOf(p.pid);
      const mine = programBlocks(new MemoryImage(snap.memory), Number(at), count);
      const recordedAt = new Map(table.blocks.map((b) => [b.address, b]));
      const missing = mine.filter((a) => !recordedAt.has(a)).length;
      assert.ok(missing > 0, "the table was full");
      assert.equal(table.droppedCount, missing, "dropped = program blocks not in the table");
      assert.equal(table.droppedBytes, 40 * missing);
      const site = recordedAt.get(mine.find((a) => recordedAt.has(a))!)!.stack;
      assert.equal(table.stacks.get(site)?.liveCount, count - missing);
      assert.equal(table.stacks.get(site)?.totalCount, count - missing);
      assert.match(recorderWarnings(table)[0]?.message ?? "", new RegExp(`hold ${missing} alloc`));

      await p.send("\n");
      await p.line("READY free");
      ({ table } = await snapshotOf(p.pid));
      const live = new Set(table.blocks.map((b) => b.address));
      assert.equal(mine.filter((a) => live.has(a)).length, 0, "no freed block stays recorded");
      assert.equal(table.stacks.get(site)?.liveCount, 0);
      assert.equal(table.stacks.get(site)?.totalCount, count - missing);
      assert.equal(table.droppedCount, missing, "frees drop nothing");

      await p.send("\n");
      const kept = Number((await p.line("KEPT")).split(" ")[1]);
      await p.line("READY realloc");
      ({ table } = await snapshotOf(p.pid));
      const k = table.blocks.find((b) => b.address === kept);
      assert.equal(k?.size, 100, "the block of a failed realloc is live, with its size");
      const keptSite = table.stacks.get(k.stack)!;
      assert.deepEqual(
        [keptSite.liveCount, keptSite.totalCount, keptSite.totalBytes],
        [1, 1, 100],
        "counted once",
      );

      await p.send("\n");
      const sum = await p.line("SUM");
      const done = await p.finish();
      assert.equal(done.code, 0, done.stderr);
      const plain = await new Deno.Command(`${PROGS}/grow_fail`, {
        args: [String(count)],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const w = plain.stdin.getWriter();
      await w.write(new TextEncoder().encode("\n\n\n"));
      await w.close();
      const out = new TextDecoder().decode((await plain.output()).stdout);
      assert.ok(out.includes(sum), "the same result without the recorder");
      const dump = readRecorderDump(`${dir}/record.${p.pid}`);
      assert.equal(dump.droppedCount, missing, "the dump at exit carries the count");
      assert.equal(dump.fill, true);
    } finally {
      p.kill();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("recorder: a nearly empty table reads whole (the capture leaves out its pages that never existed)", async () => {
  await build();
  const p = new Program([`${PROGS}/grow_fail`], recorded(RECORDER));
  try {
    assert.equal(await p.line(), "READY idle");
    const { snap, table } = await snapshotOf(p.pid);
    const mem = new MemoryImage(snap.memory);
    for (const b of table.blocks) {
      assert.ok(mem.has(b.address, 1), "recorded blocks are heap blocks");
    }
    assert.equal(table.droppedCount, 0);
    assert.equal((await p.finish()).code, 0);
  } finally {
    p.kill();
  }
});

// ---- start-up failure ----

for (
  const [label, env] of [
    ["the stripe array", { HEAPSCOPE_FAULT_MAP: "1" }],
    ["the stack index", { HEAPSCOPE_FAULT_MAP: "3" }],
    ["a stripe table", { HEAPSCOPE_FAULT_MAP: "40" }],
    ["pthread_atfork", { HEAPSCOPE_FAULT_ATFORK: "1" }],
  ] as const
) {
  Deno.test(`recorder: start-up failing at ${label} says why, records nothing, and the program runs on`, async () => {
    await build();
    const p = new Program([`${PROGS}/grow_fail`], recorded(FAULT, env));
    try {
      assert.equal(await p.line(), "READY idle");
      const snap = await captureSnapshot(p.pid);
      assert.throws(
        () => readRecorderTable(snap),
        (e) =>
          e instanceof RecorderTableError && /could not start: .* failed \(ENOMEM/.test(e.message),
      );
      const done = await p.finish();
      assert.equal(done.code, 0);
      assert.match(
        done.stderr,
        /^heapscope recorder: cannot start in process \d+: .*ENOMEM.*\nHint: /,
      );
      assert.equal(done.stderr.split("\n").filter((l) => l.startsWith("heapscope")).length, 1);
    } finally {
      p.kill();
    }
  });
}

// ---- snapshot signal ----

/** A control socket as `heapscope run` serves it: captures on every request, then acknowledges. */
class ControlServer {
  readonly dir: string;
  readonly path: string;
  readonly requests: { what: string; table: RecorderTableInfo }[] = [];
  /** The program that connects (set right after it is spawned, before anything can arrive). */
  pid = 0;
  /** Captures that failed (the request then goes unanswered and the program carries on). */
  readonly errors: string[] = [];
  #listener: Deno.Listener;
  #waiters: (() => void)[] = [];
  #serving: Promise<void>;

  private constructor(dir: string) {
    this.dir = dir;
    this.path = `${dir}/control.sock`;
    this.#listener = Deno.listen({ transport: "unix", path: this.path });
    this.#serving = this.#serve();
  }

  static async start(): Promise<ControlServer> {
    return new ControlServer(await Deno.makeTempDir({ prefix: "recorder-control-" }));
  }

  env(): Record<string, string> {
    return { HEAPSCOPE_CONTROL: this.path, HEAPSCOPE_PARENT_PID: String(Deno.pid) };
  }

  async #serve() {
    for await (const conn of this.#listener) {
      const buf = new Uint8Array(1);
      try {
        while ((await conn.read(buf)) === 1) {
          const what = String.fromCharCode(buf[0]!);
          const { table } = await snapshotOf(this.pid).catch((e) => {
            this.errors.push(`snapshot on '${what}': ${(e as Error).message}`);
            throw e;
          });
          this.requests.push({ what, table });
          await conn.write(new Uint8Array([0x41]));
          this.#waiters.splice(0).forEach((w) => w());
        }
      } catch { /* the program went away */ }
      conn.close();
    }
  }

  /** Resolves once `n` requests have been answered. */
  count(n: number, name: string): Promise<void> {
    return deadline(
      (async () => {
        while (this.requests.length < n) await new Promise<void>((r) => this.#waiters.push(r));
      })(),
      `${name} sent no snapshot request number ${n}`,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}${this.errors.map((x) => `\n${x}`).join("")}`);
    });
  }

  async close() {
    this.#listener.close();
    await this.#serving.catch(() => {});
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** SigCgt (caught signals) of a process, as a bit mask string. */
async function caughtSignals(pid: number): Promise<bigint> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return BigInt("0x" + /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)![1]);
}

async function kill(pid: number, sig: number) {
  const k = await new Deno.Command("kill", { args: [`-${sig}`, String(pid)] }).output();
  assert.ok(k.success, new TextDecoder().decode(k.stderr));
}

Deno.test("recorder: HEAPSCOPE_SNAPSHOT_SIGNAL=40 sent from outside takes snapshots while two threads allocate", async () => {
  await build();
  const server = await ControlServer.start();
  const p = new Program(
    [`${PROGS}/snapshot_signal`],
    recorded(RECORDER, { ...server.env(), HEAPSCOPE_SNAPSHOT_SIGNAL: String(SNAPSHOT_SIGNAL) }),
  );
  server.pid = p.pid;
  try {
    await p.line("READY");
    assert.equal((await caughtSignals(p.pid)) >> BigInt(SNAPSHOT_SIGNAL - 1) & 1n, 1n);
    const rounds = 8; // each lands wherever the threads are: often inside malloc (deferred)
    for (let i = 1; i <= rounds; i++) {
      await kill(p.pid, SNAPSHOT_SIGNAL);
      await server.count(i, "snapshot_signal");
    }
    for (const { what, table } of server.requests) {
      assert.equal(what, "S");
      const kept = table.blocks.filter((b) => b.size === 77);
      assert.ok(kept.length >= 5, "keep_five's blocks are in every snapshot");
      assert.deepEqual(table.snapshotSignal, { signal: SNAPSHOT_SIGNAL, state: "installed" });
    }
    await p.send("quit\n");
    assert.equal(await p.line("DONE"), "DONE 1");
    const done = await p.finish();
    assert.equal(done.code, 0, done.stderr);
    await server.count(rounds + 1, "snapshot_signal at exit");
    assert.equal(server.requests.at(-1)!.what, "E");
    assert.deepEqual(recorderWarnings(server.requests.at(-1)!.table), []);
  } finally {
    p.kill();
    await server.close();
  }
});

Deno.test("recorder: refused or unset snapshot signals install no handler", async () => {
  await build();
  const caught = async (env: Record<string, string>) => {
    const server = await ControlServer.start();
    const p = new Program([`${PROGS}/snapshot_signal`], { ...env, ...server.env() });
    server.pid = p.pid;
    try {
      await p.line("READY");
      const mask = await caughtSignals(p.pid);
      await p.send("quit\n");
      const done = await p.finish();
      assert.equal(done.code, 0);
      assert.deepEqual(server.errors, []);
      return { mask, stderr: done.stderr, table: server.requests.at(-1)?.table };
    } finally {
      p.kill();
      await server.close();
    }
  };
  const without = await caught({});
  const unset = await caught(recorded(RECORDER));
  assert.equal(unset.mask, without.mask, "nothing installed when unset");
  assert.equal(unset.stderr, "");
  assert.ok(unset.table, "the exit snapshot was taken");
  assert.equal(unset.table.snapshotSignal, undefined);
  for (const sig of ["9", "11", "17", "33", "65", "USR1"]) {
    const r = await caught(recorded(RECORDER, { HEAPSCOPE_SNAPSHOT_SIGNAL: sig }));
    assert.equal(r.mask, without.mask, `nothing installed for ${sig}`);
    assert.match(
      r.stderr,
      new RegExp(`^heapscope recorder: HEAPSCOPE_SNAPSHOT_SIGNAL="${sig}" refused: .*\nHint: `),
    );
    assert.equal(r.table?.snapshotSignal?.state, "refused");
    assert.match(recorderWarnings(r.table!)[0]!.message, /installed no snapshot handler/);
  }
});

Deno.test("recorder: a handler the program installs later on the snapshot signal wins, and is noted", async () => {
  await build();
  const server = await ControlServer.start();
  const p = new Program(
    [`${PROGS}/snapshot_signal`],
    recorded(RECORDER, { ...server.env(), HEAPSCOPE_SNAPSHOT_SIGNAL: String(SNAPSHOT_SIGNAL) }),
  );
  server.pid = p.pid;
  try {
    await p.line("READY");
    await p.send(`own ${SNAPSHOT_SIGNAL}\n`);
    await p.line("INSTALLED");
    await kill(p.pid, SNAPSHOT_SIGNAL);
    await p.send("wait-own\n");
    assert.equal(await p.line("OWN"), `OWN ${SNAPSHOT_SIGNAL}`, "the program's handler ran");
    await p.send("quit\n");
    const done = await p.finish();
    assert.equal(done.code, 0);
    await server.count(1, "snapshot_signal at exit");
    assert.deepEqual(server.requests.map((r) => r.what), ["E"], "no snapshot on its signal");
    const table = server.requests[0]!.table;
    assert.deepEqual(table.snapshotSignal, { signal: SNAPSHOT_SIGNAL, state: "replaced" });
    assert.match(recorderWarnings(table)[0]!.message, /installed its own handler for signal 40/);
  } finally {
    p.kill();
    await server.close();
  }
});

// ---- real programs behave as without the recorder ----

const PYTHON = String.raw`
import collections, decimal, gc, hashlib, json, random, re, threading, zlib
random.seed(7)
d = {str(i): [random.random() for _ in range(i % 17)] for i in range(20000)}
s = json.dumps(d, sort_keys=True)
print(len(s), hashlib.sha256(s.encode()).hexdigest(), len(zlib.compress(s.encode())))
print(collections.Counter(w[-1] for w in re.findall(r"\d+", s)).most_common(3))
decimal.getcontext().prec = 60
print(decimal.Decimal(1) / decimal.Decimal(7))
out = [None] * 4
def work(k):
    acc = []
    for i in range(30000):
        acc.append(("x" * (i % 50)) + str(i * k))
        if i % 3 == 0:
            acc.pop(0 if i % 2 else -1)
    out[k] = sum(map(len, acc))
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(out)
class N:
    def __init__(self, p): self.p, self.kids = p, []
root = N(None)
for i in range(5000):
    n = N(root); root.kids.append(n); n.kids.append(root)
del root, n
print(gc.collect() >= 10000)
b = bytearray()
for i in range(100000):
    b += b"ab" * (i % 7)
print(len(b), sum(b[::997]))
`;

async function runOnce(argv: string[], env: Record<string, string>) {
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), env, stdout: "piped" })
    .output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: out.stderr };
}

Deno.test("recorder: python3 and a C++ program behave exactly as without it (fill on, table full, UBSan build)", async () => {
  await build();
  const programs = [["python3", "-c", PYTHON], [`${PROGS}/cxx_workload`]];
  const variants: [string, Record<string, string>][] = [
    ["recorder", recorded(RECORDER)],
    ["recorder, table full", recorded(FAULT, { HEAPSCOPE_FAULT_GROWS: "0" })],
    ["UBSan recorder", recorded(UBSAN)],
  ];
  for (const argv of programs) {
    const base = await runOnce(argv, {});
    assert.equal(base.code, 0, new TextDecoder().decode(base.stderr));
    assert.ok(base.stdout.length > 100);
    for (const [name, env] of variants) {
      const r = await runOnce(argv, env);
      const what = `${argv[0]!.split("/").at(-1)} under the ${name}`;
      assert.equal(r.code, 0, `${what}: ${new TextDecoder().decode(r.stderr)}`);
      assert.equal(r.stdout, base.stdout, what);
      assert.equal(r.stderr.length, 0, `${what} wrote to stderr`);
    }
  }
});

// ---- the table code under ASan and UBSan ----

Deno.test("recorder table code passes its model checks under ASan and UBSan", async () => {
  await build();
  const out = await new Deno.Command(`${ROOT}build/test/recorder_harness`, {
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout),
    stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stdout + stderr);
  assert.match(stdout, /ok init_failure\nok table_model \(\d+ dropped\)\nok threads/);
  assert.match(stdout, /PASS\n$/);
  assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error/);
});
