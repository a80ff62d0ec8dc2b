// One call stack as a list of frames (innermost first), each named by formatFrame(); all text nodes.

import type { FrameView } from "../view/payload.ts";

export function StackFrames({ frames, more }: { frames: FrameView[]; more: number }) {
  return (
    <ol class="stack" data-testid="stack">
      {frames.map((f, i) => (
        <li key={i} class={f.alloc ? "alloc" : ""} title={f.image ? `${f.pc} in ${f.image}` : f.pc}>
          <span class="fn">{f.text}</span>
        </li>
      ))}
      {more > 0 && <li class="muted">… {more} more frames (see leaks.json)</li>}
      {frames.length === 0 && <li class="muted">no frames recorded</li>}
    </ol>
  );
}
