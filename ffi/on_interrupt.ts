// SIGINT, SIGTERM and SIGHUP while something must be undone first: undo it, exit with 128+signo.
//
// Used while a target is stopped (resume it) and while outputs are written (remove temporaries).

const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const;

/**
 * Until `release()` resolves, an interrupting signal runs `cleanup` and exits 128+signo.
 * `release()` first yields one turn of the event loop: a signal that arrived during synchronous
 * work (an FFI call) reaches its listener then instead of being swallowed when the listeners go.
 */
export function onInterrupt(cleanup: () => void): { release(): Promise<void> } {
  const listeners = SIGNALS.map(([name, no]) =>
    [name, () => {
      cleanup();
      Deno.exit(128 + no);
    }] as const
  );
  for (const [name, fn] of listeners) Deno.addSignalListener(name, fn);
  return {
    async release() {
      await new Promise((r) => setTimeout(r, 0));
      for (const [name, fn] of listeners) Deno.removeSignalListener(name, fn);
    },
  };
}
