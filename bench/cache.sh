#!/usr/bin/env bash
# The answer cache under load: serves bench/providers/upstream_50ms (one
# upstream airline whose API answers in a fixed 50 ms), and runs
# `airstream loadtest` at RATE searches/s for SECONDS where a share REPEAT
# of the searches repeat an earlier question, once with the cache and once
# asking live (`--no-cache`), each on a fresh server, alternating for
# ROUNDS rounds. Prints, per run, the upstream calls per search, cache hits,
# coalesced answers and the time to complete.
#
#   bench/cache.sh [RATE] [SECONDS] [REPEAT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-300} secs=${2:-30} repeat=${3:-0.3} rounds=${4:-2} port=${PORT:-3726}
cargo build --release --quiet
bin=./target/release/airstream
report=$(mktemp)
server=
trap 'kill $server 2>/dev/null; wait 2>/dev/null; rm -f "$report"' EXIT
printf '%-9s %9s %9s %8s %9s %7s %9s %9s\n' run searches calls/s. hits coalesced errors p50_ms p99_ms
for round in $(seq "$rounds"); do
  for mode in cache live; do
    AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=bench/providers/upstream_50ms \
      AIRSTREAM_LOG__FILTER=warn $bin serve &
    server=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    flag=()
    [ "$mode" = live ] && flag=(--no-cache)
    $bin loadtest --url "http://127.0.0.1:$port" -n $((rate * secs)) --rate "$rate" -c 2000 \
      --repeat "$repeat" "${flag[@]}" --json >"$report"
    python3 - "$mode-$round" "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
c = r["cost"]
print(f'{sys.argv[1]:<9} {r["searches"]:>9} {c["upstream_calls_per_search"]:>9.3f} {c["cache_hits"]:>8} '
      f'{c["coalesced"]:>9} {r["errors"]:>7} {r["time_to_complete"]["p50_ms"]:>9.1f} {r["time_to_complete"]["p99_ms"]:>9.1f}')
PY
    kill $server; wait $server 2>/dev/null || true
  done
done
