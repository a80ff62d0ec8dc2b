// The detail card of the selected block, always in view (a panel beside the content, a sheet at the
// bottom on narrow screens): what it is, the path from the root that keeps it (each step
// selectable), what it holds, its allocation stack, its edges and its first bytes.

import { formatBytes, formatCount, formatDuration } from "../format.ts";
import type { EdgeRow, NodeDetail } from "../view/node_detail.ts";
import { ShapeIcon } from "./shape_icon.tsx";
import { StackFrames } from "./stack_frames.tsx";

export interface DetailCardProps {
  detail: NodeDetail | null;
  /** The block index is still being decoded (paths and undrawn edges come with it). */
  indexPending: boolean;
  onSelect: (block: number) => void;
  onClose: () => void;
  onShowStructure: (block: number) => void;
}

/** Edges listed on the card per direction (the index may list up to 50). */
const SHOWN_EDGES = 12;

export function DetailCard(props: DetailCardProps) {
  const { detail, onSelect } = props;
  if (!detail) return null;
  const off = (o: number | undefined) => o === undefined ? "" : `+0x${o.toString(16)}`;
  const edges = (rows: EdgeRow[], dir: "in" | "out", total: number) => (
    <ul class="edges">
      {rows.slice(0, SHOWN_EDGES).map((e) => (
        <li key={`${dir}${e.block}:${e.offset}`}>
          <button type="button" class="link" onClick={() => onSelect(e.block)}>
            <ShapeIcon status={e.status} /> <span class="mono">{e.address}</span>
          </button>
          <span class="muted">
            {dir === "out" ? ` from ${off(e.offset)}` : ` holds it at ${off(e.offset)}`}
          </span>
        </li>
      ))}
      {total > Math.min(rows.length, SHOWN_EDGES) && (
        <li class="muted">
          {formatCount(total - Math.min(rows.length, SHOWN_EDGES))} more (see leaks.json)
        </li>
      )}
      {total === 0 && <li class="muted">none</li>}
    </ul>
  );
  const size = detail.requested !== undefined && detail.requested !== detail.size
    ? (
      <>
        {formatBytes(detail.size)} usable{" "}
        <span
          class="muted"
          title="The program asked malloc for the requested size; malloc handed out the usable size (rounded up to its size classes). Totals in this report are usable sizes."
        >
          (asked for {formatBytes(detail.requested)})
        </span>
      </>
    )
    : <>{formatBytes(detail.size)}{detail.size >= 1024 ? ` (${formatCount(detail.size)} B)` : ""}
    </>;
  return (
    <aside
      class="card detail"
      data-testid="detail"
      aria-label={`Block ${detail.address}`}
      tabIndex={-1}
    >
      <div class="detail-head">
        <h2>
          <ShapeIcon status={detail.status} />{" "}
          <span class="mono" data-testid="detail-address">{detail.address}</span>
        </h2>
        <button
          type="button"
          class="close"
          aria-label="Close the card (Esc)"
          onClick={props.onClose}
        >
          ✕
        </button>
      </div>
      <dl>
        <dt>status</dt>
        <dd class={detail.status} data-testid="detail-status">{detail.label}</dd>
        <dt>size</dt>
        <dd data-testid="detail-size">{size}</dd>
        <dt>zone</dt>
        <dd>{detail.zone}</dd>
        {detail.type && (
          <>
            <dt>type</dt>
            <dd>{detail.type}</dd>
          </>
        )}
        {detail.retained !== undefined && (
          <>
            <dt>retained</dt>
            <dd title="Bytes this block keeps alive: itself and every block only it reaches (dominator tree)">
              {formatBytes(detail.retained)}
            </dd>
          </>
        )}
        {detail.held && (
          <>
            <dt>holds</dt>
            <dd data-testid="detail-held">
              {formatCount(detail.held.blocks)} block{detail.held.blocks === 1 ? "" : "s"},{" "}
              {formatBytes(detail.held.bytes)}{" "}
              <button
                type="button"
                class="link"
                onClick={() => props.onShowStructure(detail.block)}
              >
                show the structure
              </button>
            </dd>
          </>
        )}
        {!detail.drawn && (
          <>
            <dt>graph</dt>
            <dd class="muted">drawn on demand with its neighbourhood</dd>
          </>
        )}
      </dl>
      <h3>{detail.pathFrom === "direct leak" ? "Held by the direct leak" : "Why it is alive"}</h3>
      <div data-testid="detail-path">
        {props.indexPending && detail.path.length === 0
          ? <p class="muted small">Loading the block index…</p>
          : detail.pathFrom === "none"
          ? (
            <p class="small">
              Nothing reaches it: no root, no other leaked block. Free it where it was allocated.
            </p>
          )
          : detail.pathFrom === "unknown"
          ? <p class="muted small">No holder is in this report.</p>
          : (
            <ol class="path">
              {detail.pathFrom === "root" && (
                <li class="root" data-testid="path-root">
                  {detail.pathRoot
                    ? (
                      <>
                        root: <b>{detail.pathRoot.label}</b>
                        {detail.pathRoot.weak ? " (weak evidence)" : ""}
                      </>
                    )
                    : "root (not listed in leaks.json)"}
                </li>
              )}
              {detail.path.map((s, i) => (
                <li key={s.block}>
                  {i === detail.path.length - 1
                    ? (
                      <span class="mono">
                        <ShapeIcon status={s.status} /> {s.address} (this block)
                      </span>
                    )
                    : (
                      <button type="button" class="link" onClick={() => onSelect(s.block)}>
                        <ShapeIcon status={s.status} /> <span class="mono">{s.address}</span>
                      </button>
                    )}
                  {s.offset !== undefined && <span class="muted">→ at {off(s.offset)}</span>}
                  {s.weak && (
                    <span
                      class="weak-link"
                      data-testid="path-weak"
                      title="Weak evidence: a word the program may never have written (malloc's slack, past a C string's NUL, a pool's spare part). If it is stale, the blocks after it are leaked."
                    >
                      {" "}weak: may be stale
                      {s.reason && (
                        <span class="weak-reason" data-testid="path-weak-reason">
                          {s.reason}
                        </span>
                      )}
                    </span>
                  )}
                </li>
              ))}
            </ol>
          )}
      </div>
      {detail.roots.length > 0 && (
        <p class="small">
          Held directly by {detail.roots.map((r) => r.label).join("; ")}.
        </p>
      )}
      {detail.stack && (
        <div data-testid="detail-stack">
          <h3>Allocated at</h3>
          <p class="small">
            <span class="fn">{detail.stack.label}</span>
            <span class="muted">
              {detail.stack.thread !== undefined && ` · thread ${detail.stack.thread}`}
              {detail.stack.ageMs !== undefined && ` · age ${formatDuration(detail.stack.ageMs)}`}
            </span>
          </p>
          {detail.stack.frames
            ? <StackFrames frames={detail.stack.frames} more={detail.stack.more} />
            : <p class="muted small">Stack not embedded in this report; see leaks.json.</p>}
        </div>
      )}
      <h3>Pointed to by ({formatCount(detail.inTotal)})</h3>
      {edges(detail.inEdges, "in", detail.inTotal)}
      <h3>Points to ({formatCount(detail.outTotal)})</h3>
      {edges(detail.outEdges, "out", detail.outTotal)}
      {detail.hexdump.length > 0 && (
        <>
          <h3>
            First bytes <span class="muted small">(copied from the process)</span>
          </h3>
          <pre class="hex">{detail.hexdump.join("\n")}</pre>
        </>
      )}
    </aside>
  );
}
