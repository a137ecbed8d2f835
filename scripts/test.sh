#!/usr/bin/env bash
# Runs the whole test suite, installing what it needs where it is missing.
# This is the README's second command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# apt_need COMMAND PACKAGE: installs PACKAGE with apt when COMMAND is missing.
apt_updated=0
apt_need() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    $sudo apt-get update -qq
    apt_updated=1
  fi
  log "installing $pkg (for $cmd)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >/dev/null
}

command -v cargo >/dev/null 2>&1 || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }
# Services the suite starts itself: a real redis-server per Redis test.
apt_need redis-server redis-server
# A real Prometheus for the dashboard test, and the parsers of the
# deployment files.
apt_need prometheus prometheus
apt_need docker-compose docker-compose
# The search page's test: a real headless Chromium driven by playwright-core
# (never `npx playwright install`: it uses Debian's chromium).
apt_need chromium chromium
apt_need node nodejs
apt_need npm npm
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  log "npm install (tests/browser: playwright-core)"
  (cd tests/browser && npm install --no-audit --no-fund --loglevel=error)
fi

# The toolchain parts the checks use.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    log "rustup component add $component"
    rustup component add "$component"
  fi
done

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

log "cargo test"
cargo test --all-targets --no-fail-fast

# The same end-to-end binary again, every test on its own redis-server. The
# tests of separate processes (cli, cluster), of the bus itself and of the
# deployment files already chose their backend in the first run.
log "end-to-end suite on Redis Streams (E2E_BUS=redis)"
E2E_BUS=redis cargo test --test api --no-fail-fast -- --skip cli:: --skip hardening:: --skip cluster:: --skip bus_contract:: --skip observability:: --skip browser::
