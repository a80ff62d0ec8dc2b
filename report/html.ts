// The one-file HTML report: viewer script, stylesheet and the report model inlined, nothing fetched.

import { writeAtomic } from "./write_atomic.ts";
import type { LeaksFile } from "./schema.ts";
import { selectReportModel } from "./selectors.ts";
import type { ModelOptions } from "./selectors.ts";
import { buildViewer, REPO_ROOT } from "./viewer/build_viewer.ts";
import type { ViewerBundle } from "./viewer/build_viewer.ts";

export interface HtmlOptions {
  /** Viewer bundle to inline; default: build/viewer.js if fresh, else an in-process esbuild build. */
  bundle?: ViewerBundle;
  /** Caps of what the report embeds (drawn nodes, table rows). */
  model?: ModelOptions;
}

const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

/** Render `leaks` as one self-contained HTML document (no network, no external files). */
export async function renderHtml(leaks: LeaksFile, options: HtmlOptions = {}): Promise<string> {
  const bundle = options.bundle ?? await loadViewer();
  const model = selectReportModel(leaks, options.model);
  const data = escapeJsonForHtml(JSON.stringify(model));
  const title = `heapscope: ${leaks.target.command} (pid ${leaks.target.pid})`;
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
  const files = ["report/selectors.ts", "report/schema.ts"].map((f) => REPO_ROOT + f);
  for await (const entry of Deno.readDir(REPO_ROOT + "report/viewer")) {
    if (entry.isFile) files.push(REPO_ROOT + "report/viewer/" + entry.name);
  }
  for (const file of files) {
    const mtime = (await Deno.stat(file)).mtime?.getTime() ?? 0;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}
