// The one-file HTML report: viewer script, stylesheet, the report model and the block index
// inlined, nothing fetched.
//
// The model (report/view/) is JSON; the block index (every block in compact columns, for search,
// paths from a root and the heap map) is gzip-compressed and base64-encoded beside it, and decoded
// by the viewer after the first draw. Its size is bounded by report/view/block_index.ts's caps.

import { writeAtomic } from "./write_atomic.ts";
import type { LeaksFile } from "./schema.ts";
import { buildAdjacency } from "./view/adjacency.ts";
import { buildBlockIndex, encodeBlockIndex } from "./view/block_index.ts";
import { type ComparisonInput, selectComparison } from "./view/comparison.ts";
import { selectReportModel } from "./view/report_model.ts";
import type { ModelOptions } from "./view/payload.ts";
import { buildViewer, REPO_ROOT } from "./viewer/build_viewer.ts";
import type { ViewerBundle } from "./viewer/build_viewer.ts";

export interface HtmlOptions {
  /** Viewer bundle to inline; default: build/viewer.js if fresh, else an in-process esbuild build. */
  bundle?: ViewerBundle;
  /** Caps of what the report embeds (drawn nodes, table rows). */
  model?: ModelOptions;
  /** Leave out every byte copied from the process's memory (the blocks' first bytes). */
  redact?: boolean;
  /**
   * Fill the Comparison section: the diff whose newest file `leaks` is (diff --html), and the
   * captures of a watch series (watch --html).
   */
  comparison?: ComparisonInput;
}

const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

/** Render `leaks` as one self-contained HTML document (no network, no external files). */
export async function renderHtml(leaks: LeaksFile, options: HtmlOptions = {}): Promise<string> {
  const bundle = options.bundle ?? await loadViewer();
  const file = options.redact ? redactLeaks(leaks) : leaks;
  // One adjacency for the model and the block index (~0.4 s at 10^6 blocks each).
  const adj = buildAdjacency(file);
  const model = selectReportModel(file, options.model, adj);
  if (options.comparison) model.comparison = selectComparison(options.comparison, file);
  const data = escapeJsonForHtml(JSON.stringify(model));
  const index = await gzipBase64(encodeBlockIndex(buildBlockIndex(file, adj)));
  const compared = model.comparison?.diff ? ", compared" : "";
  const title = leaks.target.pid === 0 && leaks.pauseMs === 0
    ? `heapscope: ${leaks.target.command} (Go heap dump${compared})`
    : `heapscope: ${leaks.target.command} (pid ${leaks.target.pid}${compared})`;
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtmlText(title)}</title>`,
    `<style>${bundle.css.replace(/<\/style/gi, "<\\/style")}</style>`,
    "</head>",
    "<body>",
    '<div id="app"><noscript>This heapscope report needs JavaScript to draw; the data is in the leaks-data script element.</noscript></div>',
    `<script type="application/json" id="leaks-data">${data}</script>`,
    // Base64 has no character that can end the element.
    `<script type="application/octet-stream" id="blocks-data">${index}</script>`,
    `<script>${bundle.js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--")}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Render and write the report to `path` atomically; throws OutputFileError when it cannot. */
export async function writeHtmlReport(
  leaks: LeaksFile,
  path: string,
  options: HtmlOptions = {},
): Promise<void> {
  const html = await renderHtml(leaks, options);
  await writeAtomic(path, html);
}

/** The file without any byte of the process's memory (`bytes` of every node dropped). O(nodes). */
export function redactLeaks(leaks: LeaksFile): LeaksFile {
  if (!leaks.nodes.some((n) => n.bytes !== undefined)) return leaks;
  return {
    ...leaks,
    nodes: leaks.nodes.map((n) => {
      if (n.bytes === undefined) return n;
      const { bytes: _bytes, ...rest } = n;
      return rest;
    }),
  };
}

/**
 * gzip, then base64: what the viewer's DecompressionStream reads back. zlib's level 3 in one call:
 * on the 26 MB index of 10^6 blocks, the size of CompressionStream's (level 6) in 0.27 s, not 0.6.
 * node:zlib and node:buffer load here, not with the module: ~25 ms of every attach without --html.
 */
async function gzipBase64(bytes: Uint8Array): Promise<string> {
  const [{ gzipSync }, { Buffer }] = await Promise.all([
    import("node:zlib"),
    import("node:buffer"),
  ]);
  return Buffer.from(gzipSync(bytes, { level: 3 })).toString("base64");
}

/** JSON made safe inside a <script> element: no `<`, `>`, `&`, U+2028 or U+2029 left raw. */
export function escapeJsonForHtml(json: string): string {
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function escapeHtmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

let cached: Promise<ViewerBundle> | null = null;

/** build/viewer.js when it is newer than every viewer source, else an in-process build. */
function loadViewer(): Promise<ViewerBundle> {
  cached ??= (async () => {
    const js = REPO_ROOT + "build/viewer.js";
    const css = REPO_ROOT + "build/viewer.css";
    try {
      const built = (await Deno.stat(js)).mtime?.getTime() ?? 0;
      if (built > 0 && await newestSource() <= built) {
        return { js: await Deno.readTextFile(js), css: await Deno.readTextFile(css) };
      }
    } catch {
      // No usable prebuilt bundle: build below.
    }
    return await buildViewer();
  })();
  cached.catch(() => (cached = null));
  return cached;
}

async function newestSource(): Promise<number> {
  let newest = 0;
  const files = [
    "report/schema.ts",
    "report/format.ts",
    "report/frame_names.ts",
    "report/frame_text.ts",
  ]
    .map((f) => REPO_ROOT + f);
  for (const dir of ["report/viewer", "report/view"]) {
    for await (const entry of Deno.readDir(REPO_ROOT + dir)) {
      if (entry.isFile) files.push(`${REPO_ROOT}${dir}/${entry.name}`);
    }
  }
  for (const file of files) {
    const mtime = (await Deno.stat(file)).mtime?.getTime() ?? 0;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}
