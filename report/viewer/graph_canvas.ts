// D3 drawing of the heap graph on a canvas: force layout, zoom/pan, drag-to-pin, picking, fly-to and pulse,
// zoom-to-fit once the layout has cooled a little. No data logic.

// @ts-types="./d3.d.ts"
import * as d3 from "d3";
import type { ZoomTransform } from "./d3.d.ts";
import type { GraphPayload } from "../selectors.ts";

export const COLORS = {
  reachable: "#3fb950",
  leaked: "#f85149",
  cycle: "#a371f7",
  link: "rgba(139,148,158,0.28)",
  linkHot: "rgba(240,246,252,0.9)",
  ring: "#f0f6fc",
  match: "#e3b341",
} as const;

export interface DrawState {
  mask: Uint8Array;
  selected: number | null;
  neighbours: ReadonlySet<number>;
  matches: ReadonlySet<number>;
}

export interface DrawStats {
  drawn: { reachable: number; leaked: number; cycle: number };
  frames: number;
  ticks: number;
  alpha: number;
  pinned: number;
  pulsing: number;
  zoom: number;
  /** Mean milliseconds per draw. */
  drawMs: number;
  /** Mean milliseconds per simulation tick. */
  tickMs: number;
  /** The camera was fitted to the drawn nodes (once the layout cooled, or by reset). */
  fitted: boolean;
}

export interface GraphCanvas {
  update(state: DrawState): void;
  flyTo(indices: number[], pulse: boolean): void;
  /** Animate the camera to fit these nodes (e.g. one allocation site's blocks) into the canvas. */
  fitTo(indices: number[]): void;
  /** Reset pins, pulse and camera; the camera fits the drawn nodes. */
  reset(): void;
  /** Screen position (CSS pixels relative to the canvas) of a node, for tests and tooltips. */
  screenPosition(index: number): [number, number] | null;
  stats(): DrawStats;
  destroy(): void;
}

/** Simulation alpha (it starts at 1) below which the camera fits the layout once. */
const FIT_ALPHA = 0.3;

interface SimNode {
  index: number;
  x: number;
  y: number;
  vx?: number;
  vy?: number;
  fx?: number | null;
  fy?: number | null;
  r: number;
  status: "reachable" | "leaked" | "cycle";
}

interface SimLink {
  source: SimNode;
  target: SimNode;
}

