#!/usr/bin/env bash
# make bench-api: p50/p99 of GET /api/v1/applications/:id on seeded data under loopback
# load from wrk (a separate process), against a release build on its own database.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-20s}"; CONNECTIONS="${CONNECTIONS:-16}"; THREADS="${THREADS:-2}"
PORT="${BENCH_PORT:-18080}"
APP_ID="5eed0000-0000-4000-8000-000000000502" # checkout-api: 4 open incidents, rules, suppressions
BENCH_DB_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/statesight_bench}"

"$ROOT/scripts/services.sh"
if ! command -v wrk >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing wrk from Debian's packages"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    die "wrk is not installed (Debian: apt-get install wrk)"
  fi
fi
say "building the server in release mode"
(cd "$ROOT" && cargo build --release --locked -p statesight-server)
RELEASE="$CARGO_TARGET_DIR/release/statesight-server"
DATABASE_URL="$BENCH_DB_URL" "$RELEASE" migrate
(cd "$ROOT" && DATABASE_URL="$BENCH_DB_URL" "$RELEASE" admin seed --examples-dir examples --data-dir "$DATA_DIR/bench")
DATABASE_URL="$BENCH_DB_URL" AUTH_REQUIRED=false BIND_ADDR="127.0.0.1:$PORT" LOG_FORMAT=json RUST_LOG=warn \
  "$RELEASE" serve >"$DATA_DIR/bench-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/api/v1/applications/$APP_ID"
curl -fsS "$URL" >/dev/null || die "the bench request fails: $(curl -sS "$URL")"
say "warming up"; wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$URL" >/dev/null
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $URL"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$URL" | tee "$DATA_DIR/bench-api.txt"
