// Helpers of the comparison tests: three real captures of victim/grow under the recorder around
// known growth (400 cache entries and 20 leaks between the first and the second, 100 more entries
// before the third), and the checks of a Comparison section in Chromium (table exports, the text
// summary said by the page).

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import type { Page } from "playwright-core";
import { formatBytes, formatCount } from "../report/format.ts";
import { spawnProcess } from "./truth.ts";
import { built, heapscope, RECORDER, said } from "./cli_runs.ts";
import { ROOT } from "./truth.ts";

export const GROW = `${ROOT}/build/victim/grow`;

/** Cache entries added between the first and second capture, and between the second and third. */
export const GROWN = 400;
export const GROWN_AFTER = 100;
/** 72-byte blocks leaked between the first and the second capture (leak_some). */
export const LEAKED = 20;

export interface GrowCaptures {
  pid: number;
  /** Paths of the three leaks.json files. */
  a: string;
  b: string;
  c: string;
  /** The second capture again, with the leaks suppressed by `leak:leak_some` (when asked). */
  bKnown?: string;
}

/**
 * Run build/victim/grow under the recorder and capture it with `./heapscope <pid>` into `dir`:
 * a.json, then (after growth and leaks) b.json (and b-known.json with a suppressions file), then
 * (after more growth) c.json. Every block is written unless `graph` says "leaked". The program is
 * stopped afterwards.
 */
export async function captureGrow(
  dir: string,
  opts: { known?: boolean; graph?: "all" | "leaked" } = {},
): Promise<GrowCaptures> {
  built(GROW, "victim");
  built(RECORDER, "recorder");
  const proc = spawnProcess([GROW], { env: { LD_PRELOAD: RECORDER } });
  try {
    await proc.waitForLine((l) => l === "READY");
    const capture = async (name: string, ...extra: string[]) => {
      const r = await heapscope(
        [String(proc.pid), "-o", `${dir}/${name}`, "--graph", opts.graph ?? "all", "-q"]
          .concat(extra),
      );
      ok(r.code === 0 || r.code === 1, said(r));
      return `${dir}/${name}`;
    };
    const command = async (line: string, reply: string) => {
      await proc.writeStdin(line + "\n");
      await proc.waitForLine((l) => l.startsWith(reply));
    };
    const a = await capture("a.json");
    await command(`grow ${GROWN}`, "GREW");
    await command(`leak ${LEAKED}`, "LEAKED");
    const b = await capture("b.json");
    let bKnown: string | undefined;
    if (opts.known) {
      await Deno.writeTextFile(`${dir}/known.supp`, "leak:leak_some\n");
      bKnown = await capture("b-known.json", "--suppressions", `${dir}/known.supp`);
    }
    await command(`grow ${GROWN_AFTER}`, "GREW");
    const c = await capture("c.json");
    return { pid: proc.pid, a, b, c, ...(bKnown ? { bKnown } : {}) };
  } finally {
    await proc.stop();
  }
}

/** What a table's CSV or JSON button downloads, as text. */
export async function exportTable(page: Page, id: string, kind: "CSV" | "JSON"): Promise<string> {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator(`[data-testid="${id}"] .vtable-tools button`, { hasText: kind }).click(),
  ]);
  return await Deno.readTextFile((await download.path())!);
}

/** A table's rows as its JSON export gives them (column key → raw value). */
export async function exportedRows(page: Page, id: string): Promise<Record<string, unknown>[]> {
  return JSON.parse(await exportTable(page, id, "JSON"));
}

/** RFC 4180 CSV (what report/view/table_export.ts writes) → rows of fields. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') field += text[++i];
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  if (field !== "" || row.length) rows.push([...row, field]);
  return rows;
}

const signedBytes = (n: number) => `${n >= 0 ? "+" : "-"}${formatBytes(Math.abs(n))}`;
const signedCount = (n: number) => `${n >= 0 ? "+" : ""}${formatCount(n)}`;

/** The growth tables of report/diff_text.ts's summary, by their title line, → the page's tables. */
const TABLES: Record<string, string> = {
  "growth by type": "growth-type-table",
  "growth by allocation site": "growth-site-table",
  "growth by retainer": "growth-retainer-table",
  "growth by zone": "growth-zone-table",
  "  by allocation site": "growth-survivor-site-table",
  "  by type": "growth-survivor-type-table",
};

