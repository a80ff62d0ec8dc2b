// The one-file HTML report in headless Chromium, opened from file:// with the network cut off, on
// real captures (the victim attached, a C program and python3 recorded by `heapscope run`) and on
// generated ones (10^6 blocks): leaks first, counts that agree with leaks.json, the card always
// in view, search that draws an undrawn block, flame graph, timeline read-outs, heap map, export,
// keyboard only, colour vision, --redact, 800 and 1400 px without clipped text, hostile strings.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Page } from "playwright-core";
import { renderHtml } from "../report/html.ts";
import { sampleLeaks } from "../report/sample_leaks.ts";
import type { LeaksFile } from "../report/schema.ts";
import { buildViewer, type ViewerBundle } from "../report/viewer/build_viewer.ts";
import { formatBytes, formatCount } from "../report/format.ts";
import {
  clippedText,
  drawStats,
  guard,
  openReport,
  reportState,
  sidewaysTables,
  until,
  withChromium,
} from "./browser.ts";
import { startVictim } from "./expect.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const OUT = ROOT + "tests/output/";
const HEAPSCOPE = ROOT + "heapscope";
const HOSTILE = `</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;
const HOSTILE_FN = `</script><img src=x onerror=alert(1)>`;

let bundle: ViewerBundle | undefined;
async function viewer(): Promise<ViewerBundle> {
  return bundle ??= await buildViewer();
}

/** `./heapscope args…`; its leaks.json parsed. */
async function heapscope(args: string[], env: Record<string, string> = {}) {
  // Options go before "--" (what follows is the command heapscope runs).
  const end = args.includes("--") ? args.indexOf("--") : args.length;
  const r = await new Deno.Command(HEAPSCOPE, {
    args: [...args.slice(0, end), "--no-color", ...args.slice(end)],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  // Exit 1 is "leaks found"; an uncaught error exits 1 too, and says so.
  assert(
    (r.code === 0 || r.code === 1) && !/error: Uncaught/.test(text),
    `heapscope ${args.join(" ")} exited ${r.code}:\n${text}`,
  );
  return text;
}

/** Capture the victim with `./heapscope <pid>`: its leaks.json and the report heapscope wrote. */
async function victimReport(): Promise<{ leaks: LeaksFile; html: string }> {
  const { proc } = await startVictim();
  const dir = await Deno.makeTempDir({ prefix: "heapscope-report-" });
  try {
    await heapscope([String(proc.pid), "-o", `${dir}/leaks.json`, "--html", `${dir}/r.html`]);
    const leaks = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`)) as LeaksFile;
    await Deno.mkdir(OUT, { recursive: true });
    await Deno.copyFile(`${dir}/r.html`, OUT + "report-victim.html");
    return { leaks, html: OUT + "report-victim.html" };
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The card's rectangle is inside the viewport (it is in view wherever the selection came from). */
const cardInView = (page: Page) =>
  page.evaluate(() => {
    const card = document.querySelector('[data-testid="detail"]');
    if (!card) return false;
    const r = card.getBoundingClientRect();
    return r.top >= 0 && r.left >= 0 && r.top < innerHeight - 40 && r.right <= innerWidth + 1;
  });

