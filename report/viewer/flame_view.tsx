// The flame graph of leaked bytes by allocation stack (recorded processes), drawn by d3-flame-graph:
// the outermost frame at the bottom, malloc at the top; click a frame to zoom into it, click a
// stack's top frame to narrow the graph and the tables to its site.

import { useEffect, useRef, useState } from "preact/hooks";
// @ts-types="./d3.d.ts"
import * as d3 from "d3";
// @ts-types="./d3_flame_graph.d.ts"
import flamegraph from "d3-flame-graph";
import { formatBytes } from "../format.ts";
import type { FlamePayload } from "../view/payload.ts";

/** Frames narrower than this are not drawn (d3-flame-graph's minFrameSize): unreadable anyway. */
const MIN_FRAME_PX = 2;

export function FlameView(
  { flame, onSite }: { flame: FlamePayload; onSite: (site: number) => void },
) {
  const host = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState("");
  useEffect(() => {
    const el = host.current!;
    const total = Math.max(1, flame.root.value);
    const chart = flamegraph()
      .width(Math.max(320, el.clientWidth))
      .cellHeight(20)
      .minFrameSize(MIN_FRAME_PX)
      .transitionDuration(150)
      .sort(true)
      .tooltip(false)
      .setLabelHandler((d) =>
        `${d.data.name}: ${formatBytes(d.value)} (${
          (100 * d.value / total).toFixed(1)
        }% of leaked bytes)`
      )
      // Vermilion shades, the report's leaked colour: darker for bigger frames.
      .setColorMapper((d) => {
        const share = d.value / total;
        return `hsl(${22 + 10 * (1 - share)}, ${70 + 20 * share}%, ${62 - 22 * share}%)`;
      })
      .onClick((d) => {
        if (d.data.site !== undefined) onSite(d.data.site);
      })
      .onHover((d) =>
        setHover(`${d.data.name}: ${formatBytes(d.value)} (${(100 * d.value / total).toFixed(1)}%)`)
      );
    d3.select(el).datum(flame.root).call(chart);
    return () => {
      chart.destroy();
      el.replaceChildren();
    };
  }, [flame]);
  return (
    <section class="card flame" aria-labelledby="flame-title" data-testid="flame">
      <h2 id="flame-title">
        Leaked bytes by allocation stack{" "}
        <span class="muted">· {formatBytes(flame.total)} (usable sizes, as the leaks table)</span>
      </h2>
      <div
        ref={host}
        class="flame-host"
        role="img"
        aria-label="Flame graph of leaked bytes by stack"
      />
      <p class="small read-out" aria-live="polite" data-testid="flame-readout">
        {hover || "Hover or click a frame: its leaked bytes; a click zooms into it."}
      </p>
      {flame.unrecorded > 0 && (
        <p class="muted small">
          {formatBytes(flame.unrecorded)}{" "}
          leaked in blocks with no recorded stack (allocated before the recorder started).
        </p>
      )}
    </section>
  );
}
