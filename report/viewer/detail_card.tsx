// Detail card of the selected block: address, size, zone, status, in/out edges with offsets, hexdump,
// and for recorded processes the allocation stack, thread and age.

import { formatBytes, formatDuration } from "../selectors.ts";
import type { EdgeRow, NodeDetail } from "../selectors.ts";
import { StackFrames } from "./stack_frames.tsx";

export function DetailCard(
  { detail, onSelect }: { detail: NodeDetail | null; onSelect: (index: number) => void },
) {
  if (!detail) {
    return (
      <div class="card detail empty">
        <h3>Block</h3>
        <p class="muted">
          Click a node to see its address, edges and first bytes. Drag a node to pin it; scroll to
          zoom; <kbd>Esc</kbd> resets.
        </p>
      </div>
    );
  }
  const edges = (rows: EdgeRow[], dir: "in" | "out", hidden: number) => (
    <ul class="edges">
      {rows.slice(0, 12).map((e) => (
        <li key={`${dir}${e.node}:${e.offset}`}>
          <button type="button" class={`link ${e.status}`} onClick={() => onSelect(e.node)}>
            {e.address}
          </button>
          <span class="muted">
            {dir === "out"
              ? ` at +0x${e.offset.toString(16)}`
              : ` holds it at +0x${e.offset.toString(16)}`}
          </span>
        </li>
      ))}
      {rows.length > 12 && <li class="muted">{rows.length - 12} more drawn</li>}
      {hidden > 0 && <li class="muted">{hidden} more not drawn</li>}
      {rows.length === 0 && hidden === 0 && <li class="muted">none</li>}
    </ul>
  );
  return (
    <div class="card detail" data-testid="detail">
      <h3>
        <span class={`dot ${detail.status}`} />{" "}
        <span class="mono" data-testid="detail-address">{detail.address}</span>
      </h3>
      <dl>
        <dt>size</dt>
        <dd>{formatBytes(detail.size)} ({detail.size} B)</dd>
        <dt>zone</dt>
        <dd>{detail.zone}</dd>
        <dt>status</dt>
        <dd class={detail.status}>{detail.label}{detail.rooted ? " · held by a root" : ""}</dd>
      </dl>
      {detail.stack && (
        <div data-testid="detail-stack">
          <h4>
            Allocated at <span class="muted">(site {detail.stack.site})</span>
          </h4>
          <div class="muted small">
            {detail.stack.thread !== undefined && <>thread {detail.stack.thread}</>}
            {detail.stack.ageMs !== undefined && (
              <>
                {detail.stack.thread !== undefined ? " · " : ""}age{" "}
                {formatDuration(detail.stack.ageMs)}
              </>
            )}
          </div>
          {detail.stack.frames
            ? <StackFrames frames={detail.stack.frames} more={detail.stack.more} />
            : <p class="muted small">Stack not embedded in this report; see leaks.json.</p>}
        </div>
      )}
      <h4>Pointed to by ({detail.inEdges.length + detail.inNotDrawn})</h4>
      {edges(detail.inEdges, "in", detail.inNotDrawn)}
      <h4>Points to ({detail.outEdges.length + detail.outNotDrawn})</h4>
      {edges(detail.outEdges, "out", detail.outNotDrawn)}
      {detail.hexdump.length > 0 && (
        <>
          <h4>First bytes</h4>
          <pre class="hex">{detail.hexdump.join("\n")}</pre>
        </>
      )}
    </div>
  );
}
