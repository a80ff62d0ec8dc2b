// The status shapes as small inline SVGs, for legends, cards and table rows (shape, not only colour).

import type { NodeStatus } from "../view/payload.ts";
import { COLORS } from "./graph_canvas.ts";

const PATHS: Record<NodeStatus, string> = {
  reachable: "M10 5a5 5 0 1 1-10 0a5 5 0 1 1 10 0z",
  leaked: "M0.5 0.5h9v9h-9z",
  cycle: "M5 0l5.5 9.5h-11z",
  possible: "M5 0l5 5l-5 5l-5-5z",
};

export function ShapeIcon({ status }: { status: NodeStatus }) {
  return (
    <svg class="shape" width="11" height="11" viewBox="-0.5 -0.5 11 11" aria-hidden="true">
      <path d={PATHS[status]} fill={COLORS[status]} />
    </svg>
  );
}
