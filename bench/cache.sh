#!/usr/bin/env bash
# The answer cache and the access checks under load: serves
# bench/providers/upstream_50ms (one upstream airline whose API answers in
# a fixed 50 ms) and runs `airstream loadtest` at RATE searches/s for
# SECONDS, a share REPEAT of the searches repeating an earlier question,
# in three modes, each on a fresh server, alternating for ROUNDS rounds:
#   cache  the answer cache on (the default);
#   live   every search asks the airline (`--no-cache`);
#   keyed  the cache on, plus an API key on every search and a rate limit
#          high enough never to refuse: what the key check and the limit
#          cost.
# Prints, per run, the upstream calls per search, cache hits, coalesced
# answers, the time to complete, and the server's CPU time per search.
#
#   bench/cache.sh [RATE] [SECONDS] [REPEAT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-300} secs=${2:-30} repeat=${3:-0.3} rounds=${4:-2} port=${PORT:-3726}
cargo build --release --quiet
bin=./target/release/airstream
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
$bin keys new bench >"$work/keys.toml" 2>"$work/key.txt"
key=$(grep '^ask_' "$work/key.txt")
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
printf '%-8s %8s %8s %7s %9s %6s %8s %8s %10s\n' \
  run searches calls/s hits coalesced errors p50_ms p99_ms cpu_us/s
for round in $(seq "$rounds"); do
  for mode in cache live keyed; do
    env=(AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=bench/providers/upstream_50ms
      AIRSTREAM_LOG__FILTER=warn)
    flags=(--repeat "$repeat")
    case $mode in
      live) flags+=(--no-cache) ;;
      keyed)
        env+=(AIRSTREAM_ACCESS__KEYS_FILE="$work/keys.toml" AIRSTREAM_ACCESS__RATE=1000000
          AIRSTREAM_ACCESS__BURST=1000000)
        flags+=(--api-key "$key") ;;
    esac
    env "${env[@]}" $bin serve &
    server=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    before=$(cpu $server)
    $bin loadtest --url "http://127.0.0.1:$port" -n $((rate * secs)) --rate "$rate" -c 2000 \
      "${flags[@]}" --json >"$work/report.json"
    after=$(cpu $server)
    python3 - "$mode-$round" "$work/report.json" "$before" "$after" "$ticks" <<'PY'
import json, sys
name, path, before, after, ticks = sys.argv[1:]
r = json.load(open(path))
c = r["cost"]
done = r["completed"] + r["partial"]
cpu_us = (int(after) - int(before)) / int(ticks) * 1e6 / max(done, 1)
print(f'{name:<8} {r["searches"]:>8} {c["upstream_calls_per_search"]:>8.3f} {c["cache_hits"]:>7} '
      f'{c["coalesced"]:>9} {r["errors"]:>6} {r["time_to_complete"]["p50_ms"]:>8.1f} '
      f'{r["time_to_complete"]["p99_ms"]:>8.1f} {cpu_us:>10.1f}')
PY
    kill $server; wait $server 2>/dev/null || true
  done
done
