# The allocation recorder (shim/recorder_linux.c → build/librecorder.so), LD_PRELOADed by
# `heapscope run`; the benchmark workload; and the recorder's test builds (never shipped):
#
#   build/librecorder.so                    the recorder (`make`, `make recorder`)
#   build/alloc_heavy                       bench/recorder_bench.sh's workload (`make recorder-bench`)
#   make recorder-test                      everything tests/recorder_c_test.ts runs:
#     build/test/librecorder_fault.so       -DHS_FAULT_INJECTION: HEAPSCOPE_FAULT_GROWS,
#                                           HEAPSCOPE_FAULT_MAP make table growth / mappings fail
#     build/test/librecorder_ubsan.so       the whole recorder under UBSan (LD_PRELOAD-able; ASan is
#                                           not: it replaces malloc itself, see table_harness.c)
#     build/test/recorder_harness           the table code under ASan + UBSan, driven directly
#     build/test/recorder/<program>         the C and C++ programs of tests/recorder/

.PHONY: recorder recorder-bench recorder-test
ifneq ($(UNAME_S),Darwin)
all: recorder
endif
recorder: $(BUILD)/librecorder.so

REC_SRC := shim/recorder_linux.c shim/libc_malloc.h
REC_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -shared -fvisibility=hidden \
  -fno-omit-frame-pointer -pthread

# Frame pointers in the recorder itself: HEAPSCOPE_UNWIND=fp starts its walk in these frames.
$(BUILD)/librecorder.so: $(REC_SRC)
	@mkdir -p $(BUILD)
	$(CC) $(REC_CFLAGS) -o $@ $<

recorder-bench: $(BUILD)/alloc_heavy
$(BUILD)/alloc_heavy: bench/alloc_heavy.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<

REC_TEST := $(BUILD)/test
REC_PROGS := $(patsubst tests/recorder/%.c,$(REC_TEST)/recorder/%,\
  $(filter-out tests/recorder/table_harness.c,$(wildcard tests/recorder/*.c))) \
  $(patsubst tests/recorder/%.cpp,$(REC_TEST)/recorder/%,$(wildcard tests/recorder/*.cpp))

recorder-test: $(BUILD)/librecorder.so $(REC_TEST)/librecorder_fault.so \
  $(REC_TEST)/librecorder_ubsan.so $(REC_TEST)/recorder_harness $(REC_PROGS)

$(REC_TEST)/librecorder_fault.so: $(REC_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(REC_CFLAGS) -DHS_FAULT_INJECTION -o $@ $<

# -fno-sanitize-recover: the first report aborts the program, so a test cannot miss it.
$(REC_TEST)/librecorder_ubsan.so: $(REC_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(REC_CFLAGS) -DHS_FAULT_INJECTION -fsanitize=undefined -fno-sanitize-recover=all -o $@ $<

$(REC_TEST)/recorder_harness: tests/recorder/table_harness.c $(REC_SRC)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Wextra -Werror -std=gnu11 -fno-omit-frame-pointer -pthread \
	  -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $<

# -O0 -g: the tests name the functions and lines that allocate.
$(REC_TEST)/recorder/%: tests/recorder/%.c
	@mkdir -p $(dir $@)
	$(CC) -O0 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<

$(REC_TEST)/recorder/%: tests/recorder/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g -Wall -Wextra -Werror -std=c++17 -pthread -o $@ $<
