# heapscope build: Deno from npm, the C shim, the victim, the viewer bundle.
# `make` sets everything up; `make demo` analyses the victim; `make test` runs every test.

UNAME_S := $(shell uname -s)
CC      ?= cc
CFLAGS  ?= -O2 -g -Wall -Wextra -Werror -std=gnu11
DENO    := node_modules/.bin/deno
BUILD   := build

ifeq ($(UNAME_S),Darwin)
SHIM    := $(BUILD)/libheapscope.dylib
else
SHIM    := $(BUILD)/libheapscope.so
endif

.PHONY: all deps test-deps test-programs shim victim viewer demo test check fmt binary clean
all: deps shim victim viewer

# npm ci installs exactly the committed lock file (npm install would rewrite it).
deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

shim: $(SHIM)
$(BUILD)/libheapscope.so: shim/heapscope.h shim/heapscope_linux.c shim/arena_linux.c shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -pthread -fPIC -shared -Wl,-z,nodelete -o $@ shim/heapscope_linux.c shim/arena_linux.c shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c

victim: victim/leaky

victim/leaky: victim/leaky.c
	$(CC) -O0 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<

include $(wildcard mk/*.mk)

demo: all
	@bash victim/demo.sh

# What the tests use (valgrind, chromium, gdb, clang, the real programs' libraries, ...), from the
# one list .ci/packages.txt: installed as root, else named with the command that installs them.
test-deps:
	@bash .ci/install-deps.sh

# The macOS dylibs (cross-built with zig from npm) are test inputs: the Mach-O parser and its fuzzing
# read them, so a fresh checkout's `make test` builds them rather than skipping those tests.
# test-programs: what the tests run that needs more than cc (Go, g++), built once test-deps has
# installed those (mk/go.mk, mk/snapshot.mk); `make` and `make demo` need only gcc, make and npm.
test: test-deps all test-programs shim-macos
	$(DENO) test -A

check: deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check main.ts $$(git ls-files '*.ts' '*.tsx')

fmt: deps
	$(DENO) fmt

clean:
	rm -rf $(BUILD) victim/leaky tests/output
