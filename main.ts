// heapscope's entry point: the command line (cli/) and its exit status. Nothing else.

import { main } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
