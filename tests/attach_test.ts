// End to end: `./heapscope <pid>` against real processes, checked against what they say is true.
//
// The victim prints exactly what a correct analysis reports; the LD_PRELOAD interposer
// (tests/interposer/truth.c) records the live set of any program, so heapscope's enumeration is
// compared with it on the victim and on programs we did not write (python3 with threads, perl).

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { LeaksFile, LeaksNode } from "../report/schema.ts";
import { startVictim } from "./expect.ts";
import { assertRunning } from "./procs.ts";
import { dumpTruth, ROOT, spawnProcess, startWithTruth, type TestProcess } from "./truth.ts";

const HEAPSCOPE = `${ROOT}/heapscope`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  leaks?: LeaksFile;
}

async function heapscope(args: string[], opts: { user?: number } = {}): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-test-" });
  await Deno.chmod(dir, 0o777);
  const out = `${dir}/leaks.json`;
  const full = [HEAPSCOPE, ...args, "--output", out, "--no-color"];
  const cmd = opts.user === undefined
    ? full
    : ["setpriv", `--reuid=${opts.user}`, `--regid=${opts.user}`, "--clear-groups", ...full];
  // An unprivileged user cannot write root's Deno cache: give it one of its own.
  const env: Record<string, string> = opts.user === undefined ? {} : { DENO_DIR: `${dir}/deno` };
  const r = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const run: Run = {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
  try {
    run.leaks = JSON.parse(await Deno.readTextFile(out));
  } catch { /* no output written */ }
  await Deno.remove(dir, { recursive: true });
  return run;
}

const hex = (n: number) => "0x" + n.toString(16);

function byAddress(leaks: LeaksFile): Map<string, LeaksNode> {
  return new Map(leaks.nodes.map((n) => [n.address, n]));
}

Deno.test("heapscope <pid> finds exactly the victim's leaks, cycles and reachable blocks", async () => {
  const { proc, expect } = await startVictim();
  try {
    const run = await heapscope([String(proc.pid)]);
    assertEquals(run.code, 1, run.stderr + run.stdout);
    await assertRunning(proc.pid);
    const leaks = run.leaks!;
    const nodes = byAddress(leaks);
    for (const r of expect.reachable) {
      const n = nodes.get(hex(r.address));
      assert(n, `reachable ${r.label} at ${hex(r.address)} was not enumerated`);
      assertEquals(n.status, "reachable", `${r.label} (via ${r.via})`);
      assert(n.size >= r.size, `${r.label}: usable ${n.size} < requested ${r.size}`);
    }
    for (const l of expect.leaked) {
      const n = nodes.get(hex(l.address));
      assert(n, `leaked ${l.label} at ${hex(l.address)} was not enumerated`);
      assert(n.status !== "reachable", `${l.label} should be leaked`);
      assertEquals(n.leak, l.leak, `${l.label}: leak kind`);
      assertEquals(
        n.zone === "main-arena" ? "main-arena" : n.zone === "mmap" ? "mmap" : "thread-arena",
        l.zone,
        `${l.label}: zone ${n.zone}`,
      );
    }
    // No false leaks: the leaked set is exactly the expected one.
    const leakedSet = leaks.nodes.filter((n) => n.status !== "reachable").map((n) => n.address)
      .sort();
    assertEquals(leakedSet, expect.leaked.map((l) => hex(l.address)).sort());
    const cycles = leaks.cycles.map((c) =>
      c.map((id) => leaks.nodes.find((n) => n.id === id)!.address).sort()
    ).sort();
    assertEquals(cycles, expect.cycles.map((c) => c.map(hex).sort()).sort());
    for (const f of expect.freed) {
      assert(!nodes.has(hex(f.address)), `freed ${f.label} (${f.bin}) reported as an allocation`);
    }
    assertEquals(leaks.summary.leaked, expect.leaked.length);
    assertEquals(leaks.summary.cycles, expect.cycles.length);
    assert(/✗ \d+ allocation\(s\) unreachable from any root/.test(run.stdout), run.stdout);
    assert(leaks.pauseMs > 0 && leaks.pauseMs < 5000, `pause ${leaks.pauseMs} ms`);
    // The capture's steps come first among the phases (before the stop, then the pause's two
    // parts), then the analysis's.
    const phases = leaks.phases ?? {};
    assertEquals(Object.keys(phases).slice(0, 5), [
      "prepare",
      "buffers",
      "stop",
      "copy",
      "enumerate",
    ]);
    for (const [k, ms] of Object.entries(phases)) {
      assert(ms >= 0 && ms < 60_000, `phase ${k}: ${ms} ms`);
    }
    assert(phases.prepare! > 0, `prepare ${phases.prepare} ms`);
    // The pause is the stop and the copy (leaks.json rounds each to the microsecond).
    assert(Math.abs(phases.stop! + phases.copy! - leaks.pauseMs) < 0.01, JSON.stringify(phases));
    // The steal time around the pause: /proc/stat's ticks, 10 ms each.
    const steal = leaks.pauseStealMs;
    assert(steal !== undefined && steal >= 0 && steal % 10 === 0, `pauseStealMs ${steal}`);
  } finally {
    await proc.stop();
  }
});

