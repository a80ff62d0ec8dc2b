// Kept for callers of the old one-file selectors (tests/recorder_test.ts, mk/viewer.mk): the view
// layer now lives in report/view/, one selector per file; import from report/view/mod.ts.
export * from "./view/mod.ts";
