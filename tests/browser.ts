// Debian's Chromium, headless and offline, for the report tests and the report benchmark, with the
// helpers they share: open a report and wait for its first draw, read its debug hooks, guard
// against network requests and page errors.

import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Flags that keep Chromium quiet on a machine with no network (no background fetches at all). */
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

/** Run `fn` with a page of a fresh, offline Chromium profile; the browser is always closed. */
export async function withChromium<T>(
  viewport: { width: number; height: number },
  fn: (page: Page, context: BrowserContext) => Promise<T>,
): Promise<T> {
  const profile = await Deno.makeTempDir({ prefix: "heapscope-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    viewport,
    offline: true,
    acceptDownloads: true,
  });
  try {
    return await fn(context.pages()[0] ?? await context.newPage(), context);
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** Open a report from file:// and wait until its first screen is drawn (the ready flag). */
export async function openReport(page: Page, file: string, timeout = 30_000): Promise<void> {
  await page.goto("file://" + file);
  await page.waitForFunction(
    () => (globalThis as { __heapscopeReady?: boolean }).__heapscopeReady === true,
    null,
    { timeout },
  );
}

/** The report's debug hooks (report/viewer/app.tsx DebugHooks), without the functions. */
export interface ReportState {
  filter: string;
  site: number | null;
  search: string;
  selected: number | null;
  selectedAddress: string | null;
  selectedCycle: number | null;
  cardOpen: boolean;
  indexReady: boolean;
  matches: number;
  undrawnMatches: number;
  visible: { reachable: number; leaked: number; cycle: number; possible: number };
  nodes: number;
}

export interface DrawStats {
  drawn: { reachable: number; leaked: number; cycle: number; possible: number };
  frames: number;
  zoom: number;
  drawMs: number;
  fitted: boolean;
  /** The camera is flying to a selection: screen positions are changing. */
  moving: boolean;
}

export const reportState = (page: Page): Promise<ReportState> =>
  page.evaluate(() =>
    JSON.parse(
      JSON.stringify((globalThis as unknown as { __heapscopeDebug: unknown }).__heapscopeDebug),
    )
  );

export const drawStats = (page: Page): Promise<DrawStats> =>
  page.evaluate(() =>
    (globalThis as unknown as { __heapscopeDebug: { stats(): DrawStats } }).__heapscopeDebug.stats()
  );

/** Re-check `cond` until it holds (the page updates after paint; machines are loaded). */
export async function until(
  what: string,
  cond: () => Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Watch a page for network requests, errors, console errors and dialogs. */
export async function guard(page: Page, context: BrowserContext) {
  const network: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("blob:")) return route.continue();
    network.push(url);
    return route.abort();
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

/** The tables (their data-testid) with a part that scrolls sideways (`overflow-x` auto or scroll). */
export const sidewaysTables = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const out: string[] = [];
    for (const table of document.querySelectorAll<HTMLElement>(".vtable")) {
      const parts = [table, ...table.querySelectorAll<HTMLElement>("*")];
      const scrolls = parts.some((el) => {
        const x = getComputedStyle(el).overflowX;
        return (x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1;
      });
      if (scrolls) out.push(table.dataset.testid ?? table.className);
    }
    return out;
  });

/** Elements whose text is cut (overflow hidden or clip, an ellipsis), or a page that scrolls sideways. */
export const clippedText = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>("body *")) {
      if (!el.childNodes.length || el.closest(".sr-only,svg,canvas")) continue;
      const s = getComputedStyle(el);
      const hides = s.overflowX === "hidden" || s.overflowX === "clip" ||
        s.textOverflow === "ellipsis";
      if (hides && el.scrollWidth > el.clientWidth + 1 && (el.textContent ?? "").trim()) {
        out.push(`${el.tagName}.${el.className}: ${(el.textContent ?? "").slice(0, 60)}`);
      }
    }
    if (document.documentElement.scrollWidth > innerWidth + 1) {
      out.push("the page scrolls sideways");
    }
    return out;
  });
