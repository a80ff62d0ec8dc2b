# Static analysis of the capture shim (included by the Makefile). `make shim-analyze` compiles the
# Linux shim with GCC's -fanalyzer and runs clang's static analyzer (scan-build) over the same
# files; any finding of either fails the target. Needs gcc (12+) and clang-tools (scan-build).
# CI runs it from .ci/run next to `make test`.

ANALYZE_DIR := $(BUILD)/analyze
SHIM_ANALYZE_SRC := shim/heapscope_linux.c shim/arena_linux.c shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c
ANALYZE_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC

.PHONY: shim-analyze
shim-analyze:
	@mkdir -p $(ANALYZE_DIR)
	@for f in $(SHIM_ANALYZE_SRC); do \
	  echo "gcc -fanalyzer $$f"; \
	  gcc -fanalyzer $(ANALYZE_CFLAGS) -c -o $(ANALYZE_DIR)/$$(basename $$f .c).gcc.o $$f || exit 1; \
	done
	@for f in $(SHIM_ANALYZE_SRC); do \
	  echo "scan-build clang $$f"; \
	  scan-build --status-bugs -o $(ANALYZE_DIR)/scan-build \
	    clang $(ANALYZE_CFLAGS) -c -o $(ANALYZE_DIR)/$$(basename $$f .c).clang.o $$f || exit 1; \
	done
	@echo "shim-analyze: gcc -fanalyzer and scan-build found nothing"
