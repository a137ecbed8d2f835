#!/usr/bin/env bash
# Recovery from a crashed providers process: a fresh redis-server, one `api`
# and two `providers` processes on the given provider set (default
# bench/providers/fixed_50ms), `airstream loadtest` at a steady rate, and SIGKILL of
# one providers process in the middle of the run. Every search in flight in
# the killed process waits until a live process claims it (the claim idle
# time, never less than the airline's timeout plus one second), so the
# slowest search of the run bounds the time from the SIGKILL to the last of
# them completing. Prints the run's outcome, the slowest search and the
# pending entries left per group.
#
#   bench/kill_recovery.sh [PROVIDERS_DIR] [RATE] [SECONDS] [CLAIM_IDLE]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/fixed_50ms} rate=${2:-300} secs=${3:-20} claim=${4:-1s}
rport=${REDIS_PORT:-6392} port=${PORT:-3710}
. bench/redis_lib.sh
export AIRSTREAM_REDIS_URL=redis://127.0.0.1:$rport AIRSTREAM_PROVIDERS_DIR=$dir \
  AIRSTREAM_LOG__FILTER=warn AIRSTREAM_REDIS__CLAIM_IDLE=$claim
AIRSTREAM_LISTEN=127.0.0.1:$((port + 1)) $bin serve --role providers &
victim=$!
pids+=($victim)
AIRSTREAM_LISTEN=127.0.0.1:$((port + 2)) $bin serve --role providers &
pids+=($!)
AIRSTREAM_LISTEN=127.0.0.1:$port $bin serve --role api &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
$bin loadtest --url "http://127.0.0.1:$port" -n $((rate * secs)) --rate "$rate" -c 5000 \
  --timeout-ms 20000 --json >"$work/report.json" &
load=$!
sleep $((secs / 2))
kill -KILL "$victim"
echo "SIGKILL sent to providers process $victim at $(date +%T.%3N), $((secs / 2)) s into the run"
wait "$load"
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["time_to_complete"]
print(f"{r['searches']} searches: {r['completed']} completed, {r['partial']} partial, "
      f"{r['errors']} errors; time to complete p50 {c['p50_ms']:.1f} ms, "
      f"p99 {c['p99_ms']:.1f} ms, max {c['max_ms']:.1f} ms")
PY
for group in $(redis-cli -p "$rport" xinfo groups flight.search.requested | awk 'NR % 12 == 2'); do
  echo "pending in $group: $(redis-cli -p "$rport" xpending flight.search.requested "$group" | head -1)"
done
echo "pending in aggregator: $(redis-cli -p "$rport" xpending flight.search.results aggregator | head -1)"
