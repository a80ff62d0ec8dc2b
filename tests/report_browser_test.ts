// End-to-end check of the one-file HTML report in headless Chromium, opened from file:// with the network cut off.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { renderHtml } from "../report/html.ts";
import { sampleLeaks } from "../report/sample_leaks.ts";
import { buildViewer } from "../report/viewer/build_viewer.ts";
import { withChromium } from "./browser.ts";

function assertGreater(actual: number, floor: number, message?: string) {
  assert(actual > floor, message ?? `expected ${actual} > ${floor}`);
}

const OUT = new URL("./output/", import.meta.url).pathname;
const HOSTILE = `</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;
const HOSTILE_FN = `</script><img src=x onerror=alert(1)>`;

interface Debug {
  filter: string;
  site: number | null;
  sites: number;
  timeline: number;
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
  alpha: number;
  fitted: boolean;
}

function withPage(fn: (page: Page, context: BrowserContext) => Promise<void>) {
  return withChromium({ width: 1440, height: 1300 }, fn);
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

/** Watch a page for network requests, errors, console errors and dialogs (alert() from a payload). */
async function guard(page: Page, context: BrowserContext) {
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
  return { network, errors };
}

async function openReport(page: Page, file: string) {
  await page.goto("file://" + file);
  await page.waitForFunction(
    () => (globalThis as { __heapscopeReady?: boolean }).__heapscopeReady === true,
    null,
    { timeout: 10_000 },
  );
}

/** Screen rectangle (CSS px, page coordinates) of node `i`, or null when off the canvas. */
const nodeOnScreen = (page: Page, i: number) =>
  page.evaluate((i) => {
    const dbg = (globalThis as unknown as {
      __heapscopeDebug: { screenPosition(i: number): [number, number] | null };
    }).__heapscopeDebug;
    const rect = document.querySelector("canvas")!.getBoundingClientRect();
    const p = dbg.screenPosition(i);
    if (!p || p[0] < 20 || p[1] < 20 || p[0] > rect.width - 20 || p[1] > rect.height - 50) {
      return null;
    }
    return { x: rect.left + p[0], y: rect.top + p[1] };
  }, i);

Deno.test("report HTML works offline in Chromium: graph colours, filters, cycles, search, safe strings", async () => {
  await Deno.mkdir(OUT, { recursive: true });
  const leaks = sampleLeaks({
    allocations: 3000,
    leakFraction: 0.08,
    command: HOSTILE,
    withBytes: true,
    version: 1,
  });
  const html = await renderHtml(leaks, { bundle: await buildViewer() });
  const file = OUT + "report.html";
  await Deno.writeTextFile(file, html);

  await withPage(async (page, context) => {
    const { network, errors } = await guard(page, context);

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
    // A version 1 file has no sites and no timeline: those sections are not rendered at all.
    assertEquals(await page.locator('[data-testid="sites"]').count(), 0);
    assertEquals(await page.locator('[data-testid="timeline"]').count(), 0);
    assertEquals(await page.locator("svg").count(), 0);
    assert((await page.locator("footer").textContent())!.includes("heapscope-leaks v1)"));

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

Deno.test("report HTML of a recorded process: sites table, stack on the card, timeline, fit, safe frame names", async () => {
  await Deno.mkdir(OUT, { recursive: true });
  const leaks = sampleLeaks({
    allocations: 600,
    leakFraction: 0.1,
    withBytes: true,
    withSites: true,
    hostileFunction: HOSTILE_FN,
  });
  const file = OUT + "report-sites.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await buildViewer() }));
  const site0 = leaks.nodes.filter((n) => n.site === 0);

  await withPage(async (page, context) => {
    const { network, errors } = await guard(page, context);
    await openReport(page, file);

    // Sites table: the top site is the sample's largest leaker, labelled past malloc.
    const rows = page.locator('[data-testid="sites"] tbody tr[data-site]');
    assertEquals(await rows.first().getAttribute("data-site"), "0");
    assertEquals(
      await rows.first().locator('[data-testid="site-function"]').textContent(),
      "parse_request",
    );
    assert((await rows.first().textContent())!.includes("server.c:214"));
    // The hostile function name is text: no element, no script ran, no dialog.
    const hostileRow = page.locator('[data-testid="site-function"]', { hasText: "onerror" });
    assertEquals(await hostileRow.textContent(), HOSTILE_FN);
    assertEquals(await page.locator("img").count(), 0);
    assertEquals(await page.locator("script").count(), 2);

    // Timeline: an SVG with a drawn bytes path and the snapshot marker.
    const d = await page.locator('[data-testid="timeline"] path[data-series="bytes"]').getAttribute(
      "d",
    );
    assertGreater((d ?? "").length, 100, `bytes path ${d}`);
    assertEquals(await page.locator('[data-testid="snapshot-marker"] line').count(), 1);
    assert((await debug(page)).timeline > 100);

    // The camera fits the layout once it has cooled: the drawn nodes span most of the canvas.
    await until("the zoom-to-fit", async () => (await stats(page)).fitted, 15_000);
    await page.waitForTimeout(1300); // the fit animates for at most 1.2 s
    const span = await page.evaluate((n) => {
      const dbg = (globalThis as unknown as {
        __heapscopeDebug: { screenPosition(i: number): [number, number] | null };
      }).__heapscopeDebug;
      const rect = document.querySelector("canvas")!.getBoundingClientRect();
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < n; i++) {
        const [x, y] = dbg.screenPosition(i)!;
        x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
      }
      return { w: (x1 - x0) / rect.width, h: (y1 - y0) / rect.height, x0, y0, x1, y1, rect };
    }, 600);
    assert(Math.max(span.w, span.h) > 0.6, `fitted graph spans ${JSON.stringify(span)}`);
    assert(span.x0 > -10 && span.y0 > -10, `fitted graph is on the canvas ${JSON.stringify(span)}`);
    assert(
      span.x1 < span.rect.width + 10 && span.y1 < span.rect.height + 10,
      `fitted graph is on the canvas ${JSON.stringify(span)}`,
    );

    // A click on the top site expands its stack and narrows the graph to its blocks.
    await rows.first().click();
    await until("the site filter", async () => (await debug(page)).site === 0);
    const stackRow = page.locator('[data-testid="sites"] tr.stack-row');
    assert((await stackRow.textContent())!.includes("parse_request"));
    assert((await stackRow.textContent())!.includes("malloc"));
    assertEquals(await rows.first().getAttribute("aria-expanded"), "true");
    assert(
      (await page.locator('[data-testid="site-chip"]').textContent())!.includes("parse_request"),
    );
    await until("only the site's blocks", async () => {
      const v = (await debug(page)).visible;
      return v.reachable + v.leaked + v.cycle === site0.length;
    });
    assertEquals((await stats(page)).drawn.reachable, 0);

    // Clicking one of its blocks on the canvas shows its stack, thread and age on the card.
    let zoom = -1;
    await until("the camera to settle", async () => {
      const z = (await stats(page)).zoom;
      const settled = Math.abs(z - zoom) < 1e-6;
      zoom = z;
      return settled;
    });
    const index = await page.evaluate(
      (address) =>
        (globalThis as unknown as { __heapscopeDebug: { indexOfAddress(a: string): number } })
          .__heapscopeDebug.indexOfAddress(address),
      site0[0]!.address,
    );
    await until("a site block on screen", async () => (await nodeOnScreen(page, index)) !== null);
    const at = (await nodeOnScreen(page, index))!;
    await page.mouse.click(at.x, at.y);
    await until("a selection", async () => (await debug(page)).selected !== null);
    const card = page.locator('[data-testid="detail-stack"]');
    await until("the stack on the card", async () => (await card.count()) === 1);
    const text = (await card.textContent())!;
    assert(text.includes("parse_request") && text.includes("server.c:214"), text);
    assert(text.includes("libc.so.6") && /thread 42\d\d/.test(text) && text.includes("age"), text);
    await page.locator('[data-testid="sites"]').evaluate((el) => (el.scrollTop = 0));
    await page.screenshot({ path: OUT + "report-sites.png", fullPage: true });

    // Esc clears the site filter.
    await page.keyboard.press("Escape");
    await until("the site filter to clear", async () => (await debug(page)).site === null);
    assertEquals(await page.locator('[data-testid="site-chip"]').count(), 0);

    assertEquals(network, [], "no network request was attempted");
    assertEquals(errors, [], "no page errors, console errors or dialogs");
    assertEquals(
      await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned),
      undefined,
    );
  });
});
