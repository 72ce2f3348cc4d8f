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
