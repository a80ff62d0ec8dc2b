// Test helper: a Worker that runs fuzz inputs one by one, so a hang can be cut off from outside.
//
// Protocol: receives { target, seed } (or { target, warm: true } to build the base inputs first),
// answers { seed, outcome, ms, rss } with the input's wall time and the process RSS after it.

import { runInput, type Target } from "./fuzz_targets.ts";

interface Request {
  target: Target;
  seed: number;
  warm?: boolean;
  /** Busy-wait this long first (the harness self-test: a hang that blocks the event loop). */
  spinMs?: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(m: unknown): void;
};

scope.onmessage = (e) => {
  const { target, seed, warm, spinMs } = e.data;
  const t0 = performance.now();
  while (spinMs !== undefined && performance.now() - t0 < spinMs) { /* hang on purpose */ }
  const outcome = runInput(target, warm ? 0 : seed);
  const ms = performance.now() - t0;
  scope.postMessage({ seed, outcome, ms, rss: Deno.memoryUsage().rss });
};
