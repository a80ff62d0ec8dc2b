// Public surface of the report layer: leaks.json, the text summary, the one-file HTML report.
export { leaksJsonChunks, summarize, toLeaksFile } from "./leaks_json.ts";
export { formatBytes, formatSummary, printable } from "./summary.ts";
export { LeaksFileError, readLeaksFile } from "./read_leaks.ts";
export { renderHtml, writeHtmlReport } from "./html.ts";
export { OutputFileError, removePendingTemps, writeAtomic } from "./write_atomic.ts";
export type * from "./schema.ts";
