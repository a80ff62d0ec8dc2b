// Summary cards: allocations, reachable, leaked (direct / indirect), possible, cycles; each a labelled
// group for screen readers, with the status shape beside the number.

import { formatBytes, formatCount } from "../format.ts";
import type { NodeStatus, StatsPayload } from "../view/payload.ts";
import { ShapeIcon } from "./shape_icon.tsx";

export function StatsCards({ stats: s }: { stats: StatsPayload }) {
  const cards: {
    label: string;
    value: number;
    bytes: string;
    status?: NodeStatus;
    tone?: string;
    testid: string;
  }[] = [
    {
      label: "Allocations",
      value: s.allocations,
      bytes: formatBytes(s.bytes),
      testid: "allocations",
    },
    {
      label: "Reachable",
      value: s.reachable,
      bytes: formatBytes(s.reachableBytes),
      status: "reachable",
      testid: "reachable",
    },
    {
      label: "Leaked",
      value: s.leaked,
      bytes: formatBytes(s.leakedBytes),
      status: "leaked",
      tone: s.leaked ? "bad" : "",
      testid: "leaked",
    },
    {
      label: "Direct leaks",
      value: s.direct,
      bytes: formatBytes(s.directBytes),
      status: "leaked",
      testid: "direct",
    },
    {
      label: "Indirect leaks",
      value: s.indirect,
      bytes: formatBytes(s.indirectBytes),
      status: "leaked",
      testid: "indirect",
    },
    {
      label: "Leaked cycles",
      value: s.cycles,
      bytes: `${formatCount(s.cycleBlocks)} blocks`,
      status: "cycle",
      testid: "cycles",
    },
  ];
  if (s.possible > 0) {
    cards.push({
      label: "Possibly hidden",
      value: s.possible,
      bytes: formatBytes(s.possibleBytes),
      status: "possible",
      testid: "possible",
    });
  }
  return (
    <section class="stats" aria-label="Summary">
      {cards.map((c) => (
        <div
          class={`card stat ${c.tone ?? ""}`}
          key={c.label}
          role="group"
          aria-label={`${c.label}: ${formatCount(c.value)}, ${c.bytes}`}
          data-testid={`stat-${c.testid}`}
        >
          <div class="label">{c.status && <ShapeIcon status={c.status} />} {c.label}</div>
          <div class="value" data-value={c.value}>{formatCount(c.value)}</div>
          <div class="sub">{c.bytes}</div>
        </div>
      ))}
    </section>
  );
}