/** Mount the force-directed graph on `canvas`; `onSelect` gets a node index or null on click. */
export function createGraphCanvas(
  canvas: HTMLCanvasElement,
  graph: GraphPayload,
  onSelect: (index: number | null) => void,
  onFirstDraw: () => void,
): GraphCanvas {
  const ctx = canvas.getContext("2d")!;
  const nodes: SimNode[] = graph.nodes.map((node, index) => ({
    index,
    x: NaN,
    y: NaN,
    r: Math.max(2.5, Math.min(9, 1 + Math.log2(Math.max(16, node.size)) * 0.55)),
    status: node.status,
  }));
  const links: SimLink[] = graph.links.map((l) => ({
    source: nodes[l.source]!,
    target: nodes[l.target]!,
  }));
  const big = nodes.length > 800;
  const simulation = d3.forceSimulation(nodes)
    .force(
      "charge",
      d3.forceManyBody().strength(big ? -14 : -40).distanceMax(big ? 120 : 300).theta(1.2),
    )
    .force("link", d3.forceLink(links).distance(big ? 14 : 26).strength(0.6))
    .force("x", d3.forceX(0).strength(big ? 0.05 : 0.03))
    .force("y", d3.forceY(0).strength(big ? 0.05 : 0.03))
    .alphaDecay(0.018);

  let state: DrawState = {
    mask: new Uint8Array(nodes.length).fill(1),
    selected: null,
    neighbours: new Set(),
    matches: new Set(),
  };
  let transform = d3.zoomIdentity;
  let width = 0, height = 0, dpr = 1;
  let frames = 0, ticks = 0;
  let drawn = { reachable: 0, leaked: 0, cycle: 0 };
  let pulse: { members: number[]; until: number } | null = null;
  let pulseTimer: { stop(): void } | null = null;
  let flyTimer: { stop(): void } | null = null;
  let pending = 0;
  let firstDrawn = false;
  // Zoom-to-fit happens once, when the layout has cooled to FIT_ALPHA, unless the user (or a
  // fly-to) moved the camera first.
  let fitted = false;
  let cameraTaken = false;

  const resize = () => {
    const rect = canvas.getBoundingClientRect();
    dpr = globalThis.devicePixelRatio || 1;
    width = Math.max(1, rect.width);
    height = Math.max(1, rect.height);
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    requestDraw();
  };

  let drawMs = 0;
  const draw = () => {
    const t0 = performance.now();
    pending = 0;
    frames++;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.translate(transform.x, transform.y);
    ctx.scale(transform.k, transform.k);
    const { mask, selected, neighbours, matches } = state;
    const focus = selected !== null;

    ctx.lineWidth = 0.8 / Math.sqrt(transform.k);
    ctx.strokeStyle = COLORS.link;
    ctx.beginPath();
    for (const l of links) {
      if (!mask[l.source.index] || !mask[l.target.index]) continue;
      if (focus && (l.source.index === selected || l.target.index === selected)) continue;
      ctx.moveTo(l.source.x, l.source.y);
      ctx.lineTo(l.target.x, l.target.y);
    }
    ctx.globalAlpha = focus ? 0.35 : 1;
    ctx.stroke();
    ctx.globalAlpha = 1;
    if (focus) {
      ctx.strokeStyle = COLORS.linkHot;
      ctx.lineWidth = 1.6 / Math.sqrt(transform.k);
      ctx.beginPath();
      for (const l of links) {
        if (l.source.index !== selected && l.target.index !== selected) continue;
        ctx.moveTo(l.source.x, l.source.y);
        ctx.lineTo(l.target.x, l.target.y);
      }
      ctx.stroke();
    }

    const counts = { reachable: 0, leaked: 0, cycle: 0 };
    for (const status of ["reachable", "leaked", "cycle"] as const) {
      ctx.fillStyle = COLORS[status];
      for (const pass of focus ? [0, 1] : [1]) {
        ctx.globalAlpha = focus && pass === 0 ? 0.22 : 1;
        ctx.beginPath();
        for (const n of nodes) {
          if (n.status !== status || !mask[n.index]) continue;
          const hot = !focus || n.index === selected || neighbours.has(n.index);
          if (focus && (pass === 1) !== hot) continue;
          if (pass === 1) counts[status]++;
          ctx.moveTo(n.x + n.r, n.y);
          ctx.arc(n.x, n.y, n.r, 0, 2 * Math.PI);
        }
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    if (focus) {
      // Dimmed nodes are drawn too: count them.
      for (const n of nodes) {
        if (mask[n.index] && n.index !== selected && !neighbours.has(n.index)) counts[n.status]++;
      }
    }
    drawn = counts;

    ctx.lineWidth = 1.5 / transform.k;
    if (matches.size > 0) {
      ctx.strokeStyle = COLORS.match;
      ctx.beginPath();
      for (const i of matches) {
        const n = nodes[i];
        if (!n) continue;
        ctx.moveTo(n.x + n.r + 3, n.y);
        ctx.arc(n.x, n.y, n.r + 3, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    if (selected !== null && nodes[selected]) {
      const n = nodes[selected];
      ctx.strokeStyle = COLORS.ring;
      ctx.lineWidth = 2.5 / transform.k;
      ctx.beginPath();
      ctx.arc(n.x, n.y, n.r + 4 / transform.k + 2, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (pulse) {
      const now = performance.now();
      const phase = (now % 900) / 900;
      ctx.strokeStyle = COLORS.cycle;
      ctx.lineWidth = 2.5 / transform.k;
      ctx.globalAlpha = 1 - phase;
      ctx.beginPath();
      for (const i of pulse.members) {
        const n = nodes[i];
        if (!n) continue;
        const r = n.r + (4 + phase * 16) / transform.k;
        ctx.moveTo(n.x + r, n.y);
        ctx.arc(n.x, n.y, r, 0, 2 * Math.PI);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (now > pulse.until) {
        pulse = null;
        pulseTimer?.stop();
        pulseTimer = null;
      }
    }
    drawMs += performance.now() - t0;
    if (!firstDrawn) {
      firstDrawn = true;
      onFirstDraw();
    }
  };

  const requestDraw = () => {
    if (!pending) pending = requestAnimationFrame(draw);
  };

  // Our own animation loop instead of d3-timer: one tick then one draw per frame, timed.
  simulation.stop();
  let loop = 0;
  let tickMs = 0;
  const frame = () => {
    loop = 0;
    if (simulation.alpha() >= simulation.alphaMin()) {
      const t0 = performance.now();
      simulation.tick();
      tickMs += performance.now() - t0;
      ticks++;
      loop = requestAnimationFrame(frame);
    }
    if (!fitted && !cameraTaken && simulation.alpha() < FIT_ALPHA) {
      fitted = true;
      fit(true);
    }
    if (pending) {
      cancelAnimationFrame(pending);
      pending = 0;
    }
    draw();
  };
  const run = () => {
    if (!loop) loop = requestAnimationFrame(frame);
  };
  run();

  const toWorld = (event: Event): [number, number] => {
    const [px, py] = d3.pointer(event, canvas);
    return [(px - transform.x) / transform.k, (py - transform.y) / transform.k];
  };
  const pick = (x: number, y: number): SimNode | undefined => {
    let best: SimNode | undefined;
    let bestD = Infinity;
    const slack = 4 / transform.k;
    for (const n of nodes) {
      if (!state.mask[n.index]) continue;
      const d = Math.hypot(n.x - x, n.y - y);
      if (d < n.r + slack && d < bestD) {
        best = n;
        bestD = d;
      }
    }
    return best;
  };

  const zoom = d3.zoom()
    .scaleExtent([0.05, 12])
    .on("zoom", (event: { transform: ZoomTransform; sourceEvent: Event | null }) => {
      transform = event.transform;
      // A wheel or a pan by the user: never auto-fit over it.
      if (event.sourceEvent) {
        cameraTaken = true;
        flyTimer?.stop();
      }
      requestDraw();
    });
  const drag = d3.drag()
    .container(canvas)
    .subject((event: { sourceEvent: Event }) => pick(...toWorld(event.sourceEvent)))
    .on("start", (event: { active: number; subject: SimNode; sourceEvent: Event }) => {
      if (!event.active) simulation.alphaTarget(0.2).alpha(Math.max(simulation.alpha(), 0.2));
      run();
      const [x, y] = toWorld(event.sourceEvent);
      event.subject.fx = x;
      event.subject.fy = y;
    })
    .on("drag", (event: { subject: SimNode; sourceEvent: Event }) => {
      const [x, y] = toWorld(event.sourceEvent);
      event.subject.fx = x;
      event.subject.fy = y;
    })
    .on("end", (event: { active: number }) => {
      // The node stays pinned where it was dropped (Esc unpins everything).
      if (!event.active) simulation.alphaTarget(0);
    });
  const sel = d3.select(canvas);
  sel.call(drag).call(zoom).on("dblclick.zoom", null);
  sel.on("click", (event: MouseEvent) => {
    const hit = pick(...toWorld(event));
    onSelect(hit ? hit.index : null);
  });

  const home = () =>
    d3.zoomIdentity.translate(width / 2, height / 2).scale(nodes.length > 800 ? 0.8 : 1);
  const observer = new ResizeObserver(resize);
  observer.observe(canvas);
  resize();
  sel.call(zoom.transform, home());

  /** Animate the camera to `target`, whose centre in world coordinates is (cx, cy). */
  const flyToTransform = (target: ZoomTransform, cx: number, cy: number) => {
    const k = target.k;
    const from = transform;
    const interp = d3.interpolateZoom(
      [(width / 2 - from.x) / from.k, (height / 2 - from.y) / from.k, width / from.k],
      [cx, cy, width / k],
    );
    const duration = Math.min(1200, Math.max(400, interp.duration * 0.6));
    flyTimer?.stop();
    flyTimer = d3.timer((elapsed: number) => {
      const t = Math.min(1, elapsed / duration);
      const [vx, vy, vw] = interp(d3.easeCubicInOut(t)) as [number, number, number];
      const kk = width / vw;
      sel.call(
        zoom.transform,
        t >= 1
          ? target
          : d3.zoomIdentity.translate(width / 2 - vx * kk, height / 2 - vy * kk).scale(kk),
      );
      if (t >= 1) {
        flyTimer?.stop();
        flyTimer = null;
      }
    });
  };

  /** Fit `only` (default: the shown nodes, or all) into the canvas, leaving room for the legend. */
  const fit = (animate: boolean, only?: number[]) => {
    let shown = only
      ? only.map((i) => nodes[i]).filter((n): n is SimNode => !!n && Number.isFinite(n.x))
      : nodes.filter((n) => state.mask[n.index] && Number.isFinite(n.x));
    if (shown.length === 0) shown = nodes.filter((n) => Number.isFinite(n.x));
    if (shown.length === 0) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const n of shown) {
      x0 = Math.min(x0, n.x - n.r);
      x1 = Math.max(x1, n.x + n.r);
      y0 = Math.min(y0, n.y - n.r);
      y1 = Math.max(y1, n.y + n.r);
    }
    const padX = 32, padTop = 28, padBottom = 52;
    const k = Math.max(
      0.05,
      Math.min(
        3,
        (width - 2 * padX) / Math.max(80, x1 - x0),
        (height - padTop - padBottom) / Math.max(80, y1 - y0),
      ),
    );
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const screenY = padTop + (height - padTop - padBottom) / 2;
    const target = d3.zoomIdentity.translate(width / 2 - cx * k, screenY - cy * k).scale(k);
    if (!animate) {
      flyTimer?.stop();
      sel.call(zoom.transform, target);
      return;
    }
    flyToTransform(target, (width / 2 - target.x) / k, (height / 2 - target.y) / k);
  };

  const flyTo = (indices: number[], withPulse: boolean) => {
    const members = indices.map((i) => nodes[i]).filter((n): n is SimNode =>
      !!n && Number.isFinite(n.x)
    );
    if (members.length === 0) return;
    cameraTaken = true;
    const xs = members.map((n) => n.x), ys = members.map((n) => n.y);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const k = Math.min(
      2.5,
      0.6 * Math.min(width / Math.max(160, x1 - x0), height / Math.max(160, y1 - y0)),
    );
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    flyToTransform(
      d3.zoomIdentity.translate(width / 2 - cx * k, height / 2 - cy * k).scale(k),
      cx,
      cy,
    );
    if (withPulse) {
      pulse = { members: members.map((n) => n.index), until: performance.now() + 3600 };
      pulseTimer?.stop();
      pulseTimer = d3.timer(() => requestDraw());
    }
  };

  return {
    update(next) {
      state = next;
      requestDraw();
    },
    flyTo,
    fitTo(indices) {
      cameraTaken = true;
      fit(true, indices);
    },
    reset() {
      for (const n of nodes) n.fx = n.fy = null;
      pulse = null;
      pulseTimer?.stop();
      flyTimer?.stop();
      fitted = true;
      fit(true);
      simulation.alpha(0.5);
      run();
    },
    screenPosition(index) {
      const n = nodes[index];
      if (!n) return null;
      return [transform.x + n.x * transform.k, transform.y + n.y * transform.k];
    },
    stats() {
      return {
        drawn,
        frames,
        ticks,
        alpha: simulation.alpha(),
        pinned: nodes.filter((n) => n.fx != null).length,
        pulsing: pulse ? pulse.members.length : 0,
        zoom: transform.k,
        drawMs: frames ? drawMs / frames : 0,
        tickMs: ticks ? tickMs / ticks : 0,
        fitted,
      };
    },
    destroy() {
      simulation.stop();
      cancelAnimationFrame(loop);
      pulseTimer?.stop();
      flyTimer?.stop();
      observer.disconnect();
      sel.on(".zoom", null).on(".drag", null).on("click", null);
    },
  };
}
