// selectComparison() on diffs of real captures (victim/grow under the recorder, captured three
// times by ./heapscope around known growth): the payload carries the diff's numbers untouched, ties
// each listed leak to the same block of the drawn file, caps what it embeds and says so, and turns
// a watch series into chart points.

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { captureGrow, GROWN, LEAKED } from "../../tests/comparison_helpers.ts";
import { tempDir } from "../../tests/cli_runs.ts";
import { diffLeaks } from "../leaks_diff.ts";
import type { LeaksFile } from "../schema.ts";
import { selectComparison, shortPaths, type WatchCapture } from "./comparison.ts";

interface Captures {
  a: LeaksFile;
  b: LeaksFile;
  c: LeaksFile;
}

/** A watch interval as cli/watch.ts writes it, from a real leaks.json. */
function capture(index: number, f: LeaksFile, growers: WatchCapture["growers"] = []): WatchCapture {
  const s = f.summary;
  return {
    index,
    capturedAt: f.capturedAt,
    pauseMs: f.pauseMs,
    allocations: s.allocations,
    bytes: s.bytes,
    leaked: s.leaked - (s.suppressed ?? 0),
    leakedBytes: s.leakedBytes - (s.suppressedBytes ?? 0),
    growers,
  };
}

function twoCaptures({ a, b }: Captures) {
  const d = diffLeaks(a, b);
  const p = selectComparison({ diff: d }, b);
  equal(p.kind, "diff");
  equal(p.series, null);
  equal(p.files.map((f) => [f.label, f.pid, f.capturedAt, f.shown]), [
    ["first", a.target.pid, a.capturedAt, false],
    ["second", b.target.pid, b.capturedAt, true],
  ]);
  const v = p.diff!;
  for (const t of v.totals) {
    equal([t.before, t.after, t.change], [
      d.totals.before[t.key],
      d.totals.after[t.key],
      d.totals.after[t.key] - d.totals.before[t.key],
    ], t.key);
  }
  equal(v.newLeaks.count, LEAKED);
  equal(v.newLeaks.bytes, d.newLeaks.bytes);
  equal(v.newLeaks.direct, d.newLeaks.direct.length);
  equal(v.newLeaks.rows.map((r) => r.address), d.newLeaks.direct.map((l) => l.address));
  for (const r of v.newLeaks.rows) {
    // The row's block is the same block of the drawn file: same address and size, leaked there.
    const n = b.nodes[r.block!]!;
    equal([n.address, n.size, n.status], [r.address, r.size, "leaked"]);
    equal(r.now, "leaked");
    ok(/leak_some/.test(r.site!), r.site);
  }
  equal(v.goneLeaks.count, 0);
  equal(v.growth.map((g) => g.id), ["type", "site", "retainer", "zone"]);
  const site = v.growth.find((g) => g.id === "site")!;
  // The rows are the diff's, those that changed first, in the diff's order.
  const changed = d.bySite!.filter((r) => r.count !== 0 || r.bytes !== 0);
  equal(site.rows.slice(0, changed.length), changed);
  equal(site.changed, changed.length);
  equal(site.total, d.bySite!.length);
  equal(site.rows.length + site.omitted, site.total);
  ok(/cache_insert/.test(site.rows[0]!.label), site.rows[0]!.label);
  equal(site.rows[0]!.count, GROWN);
  ok(/g_cache/.test(v.growth.find((g) => g.id === "retainer")!.rows[0]!.label));
  equal(v.survivors, null);
  equal(p.notes, d.notes);
  // JSON-safe: what the page embeds reads back the same.
  equal(JSON.parse(JSON.stringify(p)), p);
}

function threeCaptures({ a, b, c }: Captures) {
  const d = diffLeaks(a, b, c);
  const p = selectComparison({ diff: d }, c);
  equal(p.files.map((f) => [f.label, f.shown]), [
    ["first", false],
    ["second", false],
    ["third", true],
  ]);
  const s = p.diff!.survivors!;
  equal([s.count, s.bytes], [d.survivors!.count, d.survivors!.bytes]);
  equal(s.tables.map((t) => t.id), ["survivor-site", "survivor-type"]);
  equal(s.tables[0]!.rows, d.survivors!.bySite);
  // The 20 leaks are still leaked in the third capture, at the same addresses.
  for (const r of p.diff!.newLeaks.rows) {
    equal(c.nodes[r.block!]!.address, r.address);
    equal(r.now, "leaked");
  }
}

