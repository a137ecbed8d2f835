#!/usr/bin/env bash
# Runs the whole test suite, installing what it needs where it is missing.
# This is the README's second command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null 2>&1 || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }

# What the suite needs from Debian, as "command:package": each package is
# installed only when its command is missing, in one `apt-get install
# --no-install-recommends` (so docker-compose, which only parses the compose
# file here, brings no Docker engine), and the list is printed first.
needs=(
  redis-server:redis-server   # a real redis-server per Redis test
  prometheus:prometheus       # the dashboard test queries a real Prometheus
  promtool:prometheus         # checks the Prometheus config
  docker-compose:docker-compose  # parses docker-compose.yml (no engine)
  chromium:chromium           # the search page test's headless browser
  node:nodejs                 # runs playwright-core
  npm:npm                     # installs playwright-core
  python3:python3-venv        # the venv schemathesis is installed into
)
missing=()
for need in "${needs[@]}"; do
  cmd=${need%%:*} pkg=${need#*:}
  command -v "$cmd" >/dev/null 2>&1 && continue
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
# python3 without its venv module (Debian splits it off).
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  [[ " ${missing[*]} " == *" python3-venv "* ]] || missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing with apt-get (--no-install-recommends): ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  log "npm install (tests/browser: playwright-core)"
  (cd tests/browser && npm install --no-audit --no-fund --loglevel=error)
fi

# schemathesis (PyPI) for the contract test (tests/api/schemathesis.rs),
# in a venv under the target directory, where the test looks for it.
venv="${CARGO_TARGET_DIR:-target}/venv"
if [ ! -x "$venv/bin/st" ]; then
  log "pip install schemathesis (into $venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4,<5"
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
# deployment files already chose their backend in the first run; the
# documents' links need none, and the Redis cost test starts its own.
skip=(--skip cli:: --skip hardening:: --skip cluster:: --skip redis_cluster:: --skip redis_full:: --skip bus_contract:: --skip observability:: --skip browser:: --skip staged:: --skip doc_links:: --skip redis_cost::)
log "end-to-end suite on Redis Streams (E2E_BUS=redis)"
E2E_BUS=redis cargo test --test api --no-fail-fast -- "${skip[@]}"

# And a third time, every test on its own Redis Cluster of 3 masters and 3
# replicas.
log "end-to-end suite on a Redis Cluster (E2E_BUS=cluster)"
E2E_BUS=cluster cargo test --test api --no-fail-fast -- "${skip[@]}"
