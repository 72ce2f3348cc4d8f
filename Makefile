# Developer entry points. Each target calls the scripts CI uses, so a green
# "make test" here means a green CI run.

.PHONY: dev test generate lint build clean

dev: ## run the server in development mode with a seeded demo
	bash scripts/dev.sh

test: ## run every test (starts PostgreSQL, Redis and Chromium when absent)
	bash scripts/test.sh

generate: ## regenerate the templ components (*_templ.go)
	go tool templ generate

lint: ## gofmt and go vet
	bash scripts/lint.sh

build: ## build the binaries into bin/
	go build -o bin/ ./cmd/...

clean: ## remove build and test outputs
	rm -rf bin/ testdata/artifacts
	find . -type d -name artifacts -path "*/testdata/*" -prune -exec rm -rf {} +

.PHONY: bench bench-short bench-report

# BENCH_FLAGS passes flags to the load benchmark, e.g.
# make bench BENCH_FLAGS="--scenarios refresh,code-exchange --duration 30s"
BENCH_FLAGS ?=

bench: ## load benchmark of every scenario, 10 s each at 16 workers (builds and starts its own server)
	go run ./cmd/nextoria-bench $(BENCH_FLAGS)

bench-short: ## quick load benchmark (1 s per scenario, 4 workers) that keeps the tool working
	go run ./cmd/nextoria-bench --short $(BENCH_FLAGS)

bench-report: ## full load benchmark at 16 and 64 workers, written to docs/benchmarks.md
	go run ./cmd/nextoria-bench --concurrency 16,64 --markdown docs/benchmarks.md $(BENCH_FLAGS)
