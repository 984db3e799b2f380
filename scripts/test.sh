#!/usr/bin/env bash
# make test: every unit and integration test against the real PostgreSQL and Redis. Each
# database test gets its own database (sqlx::test), so nextest runs them in parallel.
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/services.sh"
require_cargo
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (once)"
  cargo install cargo-nextest --locked
fi
# The authentication tests start a real OpenID provider (npm oidc-provider, pinned by its
# lock file) on loopback.
"$ROOT/scripts/oidc-provider.sh" install
# The web view's browser tests drive headless Chromium through chromedriver and check each
# page with axe-core (pinned by tests/ui-a11y/package-lock.json).
"$ROOT/scripts/ui-test-tools.sh" install
# TLS tests make certificates with openssl; the console's end-to-end tests drive tmux; the
# keyring test runs GNOME Keyring on a private D-Bus session.
ensure_commands openssl:openssl tmux:tmux gnome-keyring-daemon:gnome-keyring dbus-run-session:dbus
# sqlx::test creates one database per test from this server's maintenance database.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
say "building and running every test (target dir $CARGO_TARGET_DIR)"
cd "$ROOT"
cargo nextest run --workspace --locked --no-fail-fast "$@"
# The deployment files: kustomize renderings against the Kubernetes schemas, the compose
# file against its specification, the Dockerfile linted, every command a real subcommand.
"$ROOT/scripts/deploy-check.sh"
# Then the API fuzzer against a real server (a database of its own, dropped afterwards).
# SKIP_FUZZ=1 leaves it out, e.g. while iterating on one test.
if [[ -z "${SKIP_FUZZ:-}" ]]; then
  "$ROOT/scripts/fuzz-api.sh"
fi
