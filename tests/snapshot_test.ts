// Snapshot files end to end: `heapscope <pid> --save a.hsnap` then `heapscope analyze a.hsnap`, with
// the process gone, as an unprivileged user, and with every file the process had mapped (its
// executable, libc, libstdc++, the recorder…) and every debug file hidden, gives the leaks.json of
// a live run, byte for byte apart from time fields, on the victim, on Debian's python3 and on a
// recorded C++ program on libstdc++: what the analysis reads of those files is in the snapshot.
// In process: one real capture written and read back is the same Snapshot, field for field, and
// its carried files read as the files on disk where they were kept.

import { deepEqual, equal, ok } from "node:assert/strict";
import { saveSnapshotFile } from "../cli/analyze.ts";
import { captureSnapshot } from "../ffi/mod.ts";
import { diskImageFiles } from "../ffi/image_files.ts";
import {
  decodeSnapshotFile,
  readSnapshotFile,
  snapshotFileOf,
  snapshotImageFiles,
} from "../ffi/snapshot_file.ts";
import { startVictim } from "./expect.ts";
import { kill, spawnDetached, until } from "./procs.ts";
import { spawnProcess } from "./truth.ts";
import {
  built,
  firstDifference,
  heapscope,
  heapscopeHidden,
  mappedFiles,
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
 * the process, by an unprivileged user, with the files the process had mapped hidden. Returns both
 * leaks.json texts, and with `control` a third: the same snapshot without its carried files,
 * analysed the same way (it must differ, or hiding the files proved nothing).
 */
async function liveAndSaved(pid: number, stop: () => Promise<unknown>, control = false) {
  const dir = await tempDir("heapscope-snap-");
  try {
    const live = await heapscope([String(pid), "-o", `${dir}/live.json`, "--no-color"]);
    ok(live.code === 0 || live.code === 1, said(live));
    const save = await heapscope([String(pid), "--save", `${dir}/a.hsnap`, "--no-color"]);
    equal(save.code, 0, said(save));
    ok(/secrets included/.test(save.stdout), said(save));
    equal((await Deno.stat(`${dir}/a.hsnap`)).mode! & 0o777, 0o600, "the file is private");
    const mapped = await mappedFiles(pid);
    await stop();
    // Handed to another user, as a file sent to a colleague would be, on a machine without the
    // process's files.
    await Deno.chown(`${dir}/a.hsnap`, NOBODY, NOBODY);
    const off = await heapscopeHidden(
      ["analyze", `${dir}/a.hsnap`, "-o", `${dir}/off.json`, "--no-color"],
      mapped,
      { user: NOBODY, env: { DENO_DIR: `${dir}/deno` } },
    );
    equal(off.code, live.code, said(off));
    let bare: string | undefined;
    if (control) {
      const { files: _files, ...rest } = await readSnapshotFile(`${dir}/a.hsnap`);
      await saveSnapshotFile(`${dir}/bare.hsnap`, rest);
      await Deno.chown(`${dir}/bare.hsnap`, NOBODY, NOBODY);
      const r = await heapscopeHidden(
        ["analyze", `${dir}/bare.hsnap`, "-o", `${dir}/bare.json`, "--no-color"],
        mapped,
        { user: NOBODY, env: { DENO_DIR: `${dir}/deno` } },
      );
      equal(r.code, live.code, said(r));
      ok(/carries no image files/.test(r.stdout), said(r));
      bare = await Deno.readTextFile(`${dir}/bare.json`);
    }
    return {
      live: await Deno.readTextFile(`${dir}/live.json`),
      off: await Deno.readTextFile(`${dir}/off.json`),
      bare,
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
  const { live, off, bare } = await liveAndSaved(proc.pid, () => proc.stop(), true);
  assertSameAnalysis(live, off);
  ok(JSON.parse(off).summary.leaked > 0, "the victim's leaks are found");
  // Without the carried files the hidden ones are missed: the globals have no names.
  const names = (text: string) =>
    (JSON.parse(text).roots as { name?: string }[]).map((r) => r.name).join("\n");
  ok(/g_\w+ in /.test(names(off)), "roots named by the executable's symbols");
  ok(!/g_\w+ in /.test(names(bare!)), "no symbols without the carried files");
});

Deno.test("analyze of a saved snapshot of python3 gives the live run's leaks.json", async () => {
  // Debian's python3 (stripped: libc's symbols come from libc6-dbg's debug file by build id).
  const proc = spawnProcess([
    "/usr/bin/python3",
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

Deno.test("saveSnapshotFile() and readSnapshotFile() keep a real capture field for field", async () => {
  const out = `${await tempDir("heapscope-snap-")}/v.out`;
  const pid = await spawnDetached(`exec ${ROOT}/victim/leaky > ${out}`);
  try {
    await until(async () => /READY/.test(await Deno.readTextFile(out).catch(() => "")));
    const snapshot = await captureSnapshot(pid);
    const file = await snapshotFileOf(snapshot);
    const path = `${out}.hsnap`;
    const written = await saveSnapshotFile(path, file);
    ok(written.bytes < written.rawBytes / 2, `compressed: ${written.bytes} of ${written.rawBytes}`);
    const back = await readSnapshotFile(path);
    deepEqual(back.snapshot, snapshot);
    equal(back.recorder, undefined, "an unrecorded process has no recorder section");
    // Every image's file is carried, and each kept span reads as the file on disk does.
    deepEqual(
      back.files!.map((f) => f.path).filter((p) => !p.startsWith("/usr/lib/debug/")).sort(),
      [...new Set(snapshot.images.map((i) => i.path))].sort(),
    );
    const carried = snapshotImageFiles(back)!, disk = diskImageFiles(snapshot);
    try {
      for (const f of back.files!) {
        const fromFile = carried.open(f.path)!, fromDisk = disk.open(f.path)!;
        for (const [offset, length] of f.spans) {
          deepEqual(fromFile(offset, length), fromDisk(offset, length), `${f.path} at ${offset}`);
        }
      }
    } finally {
      disk.close();
    }
    equal(carried.open("/no/such/file"), undefined, "a file it does not carry cannot be opened");
    // Cut anywhere (even in the zstd frame's last bytes, after the END section), or added to, the
    // file is refused with a reason, never half read.
    const bytes = await Deno.readFile(path);
    const cuts = [
      10,
      40,
      Math.floor(bytes.length / 2),
      ...[1, 2, 3, 4].map((k) => bytes.length - k),
    ];
    for (const cut of cuts) {
      let error = "";
      await decodeSnapshotFile(bytes.subarray(0, cut), "cut").catch((e) => error = e.message);
      ok(/Cannot read snapshot file "cut"/.test(error), `cut at ${cut}: ${error}`);
    }
    let error = "";
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    await decodeSnapshotFile(longer, "longer").catch((e) => error = e.message);
    ok(/1 bytes follow the/.test(error), error);
  } finally {
    kill(pid);
    await Deno.remove(out.replace(/\/v.out$/, ""), { recursive: true });
  }
});
