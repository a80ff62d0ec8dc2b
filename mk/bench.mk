# Big-heap benchmark binaries (included by the Makefile): `make bench-build` builds them into
# build/bench/; `make bench` runs the one-command benchmark (bench/big_heap.sh, both workloads at
# N = 10^5 and 10^6; BENCH_ARGS="--big" adds 10^7) under the shared lock.
#
#   build/bench/workload               blocks of 16 B–4 KiB, glibc malloc, -O2
#   build/bench/workload_payload       16 B nodes with 16 B–2 KiB payloads, glibc malloc, -O2
#   build/bench/<workload>-lsan        the same built with clang -fsanitize=leak (times LSan's check)
#   build/bench/sweep                  raw process_vm_readv sweep of a pid's writable pages

BENCH_DIR := $(BUILD)/bench
BENCH_WORKLOADS := workload workload_payload
BENCH_BINS := $(foreach w,$(BENCH_WORKLOADS),$(BENCH_DIR)/$(w) $(BENCH_DIR)/$(w)-lsan) \
  $(BENCH_DIR)/sweep
BENCH_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11

.PHONY: bench bench-build
bench-build: $(BENCH_BINS)

bench: all bench-build
	flock /tmp/heapscope-heavy.lock bash bench/big_heap.sh $(BENCH_ARGS)

$(BENCH_WORKLOADS:%=$(BENCH_DIR)/%): $(BENCH_DIR)/%: bench/%.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $<

$(BENCH_WORKLOADS:%=$(BENCH_DIR)/%-lsan): $(BENCH_DIR)/%-lsan: bench/%.c
	@mkdir -p $(BENCH_DIR)
	clang $(BENCH_CFLAGS) -fsanitize=leak -pthread -o $@ $<

$(BENCH_DIR)/sweep: bench/sweep.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<
