# pgduet — two-way PostgreSQL sync.
#
#   make demo    two throwaway local clusters, two agents, two-way sync, verify
#   make test    every test, against real PostgreSQL servers the tests start
#   make build   bin/pgduet
#   make bench   benchmarks (catch-up apply next to a native subscription and
#                to pglogical, initial copy next to raw COPY pipes), not part
#                of make test; installs postgresql-15-pglogical when missing
#                (as root; otherwise prints the command)
#
# Needs Go (see go.mod) and a C compiler (pg_query is cgo); the tests and the demo
# need the PostgreSQL server binaries (initdb, pg_ctl): `make deps` installs them
# on Debian/Ubuntu.

GO        ?= go
BIN       := bin/pgduet
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Tests start clusters themselves; a missing server is a failure, not a skip.
TEST_ENV  := PGDUET_REQUIRE_PG=1
# -race: the agent is concurrent, and the race build also varies protobuf
# iteration order, which caught an order dependency once.
TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: all build test test-short bench demo lint fmt vet proto deps check-deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./agent/cmd/pgduet

test: check-deps
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) ./...

# Quick unit tests only (no PostgreSQL needed; database tests skip).
test-short:
	$(GO) test -short ./...

# Benchmarks (not part of make test): catch-up apply throughput between two
# local clusters (PGDUET_BENCH_ROWS row changes per run, default 1,000,000)
# (medians of 3 runs) and the initial copy (3 runs side by side with raw pipes). The
# pglogical catch-up runs need the extension's library (pglogical.so) for the
# server the tests start.
PGLOGICAL_PKG := postgresql-15-pglogical

bench: check-deps
	@libdir=$$(pg_config --pkglibdir 2>/dev/null); \
	if [ -n "$$libdir" ] && [ -f "$$libdir/pglogical.so" ] || [ -f /usr/lib/postgresql/15/lib/pglogical.so ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "pglogical is missing: apt-get install -y $(PGLOGICAL_PKG)"; \
		apt-get install -y $(PGLOGICAL_PKG) || { apt-get update && apt-get install -y $(PGLOGICAL_PKG); } || exit 1; \
	else \
		echo "pglogical is missing (the pglogical catch-up benchmark needs it): sudo apt-get install -y $(PGLOGICAL_PKG)"; exit 1; \
	fi
	$(TEST_ENV) PGDUET_BENCH_RUNS=$${PGDUET_BENCH_RUNS:-3} $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 600m ./agent/

demo: check-deps build
	./$(BIN) demo

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Regenerates the peer protocol's Go code from agent/transport/proto (the
# generated files are committed; only needed after editing the .proto).
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH=$(CURDIR)/bin:$$PATH $(GO) generate ./agent/transport/...

# Installs what the tests and the demo need on Debian/Ubuntu.
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update && $$SUDO apt-get install -y postgresql build-essential

check-deps:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go $$(sed -n 's/^go //p' go.mod) or newer (https://go.dev/dl)"; exit 1; }
	@command -v cc >/dev/null || command -v gcc >/dev/null || { echo "A C compiler is missing (pg_query is cgo): make deps, or apt-get install -y build-essential"; exit 1; }
	@command -v initdb >/dev/null || [ -n "$$PG_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ echo "PostgreSQL server binaries (initdb, pg_ctl) are missing: make deps, or apt-get install -y postgresql (or set PG_BIN)"; exit 1; }

clean:
	rm -rf bin