/** heapscope's allocation list against the interposer's live set for the same stopped moment. */
async function compareWithTruth(proc: TestProcess): Promise<{ count: number }> {
  // The truth is dumped just before and just after heapscope's capture; only when both agree was the
  // heap quiet across the capture (an interpreter may allocate when a signal wakes it), and then the
  // comparison is exact. Otherwise try again.
  for (let attempt = 1;; attempt++) {
    const before = await dumpTruth(proc.pid);
    const run = await heapscope([String(proc.pid), "--quiet"]);
    assert(run.code === 0 || run.code === 1, run.stderr);
    await assertRunning(proc.pid);
    const after = await dumpTruth(proc.pid);
    const same = before.size === after.size &&
      [...before].every(([a, size]) => after.get(a) === size);
    if (!same && attempt < 5) continue;
    assert(same, "the heap never stayed quiet across a capture in 5 attempts");
    const nodes = byAddress(run.leaks!);
    const missing = [...after.keys()].filter((a) => !nodes.has(hex(a)));
    const extra = [...nodes.keys()].filter((a) => !after.has(parseInt(a, 16)));
    assertEquals({ missing: missing.map(hex), extra }, { missing: [], extra: [] });
    for (const [addr, size] of after) {
      assert(nodes.get(hex(addr))!.size >= size, `usable size of ${hex(addr)} < requested ${size}`);
    }
    return { count: after.size };
  }
}

Deno.test("the live set equals the LD_PRELOAD interposer's on the victim", async () => {
  const { proc } = await startVictim({ truth: true });
  try {
    const { count } = await compareWithTruth(proc);
    assert(count > 20, `only ${count} live blocks`);
  } finally {
    await proc.stop();
  }
});

const PYTHON = `
import threading, sys, time, json
keep = []
def work(n):
    local = [dict(i=i, s="x" * (i % 50)) for i in range(2000)]
    keep.append(local[::7])
    # Above pymalloc's 512-byte limit: 300 glibc blocks per thread, in the threads' arenas, so
    # the count does not depend on how much the interpreter allocates at start on this machine.
    keep.append([bytearray(600 + i % 64) for i in range(300)])
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("READY", flush=True)
sys.stdin.read()
`;

/** A program we did not write, run under the interposer until it prints READY, then compared. */
async function compareProgram(cmd: string[]): Promise<void> {
  const proc = startWithTruth(cmd);
  try {
    await proc.waitForLine((l) => l === "READY", 20_000);
    const { count } = await compareWithTruth(proc);
    assert(count > 1000, `only ${count} live blocks`);
  } finally {
    await proc.stop();
  }
}

Deno.test("the live set equals the interposer's on python3 running threads", () =>
  compareProgram(["python3", "-c", PYTHON]));

Deno.test("the live set equals the interposer's on perl", () =>
  compareProgram([
    "perl",
    "-e",
    'my %h; $h{$_} = "v" x ($_ % 40) for 1..5000; $| = 1; print "READY\\n"; <STDIN>;',
  ]));

