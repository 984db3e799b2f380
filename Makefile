# StateSight developer commands. `make help` lists them. DATABASE_URL and REDIS_URL are
# taken from the environment when set.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/statesight-target
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/statesight
export REDIS_URL ?= redis://127.0.0.1:6379
export STATESIGHT_DATA_DIR ?= $(CURDIR)/.data
# The example applications are local Git repositories and snapshots under examples/; the
# binaries refuse both unless told (see the README's configuration table).
export ALLOW_FILE_REPOSITORIES ?= true
export SNAPSHOT_ROOTS ?= $(CURDIR)/examples
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: help setup demo up down migrate-up seed api worker tui fmt lint test fuzz-api docs-check bench bench-api bench-auth bench-audit bench-realtime bench-tui

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-11s\033[0m %s\n", $$1, $$2}'

setup: ## check the toolchain and services, build every binary once
	@scripts/services.sh
	@source scripts/lib.sh && build_workspace
	@cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

demo: ## the whole stack with sample data: migrate, seed, server (+worker), analyse, console
	@scripts/demo.sh

up: ## make sure PostgreSQL and Redis answer (start local ones or Docker when needed)
	@scripts/services.sh

down: ## stop what demo/api/worker started
	@scripts/down.sh

migrate-up: up ## apply database migrations (creates the database if missing)
	@source scripts/lib.sh && build_workspace
	$(BIN)/statesight-server migrate

seed: migrate-up ## insert demo data and build the example Git repository (idempotent)
	$(BIN)/statesight-server admin seed --examples-dir examples --data-dir $(STATESIGHT_DATA_DIR)

api: migrate-up ## run the API server in the foreground (AUTH_REQUIRED from the environment)
	$(BIN)/statesight-server serve

worker: migrate-up ## run the worker in the foreground (consumes analysis jobs)
	@if [[ -z "$${SECRET_DIGEST_KEY:-}$${SECRET_DIGEST_KEY_FILE:-}" && -s "$(STATESIGHT_DATA_DIR)/secret-digest-key" ]]; then \
	  export SECRET_DIGEST_KEY_FILE="$(STATESIGHT_DATA_DIR)/secret-digest-key"; fi; \
	  $(BIN)/statesight-worker run

tui: ## open the terminal console against the demo server (STATESIGHT_SERVER to change)
	@source scripts/lib.sh && build_workspace
	$(BIN)/statesight-tui --server $${STATESIGHT_SERVER:-http://127.0.0.1:8080}

fmt: ## format the code
	cargo fmt --all

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test: ## every unit and integration test, against the real PostgreSQL and Redis, then fuzz-api
	@scripts/test.sh

fuzz-api: ## Schemathesis (pinned, own venv) against a real server on seeded, analysed data
	@scripts/fuzz-api.sh

docs-check: ## README lists every target and route; nothing points outside the repository
	@scripts/docs-check.sh

bench: ## engine, offline diff and 2,000-resource end-to-end benchmarks
	cargo bench -p statesight-core
	cargo bench -p statesight-worker

bench-api: ## GET /api/v1/applications/:id latency under loopback load (needs wrk)
	@scripts/bench-api.sh

bench-auth: ## GET /api/v1/me latency with a verified bearer token versus demo mode (needs wrk, node)
	@scripts/bench-auth.sh

bench-audit: up ## Kubernetes audit-event ingestion: 1,000,000 events in batches of 100 (events/s, p99, size)
	cargo bench -p statesight-server --bench audit_ingest

bench-realtime: up ## watch event → SSE p95, and 100 apps × 50 resources at 20 changes/s (analyses/s, p95, reads/change)
	cargo bench -p statesight-server --bench realtime

bench-tui: migrate-up ## console frame time and memory with 50,000 findings, Enter -> evidence on a served API
	cargo bench -p statesight-tui --bench console
