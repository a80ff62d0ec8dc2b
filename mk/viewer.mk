# Viewer bundle for the HTML report: build/viewer.js + build/viewer.css from report/viewer/ (esbuild via Deno).

VIEWER_SRC := $(wildcard report/viewer/*.ts report/viewer/*.tsx report/viewer/*.css report/view/*.ts) report/schema.ts \
  report/format.ts report/frame_names.ts report/frame_text.ts

viewer: $(BUILD)/viewer.js

$(BUILD)/viewer.js: $(VIEWER_SRC) node_modules/.package-lock.json
	@mkdir -p $(BUILD)
	$(DENO) run --quiet --allow-read --allow-write --allow-env --allow-run --allow-sys report/viewer/build_viewer.ts $@

.PHONY: report-bench
report-bench: viewer
	$(DENO) run -A bench/report_bench.ts
