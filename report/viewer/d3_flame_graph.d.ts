// Types for the part of d3-flame-graph (v5) the viewer uses (the package ships none); via @ts-types.

export interface FlameDatum {
  data: { name: string; value: number; site?: number };
  value: number;
}

export interface FlameGraph {
  (selection: unknown): void;
  width(w: number): FlameGraph;
  cellHeight(h: number): FlameGraph;
  minFrameSize(px: number): FlameGraph;
  transitionDuration(ms: number): FlameGraph;
  sort(sort: boolean): FlameGraph;
  title(title: string): FlameGraph;
  tooltip(tip: boolean): FlameGraph;
  inverted(inverted: boolean): FlameGraph;
  selfValue(self: boolean): FlameGraph;
  setColorMapper(mapper: (d: FlameDatum, original: string) => string): FlameGraph;
  setLabelHandler(label: (d: FlameDatum) => string): FlameGraph;
  onClick(handler: (d: FlameDatum) => void): FlameGraph;
  onHover(handler: (d: FlameDatum) => void): FlameGraph;
  resetZoom(): void;
  destroy(): void;
}

declare function flamegraph(): FlameGraph;
export default flamegraph;
