// Bench of the HTML report: leaks.json size, read and render time, HTML size, time to the first
// screen in Chromium, when the block index is decoded, and frames per second while the camera moves.
// Usage: deno run -A bench/report_bench.ts [allocations ...]   (default: 10000 100000 1000000)
// Run it under the shared lock: flock /tmp/heapscope-heavy.lock deno run -A bench/report_bench.ts

import { renderHtml } from "../report/html.ts";
import { readLeaksFile } from "../report/read_leaks.ts";
import { sampleLeaks } from "../report/sample_leaks.ts";
import { withChromium } from "../tests/browser.ts";

interface Row {
  allocations: number;
  jsonMB: number;
  readMs: number;
  renderMs: number;
  htmlMB: number;
  drawn: number;
  readyMs: number;
  indexMs: number;
  fps: number;
  drawMs: number;
}

/** How long the camera moves while frames are counted: long enough for a steady rate. */
const MOVE_MS = 3000;

const sizes = Deno.args.length ? Deno.args.map(Number) : [10_000, 100_000, 1_000_000];
const dir = await Deno.makeTempDir({ prefix: "heapscope-bench-" });
const rows: Row[] = [];
try {
  await withChromium({ width: 1440, height: 1000 }, async (_page, context) => {
    for (const n of sizes) {
      const jsonPath = `${dir}/leaks-${n}.json`;
      await Deno.writeTextFile(jsonPath, JSON.stringify(sampleLeaks({ allocations: n })));
      const jsonMB = (await Deno.stat(jsonPath)).size / 1e6;

      let t = performance.now();
      const leaks = await readLeaksFile(jsonPath);
      const readMs = performance.now() - t;
      t = performance.now();
      const html = await renderHtml(leaks);
      const renderMs = performance.now() - t;
      const htmlPath = `${dir}/report-${n}.html`;
      await Deno.writeTextFile(htmlPath, html);

      const page = await context.newPage();
      await page.route(
        "**/*",
        (r) => r.request().url().startsWith("file:") ? r.continue() : r.abort(),
      );
      await page.goto("file://" + htmlPath, { waitUntil: "commit" });
      await page.waitForFunction(
        () => (globalThis as { __heapscopeReady?: boolean }).__heapscopeReady === true,
        null,
        { timeout: 60_000, polling: 10 },
      );
      // performance.now() counts from navigation start: the ready flag records it at first draw.
      const readyMs = await page.evaluate(() =>
        (globalThis as { __heapscopeReadyAt?: number }).__heapscopeReadyAt ?? NaN
      );
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { __heapscopeDebug?: { indexReady: boolean } })
            .__heapscopeDebug?.indexReady === true,
        null,
        { timeout: 120_000, polling: 10 },
      );
      const indexMs = await page.evaluate(() => performance.now());
      await page.locator('[data-testid="graph"]').scrollIntoViewIfNeeded();
      // The camera pans and zooms every frame (as a drag and a wheel would): frames counted.
      const measured = await page.evaluate(
        (ms) =>
          new Promise<{ frames: number; ms: number; drawn: number; drawMs: number }>((resolve) => {
            const dbg = (globalThis as unknown as {
              __heapscopeDebug: {
                nodes: number;
                pan(dx: number, dy: number, k?: number): void;
                stats(): { drawMs: number };
              };
            }).__heapscopeDebug;
            let frames = 0;
            const t0 = performance.now();
            const step = (now: number) => {
              frames++;
              const phase = Math.floor((now - t0) / 500) % 2 ? -1 : 1;
              dbg.pan(6 * phase, 3 * phase, phase > 0 ? 1.01 : 1 / 1.01);
              if (now - t0 < ms) requestAnimationFrame(step);
              else resolve({ frames, ms: now - t0, drawn: dbg.nodes, drawMs: dbg.stats().drawMs });
            };
            requestAnimationFrame(step);
          }),
        MOVE_MS,
      );
      await page.close();
      rows.push({
        allocations: n,
        jsonMB,
        readMs,
        renderMs,
        htmlMB: html.length / 1e6,
        drawn: measured.drawn,
        readyMs,
        indexMs,
        fps: (measured.frames * 1000) / measured.ms,
        drawMs: measured.drawMs,
      });
    }
  });
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

const f = (x: number, d = 1) => x.toFixed(d);
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3);
console.log(
  `headless Chromium (--disable-gpu: software rendering), viewport 1440x1000, ` +
    `${navigator.hardwareConcurrency} cores, load average ${load.join(" ")}`,
);
console.log(
  "| allocations | leaks.json | readLeaksFile | renderHtml | report.html | drawn nodes " +
    "| first screen | block index decoded | fps while moving | draw per frame |",
);
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    [
      "",
      r.allocations.toLocaleString("en-US"),
      `${f(r.jsonMB)} MB`,
      `${f(r.readMs, 0)} ms`,
      `${f(r.renderMs, 0)} ms`,
      `${f(r.htmlMB, 2)} MB`,
      r.drawn,
      `${f(r.readyMs, 0)} ms`,
      `${f(r.indexMs, 0)} ms`,
      f(r.fps),
      `${f(r.drawMs)} ms`,
      "",
    ].join(" | ").trim(),
  );
}