Deno.test("heapscope refuses clearly: no such pid, not a pid, not permitted", async () => {
  const none = await heapscope(["4194303"]);
  assertEquals(none.code, 3, none.stderr);
  assert(/Cannot attach to process 4194303/.test(none.stderr), none.stderr);
  assert(/Hint:/.test(none.stderr), none.stderr);
  assertEquals(none.leaks, undefined);

  const bad = await heapscope(["12ab"]);
  assertEquals(bad.code, 2, bad.stderr);
  assert(/Not a process id: "12ab"/.test(bad.stderr), bad.stderr);

  const unknown = await heapscope(["1", "--frobnicate"]);
  assertEquals(unknown.code, 2, unknown.stderr);
  assert(/frobnicate/.test(unknown.stderr), unknown.stderr);

  // An unprivileged user cannot ptrace a root process: a clear message, and the target is untouched.
  const { proc } = await startVictim();
  try {
    const denied = await heapscope([String(proc.pid)], { user: 65534 });
    assertEquals(denied.code, 3, denied.stderr);
    assert(/not permitted|not readable|permission/i.test(denied.stderr), denied.stderr);
    assert(/root|CAP_SYS_PTRACE/.test(denied.stderr), denied.stderr);
    assert(/Hint:/.test(denied.stderr), denied.stderr);
    await assertRunning(proc.pid);
  } finally {
    await proc.stop();
  }
});

Deno.test("a process built with AddressSanitizer is named and refused at once, with LSan's own checker as the hint", async () => {
  // gcc maps libasan.so; clang links the runtime into the executable (__asan_init). The shadow is a
  // rw reservation of terabytes: the main arena's fallback search once read it page by page.
  const dir = await Deno.makeTempDir({ prefix: "heapscope-asan-" });
  try {
    await Deno.writeTextFile(
      `${dir}/asan.c`,
      `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
void *keep[1000];
int main(void) {
  for (int i = 0; i < 1000; i++) keep[i] = malloc(64 + i);
  for (int i = 0; i < 100; i++) keep[i % 10] = malloc(32);
  printf("READY\\n");
  fflush(stdout);
  (void)getchar();
  return 0;
}
`,
    );
    for (
      const [cc, evidence] of [["gcc", /libasan\.so[.0-9]* is mapped/], [
        "clang",
        /defines __asan_init/,
      ]] as const
    ) {
      const exe = `${dir}/asan-${cc}`;
      const built = await new Deno.Command(cc, {
        args: ["-fsanitize=address", "-g", "-O1", "-o", exe, `${dir}/asan.c`],
        stderr: "piped",
      }).output();
      assert(built.success, new TextDecoder().decode(built.stderr));
      const proc = spawnProcess([exe], { env: { ASAN_OPTIONS: "detect_leaks=0" } });
      try {
        await proc.waitForLine((l) => l === "READY", 20_000);
        const run = await heapscope([String(proc.pid)]);
        assertEquals(run.code, 3, run.stderr);
        assert(
          /it uses AddressSanitizer, which heapscope cannot read yet/.test(run.stderr),
          run.stderr,
        );
        assert(evidence.test(run.stderr), `${cc}: ${run.stderr}`);
        assert(/Hint: .*detect_leaks=1/.test(run.stderr), run.stderr);
        assertEquals(run.leaks, undefined);
        await assertRunning(proc.pid);
      } finally {
        await proc.stop();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a process on jemalloc is named and refused, not reported with false leaks", async () => {
  const jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  await Deno.stat(jemalloc); // .ci/run installs libjemalloc2
  const proc = spawnProcess(
    [
      "python3",
      "-c",
      "import sys; x = [bytes(100) for _ in range(1000)]; print('READY', flush=True); sys.stdin.read()",
    ],
    { env: { LD_PRELOAD: jemalloc } },
  );
  try {
    await proc.waitForLine((l) => l === "READY", 20_000);
    const run = await heapscope([String(proc.pid)]);
    assertEquals(run.code, 3, run.stderr);
    assert(/it uses jemalloc, which heapscope cannot read yet/.test(run.stderr), run.stderr);
    assert(run.stderr.includes(`${jemalloc} is mapped`), run.stderr);
    assertEquals(run.leaks, undefined);
    await assertRunning(proc.pid);
  } finally {
    await proc.stop();
  }
});
