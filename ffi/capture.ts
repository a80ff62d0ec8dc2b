// captureSnapshot(): the platform dispatcher over the Linux (ptrace) and macOS (Mach) backends.

import type { Snapshot } from "../analysis/types.ts";
import { captureDarwinSnapshot } from "./darwin_capture.ts";
import { CaptureError } from "./errors.ts";
import { captureLinuxSnapshot, type CaptureOptions } from "./linux_capture.ts";
import { initKind } from "./procfs.ts";

/**
 * Stop process `pid`, copy what the analysis needs, resume it. The target is stopped only for the
 * copy (`Snapshot.pauseMs`) and resumed on every path out. Throws CaptureError.
 */
export function captureSnapshot(pid: number, opts: CaptureOptions = {}): Promise<Snapshot> {
  if (pid === 1 && initKind(pid) === "host-init") {
    // Stopping the host's init stalls every service on the machine (and reaping of orphans) for the
    // pause. PID 1 of a container's PID namespace is the application itself: analysed like any.
    return Promise.reject(
      new CaptureError(
        "permission",
        "Refusing to stop process 1 (init): the whole system would stall",
        [
          "Analyse the service you suspect instead, or a copy of it started under `heapscope run`",
        ],
      ),
    );
  }
  switch (Deno.build.os) {
    case "linux":
      return captureLinuxSnapshot(pid, opts);
    case "darwin":
      return captureDarwinSnapshot(pid, opts);
    default:
      return Promise.reject(
        new CaptureError("unsupported", `Cannot capture process ${pid} on ${Deno.build.os}`, [
          "heapscope supports Linux and macOS",
        ]),
      );
  }
}