function goneAndCaps({ a, b }: Captures) {
  // Backwards: the 20 leaks of b are gone in a, and a (drawn) does not have them.
  const back = selectComparison({ diff: diffLeaks(b, a) }, a);
  equal(back.diff!.goneLeaks.count, LEAKED);
  ok(back.diff!.goneLeaks.rows.every((r) => r.block === undefined && r.now === undefined));
  const d = diffLeaks(a, b);
  const capped = selectComparison({ diff: d }, b, { maxLeakRows: 5, maxGrowthRows: 2 });
  equal(capped.diff!.newLeaks.rows.length, 5);
  equal(capped.diff!.newLeaks.omitted, LEAKED - 5);
  equal(capped.diff!.newLeaks.direct, LEAKED);
  for (const g of capped.diff!.growth) {
    equal(g.rows.length, Math.min(2, g.total), g.id);
    equal(g.omitted, g.total - g.rows.length, g.id);
  }
}

function watchSeries({ a, b, c }: Captures) {
  const series = [
    capture(1, a),
    capture(2, b, [{ label: "cache_insert grow.c:41", bytes: 1000, count: 4 }]),
    capture(3, c, [{ label: "shrank", bytes: -8, count: -1 }]),
  ];
  const p = selectComparison({ diff: diffLeaks(a, c), series }, c);
  equal(p.kind, "watch");
  equal(p.files.map((f) => f.label), ["snapshot 1", "snapshot 3"]);
  const pts = p.series!.points;
  equal(pts.map((x) => [x.index, x.bytes, x.leakedBytes, x.pauseMs]), [
    [1, a.summary.bytes, a.summary.leakedBytes, a.pauseMs],
    [2, b.summary.bytes, b.summary.leakedBytes, b.pauseMs],
    [3, c.summary.bytes, c.summary.leakedBytes, c.pauseMs],
  ]);
  equal(pts[0]!.ms, 0);
  equal(pts[2]!.ms, Date.parse(c.capturedAt) - Date.parse(a.capturedAt));
  equal(pts[0]!.change, undefined);
  equal(pts[1]!.change, {
    bytes: b.summary.bytes - a.summary.bytes,
    leakedBytes: b.summary.leakedBytes - a.summary.leakedBytes,
  });
  equal(pts[1]!.top, { label: "cache_insert grow.c:41", bytes: 1000 });
  equal(pts[2]!.top, undefined, "only growth is a top grower");
  equal(p.series!.peakBytes, Math.max(a.summary.bytes, b.summary.bytes, c.summary.bytes));
  // Capped: the latest captures, the first kept one still has its change.
  const capped = selectComparison({ series }, c, { maxPoints: 2 });
  equal(capped.series!.omitted, 1);
  equal(capped.series!.points.map((x) => x.index), [2, 3]);
  equal(capped.series!.points[0]!.ms, 0);
  ok(capped.series!.points[0]!.change);
  // The first capture of a watch: nothing to compare yet, the one file named.
  const one = selectComparison({ series: [capture(1, a)] }, a);
  equal(one.diff, null);
  equal(one.files.map((f) => [f.label, f.shown]), [["snapshot 1", true]]);
}

Deno.test("selectComparison() on diffs of three real captures of a growing program", async (t) => {
  const dir = await tempDir("heapscope-comparison-");
  try {
    const paths = await captureGrow(dir);
    const read = async (p: string) => JSON.parse(await Deno.readTextFile(p)) as LeaksFile;
    const files = { a: await read(paths.a), b: await read(paths.b), c: await read(paths.c) };
    await t.step(
      "two captures: the diff's numbers, new leaks tied to their blocks",
      () => twoCaptures(files),
    );
    await t.step(
      "three captures: survivors, rows tied to the third file's blocks",
      () => threeCaptures(files),
    );
    await t.step(
      "leaks gone are not in the drawn file; caps say what they leave out",
      () => goneAndCaps(files),
    );
    await t.step(
      "a watch series: points, changes, top growers, the first capture alone",
      () => watchSeries(files),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shortPaths() cuts absolute paths to their last component and leaves the rest", () => {
  equal(shortPaths("g_cache in /check/work/main/build/victim/grow"), "g_cache in …/grow");
  equal(
    shortPaths("main (grow.c:88) in /usr/lib/x86_64-linux-gnu/libc.so.6+0x1d0"),
    "main (grow.c:88) in …/libc.so.6+0x1d0",
  );
  equal(shortPaths("leak_some grow.c:46"), "leak_some grow.c:46");
  equal(shortPaths("main-arena"), "main-arena");
  equal(shortPaths("a/b relative and 1/2"), "a/b relative and 1/2");
});
