#!/usr/bin/env bash
# What the web view's browser tests (crates/server/tests/ui_browser.rs) drive: headless
# Chromium with its chromedriver (Debian's packages) and axe-core (npm, pinned by
# tests/ui-a11y/package-lock.json; the test injects its axe.min.js into each page).
#
#   scripts/ui-test-tools.sh install   installs what is missing (apt-get as root for the
#                                      browser; `npm ci` when node_modules is missing or older
#                                      than the lock file); silent when everything is there
#
# STATESIGHT_SKIP_BROWSER=1 skips the install, and the browser tests then skip themselves;
# without it a browser that is missing or does not start fails them.
source "$(dirname "$0")/lib.sh"

A11Y_DIR="$ROOT/tests/ui-a11y"
# Touched after every successful `npm ci`; lives in node_modules so it goes when that goes.
STAMP="$A11Y_DIR/node_modules/.installed-stamp"

install() {
  if [[ -n "${STATESIGHT_SKIP_BROWSER:-}" ]]; then
    note "STATESIGHT_SKIP_BROWSER is set: not installing Chromium, chromedriver or axe-core"
    return 0
  fi
  # Debian names the driver's package chromium-driver; both come from the same source
  # version, which chromedriver requires of the browser it starts.
  ensure_commands chromium:chromium chromedriver:chromium-driver
  if [[ -f "$STAMP" && ! "$A11Y_DIR/package-lock.json" -nt "$STAMP" ]]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 \
    || die "the web view's accessibility check needs npm (axe-core): install Node.js 20+ and npm, then re-run"
  say "installing axe-core for the web view's accessibility checks (tests/ui-a11y)"
  npm ci --prefix "$A11Y_DIR" --no-audit --no-fund --loglevel=error >&2 \
    || die "npm ci failed in tests/ui-a11y (is the npm registry reachable?)"
  touch "$STAMP"
}

case "${1:-}" in
  install)
    install
    ;;
  *)
    die "usage: scripts/ui-test-tools.sh install"
    ;;
esac
