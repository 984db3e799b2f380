#!/usr/bin/env bash
# make fuzz-api (and the last step of make test): Schemathesis, a pinned version in a venv of
# its own, against the real statesight-server on real data. A fresh database is migrated and
# seeded by the real binaries, a real worker analyses every example, and the server runs in
# demo mode on a free loopback port with a Redis key prefix of its own. Schemathesis reads
# /api/v1/openapi.json and runs every phase (examples, coverage, fuzzing, stateful) with every
# check except the authentication ones (demo mode has no authentication to check), from a
# fixed seed so a failure reproduces. It fails on any 5xx, any answer that does not match the
# document, and any undocumented status. Everything started is stopped and the database
# dropped on exit, whatever happens.
#
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 100: about a minute)
#   FUZZ_SEED          the seed (default 20261123); FUZZ_WORKERS (default 1)
#   FUZZ_ARGS          more schemathesis arguments (e.g. "--phases stateful")
#   FUZZ_KEEP          set: keep the logs and reports even when the run passes
#   STATESIGHT_VENV    where the venv lives (default ~/.cache/statesight-venv)
source "$(dirname "$0")/lib.sh"

SCHEMATHESIS_VERSION="4.32.5"
VENV="${STATESIGHT_VENV:-$HOME/.cache/statesight-venv}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
SEED="${FUZZ_SEED:-20261123}"
# One worker: hypothesis describing its filters from two threads trips a CPython 3.11 bug in
# the ast module ("AST constructor recursion depth mismatch").
WORKERS="${FUZZ_WORKERS:-1}"
# acme-payments, the demo user's workspace: list and create routes are exercised in it.
WORKSPACE="5eed0000-0000-4000-8000-000000000101"

started=$SECONDS
TMP="$(mktemp -d "${TMPDIR:-/tmp}/statesight-fuzz.XXXXXX")"
SUFFIX="$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
DB_NAME="statesight_fuzz_$SUFFIX"
MAINTENANCE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
FUZZ_DB_URL="${MAINTENANCE_URL%/*}/$DB_NAME"
PREFIX="statesight-fuzz-$SUFFIX"
server_pid="" worker_pid=""

