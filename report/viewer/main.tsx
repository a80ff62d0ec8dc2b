// Viewer entry: parse the embedded report model (JSON, never HTML) and render the app.

import { render } from "preact";
import type { ReportModel } from "../selectors.ts";
import { App } from "./app.tsx";

function start() {
  const el = document.getElementById("leaks-data");
  const root = document.getElementById("app");
  if (!el || !root) throw new Error("heapscope report is damaged: #leaks-data or #app is missing");
  const model = JSON.parse(el.textContent ?? "null") as ReportModel;
  const flag = globalThis as unknown as { __heapscopeReady?: boolean; __heapscopeReadyAt?: number };
  render(
    <App
      model={model}
      onReady={() => {
        flag.__heapscopeReady = true;
        flag.__heapscopeReadyAt = performance.now();
      }}
    />,
    root,
  );
}

start();
