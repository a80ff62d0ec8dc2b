// Snapshot files end to end: `heapscope <pid> --save a.hsnap` then `heapscope analyze a.hsnap`, with
// the process gone and as an unprivileged user, gives the leaks.json of a live run, byte for byte
// apart from time fields, on the victim, on python3 and on a recorded C++ program on libstdc++.
// In process: one real capture written and read back is the same Snapshot, field for field.

import { deepEqual, equal, ok } from "node:assert/strict";
import { captureSnapshot } from "../ffi/mod.ts";
import {
  decodeSnapshotFile,
  readSnapshotFile,
  snapshotFileOf,
  writeSnapshotFile,
} from "../ffi/snapshot_file.ts";
import { startVictim } from "./expect.ts";
import { kill, spawnDetached, until } from "./procs.ts";
import { spawnProcess } from "./truth.ts";
import {
  built,
  firstDifference,
  heapscope,
  RECORDER,
  said,
  tempDir,
  withoutTimes,
} from "./cli_runs.ts";
import { ROOT } from "./truth.ts";

/** nobody: `analyze` needs neither root nor the process. */
const NOBODY = 65534;

/**
 * Live run and save + analyze of the idle process `pid`; the file is analysed after `stop()` ends
 * the process, by an unprivileged user. Returns both leaks.json texts.
 */
async function liveAndSaved(pid: number, stop: () => Promise<unknown>) {
  const dir = await tempDir("heapscope-snap-");
  try {
    const live = await heapscope([String(pid), "-o", `${dir}/live.json`, "--no-color"]);
    ok(live.code === 0 || live.code === 1, said(live));
    const save = await heapscope([String(pid), "--save", `${dir}/a.hsnap`, "--no-color"]);
    equal(save.code, 0, said(save));
    ok(/secrets included/.test(save.stdout), said(save));
    equal((await Deno.stat(`${dir}/a.hsnap`)).mode! & 0o777, 0o600, "the file is private");
    await stop();
    // Handed to another user, as a file sent to a colleague would be.
    await Deno.chown(`${dir}/a.hsnap`, NOBODY, NOBODY);
    const off = await heapscope(
      ["analyze", `${dir}/a.hsnap`, "-o", `${dir}/off.json`, "--no-color"],
      { user: NOBODY, env: { DENO_DIR: `${dir}/deno` } },
    );
    equal(off.code, live.code, said(off));
    return {
      live: await Deno.readTextFile(`${dir}/live.json`),
      off: await Deno.readTextFile(`${dir}/off.json`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertSameAnalysis(live: string, off: string): void {
  const a = withoutTimes(live), b = withoutTimes(off);
  const difference = firstDifference(a, b);
  equal(difference, "", `leaks.json differs apart from time fields ${difference}`);
}

Deno.test("analyze of a saved snapshot of the victim gives the live run's leaks.json", async () => {
  const { proc } = await startVictim();
  const { live, off } = await liveAndSaved(proc.pid, () => proc.stop());
  assertSameAnalysis(live, off);
  ok(JSON.parse(off).summary.leaked > 0, "the victim's leaks are found");
});

Deno.test("analyze of a saved snapshot of python3 gives the live run's leaks.json", async () => {
  const proc = spawnProcess([
    "python3",
    "-c",
    "import sys\nd={i: 'v'*(520+i%90)+str(i) for i in range(20000)}\nprint('READY', flush=True)\n" +
    "sys.stdin.readline()",
  ]);
  await proc.waitForLine((l) => l === "READY");
  const { live, off } = await liveAndSaved(proc.pid, () => proc.stop());
  assertSameAnalysis(live, off);
  ok(JSON.parse(off).summary.allocations > 20000);
});

Deno.test("analyze of a saved snapshot of a recorded C++ program names the same sites", async () => {
  const sessions = built(`${ROOT}/build/real/sessions`, "victim");
  built(RECORDER, "recorder");
  const proc = spawnProcess([sessions], { env: { LD_PRELOAD: RECORDER } });
  await proc.waitForLine((l) => l.startsWith("READY"));
  const { live, off } = await liveAndSaved(proc.pid, () => proc.stop());
  assertSameAnalysis(live, off);
  const leaks = JSON.parse(off);
  ok(leaks.stacks?.length > 0, "the recorder's sites are in the offline analysis");
  const names = JSON.stringify(leaks.stacks);
  ok(/make_tree/.test(names), "the sites are symbolized from the file alone");
});

Deno.test("writeSnapshotFile() and readSnapshotFile() keep a real capture field for field", async () => {
  const out = `${await tempDir("heapscope-snap-")}/v.out`;
  const pid = await spawnDetached(`exec ${ROOT}/victim/leaky > ${out}`);
  try {
    await until(async () => /READY/.test(await Deno.readTextFile(out).catch(() => "")));
    const snapshot = await captureSnapshot(pid);
    const file = await snapshotFileOf(snapshot);
    const path = `${out}.hsnap`;
    const written = await writeSnapshotFile(path, file);
    ok(written.bytes < written.rawBytes / 4, `compressed: ${written.bytes} of ${written.rawBytes}`);
    const back = await readSnapshotFile(path);
    deepEqual(back.snapshot, snapshot);
    equal(back.recorder, undefined, "an unrecorded process has no recorder section");
    // Cut anywhere, the file is refused with a reason, never half read.
    const bytes = await Deno.readFile(path);
    for (const cut of [10, 40, Math.floor(bytes.length / 2), bytes.length - 1]) {
      let error = "";
      await decodeSnapshotFile(bytes.subarray(0, cut), "cut").catch((e) => error = e.message);
      ok(/Cannot read snapshot file "cut"/.test(error), `cut at ${cut}: ${error}`);
    }
  } finally {
    kill(pid);
    await Deno.remove(out.replace(/\/v.out$/, ""), { recursive: true });
  }
});