stop() { # pid: TERM, then KILL after 10 s
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  stop "$server_pid"
  stop "$worker_pid"
  if command -v psql >/dev/null 2>&1; then
    psql -q "$MAINTENANCE_URL" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 \
      || note "could not drop the database $DB_NAME; drop it by hand"
  else
    note "psql is not installed: drop the database $DB_NAME by hand"
  fi
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX:*" 2>/dev/null \
      | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  if [[ ( $status -ne 0 || -n "${FUZZ_KEEP:-}" ) && -f "$TMP/server.log" ]]; then
    note "server log kept in $TMP (server.log, worker.log, report/)"
  else
    rm -rf "$TMP"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The venv is made once and reused while it holds the pinned version.
ensure_schemathesis() {
  if [[ -x "$VENV/bin/schemathesis" ]] \
    && [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" == *" $SCHEMATHESIS_VERSION" ]]; then
    return
  fi
  local python=""
  for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  [[ -n "$python" ]] || die "Python 3.10 or newer with venv and pip is needed for the API fuzzer (Debian: apt-get install python3-venv)"
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (once)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV" || die "could not create a venv at $VENV (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "could not install schemathesis $SCHEMATHESIS_VERSION from PyPI"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$ROOT/scripts/services.sh"
ensure_schemathesis
build_workspace

# The settings the worker's input policy reads (the examples are local repositories and
# snapshots); harmless for builds that do not read them yet.
export DATABASE_URL="$FUZZ_DB_URL" REDIS_KEY_PREFIX="$PREFIX" LOG_FORMAT=json
export ALLOW_FILE_REPOSITORIES=true SNAPSHOT_ROOTS="$ROOT/examples"
cd "$ROOT"

say "creating and seeding the database $DB_NAME"
"$BIN/statesight-server" migrate >/dev/null
"$BIN/statesight-server" admin seed --examples-dir "$ROOT/examples" --data-dir "$TMP" >/dev/null

say "analysing the examples with a real worker"
env -u SECRET_DIGEST_KEY_FILE SECRET_DIGEST_KEY="fuzz:$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" \
  WORKER_ID="fuzz-$SUFFIX" GIT_CACHE_DIR="$TMP/git-cache" WORKER_METRICS_ADDR=127.0.0.1:0 \
  "$BIN/statesight-worker" run >"$TMP/worker.log" 2>&1 &
worker_pid=$!
if ! "$BIN/statesight-server" admin analyse-examples --timeout-secs 180 >"$TMP/analyses.txt"; then
  tail -n 20 "$TMP/worker.log" >&2
  die "a demo analysis did not succeed (worker log above)"
fi
note "$(wc -l <"$TMP/analyses.txt") analyses"

# The settings, with the ids of the rows just made as dictionaries the fuzzer draws from.
dictionary() { # name, SQL selecting one uuid column
  printf '\n[dictionaries.%s]\nvalues = [%s]\n' "$1" \
    "$(psql -At "$FUZZ_DB_URL" -c "$2" | sed 's/.*/"&"/' | paste -sd, -)"
}
command -v psql >/dev/null 2>&1 || die "psql (the PostgreSQL client) is needed to read the fuzzed database's ids"
{
  cat "$ROOT/scripts/schemathesis.toml"
  dictionary applications "SELECT id FROM applications ORDER BY id"
  dictionary rules "SELECT id FROM ignore_rules WHERE application_id IS NOT NULL ORDER BY id"
  dictionary clusters "SELECT id FROM clusters ORDER BY id"
  dictionary sources "SELECT id FROM source_definitions ORDER BY id"
  dictionary incidents "SELECT id FROM incidents ORDER BY id"
  dictionary analyses "SELECT id FROM analysis_runs ORDER BY id"
} >"$TMP/schemathesis.toml"

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
say "starting statesight-server on $BASE (demo mode, Redis prefix $PREFIX)"
CURSOR_SIGNING_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" AUTH_REQUIRED=false \
  BIND_ADDR="127.0.0.1:$PORT" "$BIN/statesight-server" serve >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$TMP/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null || die "the server did not become ready; log: $TMP/server.log"

say "schemathesis $SCHEMATHESIS_VERSION: seed $SEED, $MAX_EXAMPLES examples per operation"
# The checks about authentication are left out: demo mode signs every caller in.
set +e
"$VENV/bin/schemathesis" --config-file "$TMP/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
  --checks all --exclude-checks ignored_auth,object_level_authorization \
  --header "X-Workspace-ID: $WORKSPACE" \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "$WORKERS" \
  --request-timeout 35 \
  --report junit --report-dir "$TMP/report" \
  --no-color ${FUZZ_ARGS:-} >"$TMP/schemathesis.txt" 2>&1
status=$?
set -e
cat "$TMP/schemathesis.txt"

# Every 5xx the server logged, with its request id, whether or not Schemathesis flagged it.
server_errors="$(grep -c '"request failed"' "$TMP/server.log" || true)"
if [[ "$server_errors" -gt 0 ]]; then
  say "the server answered $server_errors request(s) with 5xx:"
  grep '"request failed"\|"ERROR"' "$TMP/server.log" | head -n 40 >&2
  status=1
fi

summary="$(grep -E '^=+ .*(passed|failed|error|in [0-9.]+s).* =+$' "$TMP/schemathesis.txt" | tail -n 1)"
say "fuzzer summary: ${summary:-see above} (whole run $((SECONDS - started)) s)"
[[ $status -eq 0 ]] || die "the API fuzzer found problems (see above; reproduce with FUZZ_SEED=$SEED make fuzz-api)"
