# sandgate — see README.md. `make demo` and `make test` each install what
# they need on a fresh Debian machine (as root), or say what to install.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN := bin/sandgate

.PHONY: all build demo test deps test-deps vet fmt-check fuzz bench bench-pgbench vault clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sandgate

# PostgreSQL server + client (tests and demo), curl and node (real clients in
# the tests: the egress proxy's and node-postgres), pgbouncer (benchmarks only).
deps:
	@bash bench/deps.sh postgres curl node

# The tests also drive sandgate with the JDBC driver and psycopg2.
test-deps:
	@bash bench/deps.sh postgres curl node jdbc psycopg

demo: deps build
	./$(BIN) demo

# The Vault dev server binary the pseudonymise tests use (built once, cached).
vault:
	@bash tools/vault/build.sh >/dev/null

test: test-deps fmt-check vet
	@echo "==> building the Vault dev server for the Vault Transit tests (first run: ~20 minutes, then cached)"
	@SANDGATE_VAULT_BIN="$$(bash tools/vault/build.sh | tail -n 1)" && export SANDGATE_VAULT_BIN && \
	  $(GO) test -count=1 -timeout 30m ./...
	@echo "==> the PostgreSQL relay again under the race detector (its event loops and session goroutines share state)"
	$(GO) test -race -count=1 -timeout 15m ./gateway/pgwire

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Run every fuzz target for FUZZTIME each (seed corpora run in `make test`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "==> $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

# Micro-benchmarks next to the code.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench/micro.txt

# pgbench: direct vs sandgate vs pgbouncer.
bench-pgbench: build
	@bash bench/deps.sh postgres pgbouncer
	bash bench/pgbench.sh

clean:
	rm -rf bin .demo
