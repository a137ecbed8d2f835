#!/usr/bin/env bash
# The Redis benchmark of the split deployment: a fresh redis-server, one
# `providers` and one `api` process on the given provider set (default
# bench/providers/zero_latency), then `airstream loadtest` several rounds. Prints each
# round's throughput, the Redis commands issued per search (INFO
# commandstats before and after) and redis-benchmark's XADD rate on the same
# server, so the figure reads as a fraction of what this Redis can do.
#
#   bench/redis_split.sh [PROVIDERS_DIR] [ROUNDS] [SEARCHES] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/zero_latency} rounds=${2:-3} n=${3:-20000} c=${4:-64}
rport=${REDIS_PORT:-6391} port=${PORT:-3700}
. bench/redis_lib.sh
export AIRSTREAM_REDIS_URL=redis://127.0.0.1:$rport AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn
AIRSTREAM_LISTEN=127.0.0.1:$((port + 1)) $bin serve --role providers &
pids+=($!)
AIRSTREAM_LISTEN=127.0.0.1:$port $bin serve --role api &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port
$bin loadtest --url "$url" -n 3000 -c "$c" >/dev/null
# Each command's calls and microseconds (those a script runs count in the
# script's time too).
calls() { redis-cli -p "$rport" info commandstats | awk -F'[:=,]' '/^cmdstat_/ {sub("cmdstat_", "", $1); print $1, $3, $5}'; }
calls >"$work/before"
# User and system ticks of each process, in the order of pids.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
cpu() { for p in "${pids[@]}"; do ticks "$p"; done | paste -sd' '; }
hz=$(getconf CLK_TCK)
cpu_before=$(cpu)
# Pending entries over every group, sampled while the load runs.
pending() {
  for g in $(redis-cli -p "$rport" xinfo groups flight.search.requested | awk 'NR % 12 == 2'); do
    redis-cli -p "$rport" xpending flight.search.requested "$g" | head -1
  done
  redis-cli -p "$rport" xpending flight.search.results aggregator | head -1
}
( while sleep 0.5; do pending | paste -sd+ | bc; done >"$work/pending" ) &
sampler=$!
for round in $(seq "$rounds"); do
  out=$($bin loadtest --url "$url" -n "$n" -c "$c" --json)
  python3 - "$out" "$round" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"round {sys.argv[2]}: {r['searches_per_sec']:.0f} searches/s, errors {r['errors']}, "
      f"complete p50 {r['time_to_complete']['p50_ms']:.1f} ms p99 {r['time_to_complete']['p99_ms']:.1f} ms")
PY
done
kill $sampler
echo "pending entries over all groups while loaded: max $(sort -n "$work/pending" | tail -1) in $(wc -l <"$work/pending") samples; after: $(pending | paste -sd+ | bc)"
calls >"$work/after"; redis-cli -p "$rport" info commandstats > /tmp/cmdstats.txt
python3 - "$cpu_before" "$(cpu)" "$hz" "$((n * rounds))" <<'PY'
import sys
b = [float(x) for x in sys.argv[1].split()]
a = [float(x) for x in sys.argv[2].split()]
hz, n = float(sys.argv[3]), int(sys.argv[4])
us = [(y - x) / hz / n * 1e6 for x, y in zip(b, a)]
names = ["redis-server", "providers", "api"]
print("CPU per search: " + ", ".join(
    f"{name} {us[2 * i] + us[2 * i + 1]:.0f} us (user {us[2 * i]:.0f}, system {us[2 * i + 1]:.0f})"
    for i, name in enumerate(names)))
PY
python3 - "$work/before" "$work/after" "$((n * rounds))" <<'PY'
import sys
def read(p, col):
    return {l.split()[0]: int(l.split()[col]) for l in open(p)}
n = int(sys.argv[3])
def per_search(col):
    b, a = read(sys.argv[1], col), read(sys.argv[2], col)
    d = {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0) > 0}
    d.pop("info", None)
    return ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])), sum(d.values()) / n
listed, total = per_search(1)
print(f"Redis commands per search: {total:.2f} ({listed})")
listed, _ = per_search(2)
print(f"Redis microseconds per search by command, a script's commands also in its own: {listed}")
PY
redis-benchmark -p "$rport" -n 200000 -c 50 -q xadd bench-stream '*' data 0123456789 | tr '\r' '\n' | grep -i 'xadd' | tail -1
