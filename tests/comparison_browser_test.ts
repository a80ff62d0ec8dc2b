// The Comparison section in headless Chromium, offline, on real captures of victim/grow written with
// --graph leaked (so the diff has notes): at 800 and 1400 px nothing is clipped and no comparison
// table scrolls sideways; keyboard only, a new leak is reached with Tab and opened with Enter; every
// table, the list of files and the totals have an accessible name; the diff's notes are said.

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { heapscope, said, tempDir } from "./cli_runs.ts";
import { ROOT } from "./truth.ts";
import type { LeaksDiff } from "../report/leaks_diff.ts";
import { clippedText, guard, openReport, reportState, until, withChromium } from "./browser.ts";
import { captureGrow, LEAKED, pageSaysTheSummary, scrollingTables } from "./comparison_helpers.ts";

const OUT = `${ROOT}/tests/output/`;

Deno.test("comparison view: notes, 800 and 1400 px, keyboard only, accessible names", async () => {
  const dir = await tempDir("heapscope-comparison-");
  try {
    const { a, b, c } = await captureGrow(dir, { graph: "leaked" });
    const r = await heapscope(
      ["diff", a, b, c, "-o", `${dir}/d.json`, "--html", `${dir}/d.html`, "--top", "1000"],
    );
    equal(r.code, 1, said(r));
    const d = JSON.parse(await Deno.readTextFile(`${dir}/d.json`)) as LeaksDiff;
    ok(d.notes.some((n) => /--graph leaked/.test(n)), d.notes.join("\n"));
    await Deno.mkdir(OUT, { recursive: true });
    for (const width of [1400, 800]) {
      await withChromium({ width, height: 900 }, async (page, context) => {
        const { network, errors } = await guard(page, context);
        await openReport(page, `${dir}/d.html`);
        const section = page.locator('[data-testid="comparison"]');
        // First on the page: the comparison is what the reader asked for.
        const box = await section.boundingBox();
        const leaks = await page.locator('[data-testid="leaks"]').boundingBox();
        ok(box && leaks && box.y < leaks.y && box.y < 900, `comparison at ${box?.y}`);
        ok(await pageSaysTheSummary(page, r.stdout) > 10);
        const notes = await section.locator('[data-testid="compare-notes"] li').allTextContents();
        equal(notes, d.notes);

        // Names for assistive technology: the section, the list of files, the totals, each table.
        equal(await section.getAttribute("aria-labelledby"), "compare-title");
        equal(await section.locator("#compare-title").count(), 1);
        ok(await section.locator('ol[aria-label="Files compared"]').isVisible());
        ok(
          await section.locator("table[aria-labelledby=compare-totals-title] th[scope=row]")
            .count() === 6,
        );
        const grids = await section.locator('[role="treegrid"]').evaluateAll((els) =>
          els.map((e) => e.getAttribute("aria-label") ?? "")
        );
        // Leaks gone: none, so no table (the line says "0 blocks").
        equal(grids, [
          "New leaks",
          "Growth by type",
          "Growth by allocation site",
          "Growth by retainer",
          "Growth by zone",
          "Survivors by allocation site",
          "Survivors by type",
        ]);

        // Keyboard only: Tab to the first new leak, Enter opens its card, ↓ Enter the next one.
        // From a freshly opened page (the exports above moved the focus down the page).
        await openReport(page, `${dir}/d.html`);
        let tabs = 0;
        while (
          !(await page.evaluate(() =>
            document.activeElement?.closest('[data-testid="new-leaks-table"] .vtable-body') !==
              null
          ))
        ) {
          ok(++tabs < 60, "Tab reaches the new leaks table");
          await page.keyboard.press("Tab");
        }
        const focused = () =>
          page.evaluate(() => document.activeElement?.getAttribute("data-key") ?? null);
        const first = await focused();
        await page.keyboard.press("Enter");
        await until("the card of the first new leak", async () => {
          const st = await reportState(page);
          return st.cardOpen && st.selectedAddress === first;
        });
        await page.keyboard.press("ArrowDown");
        await until("the focus on the next row", async () => {
          const k = await focused();
          return k !== null && k !== first;
        });
        const second = await focused();
        await page.keyboard.press("Enter");
        await until(
          "the card of the second new leak",
          async () => (await reportState(page)).selectedAddress === second,
        );
        equal(
          await section.locator('[data-testid="new-leaks-table"] [aria-selected="true"]')
            .getAttribute(
              "data-key",
            ),
          second,
        );
        equal((await reportState(page)).nodes > 0, true);
        await page.screenshot({ path: `${OUT}comparison-${width}.png`, fullPage: true });
        await page.keyboard.press("Escape");
        await until("the card closed", async () => !(await reportState(page)).cardOpen);
        equal(await clippedText(page), [], `nothing clipped at ${width} px`);
        equal(await scrollingTables(page), [], `no comparison table scrolls at ${width} px`);
        equal(
          await section.locator('[data-testid="new-leaks-summary"]').textContent(),
          `${LEAKED} blocks, 1.4 KiB (${LEAKED} direct)`,
        );
        equal(network, [], "no network request");
        equal(errors, [], "no page errors");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
