// The fast walker against the frozen baseline walker on real captures: the same enumeration, to the byte.
//
// bench/enumerate_bench.ts times the two on one snapshot; this test checks that on programs the
// baseline handled correctly (no shape from issue 11) both give the same allocations, excluded
// ranges, heap ranges and warnings: victim/leaky, python3 with threads, perl, and the benchmark
// workload (bench/workload.c, 4 threads/arenas, mmapped blocks) at 10^5 blocks.

import { ok as assert } from "node:assert/strict";
import { captureSnapshot } from "../../ffi/capture.ts";
import { enumerateGlibc } from "../../analysis/glibc/enumerate_glibc.ts";
import { enumerateGlibc as baseline } from "../../analysis/glibc/testdata/baseline/enumerate_glibc.ts";
import { sameEnumeration } from "../../analysis/glibc/testdata/same_enumeration.ts";
import { requireBuilt, ROOT, spawnProcess } from "../truth.ts";

async function compare(cmd: string[], ready: (l: string) => boolean, minBlocks: number) {
  const proc = spawnProcess(cmd);
  try {
    await proc.waitForLine(ready, 60_000);
    const snapshot = await captureSnapshot(proc.pid, { timeoutMs: 30_000 });
    const ours = enumerateGlibc(snapshot), theirs = baseline(snapshot);
    const diff = sameEnumeration(ours, theirs);
    assert(diff === undefined, `${cmd[0]}: ${diff}`);
    assert(ours.allocations.length >= minBlocks, `only ${ours.allocations.length} blocks`);
  } finally {
    await proc.stop();
  }
}

Deno.test("enumerateGlibc() equals the baseline walker on victim/leaky", async () => {
  requireBuilt(`${ROOT}/victim/leaky`, "victim");
  await compare([`${ROOT}/victim/leaky`], (l) => l === "READY", 20);
});

Deno.test("enumerateGlibc() equals the baseline walker on python3 with threads", async () => {
  const script = `
import threading, sys
keep = []
def work(n):
    keep.append([dict(i=i, s="x" * (i % 50)) for i in range(3000)][::5])
    keep.append([bytearray(600 + i % 64) for i in range(300)])
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("READY", flush=True)
sys.stdin.read()
`;
  // pymalloc keeps small objects in its own arenas; the 1,200 bytearrays above its 512-byte limit
  // are glibc blocks in the threads' arenas, whatever the interpreter allocates at start.
  await compare(["python3", "-c", script], (l) => l === "READY", 1_000);
});

Deno.test("enumerateGlibc() equals the baseline walker on perl", async () => {
  await compare(
    [
      "perl",
      "-e",
      'my %h; $h{$_} = "v" x ($_ % 40) for 1..20000; $| = 1; print "READY\\n"; <STDIN>;',
    ],
    (l) => l === "READY",
    10_000,
  );
});

Deno.test("enumerateGlibc() equals the baseline walker on the benchmark workload (10^5 blocks)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-workload-" });
  try {
    const exe = `${dir}/workload`;
    // The flags of mk/bench.mk.
    const flags = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-pthread"];
    const out = await new Deno.Command("gcc", {
      args: [...flags, "-o", exe, `${ROOT}/bench/workload.c`],
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    await compare([exe, "100000"], (l) => l === "READY", 100_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