Deno.test("report of the victim (attached): leaks first, counts = leaks.json, card in view at 1400 and 800 px, Esc, export, heap map", async () => {
  const { leaks, html } = await victimReport();
  const s = leaks.summary;
  for (const width of [1400, 800]) {
    await withChromium({ width, height: 900 }, async (page, context) => {
      const { network, errors } = await guard(page, context);
      await openReport(page, html);
      // Leaks first: the leaks table starts on the first screen, before the graph.
      const leaksBox = await page.locator('[data-testid="leaks"]').boundingBox();
      const graphBox = await page.locator('[data-testid="graph"]').boundingBox();
      assert(leaksBox && graphBox && leaksBox.y < 900 && leaksBox.y < graphBox.y, `${leaksBox?.y}`);
      // Every count agrees with leaks.json.
      const stat = async (id: string) =>
        Number(await page.locator(`[data-testid="stat-${id}"] .value`).getAttribute("data-value"));
      assertEquals(
        [
          await stat("allocations"),
          await stat("leaked"),
          await stat("direct"),
          await stat("cycles"),
        ],
        [s.allocations, s.leaked, s.direct, s.cycles],
      );
      assert(
        (await page.locator('[data-testid="stat-leaked"]').getAttribute("aria-label"))!
          .includes(formatBytes(s.leakedBytes)),
      );
      const title = await page.locator("#leaks-title").textContent();
      assert(
        title!.includes(`${formatCount(s.leaked)} blocks, ${formatBytes(s.leakedBytes)}`),
        title!,
      );
      assert(title!.includes(`of ${formatCount(s.direct)} direct leaks`), title!);
      assertEquals(
        (await reportState(page)).visible.leaked + (await reportState(page)).visible.cycle,
        s.leaked,
      );
      // The first view shows every group box whole: its label inside the canvas, cut to the box,
      // never over another group's label (narrow groups' labels overlapped before).
      const view = () =>
        page.evaluate(() => {
          const d = (globalThis as unknown as {
            __heapscopeDebug: {
              labels(): { text: string; x: number; y: number; w: number; h: number }[];
              stats(): { frames: number; fitted: boolean } | null;
            };
          }).__heapscopeDebug;
          const c = document.querySelector('[data-testid="graph"]')!.getBoundingClientRect();
          return { labels: d.labels(), stats: d.stats(), w: c.width, h: c.height };
        });
      await until("the graph drawn", async () => {
        const st = (await view()).stats;
        return st?.fitted === true && st.frames > 0;
      });
      const { labels, w: canvasW } = await view();
      if (width === 1400) assert(labels.length >= 4, JSON.stringify(labels));
      for (const l of labels) {
        assert(
          l.x >= 0 && l.x + l.w <= canvasW + 0.5,
          `label off the canvas: ${JSON.stringify(l)}`,
        );
      }
      for (const a of labels) {
        for (const b of labels) {
          const apart = a === b || a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y ||
            b.y + b.h <= a.y;
          assert(apart, `labels overlap: ${JSON.stringify([a, b])}`);
        }
      }
      // Groups like the CLI's: the victim's 2 × 40 B cycle leaks are one row.
      const groupRows = page.locator('[data-testid="leaks"] .vrow.level0');
      assert((await groupRows.count()) < s.direct, "direct leaks are grouped");
      // Expand the top group, select its first block: the card is in view, the row selected.
      await groupRows.first().click();
      await page.locator('[data-testid="leaks"] .vrow.level1').first().click();
      await until("the card", async () => (await reportState(page)).cardOpen);
      await until("the card in view", () => cardInView(page));
      const st = await reportState(page);
      const node = leaks.nodes.find((n) => n.address === st.selectedAddress)!;
      assertEquals(node.leak, "direct");
      assert((await page.locator('[data-testid="detail-held"]').textContent())!.includes(
        formatBytes(node.held!.bytes),
      ));
      await page.screenshot({ path: `${OUT}report-victim-${width}.png` });
      // A node of the graph: select a reachable one on the canvas, the card shows its root.
      await page.locator('[data-testid="graph"]').scrollIntoViewIfNeeded();
      const reachable = leaks.nodes.findIndex((n) => n.status === "reachable");
      // Not while the camera still flies to the leak selected above (a loaded machine draws
      // its frames late), and with the block panned to the canvas's centre (the flight may have
      // left it outside the view, or under the legend): else the click misses it.
      await until("the camera still", async () => !(await drawStats(page)).moving);
      const at = await page.evaluate((address) => {
        const d = (globalThis as unknown as {
          __heapscopeDebug: {
            indexOfAddress(a: string): number;
            screenPosition(i: number): [number, number] | null;
            pan(dx: number, dy: number): void;
          };
        }).__heapscopeDebug;
        const i = d.indexOfAddress(address);
        const r = document.querySelector('[data-testid="graph"]')!.getBoundingClientRect();
        const p0 = d.screenPosition(i)!;
        d.pan(r.width / 2 - p0[0], r.height / 2 - p0[1]);
        const p = d.screenPosition(i)!;
        return { x: r.left + p[0], y: r.top + p[1] };
      }, leaks.nodes[reachable]!.address);
      await page.mouse.click(at.x, at.y);
      await until(
        "the reachable block selected",
        async () => (await reportState(page)).selectedAddress === leaks.nodes[reachable]!.address,
      );
      await until("the card in view", () => cardInView(page));
      await until(
        "the path from its root",
        async () => (await page.locator('[data-testid="path-root"]').count()) === 1,
      );
      // Esc closes the card first; a second Esc resets the view.
      await page.keyboard.press("3");
      await until("the leaked filter", async () => (await reportState(page)).filter === "leaked");
      await page.keyboard.press("Escape");
      await until("the card closed", async () => !(await reportState(page)).cardOpen);
      assertEquals((await reportState(page)).filter, "leaked");
      await page.keyboard.press("Escape");
      await until("the reset", async () => (await reportState(page)).filter === "all");
      assertEquals(await clippedText(page), [], `nothing clipped at ${width} px`);
      if (width === 1400) {
        // Export: every group and every block, as CSV.
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.locator('[data-testid="leaks"] button', { hasText: "CSV" }).click(),
        ]);
        const csv = await Deno.readTextFile((await download.path())!);
        const lines = csv.trim().split("\r\n");
        assert(lines[0]!.startsWith("level,leak,zone,direct,blocks,bytes"), lines[0]);
        assertEquals(lines.filter((l) => l.startsWith("1,")).length, s.direct);
        // The heap map of the main arena shows leaked pixels; a click on one selects a leak.
        await until("the block index", async () => (await reportState(page)).indexReady);
        const map = page.locator('[data-testid="heap-map-canvas"]');
        await map.scrollIntoViewIfNeeded();
        const leakedPixel = await map.evaluate((c: HTMLCanvasElement) => {
          const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
          for (let p = 0; p < d.length / 4; p++) {
            if (d[4 * p] === 0xe6 && d[4 * p + 1] === 0x61 && d[4 * p + 2] === 0x00) {
              const r = c.getBoundingClientRect();
              return {
                x: r.left + ((p % c.width) + 0.5) * r.width / c.width,
                y: r.top + (Math.floor(p / c.width) + 0.5) * r.height / c.height,
                n: d.length / 4,
              };
            }
          }
          return null;
        });
        assert(leakedPixel, "the heap map has leaked pixels");
        await page.mouse.click(leakedPixel.x, leakedPixel.y);
        await until("a leak selected from the heap map", async () => {
          const a = (await reportState(page)).selectedAddress;
          const n = leaks.nodes.find((x) => x.address === a);
          return n !== undefined && (n.status === "leaked" || n.status === "cycle");
        });
      }
      assertEquals(network, [], "no network request");
      assertEquals(errors, [], "no page errors");
    });
  }
});

