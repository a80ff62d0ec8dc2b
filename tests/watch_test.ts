// `heapscope watch` end to end on a recorded program that grows when the test says so: the test
// grows it, then asks watch for the next snapshot (SIGUSR1), three times; each interval line shows
// the growth and its top site, --keep bounds the files, watch.json holds every interval, the target
// runs on afterwards. Ctrl-C between snapshots stops with the report; the timer alone also ticks.
// --html rewrites the report after each interval: in Chromium its growth chart has a point per
// interval with watch.json's values, read out under the mouse and by keyboard.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { assertRunning } from "./procs.ts";
import { ROOT, spawnProcess } from "./truth.ts";
import { built, HEAPSCOPE, RECORDER, tempDir } from "./cli_runs.ts";
import { clippedText, guard, openReport, until, withChromium } from "./browser.ts";
import type { WatchInterval } from "../cli/watch.ts";
import { formatBytes, formatCount } from "../report/format.ts";
import type { ReportModel } from "../report/view/payload.ts";

const OUT = `${ROOT}/tests/output/`;

/** The report model a heapscope HTML report embeds. */
async function embeddedModel(file: string): Promise<ReportModel> {
  const html = await Deno.readTextFile(file);
  const m = /<script type="application\/json" id="leaks-data">(.*?)<\/script>/s.exec(html);
  ok(m, `${file} embeds its model`);
  return JSON.parse(m[1]!) as ReportModel;
}

const GROW = `${ROOT}/build/victim/grow`;

async function startGrow() {
  built(GROW, "victim");
  built(RECORDER, "recorder");
  const proc = spawnProcess([GROW], { env: { LD_PRELOAD: RECORDER } });
  await proc.waitForLine((l) => l === "READY");
  return proc;
}

Deno.test("heapscope watch: 3 intervals on a growing process, files bounded by --keep, --html chart", async () => {
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
    "--html",
    `${dir}/report.html`,
  ]);
  try {
    const lines = [(await w.waitForLine((l) => l.startsWith("#1 "), 30_000)).at(-1)!];
    // The report is written before the interval's line: one capture, nothing to compare yet.
    const one = (await embeddedModel(`${dir}/report.html`)).comparison!;
    equal(one.series!.points.length, 1);
    equal(one.diff, null);
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
    ok(/^html +.*report\.html$/m.test(rest), rest);
    await watchReport(`${dir}/report.html`, series);
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
  let waiting: ReturnType<typeof spawnProcess> | undefined;
  try {
    await timed.waitForLine((l) => l.startsWith("#2 "), 30_000);
    equal((await timed.wait(30_000)).code, 0);
    // Started once the first watch is done (one tracer at a time): waits for the first snapshot,
    // then 1 hour, so Ctrl-C always lands between snapshots.
    waiting = spawnProcess(
      [HEAPSCOPE, "watch", String(proc.pid), "--every", "1h", "--out", `${series}-2`],
    );
    await waiting.waitForLine((l) => l.startsWith("#1 "), 30_000);
    Deno.kill(waiting.pid, "SIGINT");
    await waiting.waitForLine((l) => l.startsWith("series"), 30_000);
    equal((await waiting.wait(30_000)).code, 0);
    await assertRunning(proc.pid);
    const json = JSON.parse(await Deno.readTextFile(`${series}-2/watch.json`));
    equal(json.intervals.length, 1);
  } finally {
    await timed.stop();
    await waiting?.stop();
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/** watch.json, the part the report test reads. */
interface WatchJson {
  intervals: WatchInterval[];
  growth: { bySite: { label: string; bytes: number }[] };
}

/** The report of a 3-interval watch in Chromium: the chart's points are watch.json's intervals. */
async function watchReport(file: string, series: WatchJson) {
  const iv = series.intervals;
  await Deno.mkdir(OUT, { recursive: true });
  for (const width of [1400, 800]) {
    await withChromium({ width, height: 900 }, async (page, context) => {
      const { network, errors } = await guard(page, context);
      await openReport(page, file);
      const chart = page.locator('[data-testid="growth-over-time"] svg.growth-chart');
      const points = await chart.locator('[data-testid="growth-points"] circle.live').evaluateAll(
        (cs) =>
          cs.map((c) => ({
            index: Number(c.getAttribute("data-index")),
            bytes: Number(c.getAttribute("data-bytes")),
            leakedBytes: Number(c.getAttribute("data-leaked-bytes")),
            pauseMs: Number(c.getAttribute("data-pause-ms")),
            x: Number(c.getAttribute("cx")),
          })),
      );
      deepStrictEqual(
        points.map(({ index, bytes, leakedBytes, pauseMs }) => ({
          index,
          bytes,
          leakedBytes,
          pauseMs,
        })),
        iv.map(({ index, bytes, leakedBytes, pauseMs }) => ({
          index,
          bytes,
          leakedBytes,
          pauseMs,
        })),
      );
      ok(points[0]!.x < points[1]!.x && points[1]!.x < points[2]!.x, "later captures to the right");
      // What a capture's read-out says: its live and leaked bytes and blocks, and its pause.
      const says = (text: string, k: number) => {
        const p = iv[k]!;
        return text.includes(`capture #${p.index} `) &&
          text.includes(`live ${formatBytes(p.bytes)} in ${formatCount(p.allocations)} blocks`) &&
          text.includes(
            `leaked ${formatBytes(p.leakedBytes)} in ${formatCount(p.leaked)} blocks`,
          ) &&
          text.includes(`paused ${p.pauseMs.toFixed(1)} ms`);
      };
      const readout = page.locator('[data-testid="growth-readout"]');
      await chart.scrollIntoViewIfNeeded();
      // Under the mouse: each point's read-out.
      const box = (await chart.boundingBox())!;
      const scale = box.width / Number((await chart.getAttribute("viewBox"))!.split(" ")[2]);
      for (const [k, p] of points.entries()) {
        await page.mouse.move(box.x + p.x * scale, box.y + box.height / 2);
        await until(
          `the read-out of capture ${k + 1} under the mouse`,
          async () => says((await readout.textContent())!, k),
        );
      }
      // By keyboard: Home, then → twice.
      await chart.focus();
      await page.keyboard.press("Home");
      await until(
        "the read-out of the first capture",
        async () => says((await readout.textContent())!, 0),
      );
      for (const k of [1, 2]) {
        await page.keyboard.press("ArrowRight");
        await until(
          `the read-out of capture ${k + 1} by keyboard`,
          async () => says((await readout.textContent())!, k),
        );
      }
      // Growth first → last: the totals are the first and last intervals', the top site the cache.
      const totals = page.locator('[data-testid="total-allocations"]');
      equal(await totals.getAttribute("data-before"), String(iv[0]!.allocations));
      equal(await totals.getAttribute("data-after"), String(iv[2]!.allocations));
      const sites = page.locator(
        '[data-testid="growth-site-table"] .vtable-body .vrow [role="gridcell"]:first-child',
      );
      equal(await sites.first().textContent(), series.growth.bySite[0]!.label);
      equal(await page.locator('[data-testid="captures"] .vtable-body .vrow').count(), 3);
      await page.locator('[data-testid="comparison"]').screenshot({
        path: `${OUT}watch-${width}.png`,
      });
      deepStrictEqual(await clippedText(page), [], `nothing clipped at ${width} px`);
      deepStrictEqual(network, [], "no network request");
      deepStrictEqual(errors, [], "no page errors");
    });
  }
}
