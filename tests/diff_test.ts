// `heapscope diff` end to end: a recorded program grows its cache and leaks between two captures;
// the diff names the cache's allocation site and its retainer (the global g_cache) as the top
// growers and exactly the blocks leaked in between as new leaks. A third capture after more growth
// applies the three-snapshot technique. `--html` writes the report of the newest file with the
// comparison: in Chromium it says every line of the text summary with the same numbers, a new leak
// selects its block, the survivors are there with three files, and a growth table exports its rows.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { heapscope, said, tempDir } from "./cli_runs.ts";
import { ROOT } from "./truth.ts";
import type { LeaksDiff } from "../report/leaks_diff.ts";
import type { LeaksFile } from "../report/schema.ts";
import { guard, openReport, reportState, until, withChromium } from "./browser.ts";
import {
  captureGrow,
  exportedRows,
  exportTable,
  GROWN,
  LEAKED,
  pageSaysTheSummary,
  parseCsv,
} from "./comparison_helpers.ts";

const OUT = `${ROOT}/tests/output/`;

Deno.test("heapscope diff names the growing cache's site and retainer and the new leaks; --html shows the same", async () => {
  const dir = await tempDir("heapscope-diff-");
  try {
    const { a, b, c, bKnown } = await captureGrow(dir, { known: true });

    const r = await heapscope(["diff", a, b, "-o", `${dir}/d.json`, "--html", `${dir}/d2.html`]);
    equal(r.code, 1, said(r)); // new leaks
    const d = JSON.parse(await Deno.readTextFile(`${dir}/d.json`)) as LeaksDiff;
    equal(d.format, "heapscope-diff");
    equal(d.newLeaks.count, LEAKED, said(r));
    equal(d.newLeaks.bytes, LEAKED * 72, "a 72-byte request gets an 80-byte chunk: 72 usable");
    ok(d.newLeaks.direct.every((l) => /leak_some/.test(l.site ?? "")), said(r));
    equal(d.goneLeaks.count, 0);
    const topSite = d.bySite![0]!;
    ok(/cache_insert/.test(topSite.label), `top site: ${topSite.label}\n${r.stdout}`);
    equal(topSite.count, GROWN);
    ok(d.byRetainer, "the files have retainers");
    ok(/g_cache/.test(d.byRetainer![0]!.label), `top retainer: ${d.byRetainer![0]!.label}`);
    ok(d.byRetainer![0]!.bytes >= GROWN * (48 + 264), "the cache retains every new entry");
    ok(/growth by allocation site/.test(r.stdout) && /cache_insert/.test(r.stdout), r.stdout);

    // Leaks a --suppressions rule names are known, not new: counted apart, exit status 0.
    const known = await heapscope(
      ["diff", a, bKnown!, "-o", `${dir}/dk.json`, "--html", `${dir}/dk.html`],
    );
    equal(known.code, 0, said(known));
    const dk = JSON.parse(await Deno.readTextFile(`${dir}/dk.json`)) as LeaksDiff;
    equal(dk.newLeaks.count, 0, said(known));
    equal(dk.newLeaks.suppressed.count, LEAKED, said(known));
    equal(dk.totals.after.suppressed, LEAKED);
    ok(
      /new leaks +0 blocks, 0 B \(0 direct\); 20 more \(1\.4 KiB\) suppressed/.test(known.stdout),
      known.stdout,
    );

    const three = await heapscope(
      ["diff", a, b, c, "-o", `${dir}/d3.json`, "--html", `${dir}/d3.html`, "--top", "1000"],
    );
    const d3 = JSON.parse(await Deno.readTextFile(`${dir}/d3.json`)) as LeaksDiff;
    const s = d3.survivors!;
    // Between 1 and 2: 400 entries and their values, 20 leaks (and the entries array, realloc'd).
    ok(s.count >= 820 && s.count <= 823, `survivors ${s.count}\n${three.stdout}`);
    ok(/cache_insert/.test(s.bySite[0]!.label), three.stdout);

    const newest = JSON.parse(await Deno.readTextFile(c)) as LeaksFile;
    await Deno.mkdir(OUT, { recursive: true });
    await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
      const { network, errors } = await guard(page, context);

      // Two files: the page says every line of the summary, with the same numbers.
      await openReport(page, `${dir}/d2.html`);
      const section = page.locator('[data-testid="comparison"]');
      ok(await pageSaysTheSummary(page, r.stdout) > 10, "the summary's lines were checked");
      const files = await section.locator('[data-testid="compare-files"] li').allTextContents();
      equal(files.length, 2);
      for (const [i, f] of d.files.entries()) {
        ok(files[i]!.includes(`pid ${f.pid}`) && files[i]!.includes(f.command), files[i]);
        ok(files[i]!.includes(f.capturedAt.slice(0, 19).replace("T", " ")), files[i]);
      }
      ok(files[1]!.includes("drawn in this report"), files[1]);
      equal(
        await section.locator('[data-testid="new-leaks-summary"]').textContent(),
        `${LEAKED} blocks, 1.4 KiB (${LEAKED} direct)`,
      );
      const sites = await exportedRows(page, "growth-site-table");
      ok(/cache_insert/.test(String(sites[0]!.label)), JSON.stringify(sites[0]));
      const retainers = await exportedRows(page, "growth-retainer-table");
      ok(/g_cache/.test(String(retainers[0]!.label)), JSON.stringify(retainers[0]));

      // The CSV of the site table: the diff's rows that changed, every column, raw numbers; with
      // the unchanged ones asked for, every row of the diff.
      const changed = d.bySite!.filter((x) => x.count !== 0 || x.bytes !== 0);
      const asRows = (csv: string) =>
        parseCsv(csv).slice(1).map((f) => ({
          label: f[0],
          bytes: Number(f[1]),
          count: Number(f[2]),
          before: { bytes: Number(f[3]), count: Number(f[5]) },
          after: { bytes: Number(f[4]), count: Number(f[6]) },
        }));
      const wanted = (rows: typeof changed) =>
        rows.map(({ label, bytes, count, before, after }) => ({
          label,
          bytes,
          count,
          before,
          after,
        }));
      const csv = await exportTable(page, "growth-site-table", "CSV");
      equal(
        parseCsv(csv)[0]!.join(),
        "allocation site,Δ bytes,Δ blocks,1st bytes,2nd bytes,1st blocks,2nd blocks",
      );
      deepStrictEqual(asRows(csv), wanted(changed));
      await section.locator('[data-testid="growth-site"] label.unchanged input').check();
      deepStrictEqual(
        asRows(await exportTable(page, "growth-site-table", "CSV")),
        wanted(
          d.bySite!.filter((x) => x.count !== 0 || x.bytes !== 0).concat(
            d.bySite!.filter((x) => x.count === 0 && x.bytes === 0),
          ),
        ).sort((x, y) => y.bytes - x.bytes),
      );

      // A new leak selects its block of the drawn file: the card opens on it.
      const row = section.locator('[data-testid="new-leaks-table"] .vtable-body .vrow').first();
      const address = await row.getAttribute("data-key");
      ok(d.newLeaks.direct.some((l) => l.address === address), `${address}`);
      await row.click();
      await until("the new leak selected", async () => {
        const st = await reportState(page);
        return st.cardOpen && st.selectedAddress === address;
      });
      await until(
        "the card",
        async () => (await page.locator('[data-testid="detail"]').isVisible()),
      );
      await section.screenshot({ path: `${OUT}diff-2.png` });

      // Known leaks: none new, 20 suppressed, as the summary says.
      await openReport(page, `${dir}/dk.html`);
      ok(await pageSaysTheSummary(page, known.stdout) > 5);
      equal(
        await page.locator('[data-testid="total-suppressed"]').getAttribute("data-after"),
        String(LEAKED),
      );

      // Three files: the newest is drawn, the survivors are there, a new leak selects its block
      // in the third file (it is still leaked there).
      await openReport(page, `${dir}/d3.html`);
      ok(await pageSaysTheSummary(page, three.stdout) > 10);
      const three3 = await section.locator('[data-testid="compare-files"] li').allTextContents();
      equal(three3.length, 3);
      ok(
        three3[2]!.includes("drawn in this report") &&
          three3[2]!.includes(`pid ${newest.target.pid}`),
      );
      ok(await section.locator('[data-testid="survivors"]').isVisible());
      const survivors = await exportedRows(page, "growth-survivor-site-table");
      deepStrictEqual(
        survivors.map((x) => [x.label, x.bytes, x.count]),
        s.bySite.map((x) => [x.label, x.bytes, x.count]),
      );
      const first = section.locator('[data-testid="new-leaks-table"] .vtable-body .vrow').first();
      const at = await first.getAttribute("data-key");
      await first.click();
      await until("the new leak selected in the third file", async () => {
        const st = await reportState(page);
        return st.cardOpen && st.selectedAddress === at;
      });
      ok(newest.nodes.some((n) => n.address === at && n.status === "leaked"));
      await page.screenshot({ path: `${OUT}diff-3.png`, fullPage: true });
      deepStrictEqual(network, [], "no network request");
      deepStrictEqual(errors, [], "no page errors");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
