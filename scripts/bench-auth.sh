#!/usr/bin/env bash
# make bench-auth: what bearer-token verification costs. p50/p99 of GET /api/v1/me under
# loopback load from wrk (a separate process) against a release build with AUTH_REQUIRED=true
# and a real OpenID provider (tests/oidc-provider), then the same route in demo mode
# (AUTH_REQUIRED=false), each on the same seeded database of its own.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-20s}"; CONNECTIONS="${CONNECTIONS:-16}"; THREADS="${THREADS:-2}"
AUTH_PORT="${BENCH_PORT:-18081}"; DEMO_PORT=$((AUTH_PORT + 1))
BENCH_DB_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/statesight_bench_auth}"
AUDIENCE="https://statesight.bench/api"

"$ROOT/scripts/services.sh"
"$ROOT/scripts/oidc-provider.sh" install
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
mkdir -p "$DATA_DIR"
DATABASE_URL="$BENCH_DB_URL" "$RELEASE" migrate
(cd "$ROOT" && DATABASE_URL="$BENCH_DB_URL" "$RELEASE" admin seed --examples-dir examples --data-dir "$DATA_DIR/bench")

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
READY="$DATA_DIR/bench-oidc.json"; rm -f "$READY"
node "$ROOT/tests/oidc-provider/provider.mjs" --port 0 --ignore-stdin --audience "$AUDIENCE" \
  --access-token-ttl 3600 >"$READY" 2>"$DATA_DIR/bench-oidc.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$READY" ]] && break; sleep 0.1; done
ISSUER="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' "$READY")" \
  || die "the test OpenID provider did not start: $(cat "$DATA_DIR/bench-oidc.log")"

# The machine client signs in as the seeded admin (its client-credentials subject is its id).
DATABASE_URL="$BENCH_DB_URL" "$RELEASE" admin identity remove --issuer "$ISSUER" --subject statesight-ci >/dev/null 2>&1 || true
DATABASE_URL="$BENCH_DB_URL" "$RELEASE" admin identity add --issuer "$ISSUER" --subject statesight-ci --user ada.admin@acme.example
TOKEN="$(curl -fsS -u statesight-ci:statesight-ci-secret -d grant_type=client_credentials \
  -d resource="$AUDIENCE" -d scope=api "$ISSUER/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

serve() { # port, then extra VAR=value pairs
  local port="$1"; shift
  env DATABASE_URL="$BENCH_DB_URL" BIND_ADDR="127.0.0.1:$port" LOG_FORMAT=json RUST_LOG=warn \
    CURSOR_SIGNING_KEY="$(printf 'ab%.0s' $(seq 1 32))" "$@" \
    "$RELEASE" serve >>"$DATA_DIR/bench-auth-server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  die "the server on port $port did not become ready: see $DATA_DIR/bench-auth-server.log"
}
serve "$AUTH_PORT" AUTH_REQUIRED=true OIDC_ISSUER_URL="$ISSUER" OIDC_AUDIENCE="$AUDIENCE" OIDC_ALLOW_INSECURE_ISSUER=true
serve "$DEMO_PORT" AUTH_REQUIRED=false

measure() { # label, port, extra wrk args
  local label="$1" url="http://127.0.0.1:$2/api/v1/me"; shift 2
  curl -fsS "$@" "$url" >/dev/null || die "$label: GET $url fails: $(curl -sS "$@" "$url")"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$@" "$url" >/dev/null
  say "$label: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency GET /api/v1/me"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" | tee "$DATA_DIR/bench-auth-$label.txt"
}
measure bearer "$AUTH_PORT" -H "Authorization: Bearer $TOKEN"
measure demo "$DEMO_PORT"
for label in bearer demo; do
  awk -v label="$label" '$1=="50%"{p50=$2} $1=="99%"{p99=$2} /^Requests\/sec/{rps=$2}
    END{printf "%-6s GET /api/v1/me  p50 %s  p99 %s  %s req/s\n", label, p50, p99, rps}' \
    "$DATA_DIR/bench-auth-$label.txt"
done