/**
 * Every line of `heapscope diff`'s text summary is said by the page's Comparison section, with the
 * same numbers: totals, the new leaks and leaks gone lines and their rows, every growth row, the
 * survivors, the notes. A line the check does not know fails it. Returns the lines checked.
 */
export async function pageSaysTheSummary(page: Page, summary: string): Promise<number> {
  const section = page.locator('[data-testid="comparison"]');
  const cells = (key: string) =>
    section.locator(`[data-testid="total-${key}"] td`).allTextContents();
  const text = async (id: string) =>
    (await section.locator(`[data-testid="${id}"]`).textContent()) ?? "";
  let table: Record<string, unknown>[] | null = null;
  let leaks: Record<string, unknown>[] = [];
  let checked = 0;
  for (const line of summary.split("\n")) {
    let m: RegExpExecArray | null;
    if (line.trim() === "") {
      table = null;
      continue;
    }
    checked++;
    if ((m = /^allocations +(\S+) → (\S+) \((\S+)\), (.+?) → (.+?) \((.+)\)$/.exec(line))) {
      equal(await cells("allocations"), [m[1], m[2], m[3]], line);
      equal(await cells("bytes"), [m[4], m[5], m[6]], line);
    } else if (
      (m = /^leaked +(\S+) → (\S+) blocks, (.+?) → (.+?)(?: \(suppressed: (\S+) → (\S+)\))?$/
        .exec(line))
    ) {
      equal((await cells("leaked")).slice(0, 2), [m[1], m[2]], line);
      equal((await cells("leakedBytes")).slice(0, 2), [m[3], m[4]], line);
      if (m[5]) equal((await cells("suppressed")).slice(0, 2), [m[5], m[6]], line);
    } else if ((m = /^(new leaks|leaks gone) +(.+)$/.exec(line))) {
      const id = m[1] === "new leaks" ? "new-leaks" : "gone-leaks";
      equal(await text(`${id}-summary`), m[2], line);
      const listed = await section.locator(`[data-testid="${id}-table"]`).count();
      leaks = listed ? await exportedRows(page, `${id}-table`) : [];
    } else if (
      (m = /^ {2}(\S+ \S+) at (0x[0-9a-f]+)(?:, holding (\d+) more \((.+?) in all\))?(?:: (.+))?$/
        .exec(line))
    ) {
      const row = leaks.find((r) => r.address === m![2]);
      ok(row, `the leak of "${line}" is a row of the page`);
      equal(formatBytes(row.size as number), m[1], line);
      if (m[3]) {
        equal((row.blocks as number) - 1, Number(m[3]), line);
        equal(formatBytes(row.bytes as number), m[4], line);
      }
      equal([row.type, row.site].filter((v) => v).join(", "), m[5] ?? "", line);
    } else if ((m = /^(.+) \(bytes, blocks\):$/.exec(line)) && TABLES[m[1]!]) {
      table = await exportedRows(page, TABLES[m[1]!]!);
    } else if (table && (m = /^ +([+-]\S+ \S+) +([+-]?[\d,]+) {2}(.+)$/.exec(line))) {
      const [, bytes, count, label] = m;
      ok(
        table.some((r) =>
          r.label === label && signedBytes(r.bytes as number) === bytes &&
          signedCount(r.count as number) === count
        ),
        `"${line}" is a row of the page's table: ${JSON.stringify(table)}`,
      );
    } else if (/^ {2}\.\.\. \d+ more \(see the JSON\)$/.test(line)) {
      checked--; // the page lists every row
    } else if ((m = /^allocated between snapshots 1 and 2, still alive at 3: (.+)$/.exec(line))) {
      ok((await text("survivors-summary")).includes(m[1]!), line);
    } else if ((m = /^note: (.+)$/.exec(line))) {
      ok((await text("compare-notes")).includes(m[1]!), line);
    } else if (/^html +/.test(line)) {
      checked--;
    } else {
      throw new Error(`A line of the diff's summary that the page check does not know: "${line}"`);
    }
  }
  return checked;
}

/**
 * Tables of the Comparison section that scroll sideways inside their card (their columns do not
 * fit), each with how much: the columns that matter must fit at 800 and 1400 px.
 */
export const scrollingTables = (page: Page): Promise<string[]> =>
  page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('[data-testid="comparison"] .vtable-scroll')]
      .filter((el) => el.scrollWidth > el.clientWidth + 1)
      .map((el) =>
        `${
          el.closest(".vtable")?.getAttribute("data-testid")
        }: ${el.scrollWidth} > ${el.clientWidth}`
      )
  );
