# bonsai: see README.md. `make demo` runs the main job, `make test` the tests.
GO      ?= go
BIN     := bin/bonsai
PKGS    := ./...

# urfave_cli_no_docs leaves out urfave/cli's man and markdown generators
# (unused), whose markdown library costs every command 1 ms at start-up.
# Exported so the scripts' and tests' own builds get it too.
export GOFLAGS := -tags=urfave_cli_no_docs $(GOFLAGS)

.PHONY: all build test bench bench-intoto demo lint fuzz clean generate

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/bonsai

# The tests. Root-only tests (eBPF capture) run when CI runs this as root.
# -p 1: one package at a time, so the swarm and capture tests (which watch
# the whole machine) do not compete with the other packages for 2 cores.
test:
	$(GO) test -p 1 -count=1 -timeout 12m $(PKGS)

# Go benchmarks plus the summary table (see scripts/bench.sh).
# The capture figures need root (eBPF); REPS sets their repetitions.
bench: build
	scripts/bench.sh
	@if [ "$$(id -u)" = 0 ]; then REPS=$${REPS:-3} scripts/bench-capture.sh; else echo "capture benchmark skipped: needs root"; fi

# Only the comparison with in-toto-golang v0.9.0 (issue 12; part of
# `make bench`): `in-toto run` against `bonsai record` on the same step,
# interleaved. INTOTO_STEPS sets the steps per tool (default 50).
bench-intoto:
	scripts/bench-intoto.sh

# The main job end to end, in a temporary home.
demo: build
	scripts/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff

# Rebuild the eBPF capture object and its Go bindings (bpf/capture_x86_bpfel.*)
# from bpf/capture.bpf.c; needs clang and libbpf-dev. The outputs are
# committed; a test fails with "run make generate" when they are stale.
generate:
	$(GO) generate ./bpf

# Fuzz the decoders and the graph labels for a while (the seed corpus also
# runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./lineage -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./dht -run '^$$' -fuzz '^FuzzRequestFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./dht -run '^$$' -fuzz '^FuzzResponseFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./bpf -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime $(FUZZTIME)
	$(GO) test ./lineage -run '^$$' -fuzz '^FuzzDecodeRevocation$$' -fuzztime $(FUZZTIME)
	$(GO) test ./enforce -run '^$$' -fuzz '^FuzzParsePolicy$$' -fuzztime $(FUZZTIME)
	$(GO) test ./node/store -run '^$$' -fuzz '^FuzzDecodeJournal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./node/store -run '^$$' -fuzz '^FuzzReadCAR$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/ancestry -run '^$$' -fuzz '^FuzzDOTLabel$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/ancestry -run '^$$' -fuzz '^FuzzMermaidText$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin .bench
