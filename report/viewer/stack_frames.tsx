// One call stack as a list of frames (function, file:line, image), innermost first; all text nodes.

import { frameLocation } from "../selectors.ts";
import type { FrameView } from "../selectors.ts";

export function StackFrames({ frames, more }: { frames: FrameView[]; more: number }) {
  return (
    <ol class="stack" data-testid="stack">
      {frames.map((f, i) => {
        const where = frameLocation(f);
        return (
          <li key={i} class={f.alloc ? "alloc" : ""}>
            <span class="fn">{f.function ?? f.pc}</span>
            {where && <span class="where" title={f.file}>{where}</span>}
            {f.image && <span class="img">{f.image}</span>}
          </li>
        );
      })}
      {more > 0 && <li class="muted">… {more} more frames (see leaks.json)</li>}
      {frames.length === 0 && <li class="muted">no frames recorded</li>}
    </ol>
  );
}
