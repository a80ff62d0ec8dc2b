// End-to-end check of the one-file HTML report in headless Chromium, opened from file:// with the network cut off.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { renderHtml } from "../report/html.ts";
import { sampleLeaks } from "../report/sample_leaks.ts";
import { buildViewer } from "../report/viewer/build_viewer.ts";

function assertGreater(actual: number, floor: number, message?: string) {
  assert(actual > floor, message ?? `expected ${actual} > ${floor}`);
}

const OUT = new URL("./output/", import.meta.url).pathname;
const HOSTILE = `</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface Debug {
  filter: string;
  selected: number | null;
  selectedAddress: string | null;
  selectedCycle: number | null;
  matches: number;
  visible: { reachable: number; leaked: number; cycle: number };
  nodes: number;
}
interface Stats {
  drawn: { reachable: number; leaked: number; cycle: number };
  frames: number;
  pulsing: number;
  zoom: number;
}

async function withPage(fn: (page: Page, context: BrowserContext) => Promise<void>) {
  const profile = await Deno.makeTempDir({ prefix: "heapscope-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 1300 },
    offline: true,
  });
  try {
    await fn(context.pages()[0] ?? await context.newPage(), context);
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

const debug = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { __heapscopeDebug: Debug }).__heapscopeDebug);
const stats = (page: Page) =>
  page.evaluate(() =>
    (globalThis as unknown as { __heapscopeDebug: { stats(): Stats } }).__heapscopeDebug.stats()
  );

/** Re-check `cond` until it holds (the page updates after paint; CI machines are loaded). */
async function until(what: string, cond: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Count canvas pixels close to each of the three node colours. */
const colourPixels = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.querySelector("canvas")!;
    const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
    const targets = {
      reachable: [0x3f, 0xb9, 0x50],
      leaked: [0xf8, 0x51, 0x49],
      cycle: [0xa3, 0x71, 0xf7],
    };
    const counts = { reachable: 0, leaked: 0, cycle: 0 };
    for (let i = 0; i < data.length; i += 4) {
      for (
        const [name, [r, g, b]] of Object.entries(targets) as [keyof typeof counts, number[]][]
      ) {
        if (
          Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) <
            30 && data[i + 3]! > 200
        ) {
          counts[name]++;
        }
      }
    }
    return counts;
  });

Deno.test("report HTML works offline in Chromium: graph colours, filters, cycles, search, safe strings", async () => {
  await Deno.mkdir(OUT, { recursive: true });
  const leaks = sampleLeaks({
    allocations: 3000,
    leakFraction: 0.08,
    command: HOSTILE,
    withBytes: true,
  });
  const html = await renderHtml(leaks, { bundle: await buildViewer() });
  const file = OUT + "report.html";
  await Deno.writeTextFile(file, html);

  await withPage(async (page, context) => {
    const network: string[] = [];
    const errors: string[] = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      network.push(url);
      return route.abort();
    });
    page.on("request", (r) => {
      if (!r.url().startsWith("file:")) network.push(r.url());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("dialog", (d) => {
      errors.push("dialog: " + d.message());
      d.dismiss();
    });

    await page.goto("file://" + file);
    await page.waitForFunction(
      () => (globalThis as { __heapscopeReady?: boolean }).__heapscopeReady === true,
      null,
      {
        timeout: 10_000,
      },
    );

    // The hostile command line shows as text and nothing of it ran.
    assertEquals(await page.locator('[data-testid="command"]').textContent(), HOSTILE);
    assertEquals(
      await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned),
      undefined,
    );
    assertEquals(await page.locator("img").count(), 0);
    assertEquals(await page.locator("script").count(), 2);
    assert((await page.title()).includes("</script>"), "title shows the command as text");
    assert(
      (await page.locator('[data-testid="verdict"]').textContent())!.startsWith(
        "✗ 240 allocations unreachable",
      ),
    );

    // All three colours are drawn, counted by the drawing code and seen in the pixels.
    await page.waitForTimeout(1500);
    const d0 = await debug(page);
    assertEquals(d0.nodes, 2000);
    const s0 = await stats(page);
    assertGreater(s0.drawn.reachable, 0);
    assertGreater(s0.drawn.leaked, 0);
    assertGreater(s0.drawn.cycle, 0);
    assertEquals(s0.drawn.reachable + s0.drawn.leaked + s0.drawn.cycle, 2000);
    const p0 = await colourPixels(page);
    assertGreater(p0.reachable, 200, `green pixels ${JSON.stringify(p0)}`);
    assertGreater(p0.leaked, 50, `red pixels ${JSON.stringify(p0)}`);
    assertGreater(p0.cycle, 50, `purple pixels ${JSON.stringify(p0)}`);
    assert(
      (await page.locator('[data-testid="not-drawn"]').textContent())!.includes(
        "1,000 allocations not drawn",
      ),
    );

    // "3" shows only leaked blocks: no green is drawn any more.
    await page.keyboard.press("3");
    await until("filter 3", async () => (await stats(page)).drawn.reachable === 0);
    await page.waitForTimeout(200);
    assertEquals((await debug(page)).filter, "leaked");
    const s3 = await stats(page);
    assertEquals(s3.drawn.reachable, 0);
    assertGreater(s3.drawn.leaked, 0);
    assertEquals((await colourPixels(page)).reachable, 0);
    await page.keyboard.press("4");
    await until("filter 4", async () => (await stats(page)).drawn.leaked === 0);
    const s4 = await stats(page);
    assertEquals(s4.drawn.leaked + s4.drawn.reachable, 0);
    assertGreater(s4.drawn.cycle, 0);
    await page.keyboard.press("1");

    // Clicking a node on the canvas selects it.
    await page.waitForTimeout(300);
    const target = await page.evaluate(() => {
      const dbg = (globalThis as unknown as {
        __heapscopeDebug: { screenPosition(i: number): [number, number] | null };
      }).__heapscopeDebug;
      const rect = document.querySelector("canvas")!.getBoundingClientRect();
      for (let i = 0; i < 2000; i++) {
        const p = dbg.screenPosition(i);
        if (p && p[0] > 40 && p[1] > 40 && p[0] < rect.width - 40 && p[1] < rect.height - 60) {
          return { i, x: rect.left + p[0], y: rect.top + p[1] };
        }
      }
      return null;
    });
    if (!target) throw new Error("no node is on screen");
    await page.mouse.click(target.x, target.y);
    // The debug hook is refreshed in an effect after paint: wait for it rather than sleeping.
    await page.waitForFunction(() =>
      (globalThis as unknown as { __heapscopeDebug: Debug }).__heapscopeDebug.selected !== null
    );
    assert((await debug(page)).selected !== null, "a click on a node selects a node");
    await page.keyboard.press("Escape");
    await page.waitForFunction(() =>
      (globalThis as unknown as { __heapscopeDebug: Debug }).__heapscopeDebug.selected === null
    );
    assertEquals((await debug(page)).selected, null);

    // Clicking a cycle in the list selects it, flies to it and pulses it.
    const item = page.locator('[data-testid="cycle-list"] li').nth(2);
    const cycleIndex = Number(await item.getAttribute("data-cycle"));
    await item.click();
    await until(
      "the cycle to be selected",
      async () => (await debug(page)).selectedCycle === cycleIndex,
    );
    await page.waitForTimeout(1300);
    const dc = await debug(page);
    assertEquals(dc.selectedCycle, cycleIndex);
    assertEquals(await item.getAttribute("aria-selected"), "true");
    assert(dc.selected !== null, "the cycle's first member is selected");
    const sc = await stats(page);
    assertGreater(sc.pulsing, 1);
    assert(sc.zoom !== s0.zoom, "the camera moved");
    await page.screenshot({ path: OUT + "report.png", fullPage: false });

    // Search by an address substring finds the block; Enter selects it.
    await page.keyboard.press("Escape");
    const wanted = leaks.nodes.find((n) => n.status === "leaked" && n.leak === "direct")!.address;
    await page.locator('[data-testid="search"]').fill(wanted.slice(-7));
    await until("search matches", async () => (await debug(page)).matches > 0);
    const ds = await debug(page);
    assertGreater(ds.matches, 0);
    assert(ds.matches < 50, `search narrows the graph (${ds.matches} matches)`);
    await page.locator('[data-testid="search"]').press("Enter");
    await until(
      "the match to be selected",
      async () => (await debug(page)).selectedAddress === wanted,
    );
    assertEquals((await debug(page)).selectedAddress, wanted);
    assertEquals(await page.locator('[data-testid="detail-address"]').textContent(), wanted);
    assertGreater(await page.locator("pre.hex").count(), 0);

    assertEquals(network, [], "no network request was attempted");
    assertEquals(errors, [], "no page errors, console errors or dialogs");
    assertEquals(
      await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned),
      undefined,
    );
  });
});
