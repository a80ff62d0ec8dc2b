// The layering of ARCHITECTURE.md, enforced over the imports of every TypeScript file.
//
//   analysis/  pure: imports only analysis/ (no Deno.*)
//   ffi/       the native boundary and the process's files: analysis/ and ffi/
//   report/    leaks.json, text, HTML: analysis/ and report/
//   cli/       the commands: anything
//   main.ts    cli/mod.ts only
// Tests (`*_test.ts`, tests/, bench/, testdata/) may import anything.

import assert from "node:assert/strict";
import { ROOT } from "./truth.ts";

const ALLOWED: Record<string, string[]> = {
  analysis: ["analysis"],
  ffi: ["analysis", "ffi"],
  report: ["analysis", "report"],
  cli: ["analysis", "ffi", "report", "cli"],
};

async function* files(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(`${ROOT}/${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "testdata") yield* files(path);
    else if (e.isFile && /\.tsx?$/.test(e.name) && !/_test\.tsx?$/.test(e.name)) yield path;
  }
}

/** Relative imports of `text` resolved against `file`, as repository paths. */
function imports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"/g)) {
    const parts = file.split("/").slice(0, -1);
    for (const p of m[1]!.split("/")) {
      if (p === "..") parts.pop();
      else if (p !== ".") parts.push(p);
    }
    out.push(parts.join("/"));
  }
  return out;
}

Deno.test("every layer imports only the layers below it (ARCHITECTURE.md)", async () => {
  const broken: string[] = [];
  for (const layer of Object.keys(ALLOWED)) {
    for await (const file of files(layer)) {
      const text = await Deno.readTextFile(`${ROOT}/${file}`);
      for (const target of imports(file, text)) {
        const top = target.split("/")[0]!;
        if (!ALLOWED[layer]!.includes(top)) broken.push(`${file} imports ${target}`);
      }
      if (layer === "analysis" && /\bDeno\.(?!test\b)/.test(text)) {
        broken.push(`${file} uses Deno.* (analysis/ is pure)`);
      }
    }
  }
  const main = await Deno.readTextFile(`${ROOT}/main.ts`);
  for (const target of imports("main.ts", main)) {
    if (target !== "cli/mod.ts") broken.push(`main.ts imports ${target}`);
  }
  assert.deepEqual(broken, []);
});
