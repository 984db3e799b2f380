#!/usr/bin/env bash
# make demo: services, build, migrate, seed, server and worker in the background, wait for
# /readyz, have the worker analyse every example application, then open the console on a
# terminal or print how to. Safe to re-run: it restarts what it started.
source "$(dirname "$0")/lib.sh"

BIND_ADDR="${BIND_ADDR:-127.0.0.1:8080}"
SERVER_URL="http://$BIND_ADDR"
LEDGER_APP="5eed0000-0000-4000-8000-000000000501"
mkdir -p "$DATA_DIR"
# The examples are local Git repositories and snapshots under examples/: the seed, the
# server and the worker must all be allowed to read them (both are off by default).
export ALLOW_FILE_REPOSITORIES="${ALLOW_FILE_REPOSITORIES:-true}"
export SNAPSHOT_ROOTS="${SNAPSHOT_ROOTS:-$ROOT/examples}"

"$ROOT/scripts/services.sh"
build_workspace

say "migrating $DATABASE_URL"
"$BIN/statesight-server" migrate
say "seeding demo data"
(cd "$ROOT" && "$BIN/statesight-server" admin seed --examples-dir "$ROOT/examples" --data-dir "$DATA_DIR")
# Kubernetes audit events of staging-eu-1 (synthetic, examples/audit/README.md), so the
# analyses grade who changed checkout-api. Each auditID is stored once: a rerun adds nothing.
RUST_LOG="${RUST_LOG:-warn}" "$BIN/statesight-server" admin k8s-audit import \
  --cluster staging-eu-1 --workspace acme-payments "$ROOT/examples/audit/staging-eu-1.jsonl"

start() { # name, then the command
  local name="$1"; shift
  local pidfile="$DATA_DIR/$name.pid" log="$DATA_DIR/$name.log"
  if pid_alive "$pidfile"; then
    note "restarting $name (pid $(cat "$pidfile"))"
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pidfile" || break; sleep 0.1; done
  fi
  # exec: the recorded pid is the program's own, and no shell keeps the caller's output open.
  (cd "$ROOT" && exec nohup "$@") >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  note "$name started (pid $(cat "$pidfile"), log $log)"
}

# Pagination cursors are signed (HMAC). One secret per data dir, made once and readable only
# by its owner, keeps cursors valid across restarts of the demo server.
KEY_FILE="$DATA_DIR/cursor-signing-key"
if [[ ! -s "$KEY_FILE" ]]; then
  note "generating the cursor signing key $KEY_FILE"
  (umask 077; openssl rand -hex 32 >"$KEY_FILE" 2>/dev/null) \
    || (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$KEY_FILE")
fi
chmod 600 "$KEY_FILE"

# Secret values are digested with a keyed HMAC, so a stored digest of a weak password cannot
# be reversed with a dictionary. One key per data dir, made once, keeps digests comparable
# across restarts (a new key only changes the key id the evidence shows).
DIGEST_KEY_FILE="$DATA_DIR/secret-digest-key"
if [[ ! -s "$DIGEST_KEY_FILE" ]]; then
  note "generating the Secret digest key $DIGEST_KEY_FILE"
  (umask 077; echo "demo:$(openssl rand -hex 32 2>/dev/null || od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$DIGEST_KEY_FILE")
fi
chmod 600 "$DIGEST_KEY_FILE"

say "starting statesight-server on $SERVER_URL (AUTH_REQUIRED=false, loopback only)"
CURSOR_SIGNING_KEY="${CURSOR_SIGNING_KEY:-$(cat "$KEY_FILE")}" \
  AUTH_REQUIRED=false LOG_FORMAT=json BIND_ADDR="$BIND_ADDR" start server "$BIN/statesight-server" serve

say "starting statesight-worker (metrics on ${WORKER_METRICS_ADDR:-127.0.0.1:9091})"
# The key is passed as a file name, so it never appears in a process listing; a key already in
# the environment wins.
if [[ -z "${SECRET_DIGEST_KEY:-}" ]]; then export SECRET_DIGEST_KEY_FILE="${SECRET_DIGEST_KEY_FILE:-$DIGEST_KEY_FILE}"; fi
LOG_FORMAT=json WORKER_ID="${WORKER_ID:-demo}" GIT_CACHE_DIR="${GIT_CACHE_DIR:-$DATA_DIR/git-cache}" \
  start worker "$BIN/statesight-worker" run

say "waiting for $SERVER_URL/readyz"
ready=""
for _ in $(seq 1 100); do
  if curl -fsS "$SERVER_URL/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  pid_alive "$DATA_DIR/server.pid" || break
  sleep 0.2
done
[[ -n "$ready" ]] || { tail -n 20 "$DATA_DIR/server.log" >&2; die "the server did not become ready; its log is $DATA_DIR/server.log"; }

say "analysing every example application (the worker does it, through the queue)"
# Its own log lines (one per audit entry) would bury the summary: warnings only, unless asked.
if ! RUST_LOG="${RUST_LOG:-warn}" "$BIN/statesight-server" admin analyse-examples --timeout-secs 180; then
  tail -n 20 "$DATA_DIR/worker.log" >&2
  die "a demo analysis did not succeed; worker log: $DATA_DIR/worker.log"
fi

cat <<TXT

StateSight demo is running.
  API:      $SERVER_URL/api/v1   (try: curl -s $SERVER_URL/api/v1/me)
  Web view: $SERVER_URL/ui   (read-only, in any browser)
  Health:   $SERVER_URL/readyz   Metrics: $SERVER_URL/metrics
  Incidents: curl -s -H 'X-Workspace-ID: 5eed0000-0000-4000-8000-000000000101' "$SERVER_URL/api/v1/incidents?application_id=$LEDGER_APP"
  Logs:     $DATA_DIR/server.log, $DATA_DIR/worker.log   Worker metrics: http://${WORKER_METRICS_ADDR:-127.0.0.1:9091}/metrics
  Stop:     make down
TXT
if [[ -t 0 && -t 1 ]]; then
  say "opening the console (q quits; make tui opens it again)"
  exec "$BIN/statesight-tui" --server "$SERVER_URL"
fi
echo "  Console:  make tui   (in a terminal; the console needs one)"
