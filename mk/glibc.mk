# glibc heap walker: its victims and its cross-release run (included by the Makefile).
#
#   make victim-glibc   build/victim-glibc/{tcache_whole,tcache_exit,heap_pieces} (victim/glibc/);
#                       `make victim` (so `make all` and `make test`) builds them too.
#   make test-glibc     the victims built and run inside Debian roots with other glibc releases
#                       (tests/glibc/releases.sh: bullseye 2.31, trixie 2.41, sid 2.43), each
#                       analysed from outside with ./heapscope; roots cached in
#                       $(HEAPSCOPE_GLIBC_CACHE) (default /var/cache/heapscope/glibc-roots).

GLIBC_VICTIM_DIR := $(BUILD)/victim-glibc
GLIBC_VICTIMS := $(addprefix $(GLIBC_VICTIM_DIR)/,tcache_whole tcache_exit heap_pieces)

.PHONY: victim-glibc test-glibc
victim-glibc: $(GLIBC_VICTIMS)
victim: $(GLIBC_VICTIMS)

# -O1: the victims' XOR-encoded records and cleared stacks are what keeps stale pointers out; -O0
# would leave more of them in spilled locals.
$(GLIBC_VICTIM_DIR)/%: victim/glibc/%.c victim/glibc/expect.h
	@mkdir -p $(GLIBC_VICTIM_DIR)
	$(CC) -O1 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<

test-glibc: deps shim
	bash tests/glibc/releases.sh

# Keeps the truth interposer's SIGUSR2 handler in programs that take SIGUSR2 (nginx), for the tests.
victim-glibc: $(BUILD)/libkeep_sigusr2.so
victim: $(BUILD)/libkeep_sigusr2.so
$(BUILD)/libkeep_sigusr2.so: tests/glibc/keep_sigusr2.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -shared -o $@ $<
