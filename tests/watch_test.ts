// `heapscope watch` end to end on a recorded program that grows when the test says so: the test
// grows it, then asks watch for the next snapshot (SIGUSR1), three times; each interval line shows
// the growth and its top site, --keep bounds the files, watch.json holds every interval, the target
// runs on afterwards. Ctrl-C between snapshots stops with the report; the timer alone also ticks.

import { equal, ok } from "node:assert/strict";
import { assertRunning } from "./procs.ts";
import { ROOT, spawnProcess } from "./truth.ts";
import { built, HEAPSCOPE, RECORDER, tempDir } from "./cli_runs.ts";

const GROW = `${ROOT}/build/victim/grow`;

async function startGrow() {
  built(GROW, "victim");
  built(RECORDER, "recorder");
  const proc = spawnProcess([GROW], { env: { LD_PRELOAD: RECORDER } });
  await proc.waitForLine((l) => l === "READY");
  return proc;
}

Deno.test("heapscope watch: 3 intervals on a growing process, files bounded by --keep", async () => {
  const dir = await tempDir("heapscope-watch-");
  const proc = await startGrow();
  const w = spawnProcess([
    HEAPSCOPE,
    "watch",
    String(proc.pid),
    "--every",
    "1h",
    "--count",
    "3",
    "--out",
    `${dir}/series`,
    "--keep",
    "2",
  ]);
  try {
    const lines = [(await w.waitForLine((l) => l.startsWith("#1 "), 30_000)).at(-1)!];
    for (const k of [2, 3]) {
      await proc.writeStdin("grow 300\n");
      await proc.waitForLine((l) => l.startsWith("GREW"));
      Deno.kill(w.pid, "SIGUSR1");
      lines.push((await w.waitForLine((l) => l.startsWith(`#${k} `), 30_000)).at(-1)!);
    }
    const rest = (await w.waitForLine((l) => l.startsWith("series"), 30_000)).join("\n");
    equal((await w.wait(30_000)).code, 0);
    for (const line of lines.slice(1)) {
      ok(/live .* \(\+\d/.test(line) && /top: .*cache_insert/.test(line), line);
    }
    ok(/growth over 3 snapshots/.test(rest) && /cache_insert/.test(rest), rest);
    const files = [...Deno.readDirSync(`${dir}/series`)].map((e) => e.name).sort();
    equal(files.join(" "), "leaks.2.json leaks.3.json watch.json");
    const series = JSON.parse(await Deno.readTextFile(`${dir}/series/watch.json`));
    equal(series.intervals.length, 3);
    ok(series.intervals[2].bytes > series.intervals[1].bytes, "live bytes grew");
    ok(series.intervals[1].bytes > series.intervals[0].bytes, "live bytes grew");
    ok(/cache_insert/.test(series.growth.bySite[0].label));
    await assertRunning(proc.pid);
  } finally {
    await w.stop();
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("heapscope watch: the timer ticks, and Ctrl-C between snapshots stops with the report", async () => {
  const dir = await tempDir("heapscope-watch-");
  const proc = await startGrow();
  const series = `${dir}/series`;
  const timed = spawnProcess(
    [HEAPSCOPE, "watch", String(proc.pid), "--every", "200ms", "--count", "2", "--out", series],
  );
  // Waits for the first snapshot, then 1 hour: Ctrl-C always lands between snapshots.
  const waiting = spawnProcess(
    [HEAPSCOPE, "watch", String(proc.pid), "--every", "1h", "--out", `${series}-2`],
  );
  try {
    await timed.waitForLine((l) => l.startsWith("#2 "), 30_000);
    equal((await timed.wait(30_000)).code, 0);
    await waiting.waitForLine((l) => l.startsWith("#1 "), 30_000);
    Deno.kill(waiting.pid, "SIGINT");
    await waiting.waitForLine((l) => l.startsWith("series"), 30_000);
    equal((await waiting.wait(30_000)).code, 0);
    await assertRunning(proc.pid);
    const json = JSON.parse(await Deno.readTextFile(`${series}-2/watch.json`));
    equal(json.intervals.length, 1);
  } finally {
    await timed.stop();
    await waiting.stop();
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
