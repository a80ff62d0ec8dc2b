// Times every analysis phase on a saved snapshot file, repeated in one process (the first rep pays
// the JIT, the later ones show the steady state): the same options as the CLI's pipeline (the scan
// kernel, the snapshot's image files, the demangler). Makes phase work measurable without a live
// target and without the capture's noise.
//
// Usage: node_modules/.bin/deno run -A bench/analyze_file.ts FILE.hsnap [--reps R] [--plain-arrays]
// (--plain-arrays: V8's own typed arrays, not the huge-page ones the command line uses)
// (write FILE with `./heapscope PID --save FILE`). Prints one line per rep: phases in ms.

import { parseArgs } from "node:util";
import { analyze } from "../analysis/mod.ts";
import { useZeroedMemory } from "../analysis/arrays.ts";
import { hugeZeroedMemory } from "../ffi/huge_arrays.ts";
import { demangle, loadDemangler } from "../analysis/demangle.ts";
import { scanKernel } from "../ffi/mod.ts";
import { readSnapshotFile, snapshotImageFiles } from "../ffi/snapshot_file.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { reps: { type: "string" }, "plain-arrays": { type: "boolean" } },
  allowPositionals: true,
});
// As the command line does (cli/mod.ts), unless --plain-arrays.
if (!values["plain-arrays"]) useZeroedMemory(hugeZeroedMemory());
const file = await readSnapshotFile(positionals[0]!);
await loadDemangler();
const files = snapshotImageFiles(file);
const reps = Number(values.reps ?? 3);
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const a = analyze(file.snapshot, { kernel: scanKernel(), imageFiles: files, demangle });
  const total = performance.now() - t0;
  const phases = Object.entries(a.phaseMs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ");
  console.log(`rep ${r + 1}: total ${total.toFixed(0)} ms: ${phases}`);
}
