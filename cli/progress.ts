// Progress on a terminal: phase and count on one line of stderr, only when stderr is a terminal.

import { formatBytes } from "../report/format.ts";

export interface ProgressLine {
  update(phase: string, done: number, total: number): void;
  done(): void;
}

/** Minimum time between two redraws (ms): fast enough to look alive, cheap on big heaps. */
const REDRAW_MS = 80;

/** A progress line on stderr when `enabled` (quiet off and stderr a terminal), else nothing. */
export function progressLine(enabled: boolean): ProgressLine {
  if (!enabled) return { update: () => {}, done: () => {} };
  const enc = new TextEncoder();
  let last = 0, shown = false;
  return {
    update(phase, done, total) {
      const now = performance.now();
      if (now - last < REDRAW_MS && done !== total) return;
      last = now;
      // The copy and the buffers count bytes; every other phase counts items.
      const n = (v: number) => phase === "copy" || phase === "buffers" ? formatBytes(v) : String(v);
      const count = total > 1 ? ` ${n(done)}/${n(total)}` : "";
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2Kheapscope: ${phase}${count}`));
      shown = true;
    },
    done() {
      if (shown) Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
      shown = false;
    },
  };
}
