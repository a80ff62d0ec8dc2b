// /proc/PID/maps: parse its lines into Region[] (parseMaps is pure; readMaps reads the file).

import type { Region } from "../analysis/types.ts";

/** Regions of one /proc/PID/maps text, in file (address) order. Malformed lines throw. */
export function parseMaps(text: string): Region[] {
  const out: Region[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    // start-end perms offset dev inode [path]; the path may contain spaces.
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Cannot parse a /proc/PID/maps line: "${line}"`);
    out.push({
      start: parseInt(m[1]!, 16),
      end: parseInt(m[2]!, 16),
      perms: m[3]!,
      offset: parseInt(m[4]!, 16),
      inode: Number(m[5]!),
      path: m[6]!,
    });
  }
  return out;
}

/** Regions of process `pid`. */
export function readMaps(pid: number): Region[] {
  return parseMaps(Deno.readTextFileSync(`/proc/${pid}/maps`));
}
