// Tests of renderHtml() / writeHtmlReport(): one self-contained file, hostile strings escaped, atomic writes.

import { OutputFileError } from "./write_atomic.ts";
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { escapeJsonForHtml, renderHtml, writeHtmlReport } from "./html.ts";
import { sampleLeaks } from "./sample_leaks.ts";
import type { ReportModel } from "./view/payload.ts";
import { redactLeaks } from "./html.ts";

const HOSTILE =
  `</script><script>window.__pwned=1</script><img src=x onerror=alert(1)> & \u2028\u2029 <!--`;

function embedded(html: string): string {
  const m = html.match(/<script type="application\/json" id="leaks-data">([\s\S]*?)<\/script>/);
  assert(m, "the data element is present");
  return m[1]!;
}

Deno.test("renderHtml() escapes a hostile command so that it stays data", async () => {
  const leaks = sampleLeaks({ allocations: 200, command: HOSTILE });
  leaks.nodes[0]!.zone = "</ScRiPt><b>zone</b>";
  const html = await renderHtml(leaks);
  const data = embedded(html);
  for (const raw of ["<", ">", "&", "\u2028", "\u2029"]) {
    assert(!data.includes(raw), `no raw ${JSON.stringify(raw)} in data`);
  }
  const model = JSON.parse(data) as ReportModel;
  assertEquals(model.header.command, HOSTILE);
  assert(model.zones.some((z) => z.zone === "</ScRiPt><b>zone</b>"));
  // Exactly three script elements: the data, the block index, the viewer; none from the command.
  assertEquals(html.match(/<script/gi)!.length, 3);
  assertEquals(html.match(/<\/script/gi)!.length, 3);
  assert(!html.includes("<img"), "no img tag leaks into the document");
  const title = html.match(/<title>([\s\S]*?)<\/title>/)![1]!;
  assert(title.includes("&#60;/script&#62;") && !title.includes("<"), title);
});

Deno.test("renderHtml() keeps hostile function names and paths of a recorded process as data", async () => {
  const leaks = sampleLeaks({ allocations: 300, withSites: true, hostileFunction: HOSTILE });
  leaks.stacks![0]![1]!.file = "/src/</script><b>x</b>.c";
  const html = await renderHtml(leaks);
  const data = embedded(html);
  for (const raw of ["<", ">", "&", "\u2028", "\u2029"]) {
    assert(!data.includes(raw), `no raw ${JSON.stringify(raw)} in data`);
  }
  const model = JSON.parse(data) as ReportModel;
  assert(model.sites!.rows.some((r) => r.label === HOSTILE));
  assertEquals(model.sites!.stacks[0]!.frames[1]!.file, "/src/</script><b>x</b>.c");
  assertEquals(html.match(/<\/script/gi)!.length, 3);
  assert(!html.includes("<img") && !html.includes("<b>"), "no tag leaks into the document");
});

Deno.test("renderHtml() gives one self-contained file with a CSP that forbids the network", async () => {
  const html = await renderHtml(sampleLeaks({ allocations: 100 }));
  assert(html.startsWith("<!doctype html>"));
  assert(
    html.includes(
      `content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`,
    ),
  );
  assert(
    !/<(script|link|img)[^>]+(src|href)=/i.test(html),
    "no external script, stylesheet or image",
  );
  // XML namespace names (www.w3.org) are identifiers, not fetched.
  const urls = html.replace(/http:\/\/www\.w3\.org\/[^"'\s]*/g, "").match(/https?:\/\/[^"'\s)]*/g);
  assertEquals(urls, null, "no URLs to fetch");
  assert(html.includes("<style>") && html.length > 50_000, "viewer code and styles are inlined");
});

Deno.test("renderHtml() keeps a 200,000-allocation report bounded: 2,000 drawn, every block in the index", async () => {
  const leaks = sampleLeaks({ allocations: 200_000 });
  const html = await renderHtml(leaks);
  // The model is ~1 MB; the compressed index of 200,000 blocks ~1.3 MB of base64.
  assert(html.length < 5_000_000, `${html.length} bytes`);
  const model = JSON.parse(embedded(html)) as ReportModel;
  assertEquals(model.graph.nodes.length, 2000);
  assertEquals(model.graph.notDrawn, 198_000);
  assertEquals(model.stats.allocations, 200_000);
  const index = html.match(
    /<script type="application\/octet-stream" id="blocks-data">([A-Za-z0-9+/=]+)<\/script>/,
  );
  assert(index, "the block index is embedded as base64");
});

Deno.test("renderHtml({ redact }) leaves out every copied byte; a Go heap dump says so in the title", async () => {
  const leaks = sampleLeaks({ allocations: 400, withBytes: true });
  const hexes = leaks.nodes.filter((n) => n.bytes && n.bytes.length >= 32).map((n) => n.bytes!);
  assert(hexes.length > 100);
  const plain = await renderHtml(leaks);
  assert(hexes.some((h) => plain.includes(h)), "without --redact the bytes are in the report");
  const html = await renderHtml(leaks, { redact: true });
  for (const h of hexes) assert(!html.includes(h), `no hexdump ${h.slice(0, 16)}…`);
  const model = JSON.parse(embedded(html)) as ReportModel;
  assertEquals(model.header.bytesEmbedded, 0);
  assert(model.graph.nodes.every((n) => n.bytes === undefined));
  assert(leaks.nodes.some((n) => n.bytes), "the input is not changed");
  assertEquals(redactLeaks(leaks).nodes.filter((n) => n.bytes).length, 0);
  const go = sampleLeaks({ allocations: 50 });
  go.target.pid = 0;
  go.pauseMs = 0;
  go.target.command = "heap.dump";
  assert((await renderHtml(go)).includes("<title>heapscope: heap.dump (Go heap dump)</title>"));
});

Deno.test("escapeJsonForHtml() replaces the five dangerous characters and round-trips", () => {
  const text = JSON.stringify({ s: "a<b>c&d\u2028e\u2029" });
  const safe = escapeJsonForHtml(text);
  assertEquals(safe, '{"s":"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029"}');
  assertEquals(JSON.parse(safe), JSON.parse(text));
});

Deno.test("writeHtmlReport() writes atomically and leaves no temp file; a bad folder fails with a hint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "heapscope-html-" });
  try {
    const path = `${dir}/report.html`;
    await Deno.writeTextFile(path, "old");
    await writeHtmlReport(sampleLeaks({ allocations: 50 }), path);
    const html = await Deno.readTextFile(path);
    assert(html.startsWith("<!doctype html>"));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["report.html"]);
    await rejects(
      writeHtmlReport(sampleLeaks({ allocations: 5 }), `${dir}/missing/report.html`),
      (e: unknown) =>
        e instanceof OutputFileError &&
        /^Cannot write ".*\/missing\/report.html": /.test(e.message) &&
        e.hints[0] === "the folder does not exist: create it first",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