Deno.test("report of the victim with --redact: no byte of the process's memory anywhere in the page", async () => {
  const { leaks } = await victimReport();
  const copied = leaks.nodes.filter((n) => n.bytes && n.bytes.length >= 16).map((n) => n.bytes!);
  assert(copied.length >= 5, "the victim's leaks.json carries hexdumps");
  const file = OUT + "report-victim-redacted.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { redact: true, bundle: await viewer() }));
  const text = await Deno.readTextFile(file);
  await withChromium({ width: 1400, height: 900 }, async (page) => {
    await openReport(page, file);
    await until("the block index", async () => (await reportState(page)).indexReady);
    await page.locator('[data-testid="leaks"] .vrow.level0').first().click();
    await page.locator('[data-testid="leaks"] .vrow.level1').first().click();
    await until("the card", async () => (await reportState(page)).cardOpen);
    const dom = await page.content();
    for (const hex of copied) {
      // 8 bytes as hex, as the file has them and as the hexdump spaces them.
      const run = hex.slice(0, 16);
      const spaced = run.match(/../g)!.join(" ");
      assert(!text.includes(run) && !dom.includes(run) && !dom.includes(spaced), `byte run ${run}`);
    }
    assertEquals(await page.locator("pre.hex").count(), 0);
    assert((await page.locator('[data-testid="privacy"]').textContent())!.includes("no bytes"));
  });
});

