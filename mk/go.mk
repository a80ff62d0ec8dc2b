# Go victims (victim/go/*.go → build/go/*), built with Debian's golang-go (1.19): programs that
# write their own heap dump for the Go heap-dump tests and benchmark. `make test` builds them
# (test-programs, after test-deps installed golang-go): `make` and `make demo` need no Go.
# The build cache lives under build/ so that a CI run needs no $HOME.

GO       ?= go
GO_ENV   := GOCACHE=$(abspath $(BUILD))/go-cache GOFLAGS=-buildvcs=false GO111MODULE=off
GO_VICTIMS := $(patsubst victim/go/%.go,$(BUILD)/go/%,$(wildcard victim/go/*.go))

.PHONY: go-victims
go-victims: $(GO_VICTIMS)
test-programs: go-victims

$(BUILD)/go/%: victim/go/%.go
	@mkdir -p $(BUILD)/go
	@command -v $(GO) >/dev/null || { echo "go not found: apt-get install -y golang-go" >&2; exit 1; }
	$(GO_ENV) $(GO) build -o $@ $<
