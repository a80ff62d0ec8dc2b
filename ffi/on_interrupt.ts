// SIGINT, SIGTERM and SIGHUP while something must be undone first: undo it, exit with 128+signo.
//
// Used while a target is stopped (resume it) and while outputs are written (remove temporaries).
//
// One listener per signal, installed on first use and never removed. Removing a listener when a
// scope ends lost signals: Deno takes a signal in at once but hands it to the listeners on a later
// turn of the event loop, so a Ctrl-C that came during the copy (a synchronous FFI call) could
// reach no listener at all when the scope ended on the same turn, and the command went on
// (1 run in 12 of ffi/linux_capture_test.ts's SIGINT loop). Installed for good, the listener
// always sees the signal: with a scope open it undoes what the scopes list and exits 128+signo;
// with none open and no command handling the signal itself (ownSignals), it exits 128+signo as
// the signal's default action would.

const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const;

/** What the open scopes must undo, in the order they were opened. */
const scopes = new Set<() => void>();
/** Commands that handle SIGINT/SIGTERM/SIGHUP themselves between scopes (watch, run). */
let owners = 0;
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  for (const [name, no] of SIGNALS) {
    Deno.addSignalListener(name, () => {
      if (scopes.size === 0 && owners > 0) return; // the command's own listener answers
      for (const cleanup of [...scopes].reverse()) {
        try {
          cleanup();
        } catch {
          // undo the rest, then exit: nothing may keep the target stopped
        }
      }
      Deno.exit(128 + no);
    });
  }
}

/**
 * Until `release()` resolves, an interrupting signal runs `cleanup` and exits 128+signo. After it,
 * a signal that arrived meanwhile still ends the process (the listener stays; see above).
 */
export function onInterrupt(cleanup: () => void): { release(): Promise<void> } {
  install();
  const entry = () => cleanup();
  scopes.add(entry);
  return {
    // deno-lint-ignore require-await
    async release() {
      scopes.delete(entry);
    },
  };
}

/**
 * A command that answers SIGINT/SIGTERM/SIGHUP with its own listeners (watch stops after the
 * current snapshot, run forwards them to its child): outside scopes, those signals are left to it
 * until the returned function is called.
 */
export function ownSignals(): () => void {
  install();
  owners++;
  let done = false;
  return () => {
    if (!done) owners--;
    done = true;
  };
}
