#!/usr/bin/env bash
# make down: stops what make demo / make api / make worker started (never a PostgreSQL or
# Redis that was already running).
source "$(dirname "$0")/lib.sh"

stopped=0
for name in tui worker server redis; do
  pidfile="$DATA_DIR/$name.pid"
  if pid_alive "$pidfile"; then
    pid="$(cat "$pidfile")"
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    stopped=$((stopped + 1))
  fi
  rm -f "$pidfile"
done
[[ $stopped -gt 0 ]] || note "nothing was running"
