#!/usr/bin/env bash
# Runs the throughput benchmark: a release server on the given provider set
# (default bench/providers/zero_latency) and `airstream loadtest` against it, several
# rounds, printing each round's throughput and the CPU time per search spent
# by the server and by the load generator.
#
#   bench/throughput.sh [PROVIDERS_DIR] [ROUNDS] [SEARCHES] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/zero_latency} rounds=${2:-3} n=${3:-30000} c=${4:-64}
port=${PORT:-3700}
cargo build --release --quiet
bin=./target/release/airstream
AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn $bin serve &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# One warm-up round, not reported.
$bin loadtest --url "http://127.0.0.1:$port" -n 5000 -c "$c" >/dev/null
for round in $(seq "$rounds"); do
  before=$(ticks $server)
  out=$(/usr/bin/time -f "%U %S" -o /tmp/airstream-lt-time $bin loadtest --url "http://127.0.0.1:$port" -n "$n" -c "$c" --json)
  after=$(ticks $server)
  read -r cu cs < /tmp/airstream-lt-time
  python3 - "$out" "$before" "$after" "$hz" "$cu" "$cs" "$n" "$round" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); before, after, hz = map(float, sys.argv[2:5])
cu, cs, n, rnd = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
server_us = (after - before) / hz / n * 1e6
client_us = (cu + cs) / n * 1e6
print(f"round {rnd}: {r['searches_per_sec']:.0f} searches/s, errors {r['errors']}, "
      f"complete p50 {r['time_to_complete']['p50_ms']:.1f} ms p99 {r['time_to_complete']['p99_ms']:.1f} ms, "
      f"CPU per search: server {server_us:.0f} us, load generator {client_us:.0f} us")
PY
done
