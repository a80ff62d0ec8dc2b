// Debian's Chromium, headless and offline, for the report tests and the report benchmark.

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
  });
  try {
    return await fn(context.pages()[0] ?? await context.newPage(), context);
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