Deno.test("heapscope <pid> --redact writes no byte of the process's memory to leaks.json or the report", async () => {
  const { proc } = await startVictim();
  const dir = await Deno.makeTempDir({ prefix: "heapscope-redact-" });
  try {
    const write = (extra: string[], name: string) =>
      heapscope([
        String(proc.pid),
        ...extra,
        "-o",
        `${dir}/${name}.json`,
        "--html",
        `${dir}/${name}.html`,
      ]);
    await write([], "plain");
    await write(["--redact"], "redacted");
    const plain = JSON.parse(await Deno.readTextFile(`${dir}/plain.json`)) as LeaksFile;
    const copied = plain.nodes.filter((n) => n.bytes && n.bytes.length >= 16).map((n) => n.bytes!);
    assert(copied.length >= 5, "without --redact the victim's blocks carry their bytes");
    const leaks = JSON.parse(await Deno.readTextFile(`${dir}/redacted.json`)) as LeaksFile;
    assertEquals(leaks.summary.leaked, plain.summary.leaked, "the same analysis");
    assert(leaks.nodes.every((n) => n.bytes === undefined), "no node keeps its bytes");
    const html = await Deno.readTextFile(`${dir}/redacted.html`);
    for (const hex of copied) {
      assert(!html.includes(hex.slice(0, 16)), `byte run ${hex.slice(0, 16)}`);
    }
  } finally {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

const PROGRAM = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
struct node { struct node *next; char name[40]; };
static struct node *kept;
__attribute__((noinline)) void leak_list(int n) {
  struct node *head = NULL;
  for (int i = 0; i < n; i++) {
    struct node *x = malloc(sizeof *x); /* 48 B asked, 56 B usable */
    x->next = head; snprintf(x->name, sizeof x->name, "node %d", i); head = x;
  }
}
__attribute__((noinline)) void leak_strings(int n) {
  for (int i = 0; i < n; i++) { char *s = malloc(33); memset(s, 'a', 32); s[32] = 0; }
}
__attribute__((noinline)) void keep_some(int n) {
  for (int i = 0; i < n; i++) { struct node *x = calloc(1, sizeof *x); x->next = kept; kept = x; }
}
__attribute__((noinline)) void scrub(void) { volatile char b[8192]; memset((char *)b, 0, sizeof b); }
int main(void) {
  for (int round = 0; round < 20; round++) { leak_list(5); leak_strings(3); keep_some(10); usleep(2000); }
  scrub();
  return 0;
}
`;

Deno.test("report of a recorded C program: one site label everywhere, flame graph, timeline read-out, asked vs usable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-report-run-" });
  try {
    await Deno.writeTextFile(`${dir}/prog.c`, PROGRAM);
    const cc = await new Deno.Command("gcc", {
      args: ["-g", "-O1", "-fno-omit-frame-pointer", "-o", `${dir}/prog`, `${dir}/prog.c`],
    }).output();
    assert(cc.success, new TextDecoder().decode(cc.stderr));
    await heapscope([
      "run",
      "-o",
      `${dir}/leaks.json`,
      "--html",
      `${dir}/r.html`,
      "--",
      `${dir}/prog`,
    ]);
    const leaks = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`)) as LeaksFile;
    await Deno.copyFile(`${dir}/r.html`, OUT + "report-recorded.html");
    assertEquals(leaks.summary.leaked, 20 * 5 + 20 * 3);
    await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
      const { network, errors } = await guard(page, context);
      await openReport(page, OUT + "report-recorded.html");
      // At 1400 px every table fits its card, the zones beside the cycles included.
      assertEquals(await sidewaysTables(page), []);
      // The first view shows every drawn block, none under the legend (a reachable list of 200
      // was once laid out as a line that made the rest specks; the last row sat under the legend).
      const hidden = async () =>
        await page.evaluate(() => {
          const d = (globalThis as unknown as {
            __heapscopeDebug: {
              nodes: number;
              stats(): { fitted: boolean; frames: number } | null;
              screenPosition(i: number): [number, number] | null;
            };
          }).__heapscopeDebug;
          const st = d.stats();
          if (!st?.fitted || st.frames === 0) return null;
          const c = document.querySelector('[data-testid="graph"]')!.getBoundingClientRect();
          const legend = document.querySelector(".canvas-wrap .legend")!
            .getBoundingClientRect();
          const out: number[] = [];
          const at: [number, number][] = [];
          for (let i = 0; i < d.nodes; i++) {
            const p = d.screenPosition(i);
            // A block's square or disc, at this zoom, reaches up to ~8 px past its centre.
            const m = 8;
            if (!p || p[0] < m || p[0] > c.width - m || p[1] < m || p[1] + m > legend.top - c.top) {
              out.push(i);
            }
            if (p) at.push(p);
          }
          // How far apart neighbours are drawn: specks when the view was fitted to a long line.
          const nearest = at.map((p, i) =>
            Math.min(...at.map((q, j) => i === j ? Infinity : Math.hypot(p[0] - q[0], p[1] - q[1])))
          ).sort((a, b) => a - b);
          return { out, nodes: d.nodes, spacing: nearest[nearest.length >> 1]! };
        });
      await until("the graph fitted", async () => (await hidden()) !== null);
      const seen = (await hidden())!;
      assert(seen.nodes === 372, `${seen.nodes} drawn`);
      assertEquals(seen.out, [], "blocks outside the first view or under the legend");
      assert(seen.spacing >= 5, `neighbours drawn ${seen.spacing.toFixed(1)} px apart`);
      // The top group is a site, labelled as the sites table labels it.
      const label = (await page.locator('[data-testid="group-label"]').first().textContent())!;
      assert(/^leak_(list|strings)$/.test(label), label);
      const siteRow = page.locator('[data-testid="sites-table"] .vrow', { hasText: label }).first();
      assert((await siteRow.textContent())!.includes(label));
      await page.locator('[data-testid="leaks"] .vrow.level0').first().click();
      await page.locator('[data-testid="leaks"] .vrow.level1').first().click();
      await until(
        "the stack on the card",
        async () => (await page.locator('[data-testid="detail-stack"]').count()) === 1,
      );
      const card = (await page.locator('[data-testid="detail-stack"]').textContent())!;
      assert(card.includes(label) && /prog\.c:\d+/.test(card), card);
      // Asked vs usable: 48 B asked for a 56 B block, said on the card when they differ.
      const list = leaks.nodes.find((n) => n.requested === 48)!;
      assert(list.size > 48);
      await page.locator('[data-testid="search"]').fill(list.address);
      await page.locator('[data-testid="search"]').press("Enter");
      await until(
        "the searched block",
        async () => (await reportState(page)).selectedAddress === list.address,
      );
      const size = (await page.locator('[data-testid="detail-size"]').textContent())!;
      assert(size.includes(`${list.size} B usable`) && size.includes("asked for 48 B"), size);
      // The flame graph (d3-flame-graph) splits the leaked bytes between the two leaking sites.
      const flame = page.locator('[data-testid="flame"]');
      await flame.scrollIntoViewIfNeeded();
      const frames = flame.locator("g.frame");
      await until("flame frames", async () => (await frames.count()) > 4);
      const names = await flame.locator("g.frame").evaluateAll((gs) =>
        gs.map((g) => g.getAttribute("name"))
      );
      assert(
        names.some((n) => n?.startsWith("leak_list")) &&
          names.some((n) => n?.startsWith("leak_strings")),
        names.join(),
      );
      const top = flame.locator("g.frame[name^='leak_list']").first();
      await top.hover();
      await until(
        "the flame read-out",
        async () =>
          (await page.locator('[data-testid="flame-readout"]').textContent())!.startsWith(
            "leak_list",
          ),
      );
      // The timeline reads out under the mouse and with the arrow keys.
      const chart = page.locator('[data-testid="timeline"] svg');
      await chart.scrollIntoViewIfNeeded();
      const box = (await chart.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
      await until(
        "the timeline read-out",
        async () =>
          /^at .+ live in .+ blocks$/.test(
            (await page.locator('[data-testid="timeline-readout"]').textContent())!,
          ),
      );
      const first = await page.locator('[data-testid="timeline-readout"]').textContent();
      await chart.focus();
      await page.keyboard.press("ArrowRight");
      await until(
        "the read-out to move",
        async () =>
          (await page.locator('[data-testid="timeline-readout"]').textContent()) !== first,
      );
      await page.screenshot({ path: OUT + "report-recorded.png", fullPage: true });
      assertEquals(network, []);
      assertEquals(errors, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report of 10^6 generated blocks: fitted at once, search draws an undrawn block with its path from a root", async () => {
  const leaks = sampleLeaks({ allocations: 1_000_000, withSites: true });
  const file = OUT + "report-1m.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await viewer() }));
  await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
    const { errors } = await guard(page, context);
    await openReport(page, file, 60_000);
    // Fitted at the first frame: no layout runs in the page.
    const s0 = await drawStats(page);
    assert(s0.fitted, "the camera is fitted at once");
    assertEquals((await reportState(page)).nodes, 2000);
    // A reachable block that is not drawn.
    await until("the block index", async () => (await reportState(page)).indexReady, 60_000);
    const target = leaks.nodes[654_321]!;
    assertEquals(target.status, "reachable");
    assertEquals(
      await page.evaluate(
        (a) =>
          (globalThis as unknown as { __heapscopeDebug: { indexOfAddress(a: string): number } })
            .__heapscopeDebug.indexOfAddress(a),
        target.address,
      ),
      -1,
      "the block is not drawn",
    );
    await page.locator('[data-testid="search"]').fill(target.address);
    await until("the undrawn match", async () => (await reportState(page)).undrawnMatches === 1);
    assert(
      (await page.locator('[data-testid="not-drawn"]').textContent())!.includes("1 not drawn"),
    );
    await page.locator('[data-testid="search"]').press("Enter");
    await until(
      "the block selected",
      async () => (await reportState(page)).selectedAddress === target.address,
    );
    await until("the block drawn", async () => (await reportState(page)).nodes > 2000);
    await until(
      "its path from a root",
      async () => (await page.locator('[data-testid="path-root"]').count()) === 1,
    );
    const path = (await page.locator('[data-testid="detail-path"]').textContent())!;
    assert(path.includes(target.address) && path.includes("root:"), path);
    // Every step of the path is drawn, so the graph shows it from the root to the block.
    const steps =
      (await page.locator('[data-testid="detail-path"] li:not(.root)').allTextContents())
        .map((t) => t.match(/0x[0-9a-f]+/)![0]);
    assert(steps.length >= 2, path);
    await until("every step drawn", async () => {
      const at = await page.evaluate((list) => {
        const d = (globalThis as unknown as {
          __heapscopeDebug: { indexOfAddress(a: string): number };
        }).__heapscopeDebug;
        return list.map((a) => d.indexOfAddress(a));
      }, steps);
      return at.every((i) => i >= 0);
    });
    const drawnNow = await page.evaluate(
      (a) =>
        (globalThis as unknown as { __heapscopeDebug: { indexOfAddress(a: string): number } })
          .__heapscopeDebug.indexOfAddress(a),
      target.address,
    );
    assert(drawnNow >= 2000, "drawn on demand, after the first 2,000");
    await page.screenshot({ path: OUT + "report-1m.png" });
    assertEquals(errors, []);
  });
});

