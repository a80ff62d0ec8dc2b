# Test programs of the symbolizer tests (tests/symbols/): the same C program linked by bfd, gold and
# lld, PIE and not, each with a shared library from the same linker; a C++ program (bfd and lld);
# a Rust program with legacy and v0 mangling (rustc's default linker, rust-lld since Rust 1.90).
# Built on demand by the symbol tests (`make symbols-programs`), not by `make all`: g++, lld
# and rustc are test dependencies only.

SYMBOLS := $(BUILD)/symbols
SYMBOLS_LINKERS := bfd gold lld
SYMBOLS_LAYOUTS := $(foreach l,$(SYMBOLS_LINKERS),$(SYMBOLS)/layout-$(l)-pie $(SYMBOLS)/layout-$(l)-nopie)
SYMBOLS_FLAGS := -O1 -g -Wall -Wextra -Werror

.PHONY: symbols-programs
# The libraries are named too: as mere prerequisites make would delete them as intermediates.
symbols-programs: $(SYMBOLS_LAYOUTS) $(SYMBOLS_LINKERS:%=$(SYMBOLS)/liblayout-%.so) $(SYMBOLS)/sessions-bfd $(SYMBOLS)/sessions-lld \
  $(SYMBOLS)/sessions-rs-legacy $(SYMBOLS)/sessions-rs-v0

$(SYMBOLS)/liblayout-%.so: tests/symbols/layout_lib.c tests/symbols/layout_lib.h
	@mkdir -p $(SYMBOLS)
	$(CC) $(SYMBOLS_FLAGS) -fuse-ld=$* -fPIC -shared -o $@ $<

# -rpath $ORIGIN: the program finds its library beside it wherever the build folder is.
$(SYMBOLS)/layout-%-pie: tests/symbols/layout.c $(SYMBOLS)/liblayout-%.so
	$(CC) $(SYMBOLS_FLAGS) -fuse-ld=$* -fPIE -pie -o $@ $< -L$(SYMBOLS) -llayout-$* '-Wl,-rpath,$$ORIGIN'

$(SYMBOLS)/layout-%-nopie: tests/symbols/layout.c $(SYMBOLS)/liblayout-%.so
	$(CC) $(SYMBOLS_FLAGS) -fuse-ld=$* -fno-PIE -no-pie -o $@ $< -L$(SYMBOLS) -llayout-$* '-Wl,-rpath,$$ORIGIN'

$(SYMBOLS)/sessions-%: tests/symbols/sessions.cpp
	@mkdir -p $(SYMBOLS)
	g++ $(SYMBOLS_FLAGS) -std=c++17 -fuse-ld=$* -o $@ $<

$(SYMBOLS)/sessions-rs-legacy: tests/symbols/sessions.rs
	@mkdir -p $(SYMBOLS)
	rustc -D warnings -g -C opt-level=1 -o $@ $< # legacy is the default (naming it needs nightly)

$(SYMBOLS)/sessions-rs-v0: tests/symbols/sessions.rs
	@mkdir -p $(SYMBOLS)
	rustc -D warnings -g -C opt-level=1 -C symbol-mangling-version=v0 -o $@ $<
