// Viewer entry: parse the embedded report model (JSON, never HTML), render the app, and decode the
// compressed block index once the first screen is drawn.

import { render } from "preact";
import { type BlockIndex, decodeBlockIndex } from "../view/block_index.ts";
import type { ReportModel } from "../view/payload.ts";
import { App, type DebugHooks } from "./app.tsx";

/** The block index: base64 → gzip → columns (report/html.ts writes it). */
async function loadIndex(): Promise<BlockIndex> {
  const el = document.getElementById("blocks-data");
  if (!el?.textContent) {
    throw new Error("this report has no block index (made by an older heapscope)");
  }
  const text = atob(el.textContent.trim());
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return decodeBlockIndex(new Uint8Array(await new Response(stream).arrayBuffer()));
}

function start() {
  const el = document.getElementById("leaks-data");
  const root = document.getElementById("app");
  if (!el || !root) throw new Error("heapscope report is damaged: #leaks-data or #app is missing");
  const model = JSON.parse(el.textContent ?? "null") as ReportModel;
  // The page's own hooks for tests and the benchmark: written here, never read by the app.
  const page = globalThis as unknown as {
    __heapscopeReady?: boolean;
    __heapscopeReadyAt?: number;
    __heapscopeDebug?: DebugHooks;
  };
  render(
    <App
      model={model}
      loadIndex={loadIndex}
      onReady={() => {
        page.__heapscopeReady = true;
        page.__heapscopeReadyAt = performance.now();
      }}
      onDebug={(hooks) => (page.__heapscopeDebug = hooks)}
    />,
    root,
  );
}

start();
