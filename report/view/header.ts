// The report header's payload: target, capture, verdict, and what of the process's memory is embedded.

import { formatBytes, formatCount } from "../format.ts";
import type { LeaksFile } from "../schema.ts";
import type { HeaderPayload } from "./payload.ts";

/** Header of the report. O(nodes) (counts the blocks whose first bytes are embedded). */
export function selectHeader(leaks: LeaksFile): HeaderPayload {
  const { summary: s, target: t } = leaks;
  const ok = s.leaked === 0;
  const possible = ok && (s.possible ?? 0) > 0;
  const verdict = possible
    ? `! no definite leaks; ${_count(s.possible!, "possible leak")} (${
      formatBytes(s.possibleBytes ?? 0)
    })`
    : ok
    ? `✓ no leaks: all ${_count(s.allocations, "allocation")} are reachable`
    : `✗ ${_count(s.leaked, "allocation")} unreachable from any root (${
      formatBytes(s.leakedBytes)
    })`;
  let bytesEmbedded = 0;
  for (const node of leaks.nodes) if (node.bytes) bytesEmbedded++;
  return {
    pid: t.pid,
    command: t.command,
    platform: t.platform,
    arch: t.arch,
    allocator: t.allocator,
    capturedAt: leaks.capturedAt,
    pauseMs: leaks.pauseMs,
    // report/go/go_leaks_file.ts: a heap dump stops no process.
    goDump: t.pid === 0 && leaks.pauseMs === 0,
    ok,
    ...(possible ? { possible } : {}),
    verdict,
    version: leaks.version,
    bytesEmbedded,
  };
}

function _count(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
}
