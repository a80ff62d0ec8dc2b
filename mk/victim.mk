# The interposer ground truth (tests/interposer/truth.c → build/libtruth.so), used by the tests.
# `make victim` (and so `make all` / `make test`) builds it too.

.PHONY: truth
truth: $(BUILD)/libtruth.so
victim: $(BUILD)/libtruth.so

$(BUILD)/libtruth.so: tests/interposer/truth.c shim/libc_malloc.h
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -shared -fvisibility=hidden -pthread -o $@ $<

# Blocks held only by registers, in a thread at a system call and in one running user code.
ifeq ($(shell uname -m),x86_64)
victim: $(BUILD)/victim/registers
endif
$(BUILD)/victim/registers: victim/registers.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<
