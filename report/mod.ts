// Public surface of the report layer: leaks.json, the text summary, the one-file HTML report.
export {
  heldTotals,
  leaksJsonChunks,
  type LeaksJsonOptions,
  selectNodes,
  summarize,
  toLeaksFile,
} from "./leaks_json.ts";
export { formatSummary } from "./summary.ts";
export { formatSites } from "./sites_text.ts";
export { formatAddress, formatBytes, formatCount, formatDuration, printable } from "./format.ts";
export { formatFrame } from "./frame_text.ts";
export { LeaksFileError, readLeaksFile } from "./read_leaks.ts";
export { renderHtml, writeHtmlReport } from "./html.ts";
export { OutputFileError, removePendingTemps, writeAtomic } from "./write_atomic.ts";
export type * from "./schema.ts";
