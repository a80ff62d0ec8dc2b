// Report header: target, capture time, pause and the verdict.

import type { HeaderPayload } from "../selectors.ts";

export function Header({ header }: { header: HeaderPayload }) {
  const when = new Date(header.capturedAt);
  const captured = Number.isNaN(when.getTime())
    ? header.capturedAt
    : when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return (
    <header class="top">
      <div class="brand">
        <span class="logo">◎</span> heapscope
      </div>
      <div class="target">
        <div class="cmd" title={header.command} data-testid="command">{header.command}</div>
        <div class="meta">
          <span>pid {header.pid}</span>
          <span>{header.platform} {header.arch}</span>
          <span>{header.allocator}</span>
          <span>captured {captured}</span>
          <span>paused {header.pauseMs.toFixed(1)} ms</span>
        </div>
      </div>
      <div class={header.ok ? "verdict ok" : "verdict bad"} data-testid="verdict">
        {header.verdict}
      </div>
    </header>
  );
}
