#!/usr/bin/env bash
# One Redis beside a Redis Cluster, in one run: one `providers` and one `api`
# process on the given provider set, first on a fresh single redis-server,
# then on a fresh cluster of 3 masters (no replicas, `redis.partitions` 3),
# then (when OLD_BIN names one) the previous binary on a fresh single
# redis-server; rounds alternate between the three. For each: searches/s
# (`airstream loadtest`), Redis CPU per search (every redis-server of the
# setup) and command executions per search (INFO commandstats, scripts'
# inner calls included, summed over the masters).
#
#   bench/redis_cluster.sh [PROVIDERS_DIR] [ROUNDS] [SEARCHES] [CONCURRENCY]
#   OLD_BIN=/tmp/old/target/release/airstream bench/redis_cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/zero_latency} rounds=${2:-2} n=${3:-20000} c=${4:-64}
base=${REDIS_PORT:-6400} port=${PORT:-3720}
cargo build --release --quiet
new=./target/release/airstream old=${OLD_BIN:-}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

# start_redis PORT [cluster]: a redis-server without persistence.
start_redis() {
  mkdir -p "$work/$1"
  local extra=()
  [ "${2:-}" = cluster ] && extra=(--cluster-enabled yes --cluster-config-file nodes.conf)
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/$1" \
    "${extra[@]}" >"$work/$1.log" &
  pids+=($!)
  echo $! >"$work/$1.pid"
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# Ports: single for the new binary, three cluster masters, single for the old.
single=$base m1=$((base + 1)) m2=$((base + 2)) m3=$((base + 3)) oldp=$((base + 4))
start_redis "$single"
for p in $m1 $m2 $m3; do start_redis "$p" cluster; done
redis-cli --cluster create 127.0.0.1:$m1 127.0.0.1:$m2 127.0.0.1:$m3 --cluster-yes >/dev/null
for _ in $(seq 100); do
  ok=1
  for p in $m1 $m2 $m3; do redis-cli -p $p cluster info | grep -q cluster_state:ok || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.1
done
[ -n "$old" ] && start_redis "$oldp"

# serve NAME BIN URL PARTITIONS HTTP_PORT: one providers and one api process
# (PARTITIONS 0: the setting is not given, for a binary that predates it.)
serve() {
  local name=$1 bin=$2 url=$3 parts=$4 http=$5
  local env=(AIRSTREAM_REDIS_URL=$url AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn)
  [ "$parts" != 0 ] && env+=(AIRSTREAM_REDIS__PARTITIONS=$parts)
  env "${env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$((http + 1)) \
    "$bin" serve --role providers >"$work/$name-providers.log" 2>&1 &
  pids+=($!)
  env "${env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$http \
    "$bin" serve --role api >"$work/$name-api.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
}
serve single "$new" "redis://127.0.0.1:$single" 1 "$port"
serve cluster "$new" "redis://127.0.0.1:$m1,redis://127.0.0.1:$m2,redis://127.0.0.1:$m3" 3 $((port + 10))
setups="single cluster"
if [ -n "$old" ]; then
  serve old "$old" "redis://127.0.0.1:$oldp" 0 $((port + 20))
  setups="single cluster old"
fi

# Per setup: its HTTP port and its redis-server ports (masters).
http_of() { case $1 in single) echo "$port" ;; cluster) echo $((port + 10)) ;; old) echo $((port + 20)) ;; esac; }
redis_of() { case $1 in single) echo "$single" ;; cluster) echo "$m1 $m2 $m3" ;; old) echo "$oldp" ;; esac; }
calls() { for p in $(redis_of "$1"); do redis-cli -p "$p" info commandstats; done |
  awk -F'[:=,]' '/^cmdstat_/ {sub("cmdstat_", "", $1); s[$1] += $3} END {for (k in s) print k, s[k]}'; }
ticks() { for p in $(redis_of "$1"); do awk '{print $14 + $15}' "/proc/$(cat "$work/$p.pid")/stat"; done | paste -sd+ | bc; }
hz=$(getconf CLK_TCK)

for s in $setups; do
  "$new" loadtest --url "http://127.0.0.1:$(http_of "$s")" -n 3000 -c "$c" >/dev/null
done
for round in $(seq "$rounds"); do
  for s in $setups; do
    calls "$s" >"$work/before"
    t0=$(ticks "$s")
    out=$("$new" loadtest --url "http://127.0.0.1:$(http_of "$s")" -n "$n" -c "$c" --json)
    t1=$(ticks "$s")
    calls "$s" >"$work/after"
    python3 - "$s" "$round" "$out" "$work/before" "$work/after" "$t0" "$t1" "$hz" "$n" <<'PY'
import json, sys
setup, rnd, out, before, after, t0, t1, hz, n = sys.argv[1:]
r = json.loads(out)
def read(p):
    return {k: int(v) for k, v in (l.split() for l in open(p))}
b, a, n = read(before), read(after), int(n)
d = {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0) > 0}
for k in ("info", "cluster|slots", "cluster|info", "ping"):
    d.pop(k, None)
total = sum(d.values())
cpu = (float(t1) - float(t0)) / float(hz) / n * 1e6
top = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v / n >= 0.005)
print(f"round {rnd} {setup:7}: {r['searches_per_sec']:.0f} searches/s, errors {r['errors']}, "
      f"p99 {r['time_to_complete']['p99_ms']:.1f} ms, Redis CPU {cpu:.0f} us/search, "
      f"{total / n:.2f} commands/search ({top})")
PY
  done
done
