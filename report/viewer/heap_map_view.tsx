// The heap map, in the manner of Plan 9's leak -b: a zone drawn byte by byte (a few bytes a pixel),
// so that where leaks sit among live blocks, headers and free space can be seen; hover reads a
// pixel, a click selects the block under it.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatBytes, formatCount } from "../format.ts";
import type { BlockIndex } from "../view/block_index.ts";
import { blockAddress } from "../view/block_index.ts";
import { MAP_CLASSES, selectHeapMap } from "../view/heap_map.ts";
import type { ZoneRow } from "../view/payload.ts";
import { COLORS } from "./graph_canvas.ts";

/** Pixel colours by MAP_CLASSES; leaked pixels also carry a pattern (every other pixel darker). */
const PALETTE: Record<(typeof MAP_CLASSES)[number], [number, number, number]> = {
  free: [22, 27, 34],
  header: [110, 118, 129],
  reachable: _rgb(COLORS.reachable),
  leaked: _rgb(COLORS.leaked),
  cycle: _rgb(COLORS.cycle),
  possible: _rgb(COLORS.possible),
  gap: [0, 0, 0],
};
/** Pixels across: the map's resolution (the canvas scales it to the card's width). */
const MAP_WIDTH = 512;

export function HeapMapView(
  { index, zones, onSelect }: {
    index: BlockIndex | null;
    zones: ZoneRow[];
    onSelect: (block: number) => void;
  },
) {
  // The zone with the most blocks: the arena where leaks sit among live blocks.
  const [zone, setZone] = useState(
    zones.slice().sort((a, b) => b.count - a.count)[0]?.zone ?? "",
  );
  const [hover, setHover] = useState("");
  const canvas = useRef<HTMLCanvasElement>(null);
  const map = useMemo(() => (index ? selectHeapMap(index, zone, MAP_WIDTH, 160) : null), [
    index,
    zone,
  ]);
  useEffect(() => {
    const el = canvas.current;
    if (!el || !map) return;
    el.width = map.width;
    el.height = map.height;
    const ctx = el.getContext("2d")!;
    const img = ctx.createImageData(map.width, map.height);
    for (let p = 0; p < map.pixels.length; p++) {
      const cls = MAP_CLASSES[map.pixels[p]!]!;
      const [r, g, b] = PALETTE[cls];
      // Leaked and cycle pixels are hatched: every other pixel of a row is darker (shape, not hue).
      const hatch = (cls === "leaked" || cls === "cycle") &&
        ((p % map.width) + Math.floor(p / map.width)) % 2;
      const k = hatch ? 0.6 : 1;
      img.data[4 * p] = r * k;
      img.data[4 * p + 1] = g * k;
      img.data[4 * p + 2] = b * k;
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }, [map]);
  const pixelAt = (e: MouseEvent) => {
    const el = e.currentTarget as HTMLCanvasElement;
    const rect = el.getBoundingClientRect();
    const x = Math.floor(((e.clientX - rect.left) / rect.width) * (map?.width ?? 1));
    const y = Math.floor(((e.clientY - rect.top) / rect.height) * (map?.height ?? 1));
    return y * (map?.width ?? 1) + x;
  };
  return (
    <section class="card heapmap" data-testid="heap-map" aria-labelledby="heapmap-title">
      <h2 id="heapmap-title">Heap map</h2>
      <div class="toolbar">
        <label class="small">
          zone{" "}
          <select
            value={zone}
            onChange={(e) => setZone((e.currentTarget as HTMLSelectElement).value)}
          >
            {zones.map((z) => <option key={z.zone} value={z.zone}>{z.zone}</option>)}
          </select>
        </label>
        <span class="legend-inline small">
          {(["reachable", "leaked", "cycle", "possible", "header", "free", "gap"] as const).map((
            c,
          ) => (
            <span key={c}>
              <i class={`swatch map-${c}`} /> {c === "gap" ? "unmapped (folded)" : c}
            </span>
          ))}
        </span>
      </div>
      {!index
        ? <p class="muted small">Loading the block index…</p>
        : !map
        ? <p class="muted small">No blocks in this zone.</p>
        : (
          <>
            <canvas
              ref={canvas}
              class="heapmap-canvas"
              data-testid="heap-map-canvas"
              role="img"
              aria-label={`Heap map of ${zone}: ${formatBytes(map.scale)} per pixel`}
              onMouseMove={(e) => {
                const p = pixelAt(e);
                const b = map.blocks[p] ?? -1;
                const cls = MAP_CLASSES[map.pixels[p] ?? 0];
                setHover(
                  b >= 0
                    ? `${cls}: ${blockAddress(index, b)}, ${formatBytes(index.size[b]!)}`
                    : `${cls}`,
                );
              }}
              onClick={(e) => {
                const b = map.blocks[pixelAt(e)] ?? -1;
                if (b >= 0) onSelect(b);
              }}
            />
            <p class="small read-out" aria-live="polite">
              {hover ||
                `${formatBytes(map.scale)} per pixel · ${
                  formatBytes(map.span)
                } of blocks, headers and free space${
                  map.gaps ? ` · ${formatCount(map.gaps)} unmapped gaps folded` : ""
                }. Hover to read, click to select a block.`}
            </p>
          </>
        )}
    </section>
  );
}

function _rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
