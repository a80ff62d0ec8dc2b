// Types for the few d3 functions the viewer uses (the d3 npm package ships none); used via @ts-types.

export interface ZoomTransform {
  readonly x: number;
  readonly y: number;
  readonly k: number;
  translate(x: number, y: number): ZoomTransform;
  scale(k: number): ZoomTransform;
}

export interface Force {
  strength(s: number): Force;
  distanceMax(d: number): Force;
  distance(d: number): Force;
  theta(t: number): Force;
}

export interface Simulation {
  force(name: string, force: Force): Simulation;
  alphaDecay(d: number): Simulation;
  alpha(): number;
  alpha(a: number): Simulation;
  alphaMin(): number;
  alphaTarget(a: number): Simulation;
  tick(): Simulation;
  stop(): Simulation;
}

/** A d3 behaviour (zoom, drag) or anything else a selection can `call`. */
export interface Behavior {
  // deno-lint-ignore no-explicit-any
  on(type: string, listener: ((event: any) => void) | null): Behavior;
}

export interface Zoom extends Behavior {
  scaleExtent(extent: [number, number]): Zoom;
  on(
    type: string,
    listener: ((event: { transform: ZoomTransform; sourceEvent: Event | null }) => void) | null,
  ): Zoom;
  transform: unknown;
}

export interface Drag extends Behavior {
  container(el: Element): Drag;
  // deno-lint-ignore no-explicit-any
  subject(fn: (event: any) => unknown): Drag;
  // deno-lint-ignore no-explicit-any
  on(type: string, listener: ((event: any) => void) | null): Drag;
}

export interface Selection {
  // deno-lint-ignore no-explicit-any
  call(fn: unknown, ...args: any[]): Selection;
  // deno-lint-ignore no-explicit-any
  on(type: string, listener: ((event: any) => void) | null): Selection;
  append(name: string): Selection;
  selectAll(selector: string): Selection;
  attr(name: string, value: string | number | null): Selection;
  text(value: string): Selection;
  remove(): Selection;
  datum(value: unknown): Selection;
}

export interface ScaleLinear {
  (value: number): number;
  domain(d: [number, number]): ScaleLinear;
  range(r: [number, number]): ScaleLinear;
  nice(count?: number): ScaleLinear;
  ticks(count?: number): number[];
  invert(value: number): number;
}

export interface Axis {
  ticks(count: number): Axis;
  tickFormat(format: (value: number) => string): Axis;
  tickSizeOuter(size: number): Axis;
  tickSize(size: number): Axis;
  tickPadding(padding: number): Axis;
}

export interface LineShape<T> {
  (data: T[]): string | null;
  x(fn: (d: T) => number): LineShape<T>;
  y(fn: (d: T) => number): LineShape<T>;
}

export interface AreaShape<T> {
  (data: T[]): string | null;
  x(fn: (d: T) => number): AreaShape<T>;
  y0(y: number): AreaShape<T>;
  y1(fn: (d: T) => number): AreaShape<T>;
}

export interface Timer {
  stop(): void;
}

export declare function forceSimulation<N>(nodes: N[]): Simulation;
export declare function forceManyBody(): Force;
export declare function forceLink<L>(links: L[]): Force;
export declare function forceX(x: number): Force;
export declare function forceY(y: number): Force;
export declare const zoomIdentity: ZoomTransform;
export declare function zoom(): Zoom;
export declare function drag(): Drag;
export declare function select(el: Element): Selection;
export declare function scaleLinear(): ScaleLinear;
export declare function axisBottom(scale: ScaleLinear): Axis;
export declare function axisLeft(scale: ScaleLinear): Axis;
export declare function axisRight(scale: ScaleLinear): Axis;
export declare function line<T>(): LineShape<T>;
export declare function area<T>(): AreaShape<T>;
export declare function pointer(event: Event, target: Element): [number, number];
export declare function interpolateZoom(
  a: [number, number, number],
  b: [number, number, number],
): ((t: number) => [number, number, number]) & { duration: number };
export declare function timer(callback: (elapsed: number) => void): Timer;
export declare function easeCubicInOut(t: number): number;
