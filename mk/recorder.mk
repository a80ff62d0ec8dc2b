# The allocation recorder (shim/recorder_linux.c → build/librecorder.so), LD_PRELOADed by
# `heapscope run`; and the benchmark workload. `make` (all) builds the recorder on Linux.

.PHONY: recorder recorder-bench
ifneq ($(UNAME_S),Darwin)
all: recorder
endif
recorder: $(BUILD)/librecorder.so

# Frame pointers in the recorder itself: HEAPSCOPE_UNWIND=fp starts its walk in these frames.
$(BUILD)/librecorder.so: shim/recorder_linux.c shim/libc_malloc.h
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -shared -fvisibility=hidden \
	  -fno-omit-frame-pointer -pthread -o $@ $<

recorder-bench: $(BUILD)/alloc_heavy
$(BUILD)/alloc_heavy: bench/alloc_heavy.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<
