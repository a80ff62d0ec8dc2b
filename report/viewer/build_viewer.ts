// Bundle the viewer (Preact + D3 + CSS) with esbuild into one minified script and one stylesheet.

import { fileURLToPath } from "node:url";

export interface ViewerBundle {
  js: string;
  css: string;
}

/** Repository root, resolved from this file's location. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Build `report/viewer/main.tsx` + `style.css` in memory. Needs the esbuild npm package installed. */
export async function buildViewer(): Promise<ViewerBundle> {
  const esbuild = await import("esbuild");
  try {
    const result = await esbuild.build({
      absWorkingDir: REPO_ROOT,
      nodePaths: [REPO_ROOT + "node_modules"],
      entryPoints: ["report/viewer/main.tsx"],
      bundle: true,
      minify: true,
      write: false,
      format: "iife",
      target: ["es2020"],
      platform: "browser",
      jsx: "automatic",
      jsxImportSource: "preact",
      legalComments: "none",
      logLevel: "silent",
      outfile: "viewer.js",
    });
    const cssResult = await esbuild.transform(
      await Deno.readTextFile(REPO_ROOT + "report/viewer/style.css"),
      { loader: "css", minify: true },
    );
    const js = result.outputFiles.find((f) => f.path.endsWith(".js"))?.text ?? "";
    // CSS that bundled packages import (d3-flame-graph's), then ours so that ours wins.
    const imported = result.outputFiles.filter((f) => f.path.endsWith(".css")).map((f) => f.text);
    return { js, css: imported.join("") + cssResult.code };
  } catch (err) {
    throw new Error(
      `Cannot bundle the report viewer from ${REPO_ROOT}report/viewer: ${(err as Error).message}` +
        "\nHint: run `make deps` so that node_modules holds esbuild, preact, d3 and d3-flame-graph",
    );
  } finally {
    await esbuild.stop();
  }
}

if (import.meta.main) {
  const out = Deno.args[0] ?? REPO_ROOT + "build/viewer.js";
  const started = performance.now();
  const bundle = await buildViewer();
  await Deno.mkdir(out.replace(/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(out, bundle.js);
  await Deno.writeTextFile(out.replace(/\.js$/, ".css"), bundle.css);
  console.log(
    `viewer: ${out} ${(bundle.js.length / 1024).toFixed(1)} KiB js, ${
      (bundle.css.length / 1024).toFixed(1)
    } KiB css in ${(performance.now() - started).toFixed(0)} ms`,
  );
}
