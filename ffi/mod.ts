// Public surface of the capture layer: captureSnapshot() and the types main.ts needs.

export { captureSnapshot } from "./capture.ts";
export { captureLinuxSnapshot, type CaptureOptions, copySpans } from "./linux_capture.ts";
export { CaptureError, type CaptureErrorCode } from "./errors.ts";
export { type RegisterKind, Target } from "./target.ts";
export { parseMaps, readMaps } from "./maps.ts";
export { ImageTable, WANTED_SYMBOLS } from "./images.ts";
export { shimPaths } from "./shim.ts";
export { type Check, formatChecks, runChecks } from "./doctor.ts";
export { readRecorderDump, readRecorderTable, RecorderTableError } from "./recorder_table.ts";
export { symbolize } from "./symbolize.ts";
export { nativeScanKernel, scanKernel } from "./scan_kernel.ts";
export { onInterrupt } from "./on_interrupt.ts";
