# Shared helpers for the Makefile's scripts. Sourced, not run.
# shellcheck shell=bash

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/statesight-target}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/statesight}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
DATA_DIR="${STATESIGHT_DATA_DIR:-$ROOT/.data}"
export STATESIGHT_DATA_DIR="$DATA_DIR"
BIN="$CARGO_TARGET_DIR/debug"

say()  { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# host and port of a URL such as postgres://user@host:5432/db or redis://host:6379/0
url_host() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; echo "${rest%%:*}"; }
url_port() {
  local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"
  if [[ "$rest" == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}

# true when something accepts TCP connections at host:port
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

require_cargo() {
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed: install Rust with rustup (https://rustup.rs), then re-run"
}

# Builds every binary once (the workspace, so features unify and nothing rebuilds later).
build_workspace() {
  require_cargo
  say "building the workspace (first build takes a few minutes; target dir $CARGO_TARGET_DIR)"
  (cd "$ROOT" && cargo build --workspace --bins --locked)
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Makes sure the commands the tests drive exist: each argument is `command:debian-package`.
# Missing ones are installed from Debian's packages when running as root with apt (CI and
# fresh machines); otherwise the message says what to install.
ensure_commands() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
  done
  (( ${#missing[@]} )) || return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} from Debian's packages (the tests drive them)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null \
      || die "installing ${missing[*]} failed; install them (apt-get install ${missing[*]}) and re-run"
  else
    die "the tests need ${missing[*]}: install them (Debian: sudo apt-get install ${missing[*]}) and re-run"
  fi
}
