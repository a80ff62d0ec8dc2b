// Tests for materialize(): embedded native files copied to a private cache and loadable from there.
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { materialize, runningCompiled } from "./embedded.ts";
import { ABI_VERSION } from "./shim.ts";

const SHIM = new URL("../build/libheapscope.so", import.meta.url).pathname;

Deno.test("runningCompiled() recognises deno compile's virtual paths only", () => {
  assert(runningCompiled("file:///tmp/deno-compile-heapscope-bin/ffi/embedded.ts"));
  assert(!runningCompiled("file:///work/main/ffi/embedded.ts"));
  assert(!runningCompiled());
});

Deno.test("materialize() copies a library to a private cache once, and dlopen loads the copy", () => {
  const cache = Deno.makeTempDirSync({ prefix: "heapscope-cache-" });
  try {
    assertEquals(materialize(SHIM, { cache }), SHIM, "from source: the file itself");
    const out = materialize(SHIM, { compiled: true, cache });
    assert(out.startsWith(cache + "/") && out.endsWith("/libheapscope.so"), out);
    assertEquals(Deno.readFileSync(out), Deno.readFileSync(SHIM));
    const dir = out.slice(0, out.lastIndexOf("/"));
    assertEquals(Deno.statSync(dir).mode! & 0o777, 0o700);
    const mtime = Deno.statSync(out).mtime;
    assertEquals(materialize(SHIM, { compiled: true, cache }), out);
    assertEquals(Deno.statSync(out).mtime, mtime, "the second run reuses the copy");
    const lib = Deno.dlopen(out, { hs_abi_version: { parameters: [], result: "i32" } });
    try {
      assertEquals(lib.symbols.hs_abi_version(), ABI_VERSION);
    } finally {
      lib.close();
    }
  } finally {
    Deno.removeSync(cache, { recursive: true });
  }
});
