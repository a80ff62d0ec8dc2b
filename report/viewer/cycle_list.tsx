// List of leaked cycles; a click flies the camera to the cycle and pulses it.

import { formatBytes, formatCount } from "../selectors.ts";
import type { CycleRow, CyclesPayload } from "../selectors.ts";

export function CycleList(
  { cycles, selected, onPick }: {
    cycles: CyclesPayload;
    selected: number | null;
    onPick: (row: CycleRow) => void;
  },
) {
  return (
    <div class="card cycles">
      <h3>
        Leaked cycles <span class="muted">({formatCount(cycles.total)})</span>
      </h3>
      {cycles.rows.length === 0
        ? <p class="muted">No leaked cycles.</p>
        : (
          <ol class="cycle-list" data-testid="cycle-list">
            {cycles.rows.map((c) => (
              <li
                key={c.index}
                class={selected === c.index ? "selected" : ""}
                aria-selected={selected === c.index}
                data-cycle={c.index}
                onClick={() => onPick(c)}
              >
                <span class="dot cycle" />
                <span class="mono">{c.firstAddress}</span>
                <span class="muted">{c.size} blocks · {formatBytes(c.bytes)}</span>
                {c.members.length < c.size && <span class="muted">· {c.members.length} drawn</span>}
              </li>
            ))}
          </ol>
        )}
      {cycles.omitted > 0 && (
        <p class="muted small">{formatCount(cycles.omitted)} smaller cycles omitted.</p>
      )}
    </div>
  );
}
