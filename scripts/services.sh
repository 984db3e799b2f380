#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer at DATABASE_URL and REDIS_URL: uses running ones,
# starts locally installed ones, falls back to Docker, or says exactly what to install.
source "$(dirname "$0")/lib.sh"

ensure_postgres() {
  local host port
  host="$(url_host "$DATABASE_URL")"; port="$(url_port "$DATABASE_URL" 5432)"
  if port_open "$host" "$port"; then note "PostgreSQL answers at $host:$port"; return; fi
  if [[ "$host" == 127.0.0.1 || "$host" == localhost ]]; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
      say "starting the local PostgreSQL cluster"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      say "starting PostgreSQL with Docker"
      (cd "$ROOT" && docker compose up -d postgres)
    fi
    for _ in $(seq 1 60); do port_open "$host" "$port" && { note "PostgreSQL is up"; return; }; sleep 0.5; done
  fi
  die "PostgreSQL does not answer at $host:$port. Install it (Debian: apt-get install postgresql) or start Docker (docker compose up -d postgres), or point DATABASE_URL at a running server."
}

ensure_redis() {
  local host port
  host="$(url_host "$REDIS_URL")"; port="$(url_port "$REDIS_URL" 6379)"
  if port_open "$host" "$port"; then note "Redis answers at $host:$port"; return; fi
  if [[ "$host" == 127.0.0.1 || "$host" == localhost ]]; then
    if command -v redis-server >/dev/null 2>&1; then
      say "starting redis-server on $port (stopped by make down)"
      mkdir -p "$DATA_DIR"
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$DATA_DIR" --pidfile "$DATA_DIR/redis.pid" --logfile "$DATA_DIR/redis.log"
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      say "starting Redis with Docker"
      (cd "$ROOT" && docker compose up -d redis)
    fi
    for _ in $(seq 1 60); do port_open "$host" "$port" && { note "Redis is up"; return; }; sleep 0.5; done
  fi
  die "Redis does not answer at $host:$port. Install it (Debian: apt-get install redis-server) or start Docker (docker compose up -d redis), or point REDIS_URL at a running server."
}

ensure_postgres
ensure_redis