Deno.test("report of python3 recorded with 10^6 malloc blocks: counts agree, an undrawn block is found", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-report-py-" });
  try {
    // PYTHONMALLOC=malloc: every object is its own malloc block (pymalloc would pool them).
    await heapscope(
      [
        "run",
        "--graph",
        "all",
        "-o",
        `${dir}/leaks.json`,
        "--html",
        `${dir}/r.html`,
        "--",
        "python3",
        "-c",
        // An extra reference the interpreter never drops: the strings are still live at exit.
        "import ctypes; x = [str(i) * 2 for i in range(1_000_000)]; " +
        "ctypes.pythonapi.Py_IncRef(ctypes.py_object(x))",
      ],
      { PYTHONMALLOC: "malloc" },
    );
    const leaks = JSON.parse(await Deno.readTextFile(`${dir}/leaks.json`)) as LeaksFile;
    assert(leaks.summary.allocations >= 1_000_000, `${leaks.summary.allocations} blocks`);
    await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
      const { errors } = await guard(page, context);
      await openReport(page, `${dir}/r.html`, 60_000);
      const allocations = Number(
        await page.locator('[data-testid="stat-allocations"] .value').getAttribute("data-value"),
      );
      assertEquals(allocations, leaks.summary.allocations);
      await until("the block index", async () => (await reportState(page)).indexReady, 60_000);
      // A string in the middle of the heap: not drawn, found, drawn with its path from a root.
      const target = leaks.nodes[Math.floor(leaks.nodes.length / 2)]!;
      assertEquals(
        await page.evaluate(
          (a) =>
            (globalThis as unknown as { __heapscopeDebug: { indexOfAddress(a: string): number } })
              .__heapscopeDebug.indexOfAddress(a),
          target.address,
        ),
        -1,
      );
      await page.locator('[data-testid="search"]').fill(target.address);
      await page.locator('[data-testid="search"]').press("Enter");
      await until(
        "the block selected",
        async () => (await reportState(page)).selectedAddress === target.address,
      );
      assertEquals(
        await page.locator('[data-testid="detail-address"]').textContent(),
        target.address,
      );
      await until(
        "its path from a root",
        async () => (await page.locator('[data-testid="path-root"]').count()) === 1,
      );
      if (leaks.retainers?.length) {
        assertEquals(await page.locator('[data-testid="retainers"]').count(), 1);
      }
      await page.screenshot({ path: OUT + "report-python3.png" });
      assertEquals(errors, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keyboard only: leak rows, the card, graph nodes, Esc twice; focus is visible", async () => {
  const leaks = sampleLeaks({ allocations: 3000, withSites: true, withBytes: true });
  const file = OUT + "report-keyboard.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await viewer() }));
  await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
    const { errors } = await guard(page, context);
    await openReport(page, file);
    // Tab from the top of the page reaches the leaks table's filter, its buttons, then one row.
    await page.keyboard.press("Tab");
    let tabs = 1;
    while (
      !(await page.evaluate(() => document.activeElement?.classList.contains("vrow") ?? false))
    ) {
      await page.keyboard.press("Tab");
      assert(++tabs < 30, "a leak row is reached by Tab");
    }
    const outline = await page.evaluate(() =>
      getComputedStyle(document.activeElement!).outlineStyle
    );
    assert(outline !== "none", "the focused row shows its focus");
    const active = () => page.evaluate(() => document.activeElement?.className ?? "");
    const expanded = () =>
      page.evaluate(() => document.activeElement?.getAttribute("aria-expanded") === "true");
    await page.keyboard.press("ArrowRight"); // expand the top group
    await until("the group expanded", expanded);
    await page.keyboard.press("ArrowDown"); // its first block
    await until("a block row focused", async () => (await active()).includes("level1"));
    await page.keyboard.press("Enter");
    await until("the card", async () => (await reportState(page)).cardOpen);
    const first = (await reportState(page)).selected;
    const row = await page.evaluate(() => document.activeElement?.getAttribute("data-pos"));
    await page.keyboard.press("ArrowDown");
    await until(
      "the next row focused",
      async () =>
        (await page.evaluate(() => document.activeElement?.getAttribute("data-pos"))) !== row,
    );
    await page.keyboard.press("Enter");
    await until("the next block", async () => (await reportState(page)).selected !== first);
    await page.keyboard.press("Escape");
    await until("the card closed", async () => !(await reportState(page)).cardOpen);
    // Tab on to the graph: arrows move between nodes, Enter selects the focused one.
    while (!(await page.evaluate(() => document.activeElement?.tagName === "CANVAS"))) {
      await page.keyboard.press("Tab");
      assert(++tabs < 60, "the graph is reached by Tab");
    }
    await page.keyboard.press("ArrowRight");
    await until(
      "a focused node",
      async () =>
        ((await page.locator('[data-testid="graph-focus"]').textContent()) ?? "").startsWith("0x"),
    );
    const announced = (await page.locator('[data-testid="graph-focus"]').textContent())!;
    await page.keyboard.press("ArrowDown");
    await until(
      "the focus to move",
      async () => (await page.locator('[data-testid="graph-focus"]').textContent()) !== announced,
    );
    await page.keyboard.press("Enter");
    await until("the node selected", async () => (await reportState(page)).cardOpen);
    const address = (await reportState(page)).selectedAddress!;
    assert((await page.locator('[data-testid="graph-focus"]').textContent())!.startsWith(address));
    await page.keyboard.press("3");
    await page.keyboard.press("Escape");
    await until("the card closed", async () => !(await reportState(page)).cardOpen);
    await page.keyboard.press("Escape");
    await until("the reset", async () => (await reportState(page)).filter === "all");
    // Screen readers: the stat cards and tables are labelled.
    assert(
      (await page.locator('[data-testid="stat-leaked"]').getAttribute("aria-label"))!.startsWith(
        "Leaked: ",
      ),
    );
    assertEquals(await page.locator('[role="treegrid"]:not([aria-label])').count(), 0);
    assertEquals(errors, []);
  });
});

