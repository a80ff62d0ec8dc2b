// Canvas drawing of the heap graph at its precomputed positions: shapes and colours by status,
// edges with arrowheads, pan and zoom, picking, keyboard movement between nodes, and nodes added
// on demand (a searched block and its neighbourhood). No data logic, no layout at load time.

import type { GraphNode, GraphPayload, GraphRegion, NodeStatus } from "../view/payload.ts";

/**
 * Colour-blind-safe palette (Okabe & Ito): blue, vermilion, reddish purple and yellow stay apart
 * under deuteranopia and protanopia; shapes carry the status too (circle, square, triangle, diamond).
 */
export const COLORS: Record<NodeStatus | "link" | "linkHot" | "ring" | "match" | "path", string> = {
  reachable: "#56b4e9",
  leaked: "#e66100",
  cycle: "#cc79a7",
  possible: "#f0e442",
  link: "rgba(139,148,158,0.35)",
  linkHot: "rgba(240,246,252,0.95)",
  ring: "#ffffff",
  match: "#f0e442",
  path: "#f0e442",
};
export const SHAPES: Record<NodeStatus, "circle" | "square" | "triangle" | "diamond"> = {
  reachable: "circle",
  leaked: "square",
  cycle: "triangle",
  possible: "diamond",
};

export interface DrawState {
  mask: Uint8Array;
  selected: number | null;
  /** Drawn indices to emphasise: the selection's neighbours, its structure, its path. */
  hot: ReadonlySet<number>;
  /** Consecutive drawn indices of the path from a root to the selection. */
  path: readonly number[];
  matches: ReadonlySet<number>;
  /** Drawn index with the keyboard focus (a dashed ring). */
  focus: number | null;
}

export interface DrawStats {
  drawn: Record<NodeStatus, number>;
  frames: number;
  zoom: number;
  /** Mean milliseconds per draw. */
  drawMs: number;
  fitted: boolean;
  /** Whether the camera is flying (flyTo's animation): screen positions are changing. */
  moving: boolean;
}

export interface GraphCanvas {
  update(state: DrawState): void;
  /** Move the camera to these nodes (animated), optionally pulsing them. */
  flyTo(indices: number[], pulse: boolean): void;
  /** Fit the shown nodes (or these) into the canvas at once. */
  fit(indices?: number[]): void;
  /** Add nodes (after the existing ones) and links between any nodes. */
  add(nodes: GraphNode[], links: { source: number; target: number; offset: number }[]): void;
  /** Pan by (dx, dy) CSS pixels and zoom by `k` about the centre: the benchmark's camera. */
  pan(dx: number, dy: number, k?: number): void;
  /** The drawn node nearest to `from` in a direction (keyboard movement), or null. */
  nearest(from: number, dx: number, dy: number): number | null;
  screenPosition(index: number): [number, number] | null;
  /** The group labels of the last frame, as drawn: text and box in CSS pixels (tests). */
  labels(): DrawnLabel[];
  stats(): DrawStats;
  destroy(): void;
}

