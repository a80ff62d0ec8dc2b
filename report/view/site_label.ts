// One label per allocation site, used by every view of the report (sites, leak groups, card, flame graph).
//
// The user's frame of the stack (report/frame_names.ts userFrame: past malloc, operator new and
// library frames), named as the terminal names it; two sites whose labels would read alike (two
// allocations on one source line) get the offset in the function and the column
// (report/frame_text.ts). O(sites · depth).

import type { LeaksStackFrame } from "../schema.ts";
import { shortName, userFrame } from "../frame_names.ts";
import { ambiguousFrames, offsetSuffix } from "../frame_text.ts";

export interface SiteLabel {
  /** "parse_request", "leak_pair+0x12" when two sites share a line. */
  label: string;
  /** "server.c:214", "prog.c:22:9" when two sites share a line; "" when unknown. */
  location: string;
  /** Full source path, for a tooltip. */
  file?: string;
  /** "via 6 std:: frames", "" when nothing was folded. */
  via: string;
}

/** Labels of `sites` (indexes into `stacks`), told apart from each other. */
export function siteLabels(
  stacks: readonly (readonly LeaksStackFrame[])[],
  sites: readonly number[],
): Map<number, SiteLabel> {
  const users = sites.map((s) => userFrame(stacks[s] ?? []));
  const frames = users.map((u) => u?.frame);
  const distinguish = ambiguousFrames(frames, (f) => `${_name(f)} ${frameLocation(f)}`);
  const out = new Map<number, SiteLabel>();
  sites.forEach((site, k) => {
    const frame = frames[k];
    if (!frame) {
      out.set(site, { label: `site ${site}`, location: "", via: "" });
      return;
    }
    const exact = distinguish[k] === true;
    const label: SiteLabel = {
      label: _name(frame) + (exact ? offsetSuffix(frame) : ""),
      location: frameLocation(frame, exact),
      via: users[k]!.via,
    };
    if (frame.file) label.file = frame.file;
    out.set(site, label);
  });
  return out;
}

/** "label location" of a site: the text every view shows. */
export function siteText(l: SiteLabel): string {
  return l.location ? `${l.label} ${l.location}` : l.label;
}

/** "file.c:123" (basename), "file.c", or ""; with `column`, "file.c:123:9" when known. */
export function frameLocation(
  frame: { file?: string; line?: number; column?: number },
  column = false,
): string {
  if (!frame.file) return "";
  const base = frame.file.slice(frame.file.lastIndexOf("/") + 1);
  if (frame.line === undefined || frame.line <= 0) return base;
  return column && frame.column ? `${base}:${frame.line}:${frame.column}` : `${base}:${frame.line}`;
}

/** The function (shortened like the terminal's), else "image@pc", else the pc. */
function _name(frame: LeaksStackFrame): string {
  if (frame.function) return shortName(frame.function, 80);
  if (frame.image) return `${frame.image.slice(frame.image.lastIndexOf("/") + 1)}@${frame.pc}`;
  return frame.pc;
}
