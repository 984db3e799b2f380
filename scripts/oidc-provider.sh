#!/usr/bin/env bash
# The test OpenID Connect provider in tests/oidc-provider (see its README.md).
#
#   scripts/oidc-provider.sh install          installs its npm dependencies (npm ci) when
#                                             node_modules is missing or older than
#                                             package-lock.json; silent when up to date
#   scripts/oidc-provider.sh start [options]  installs if needed, then runs the provider in the
#                                             foreground (options as in its README)
#   scripts/oidc-provider.sh smoke            installs if needed, then runs its smoke test
source "$(dirname "$0")/lib.sh"

OIDC_DIR="$ROOT/tests/oidc-provider"
# Touched after every successful `npm ci`; lives in node_modules so it goes when that goes.
STAMP="$OIDC_DIR/node_modules/.installed-stamp"

require_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    || die "the test OIDC provider needs node and npm: install Node.js 20+ and npm, then re-run"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  (( major >= 20 )) || die "node $(node --version) is too old for the test OIDC provider: install Node.js 20+ and npm"
}

install() {
  require_node
  # Up to date: the stamp exists and is at least as new as the lock file.
  if [[ -f "$STAMP" && ! "$OIDC_DIR/package-lock.json" -nt "$STAMP" ]]; then
    return 0
  fi
  say "installing the test OIDC provider's npm dependencies (tests/oidc-provider)"
  npm ci --prefix "$OIDC_DIR" --no-audit --no-fund --loglevel=error >&2 \
    || die "npm ci failed in tests/oidc-provider (is the npm registry reachable?)"
  touch "$STAMP"
}

case "${1:-}" in
  install)
    install
    ;;
  start)
    shift
    install
    exec node "$OIDC_DIR/provider.mjs" "$@"
    ;;
  smoke)
    install
    exec bash "$OIDC_DIR/smoke.sh"
    ;;
  *)
    die "usage: scripts/oidc-provider.sh install | start [provider options] | smoke"
    ;;
esac