/**
 * Deuteranopia (Machado, Oliveira & Fernandes 2009, severity 1), an SVG colour matrix: SVG filters
 * work in linear RGB, as the matrix expects.
 */
const DEUTERANOPIA = "0.367322 0.860646 -0.227968 0 0  0.280085 0.672501 0.047413 0 0  " +
  "-0.011820 0.042940 0.968881 0 0  0 0 0 1 0";

Deno.test("colour vision: under simulated deuteranopia the statuses stay apart, and each has its shape", async () => {
  const leaks = sampleLeaks({ allocations: 3000, leakFraction: 0.08 });
  const file = OUT + "report-colour.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await viewer() }));
  await withChromium({ width: 1400, height: 1000 }, async (page) => {
    await openReport(page, file);
    await page.locator('[data-testid="graph"]').scrollIntoViewIfNeeded();
    // The canvas through the filter, pixel by pixel: classes of the simulated status colours.
    const result = await page.evaluate((matrix) => {
      const ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("width", "0");
      svg.setAttribute("height", "0");
      svg.innerHTML =
        `<filter id="deutan"><feColorMatrix type="matrix" values="${matrix}"/></filter>`;
      document.body.appendChild(svg);
      const src = document.querySelector<HTMLCanvasElement>('[data-testid="graph"]')!;
      const out = document.createElement("canvas");
      out.width = src.width;
      out.height = src.height;
      const ctx = out.getContext("2d")!;
      ctx.filter = "url(#deutan)";
      ctx.drawImage(src, 0, 0);
      const m = matrix.split(/\s+/).map(Number);
      const lin = (c: number) => (c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      const srgb = (c: number) => {
        c = Math.max(0, Math.min(1, c));
        return 255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
      };
      const sim = (hex: string) => {
        const n = parseInt(hex.slice(1), 16);
        const [r, g, b] = [lin((n >> 16) & 255), lin((n >> 8) & 255), lin(n & 255)];
        return [0, 1, 2].map((i) => srgb(m[i * 5]! * r + m[i * 5 + 1]! * g + m[i * 5 + 2]! * b));
      };
      const palette = { reachable: "#56b4e9", leaked: "#e66100", cycle: "#cc79a7" };
      const old = { reachable: "#3fb950", leaked: "#f85149" };
      const targets = Object.entries(palette).map(([k, v]) => [k, sim(v)] as const);
      const d = ctx.getImageData(0, 0, out.width, out.height).data;
      const counts: Record<string, number> = { reachable: 0, leaked: 0, cycle: 0 };
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3]! < 200) continue;
        for (const [k, [r, g, b]] of targets) {
          if (Math.abs(d[i]! - r!) + Math.abs(d[i + 1]! - g!) + Math.abs(d[i + 2]! - b!) < 24) {
            counts[k]!++;
          }
        }
      }
      const dist = (a: number[], b: number[]) =>
        Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
      return {
        counts,
        apart: Math.min(
          dist(sim(palette.reachable), sim(palette.leaked)),
          dist(sim(palette.reachable), sim(palette.cycle)),
          dist(sim(palette.leaked), sim(palette.cycle)),
        ),
        oldApart: dist(sim(old.reachable), sim(old.leaked)),
      };
    }, DEUTERANOPIA);
    // The old green and red collapse to one colour: the check can see the problem it guards.
    assert(result.oldApart < 30, `old palette ${result.oldApart}`);
    assert(result.apart > 60, `statuses apart by ${result.apart}`);
    for (const k of ["reachable", "leaked", "cycle"]) {
      assert(
        result.counts[k]! > 30,
        `${k} pixels under deuteranopia: ${JSON.stringify(result.counts)}`,
      );
    }
    // Shape as well as colour: a leaked node is a square (its corner is painted), a reachable one
    // a circle (its corner is not).
    // Node radius in world units (report/viewer/graph_canvas.ts _radius).
    const radius = (n: { size: number; status: string }) => {
      const r = 1 + Math.log2(Math.max(16, n.size)) * 0.55;
      return n.status === "reachable"
        ? Math.max(2.5, Math.min(5, r * 0.7))
        : Math.max(3.5, Math.min(9, r));
    };
    const corner = (address: string, worldR: number) =>
      page.evaluate(([a, worldR]) => {
        const d = (globalThis as unknown as {
          __heapscopeDebug: {
            indexOfAddress(a: string): number;
            screenPosition(i: number): [number, number] | null;
            pan(dx: number, dy: number, k?: number): void;
            stats(): { zoom: number };
          };
        }).__heapscopeDebug;
        const c = document.querySelector<HTMLCanvasElement>('[data-testid="graph"]')!;
        const i = d.indexOfAddress(a);
        // Zoom in on the node so that it is several pixels wide.
        const p0 = d.screenPosition(i)!;
        const rect = c.getBoundingClientRect();
        d.pan(rect.width / 2 - p0[0], rect.height / 2 - p0[1], 8);
        const [x, y] = d.screenPosition(i)!;
        const k = devicePixelRatio;
        const px = (dx: number, dy: number) =>
          Array.from(
            c.getContext("2d")!.getImageData(
              Math.round((x + dx) * k),
              Math.round((y + dy) * k),
              1,
              1,
            ).data,
          );
        // (0.8 r, 0.8 r): inside a square of half side 0.9 r, outside a circle of radius r.
        const r = worldR * d.stats().zoom * 0.8;
        return { centre: px(0, 0), corner: px(r, r) };
      }, [address, worldR] as const);
    const leakedNode = leaks.nodes.find((n) => n.status === "leaked" && n.size >= 256)!;
    const sq = await corner(leakedNode.address, radius(leakedNode));
    const near = (px: number[], hex: string) => {
      const n = parseInt(hex.slice(1), 16);
      return px[3]! > 200 &&
        Math.abs(px[0]! - ((n >> 16) & 255)) + Math.abs(px[1]! - ((n >> 8) & 255)) +
              Math.abs(px[2]! - (n & 255)) < 40;
    };
    assert(near(sq.centre, "#e66100") && near(sq.corner, "#e66100"), `square ${sq.corner}`);
    const reach = leaks.nodes.find((n) => n.status === "reachable" && n.size >= 256)!;
    const circle = await corner(reach.address, radius(reach));
    assert(near(circle.centre, "#56b4e9"), `circle centre ${circle.centre}`);
    // Outside the circle: background or an edge passing by, not the node's colour.
    assert(!near(circle.corner, "#56b4e9"), `circle corner ${circle.corner}`);
    // A screenshot of the whole page as a deuteranope sees it, to look at.
    await page.keyboard.press("Escape"); // resets the view: the camera fits the graph
    await page.evaluate(() => (document.documentElement.style.filter = "url(#deutan)"));
    await page.screenshot({ path: OUT + "report-deuteranopia.png" });
  });
});

