// The read-out of a time chart (the timeline, a watch series' growth): which point the reader is
// on, under the mouse or chosen by keyboard (← → Home End once the chart has focus), with the
// chart's cursor moved onto it; the chart drawn again when its width changes. The views say what
// the point is.

import { useEffect, useRef, useState } from "preact/hooks";
import type { ChartScale } from "./chart_axes.ts";

/**
 * Draw `data` with `draw` into the SVG that takes `svgRef` (now, and again on a width change) and
 * follow the reader's point among its `count` points: `at` is its index, null when none. The
 * cursor (g.cursor: a rule, then a dot per mark) is put at the scale's at(i). Spread `handlers`
 * on the SVG, which needs tabIndex={0} for the keys.
 */
export function useChartReadout<T>(
  data: T,
  count: number,
  draw: (svg: SVGSVGElement, data: T) => ChartScale,
) {
  const svgRef = useRef<SVGSVGElement>(null);
  const scale = useRef<ChartScale | null>(null);
  const [at, setAt] = useState<number | null>(null);
  useEffect(() => {
    const svg = svgRef.current!;
    scale.current = draw(svg, data);
    let width = svg.clientWidth;
    const observer = new ResizeObserver(() => {
      if (svg.clientWidth === width) return;
      width = svg.clientWidth;
      scale.current = draw(svg, data);
    });
    observer.observe(svg);
    return () => observer.disconnect();
  }, [data]);
  useEffect(() => {
    const cursor = svgRef.current!.querySelector<SVGGElement>("g.cursor");
    if (!cursor || !scale.current) return;
    if (at === null) {
      cursor.style.display = "none";
      return;
    }
    const [x, ...ys] = scale.current.at(at);
    cursor.style.display = "";
    const line = cursor.querySelector("line")!;
    line.setAttribute("x1", `${x}`);
    line.setAttribute("x2", `${x}`);
    cursor.querySelectorAll("circle").forEach((dot, k) => {
      dot.setAttribute("cx", `${x}`);
      dot.setAttribute("cy", `${ys[k]}`);
    });
  }, [at, data]);
  const handlers = {
    onMouseMove: (e: MouseEvent) => {
      const rect = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
      if (scale.current) setAt(scale.current.nearest(e.clientX - rect.left));
    },
    onMouseLeave: () => setAt(null),
    onKeyDown: (e: KeyboardEvent) => {
      const n = count;
      const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, End: n, Home: -n };
      if (step[e.key] === undefined) return;
      e.preventDefault();
      setAt((a) => Math.max(0, Math.min(n - 1, (a ?? (step[e.key]! > 0 ? -1 : n)) + step[e.key]!)));
    },
    onBlur: () => setAt(null),
  };
  return { svgRef, at, handlers };
}
