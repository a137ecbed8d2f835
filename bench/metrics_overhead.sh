#!/usr/bin/env bash
# The cost of metrics: the zero-latency throughput benchmark with metrics
# recorded and with `metrics.enabled = false`, alternating in one run (the
# machine's speed drifts, so the two are measured side by side), ROUNDS
# rounds each. Prints each round and the ratio of the medians.
#
#   bench/metrics_overhead.sh [ROUNDS] [SEARCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} n=${2:-20000} port=${PORT:-3730}
cargo build --release --quiet
bin=./target/release/airstream
declare -A results=([true]="" [false]="")
for round in $(seq "$rounds"); do
  for enabled in true false; do
    AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=bench/providers/zero_latency \
      AIRSTREAM_LOG__FILTER=warn AIRSTREAM_METRICS__ENABLED=$enabled $bin serve &
    server=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    $bin loadtest --url "http://127.0.0.1:$port" -n 3000 -c 64 >/dev/null
    rate=$($bin loadtest --url "http://127.0.0.1:$port" -n "$n" -c 64 --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["searches_per_sec"]))')
    kill $server; wait $server 2>/dev/null || true
    echo "round $round, metrics $enabled: $rate searches/s"
    results[$enabled]="${results[$enabled]} $rate"
  done
done
python3 - "${results[true]}" "${results[false]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"median with metrics {m_on:.0f}/s, without {m_off:.0f}/s: metrics cost {100 * (1 - m_on / m_off):.1f}% of throughput")
PY