export interface DrawnLabel {
  text: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Camera {
  x: number;
  y: number;
  k: number;
}

/** Zoom range: whole 10^6-block drawings down to single nodes. */
const MIN_ZOOM = 0.02, MAX_ZOOM = 16;
/** Below this zoom arrowheads and region labels are not drawn (they would be sub-pixel). */
const DETAIL_ZOOM = 0.6;

/** Mount the graph on `canvas`; `onPick` gets a drawn index or null on click. */
export function createGraphCanvas(
  canvas: HTMLCanvasElement,
  graph: GraphPayload,
  onPick: (index: number | null) => void,
  onFirstDraw: () => void,
): GraphCanvas {
  const ctx = canvas.getContext("2d")!;
  const nodes: GraphNode[] = graph.nodes.slice();
  const radius: number[] = nodes.map(_radius);
  const links = graph.links.map((l) => ({ ...l }));
  const regions: GraphRegion[] = graph.regions;
  let state: DrawState = {
    mask: new Uint8Array(nodes.length).fill(1),
    selected: null,
    hot: new Set(),
    path: [],
    matches: new Set(),
    focus: null,
  };
  let cam: Camera = { x: 0, y: 0, k: 1 };
  let width = 1, height = 1, dpr = 1;
  let frames = 0, drawMs = 0, pending = 0, fitted = false, firstDrawn = false;
  let drawn: Record<NodeStatus, number> = { reachable: 0, leaked: 0, cycle: 0, possible: 0 };
  let pulse: { members: number[]; until: number } | null = null;
  /** The camera's flight (flyTo): its animation frame, 0 when the camera is still. */
  let anim = 0;
  const stopFlight = () => {
    cancelAnimationFrame(anim);
    anim = 0;
  };

  const resize = () => {
    const rect = canvas.getBoundingClientRect();
    dpr = globalThis.devicePixelRatio || 1;
    width = Math.max(1, rect.width);
    height = Math.max(1, rect.height);
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    if (!fitted) fit();
    requestDraw();
  };

  const shape = (n: GraphNode, r: number) => {
    switch (SHAPES[n.status]) {
      case "circle":
        ctx.moveTo(n.x + r, n.y);
        ctx.arc(n.x, n.y, r, 0, 2 * Math.PI);
        break;
      case "square":
        ctx.rect(n.x - r * 0.9, n.y - r * 0.9, r * 1.8, r * 1.8);
        break;
      case "triangle":
        ctx.moveTo(n.x, n.y - r * 1.2);
        ctx.lineTo(n.x + r * 1.1, n.y + r * 0.8);
        ctx.lineTo(n.x - r * 1.1, n.y + r * 0.8);
        ctx.closePath();
        break;
      case "diamond":
        ctx.moveTo(n.x, n.y - r * 1.2);
        ctx.lineTo(n.x + r * 1.2, n.y);
        ctx.lineTo(n.x, n.y + r * 1.2);
        ctx.lineTo(n.x - r * 1.2, n.y);
        ctx.closePath();
        break;
    }
  };

  /**
   * `label` cut (with an ellipsis) to `room` world units in the current font, and its width; null
   * when not even a few letters fit: a narrow group's label would run over its neighbours'.
   */
  const cutLabel = (label: string, room: number): { text: string; w: number } | null => {
    let text = label.length > 48 ? label.slice(0, 47) + "…" : label;
    let w = ctx.measureText(text).width;
    while (w > room && text.length > 4) {
      const keep = Math.max(3, Math.min(text.length - 2, Math.floor(text.length * room / w) - 1));
      text = text.slice(0, keep).trimEnd() + "…";
      w = ctx.measureText(text).width;
    }
    return w <= room ? { text, w } : null;
  };

  let drawnLabels: DrawnLabel[] = [];

  const draw = () => {
    const t0 = performance.now();
    drawnLabels = [];
    pending = 0;
    frames++;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.setTransform(dpr * cam.k, 0, 0, dpr * cam.k, dpr * cam.x, dpr * cam.y);
    const { mask, selected, hot, matches } = state;
    const focus = selected !== null;
    // Visible world rectangle: what is outside is not drawn at all.
    const x0 = -cam.x / cam.k - 20, y0 = -cam.y / cam.k - 20;
    const x1 = (width - cam.x) / cam.k + 20, y1 = (height - cam.y) / cam.k + 20;
    const inView = (n: GraphNode) => n.x >= x0 && n.x <= x1 && n.y >= y0 && n.y <= y1;

    if (cam.k >= DETAIL_ZOOM * 0.5) {
      ctx.font = `${11 / cam.k}px system-ui, sans-serif`;
      ctx.fillStyle = "rgba(201,209,217,0.75)";
      ctx.strokeStyle = "rgba(139,148,158,0.25)";
      ctx.lineWidth = 1 / cam.k;
      for (const r of regions) {
        if (r.x > x1 || r.y > y1 || r.x + r.w < x0 || r.y + r.h < y0) continue;
        if (r.kind === "leaked" && cam.k < DETAIL_ZOOM) continue;
        ctx.strokeRect(r.x + 4, r.y + 4, r.w - 8, r.h - 8);
        const label = cutLabel(r.label, r.w - 12);
        if (!label) continue;
        ctx.fillText(label.text, r.x + 8, r.y + 4 + 12 / cam.k);
        drawnLabels.push({
          text: label.text,
          x: cam.x + (r.x + 8) * cam.k,
          y: cam.y + (r.y + 4) * cam.k + 1,
          w: label.w * cam.k,
          h: 12,
        });
      }
    }

    // Edges: one path for the quiet ones, arrowheads when close enough to see them.
    const arrows = cam.k >= DETAIL_ZOOM;
    ctx.lineWidth = 1 / cam.k;
    ctx.strokeStyle = COLORS.link;
    ctx.globalAlpha = focus ? 0.4 : 1;
    ctx.beginPath();
    for (const l of links) {
      const s = nodes[l.source]!, t = nodes[l.target]!;
      if (!mask[l.source] || !mask[l.target]) continue;
      if (!inView(s) && !inView(t)) continue;
      ctx.moveTo(s.x, s.y);
      ctx.lineTo(t.x, t.y);
      if (arrows) _arrow(ctx, s, t, radius[l.target]!, 5);
    }
    ctx.stroke();
    ctx.globalAlpha = 1;
    if (focus) {
      ctx.strokeStyle = COLORS.linkHot;
      ctx.lineWidth = 1.6 / cam.k;
      ctx.beginPath();
      for (const l of links) {
        if (l.source !== selected && l.target !== selected) continue;
        const s = nodes[l.source]!, t = nodes[l.target]!;
        ctx.moveTo(s.x, s.y);
        ctx.lineTo(t.x, t.y);
        _arrow(ctx, s, t, radius[l.target]!, 7 / Math.max(1, cam.k));
      }
      ctx.stroke();
    }
    if (state.path.length > 1) {
      ctx.strokeStyle = COLORS.path;
      ctx.lineWidth = 2.5 / cam.k;
      ctx.setLineDash([6 / cam.k, 4 / cam.k]);
      ctx.beginPath();
      for (let i = 0; i + 1 < state.path.length; i++) {
        const s = nodes[state.path[i]!], t = nodes[state.path[i + 1]!];
        if (!s || !t) continue;
        ctx.moveTo(s.x, s.y);
        ctx.lineTo(t.x, t.y);
      }
      ctx.stroke();
      ctx.setLineDash([]);
    }

    const counts: Record<NodeStatus, number> = { reachable: 0, leaked: 0, cycle: 0, possible: 0 };
    for (const status of ["reachable", "possible", "leaked", "cycle"] as const) {
      ctx.fillStyle = COLORS[status];
      for (const pass of focus ? [0, 1] : [1]) {
        ctx.globalAlpha = focus && pass === 0 ? 0.3 : 1;
        ctx.beginPath();
        nodes.forEach((n, i) => {
          if (n.status !== status || !mask[i]) return;
          const isHot = !focus || i === selected || hot.has(i);
          if (focus && (pass === 1) !== isHot) return;
          counts[status]++;
          if (inView(n)) shape(n, radius[i]!);
        });
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    drawn = counts;

    ctx.lineWidth = 1.5 / cam.k;
    if (matches.size > 0) {
      ctx.strokeStyle = COLORS.match;
      ctx.beginPath();
      for (const i of matches) {
        const n = nodes[i];
        if (!n) continue;
        const r = radius[i]! + 4 / cam.k + 2;
        ctx.moveTo(n.x + r, n.y);
        ctx.arc(n.x, n.y, r, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    if (selected !== null && nodes[selected]) {
      const n = nodes[selected]!;
      ctx.strokeStyle = COLORS.ring;
      ctx.lineWidth = 2.5 / cam.k;
      ctx.beginPath();
      ctx.arc(n.x, n.y, radius[selected]! + 5 / cam.k + 2, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (state.focus !== null && nodes[state.focus]) {
      const n = nodes[state.focus]!;
      ctx.strokeStyle = COLORS.ring;
      ctx.lineWidth = 2 / cam.k;
      ctx.setLineDash([4 / cam.k, 3 / cam.k]);
      ctx.beginPath();
      ctx.arc(n.x, n.y, radius[state.focus]! + 9 / cam.k + 2, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (pulse) {
      const now = performance.now();
      const phase = (now % 900) / 900;
      ctx.strokeStyle = COLORS.ring;
      ctx.lineWidth = 2.5 / cam.k;
      ctx.globalAlpha = 1 - phase;
      ctx.beginPath();
      for (const i of pulse.members) {
        const n = nodes[i];
        if (!n) continue;
        const r = radius[i]! + (4 + phase * 16) / cam.k;
        ctx.moveTo(n.x + r, n.y);
        ctx.arc(n.x, n.y, r, 0, 2 * Math.PI);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (now > pulse.until) pulse = null;
      else requestDraw();
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

  /**
   * The camera that shows `list` (indices) with margins; `boxes`: and the whole of every group box
   * around them (the labels at their top left), as the first view does.
   */
  const frame = (list: number[], boxes = false): Camera | null => {
    let bx0 = Infinity, bx1 = -Infinity, by0 = Infinity, by1 = -Infinity;
    for (const i of list) {
      const n = nodes[i];
      if (!n) continue;
      const r = radius[i]!;
      bx0 = Math.min(bx0, n.x - r), bx1 = Math.max(bx1, n.x + r);
      by0 = Math.min(by0, n.y - r), by1 = Math.max(by1, n.y + r);
    }
    if (!Number.isFinite(bx0)) return null;
    if (boxes) {
      const nx0 = bx0, nx1 = bx1, ny0 = by0, ny1 = by1;
      for (const r of regions) {
        if (r.x > nx1 || r.x + r.w < nx0 || r.y > ny1 || r.y + r.h < ny0) continue;
        bx0 = Math.min(bx0, r.x), bx1 = Math.max(bx1, r.x + r.w);
        by0 = Math.min(by0, r.y), by1 = Math.max(by1, r.y + r.h);
      }
    }
    // The legend lies over the canvas's bottom edge (graph_view.tsx): more room below.
    const pad = 28, padBottom = 48;
    const k = Math.max(
      MIN_ZOOM,
      Math.min(
        4,
        (width - 2 * pad) / Math.max(60, bx1 - bx0),
        (height - pad - padBottom) / Math.max(60, by1 - by0),
      ),
    );
    const midY = pad + (height - pad - padBottom) / 2;
    return { k, x: width / 2 - ((bx0 + bx1) / 2) * k, y: midY - ((by0 + by1) / 2) * k };
  };
  const fit = (only?: number[]) => {
    let list = only ?? [];
    if (!only) nodes.forEach((_, i) => state.mask[i] && list.push(i));
    if (list.length === 0) list = nodes.map((_, i) => i);
    const c = frame(list, true);
    if (!c) return;
    stopFlight();
    cam = c;
    fitted = true;
    requestDraw();
  };
  const flyTo = (indices: number[], withPulse: boolean) => {
    const target = frame(indices);
    if (!target) return;
    // Not closer than 2.5× (a single node would fill the canvas), not farther than now.
    target.k = Math.min(2.5, Math.max(target.k * 0.6, Math.min(cam.k, 2.5)));
    const cx = (width / 2 - frame(indices)!.x) / frame(indices)!.k;
    const cy = (height / 2 - frame(indices)!.y) / frame(indices)!.k;
    target.x = width / 2 - cx * target.k;
    target.y = height / 2 - cy * target.k;
    const from = cam, start = performance.now(), duration = 450;
    stopFlight();
    const step = (now: number) => {
      const t = Math.min(1, (now - start) / duration);
      const e = t < 0.5 ? 4 * t * t * t : 1 - (-2 * t + 2) ** 3 / 2;
      const k = from.k * (target.k / from.k) ** e;
      // Interpolate the world point at the centre, then derive the translation for k.
      const fcx = (width / 2 - from.x) / from.k, fcy = (height / 2 - from.y) / from.k;
      const wx = fcx + (cx - fcx) * e, wy = fcy + (cy - fcy) * e;
      cam = { k, x: width / 2 - wx * k, y: height / 2 - wy * k };
      draw();
      anim = t < 1 ? requestAnimationFrame(step) : 0;
    };
    anim = requestAnimationFrame(step);
    if (withPulse) {
      pulse = { members: indices.slice(0, 200), until: performance.now() + 3000 };
    }
  };

  const pick = (px: number, py: number): number | null => {
    const wx = (px - cam.x) / cam.k, wy = (py - cam.y) / cam.k;
    let best: number | null = null, bestD = Infinity;
    const slack = 4 / cam.k;
    nodes.forEach((n, i) => {
      if (!state.mask[i]) return;
      const d = Math.hypot(n.x - wx, n.y - wy);
      if (d < radius[i]! * 1.3 + slack && d < bestD) {
        best = i;
        bestD = d;
      }
    });
    return best;
  };

  // Pan with the pointer, zoom with the wheel (about the pointer); a click without a drag picks.
  let drag: { x: number; y: number; moved: boolean } | null = null;
  const onDown = (e: PointerEvent) => {
    drag = { x: e.clientX, y: e.clientY, moved: false };
    canvas.setPointerCapture(e.pointerId);
  };
  const onMove = (e: PointerEvent) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    stopFlight();
    cam = { ...cam, x: cam.x + dx, y: cam.y + dy };
    drag.x = e.clientX, drag.y = e.clientY;
    requestDraw();
  };
  const onUp = (e: PointerEvent) => {
    const d = drag;
    drag = null;
    if (d && !d.moved) {
      const rect = canvas.getBoundingClientRect();
      onPick(pick(e.clientX - rect.left, e.clientY - rect.top));
    }
  };
  const zoomAt = (px: number, py: number, factor: number) => {
    const k = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, cam.k * factor));
    const wx = (px - cam.x) / cam.k, wy = (py - cam.y) / cam.k;
    cam = { k, x: px - wx * k, y: py - wy * k };
    requestDraw();
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    stopFlight();
    const rect = canvas.getBoundingClientRect();
    zoomAt(e.clientX - rect.left, e.clientY - rect.top, Math.exp(-e.deltaY * 0.0015));
  };
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  const observer = new ResizeObserver(resize);
  observer.observe(canvas);
  resize();

  return {
    update(next) {
      state = next;
      requestDraw();
    },
    flyTo,
    fit,
    add(more, moreLinks) {
      for (const n of more) {
        nodes.push(n);
        radius.push(_radius(n));
      }
      links.push(...moreLinks);
      requestDraw();
    },
    pan(dx, dy, k = 1) {
      cam = { ...cam, x: cam.x + dx, y: cam.y + dy };
      if (k !== 1) zoomAt(width / 2, height / 2, k);
      draw();
    },
    nearest(from, dx, dy) {
      const a = nodes[from];
      if (!a) return null;
      let best: number | null = null, bestScore = Infinity;
      nodes.forEach((n, i) => {
        if (i === from || !state.mask[i]) return;
        const vx = n.x - a.x, vy = n.y - a.y;
        const along = vx * dx + vy * dy;
        if (along <= 0) return;
        const across = Math.abs(vx * dy - vy * dx);
        const score = along + 2 * across;
        if (score < bestScore) {
          bestScore = score;
          best = i;
        }
      });
      return best;
    },
    screenPosition(index) {
      const n = nodes[index];
      if (!n) return null;
      return [cam.x + n.x * cam.k, cam.y + n.y * cam.k];
    },
    labels() {
      return drawnLabels;
    },
    stats() {
      return {
        drawn,
        frames,
        zoom: cam.k,
        drawMs: frames ? drawMs / frames : 0,
        fitted,
        moving: anim !== 0,
      };
    },
    destroy() {
      stopFlight();
      cancelAnimationFrame(pending);
      observer.disconnect();
      canvas.removeEventListener("pointerdown", onDown);
      canvas.removeEventListener("pointermove", onMove);
      canvas.removeEventListener("pointerup", onUp);
      canvas.removeEventListener("wheel", onWheel);
    },
  };
}

/** Node radius in world units: grows with the log of the size, leaked blocks a little bigger. */
function _radius(n: GraphNode): number {
  const r = 1 + Math.log2(Math.max(16, n.size)) * 0.55;
  return n.status === "reachable"
    ? Math.max(2.5, Math.min(5, r * 0.7))
    : Math.max(3.5, Math.min(9, r));
}

/** An arrowhead at the edge of the target, pointing at it (added to the current path). */
function _arrow(
  ctx: CanvasRenderingContext2D,
  s: { x: number; y: number },
  t: { x: number; y: number },
  r: number,
  size: number,
): void {
  const dx = t.x - s.x, dy = t.y - s.y;
  const len = Math.hypot(dx, dy);
  if (len < r * 2 + size) return;
  const ux = dx / len, uy = dy / len;
  const tipX = t.x - ux * (r + 1), tipY = t.y - uy * (r + 1);
  ctx.moveTo(tipX - ux * size - uy * size * 0.5, tipY - uy * size + ux * size * 0.5);
  ctx.lineTo(tipX, tipY);
  ctx.lineTo(tipX - ux * size + uy * size * 0.5, tipY - uy * size - ux * size * 0.5);
  ctx.moveTo(t.x, t.y);
}
