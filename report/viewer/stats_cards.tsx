// Summary cards: allocations, bytes, reachable, leaked (direct / indirect), cycles.

import { formatBytes, formatCount } from "../selectors.ts";
import type { StatsPayload } from "../selectors.ts";

export function StatsCards({ stats: s }: { stats: StatsPayload }) {
  const cards: { label: string; value: string; sub: string; tone?: string }[] = [
    { label: "Allocations", value: formatCount(s.allocations), sub: formatBytes(s.bytes) },
    {
      label: "Reachable",
      value: formatCount(s.reachable),
      sub: formatBytes(s.reachableBytes),
      tone: "green",
    },
    {
      label: "Leaked",
      value: formatCount(s.leaked),
      sub: formatBytes(s.leakedBytes),
      tone: s.leaked ? "red" : "green",
    },
    {
      label: "Direct leaks",
      value: formatCount(s.direct),
      sub: formatBytes(s.directBytes),
      tone: s.direct ? "red" : undefined,
    },
    {
      label: "Indirect leaks",
      value: formatCount(s.indirect),
      sub: formatBytes(s.indirectBytes),
      tone: s.indirect ? "red" : undefined,
    },
    {
      label: "Leaked cycles",
      value: formatCount(s.cycles),
      sub: `${formatCount(s.cycleBlocks)} blocks`,
      tone: s.cycles ? "purple" : undefined,
    },
  ];
  return (
    <section class="stats">
      {cards.map((c) => (
        <div class={`card stat ${c.tone ?? ""}`} key={c.label}>
          <div class="label">{c.label}</div>
          <div class="value">{c.value}</div>
          <div class="sub">{c.sub}</div>
        </div>
      ))}
    </section>
  );
}
