// Report header: target, capture, the verdict, and what of the process's memory the report holds.

import { formatCount } from "../format.ts";
import type { HeaderPayload } from "../view/payload.ts";

export function Header({ header }: { header: HeaderPayload }) {
  const when = new Date(header.capturedAt);
  const captured = Number.isNaN(when.getTime())
    ? header.capturedAt
    : when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return (
    <header class="top">
      <div class="brand">
        <span class="logo" aria-hidden="true">◎</span> heapscope
      </div>
      <div class="target">
        <div class="cmd" data-testid="command">{header.command}</div>
        <div class="meta">
          {header.goDump
            ? <span data-testid="kind">Go heap dump</span>
            : <span data-testid="kind">pid {header.pid}</span>}
          <span>{header.platform} {header.arch}</span>
          <span>{header.allocator}</span>
          <span>captured {captured}</span>
          {!header.goDump && <span>paused {header.pauseMs.toFixed(1)} ms</span>}
        </div>
        <div class="privacy small" data-testid="privacy">
          {header.bytesEmbedded > 0
            ? `Contains bytes copied from the process's memory: the first bytes of ${
              formatCount(header.bytesEmbedded)
            } blocks (hexdumps), as leaks.json does. Share it with care; --redact leaves every byte out.`
            : "Contains no bytes of the process's memory (no hexdumps): addresses, sizes and names only."}
        </div>
      </div>
      <div
        class={header.possible ? "verdict possible" : header.ok ? "verdict ok" : "verdict bad"}
        title={header.possible
          ? "Nothing is unreachable, but these blocks are kept only by weak evidence: words that " +
            "may be stale (malloc's slack, past a string's NUL, a pool's spare part). Select one " +
            "to see the path that keeps it."
          : undefined}
        data-testid="verdict"
        role="status"
      >
        {header.verdict}
      </div>
    </header>
  );
}
