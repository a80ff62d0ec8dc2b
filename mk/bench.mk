# Big-heap benchmark binaries (included by the Makefile): `make bench-build` builds them into
# build/bench/; `make bench` runs the one-command benchmark (bench/big_heap.sh, N = 10^5 and 10^6;
# BENCH_ARGS="--big" adds 10^7).
#
#   build/bench/workload       the workload, glibc malloc, -O2
#   build/bench/workload-lsan  the same built with clang -fsanitize=leak (times LSan's check)
#   build/bench/sweep          raw process_vm_readv sweep of a pid's writable memory

BENCH_DIR := $(BUILD)/bench
BENCH_BINS := $(BENCH_DIR)/workload $(BENCH_DIR)/workload-lsan $(BENCH_DIR)/sweep
BENCH_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11

.PHONY: bench bench-build
bench-build: $(BENCH_BINS)

bench: all bench-build
	bash bench/big_heap.sh $(BENCH_ARGS)

$(BENCH_DIR)/workload: bench/workload.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $<

$(BENCH_DIR)/workload-lsan: bench/workload.c
	@mkdir -p $(BENCH_DIR)
	clang $(BENCH_CFLAGS) -fsanitize=leak -pthread -o $@ $<

$(BENCH_DIR)/sweep: bench/sweep.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<