Deno.test("hostile command and function names stay text: nothing runs, no element is injected", async () => {
  const leaks = sampleLeaks({
    allocations: 600,
    withSites: true,
    withBytes: true,
    command: HOSTILE,
    hostileFunction: HOSTILE_FN,
  });
  const file = OUT + "report-hostile.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await viewer() }));
  await withChromium({ width: 1400, height: 1000 }, async (page, context) => {
    const { network, errors } = await guard(page, context);
    await openReport(page, file);
    assertEquals(await page.locator('[data-testid="command"]').textContent(), HOSTILE);
    await page.locator('[data-testid="flame"]').scrollIntoViewIfNeeded();
    await until("the flame graph", async () => (await page.locator("g.frame").count()) > 3);
    assertEquals(await page.locator("img").count(), 0);
    assertEquals(await page.locator("script").count(), 3);
    assertEquals(
      await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned),
      undefined,
    );
    assert((await page.title()).includes("</script>"));
    assertEquals(network, []);
    assertEquals(errors, []);
  });
});

Deno.test("report with a possible block only: the verdict says so, and its path marks the weak link", async () => {
  const leaks = sampleLeaks({ allocations: 200, leakFraction: 0 });
  const byId = new Map(leaks.nodes.map((n) => [n.id, n]));
  // A reachable block its holder points at once: that pointer becomes weak evidence.
  const weakEdge = leaks.edges.find((e) => {
    const t = byId.get(e.target)!;
    return t.via === e.source &&
      leaks.edges.filter((x) => x.source === e.source && x.target === e.target).length === 1 &&
      !leaks.roots.some((r) => r.target === e.target) &&
      !leaks.nodes.some((n) => n.via === e.target);
  })!;
  assert(weakEdge, "a block held by one pointer");
  weakEdge.weak = true;
  const block = byId.get(weakEdge.target)!;
  block.status = "possible";
  block.weakLink = "the block's last word: malloc's slack, unless all 96 bytes were asked for";
  leaks.summary.reachable--;
  leaks.summary.possible = 1;
  leaks.summary.possibleBytes = block.size;
  const file = OUT + "report-possible.html";
  await Deno.writeTextFile(file, await renderHtml(leaks, { bundle: await viewer() }));
  await withChromium({ width: 1400, height: 900 }, async (page, context) => {
    const { errors } = await guard(page, context);
    await openReport(page, file);
    const verdict = page.locator('[data-testid="verdict"]');
    assertEquals(await verdict.getAttribute("class"), "verdict possible");
    assertEquals(
      await verdict.textContent(),
      `! no definite leaks; 1 possible leak (${formatBytes(block.size)})`,
    );
    assert(
      (await page.locator('[data-testid="no-leaks"]').textContent())!
        .includes("Nothing is unreachable, but 1 block is kept only by weak evidence"),
    );
    assert(
      (await page.locator("#leaks-title").textContent())!.endsWith(" · 1 possible in 1 structure"),
    );
    // One possible structure, the block alone, kept by its holder's last word; it selects it.
    const structures = page.locator('[data-testid="possible-structures"] li');
    assertEquals(
      await structures.allTextContents(),
      [
        `1 block, ${
          formatBytes(block.size)
        } · kept by 1 weak word: malloc's slack · e.g. ${block.address}`,
      ],
    );
    await until("the block index", async () => (await reportState(page)).indexReady);
    await structures.locator("button").click();
    await until(
      "the block selected",
      async () => (await reportState(page)).selectedAddress === block.address,
    );
    await page.locator('[data-testid="search"]').fill(block.address);
    await page.locator('[data-testid="search"]').press("Enter");
    assertEquals((await reportState(page)).selectedAddress, block.address);
    await until(
      "its path from a root",
      async () => (await page.locator('[data-testid="path-root"]').count()) === 1,
    );
    // One weak step, the last pointer: into the block.
    assertEquals(await page.locator('[data-testid="path-weak"]').count(), 1);
    const steps = await page.locator('[data-testid="detail-path"] li:not(.root)').allTextContents();
    assert(steps.at(-2)!.includes("weak: may be stale"), steps.join(" | "));
    // With the rule that makes the word weak, from leaks.json's weakLink.
    assertEquals(
      await page.locator('[data-testid="path-weak-reason"]').textContent(),
      block.weakLink,
    );
    assert(steps.at(-1)!.includes(block.address), steps.join(" | "));
    await page.screenshot({ path: OUT + "report-possible.png" });
    assertEquals(errors, []);
  });
});
