#!/usr/bin/env bash
# airstream beside its floor, in one run: a release airstream on the given
# provider set (embedded bus), and bench/floor (the same HTTP stack
# answering the same two exchanges with bytes recorded from that airstream,
# doing no work), driven by the same `airstream loadtest` at the same
# concurrency, in alternating rounds. Prints each round's searches/s, the
# CPU per search of each server, and the ratio airstream / floor.
#
# With redis-server on the PATH (REDIS=0 turns it off), a third contestant
# runs the same rounds: one `api` and one `providers` process on a fresh
# Redis, printed as a ratio to the embedded figure of the same round.
#
# With PREVIOUS=<binary>, that binary (an earlier build of airstream) runs
# the same rounds on the same airlines, and each round prints its ratio to
# the floor and airstream's ratio to it: a change's effect, measured in one
# run. With Redis too, the previous binary's `api` and `providers` run on a
# Redis of their own in the same rounds, and each round prints airstream
# on Redis / the previous binary on Redis.
#
# SPLIT_ENV adds settings to airstream's `api` and `providers` processes
# on Redis (not the previous binary's), such as
# SPLIT_ENV=AIRSTREAM_WORKER_THREADS=1; with PREVIOUS set to the same
# binary, one run compares the two.
#
# Then idle memory: a fresh airstream on `bench/providers/slow` (whose
# airline answers after 25 s) and a fresh floor with `--idle` each hold
# IDLE_STREAMS idle SSE streams, each on its own search
# (`bench/idle_sse.py`); prints the resident memory per connection of
# each and their ratio. IDLE_STREAMS 0 skips it.
#
#   bench/floor.sh [PROVIDERS_DIR] [ROUNDS] [SEARCHES] [CONCURRENCY] [IDLE_STREAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/zero_latency} rounds=${2:-3} n=${3:-20000} c=${4:-64} idle=${5:-10000}
port=${PORT:-3730} fport=$((${PORT:-3730} + 1))
# Every process started here may hold an idle stream per connection.
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bin airstream --bin floor
bin=./target/release/airstream
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn $bin serve &
pids+=($!)
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

# One real search, recorded: its 202 envelope and its whole stream.
date=$(date -u -d '+14 days' +%F)
curl -sf "http://127.0.0.1:$port/api/flights/search" -H 'content-type: application/json' \
  -d '{"from":"CGK","to":"DPS","date":"'"$date"'","passengers":1}' >"$work/post.json"
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["search_id"])' "$work/post.json")
curl -sfN "http://127.0.0.1:$port/api/flights/search/$sid/stream" >"$work/stream.sse"
./target/release/floor --listen "127.0.0.1:$fport" --post "$work/post.json" --stream "$work/stream.sse" >/dev/null &
pids+=($!)
floor=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$fport/healthz" >/dev/null && break; sleep 0.1; done
redis=${REDIS:-1}
command -v redis-server >/dev/null || redis=0
if [ "$redis" = 1 ]; then
  rport=$((port + 10)) aport=$((port + 4))
  redis-server --port "$rport" --save "" --appendonly no --dir "$work" >"$work/redis.log" &
  pids+=($!)
  rserver=$!
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  read -r -a split_env <<<"${SPLIT_ENV:-}"
  redis_env=(AIRSTREAM_REDIS_URL=redis://127.0.0.1:$rport AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn "${split_env[@]}")
  env "${redis_env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$((port + 5)) $bin serve --role providers &
  pids+=($!)
  providers=$!
  env "${redis_env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$aport $bin serve --role api &
  pids+=($!)
  api=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$aport/readyz" >/dev/null && break; sleep 0.1; done
fi
previous=${PREVIOUS:-}
if [ -n "$previous" ]; then
  pport=$((port + 6))
  AIRSTREAM_LISTEN=127.0.0.1:$pport AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn "$previous" serve &
  pids+=($!)
  pserver=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$pport/readyz" >/dev/null && break; sleep 0.1; done
  if [ "$redis" = 1 ]; then
    prport=$((rport + 1)) paport=$((port + 7))
    mkdir "$work/previous"
    redis-server --port "$prport" --save "" --appendonly no --dir "$work/previous" >"$work/previous/redis.log" &
    pids+=($!)
    prserver=$!
    for _ in $(seq 50); do redis-cli -p "$prport" ping >/dev/null 2>&1 && break; sleep 0.1; done
    previous_env=(AIRSTREAM_REDIS_URL=redis://127.0.0.1:$prport AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn)
    env "${previous_env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$((port + 8)) "$previous" serve --role providers &
    pids+=($!)
    pproviders=$!
    env "${previous_env[@]}" AIRSTREAM_LISTEN=127.0.0.1:$paport "$previous" serve --role api &
    pids+=($!)
    papi=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$paport/readyz" >/dev/null && break; sleep 0.1; done
  fi
fi
echo "recorded: $(wc -c <"$work/post.json") bytes of envelope, $(wc -c <"$work/stream.sse") bytes of stream ($(grep -c '^event:' "$work/stream.sse") events)"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run PORT PID...: one round of the load generator against the server on
# PORT; prints searches/s, the CPU µs per search of the processes PID...
# together (one server, or api + providers + redis-server), errors and p99.
run() {
  local port=$1 before=0 after=0 out p
  shift
  for p in "$@"; do before=$((before + $(ticks "$p"))); done
  out=$($bin loadtest --url "http://127.0.0.1:$port" -n "$n" -c "$c" --json)
  for p in "$@"; do after=$((after + $(ticks "$p"))); done
  python3 - "$out" "$before" "$after" "$hz" "$n" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); before, after, hz, n = map(float, sys.argv[2:6])
print(f"{r['searches_per_sec']:.0f} {(after - before) / hz / n * 1e6:.0f} {r['errors']} {r['time_to_complete']['p99_ms']:.1f}")
PY
}
# Warm-up, not reported.
$bin loadtest --url "http://127.0.0.1:$port" -n 3000 -c "$c" >/dev/null
$bin loadtest --url "http://127.0.0.1:$fport" -n 3000 -c "$c" >/dev/null
[ "$redis" = 1 ] && $bin loadtest --url "http://127.0.0.1:$aport" -n 3000 -c "$c" >/dev/null
[ -n "$previous" ] && $bin loadtest --url "http://127.0.0.1:$pport" -n 3000 -c "$c" >/dev/null
[ -n "$previous" ] && [ "$redis" = 1 ] && $bin loadtest --url "http://127.0.0.1:$paport" -n 3000 -c "$c" >/dev/null
ratios=() redis_ratios=() previous_ratios=() redis_previous_ratios=()
for round in $(seq "$rounds"); do
  read -r a_rate a_cpu a_err a_p99 < <(run "$port" "$server")
  read -r f_rate f_cpu f_err f_p99 < <(run "$fport" "$floor")
  python3 -c 'import sys; a,f=float(sys.argv[1]),float(sys.argv[2]); print(f"round {sys.argv[3]}: airstream {a:.0f} searches/s ({sys.argv[4]} us CPU/search, errors {sys.argv[6]}, p99 {sys.argv[8]} ms), floor {f:.0f} searches/s ({sys.argv[5]} us CPU/search, errors {sys.argv[7]}, p99 {sys.argv[9]} ms), ratio {a/f:.2f}")' \
    "$a_rate" "$f_rate" "$round" "$a_cpu" "$f_cpu" "$a_err" "$f_err" "$a_p99" "$f_p99"
  ratios+=("$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$a_rate" "$f_rate")")
  if [ -n "$previous" ]; then
    read -r p_rate p_cpu p_err p_p99 < <(run "$pport" "$pserver")
    python3 -c 'import sys; p,a,f=map(float,sys.argv[1:4]); print(f"round {sys.argv[4]}: previous binary {p:.0f} searches/s ({sys.argv[5]} us CPU/search, errors {sys.argv[6]}), ratio to the floor {p/f:.2f}; airstream / previous {a/p:.2f}")' \
      "$p_rate" "$a_rate" "$f_rate" "$round" "$p_cpu" "$p_err"
    previous_ratios+=("$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$a_rate" "$p_rate")")
  fi
  if [ "$redis" = 1 ]; then
    # The server's CPU here is the three processes' together.
    read -r r_rate r_cpu r_err r_p99 < <(run "$aport" "$api" "$providers" "$rserver")
    python3 -c 'import sys; r,a=map(float,sys.argv[1:3]); print(f"round {sys.argv[3]}: on Redis (api + providers + redis-server) {r:.0f} searches/s ({sys.argv[4]} us CPU/search, errors {sys.argv[5]}, p99 {sys.argv[6]} ms), ratio to embedded {r/a:.2f}")' \
      "$r_rate" "$a_rate" "$round" "$r_cpu" "$r_err" "$r_p99"
    redis_ratios+=("$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$r_rate" "$a_rate")")
    if [ -n "$previous" ]; then
      read -r q_rate q_cpu q_err q_p99 < <(run "$paport" "$papi" "$pproviders" "$prserver")
      python3 -c 'import sys; q,r=map(float,sys.argv[1:3]); print(f"round {sys.argv[3]}: previous binary on Redis {q:.0f} searches/s ({sys.argv[4]} us CPU/search, errors {sys.argv[5]}, p99 {sys.argv[6]} ms); airstream on Redis / previous on Redis {r/q:.2f}")' \
        "$q_rate" "$r_rate" "$round" "$q_cpu" "$q_err" "$q_p99"
      redis_previous_ratios+=("$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$r_rate" "$q_rate")")
    fi
  fi
done
python3 -c 'import statistics, sys; r=sorted(map(float, sys.argv[1:])); print(f"throughput ratio airstream/floor: median {statistics.median(r):.2f} (rounds {min(r):.2f} to {max(r):.2f}; goal at least 0.5)")' "${ratios[@]}"
if [ -n "$previous" ]; then
  python3 -c 'import statistics, sys; r=sorted(map(float, sys.argv[1:])); print(f"throughput ratio airstream/previous binary: median {statistics.median(r):.2f} (rounds {min(r):.2f} to {max(r):.2f})")' "${previous_ratios[@]}"
  kill "$pserver"
fi
if [ "$redis" = 1 ]; then
  python3 -c 'import statistics, sys; r=sorted(map(float, sys.argv[1:])); print(f"throughput ratio Redis/embedded: median {statistics.median(r):.2f} (rounds {min(r):.2f} to {max(r):.2f}; goal at least 0.5)")' "${redis_ratios[@]}"
  if [ -n "$previous" ]; then
    python3 -c 'import statistics, sys; r=sorted(map(float, sys.argv[1:])); print(f"throughput ratio on Redis, airstream/previous binary: median {statistics.median(r):.2f} (rounds {min(r):.2f} to {max(r):.2f})")' "${redis_previous_ratios[@]}"
    kill "$papi" "$pproviders" "$prserver"
  fi
  kill "$api" "$providers" "$rserver"
fi
kill "$server" "$floor"
wait "$server" "$floor" 2>/dev/null || true
[ "$idle" -gt 0 ] || exit 0

# Idle memory: fresh processes, so neither carries the load above.
iport=$((port + 2)) ifport=$((port + 3))
AIRSTREAM_LISTEN=127.0.0.1:$iport AIRSTREAM_PROVIDERS_DIR=bench/providers/slow AIRSTREAM_LOG__FILTER=warn \
  AIRSTREAM_SEARCH__MAX_TIMEOUT=60s AIRSTREAM_ACCESS__MAX_IN_FLIGHT=$((idle + 1000)) $bin serve &
pids+=($!)
iserver=$!
./target/release/floor --listen "127.0.0.1:$ifport" --post "$work/post.json" --stream "$work/stream.sse" --idle >/dev/null &
pids+=($!)
ifloor=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$iport/readyz" >/dev/null && curl -sf "http://127.0.0.1:$ifport/healthz" >/dev/null && break; sleep 0.1; done
a_idle=$(python3 bench/idle_sse.py --port "$iport" --connections "$idle" --pid "$iserver")
f_idle=$(python3 bench/idle_sse.py --port "$ifport" --connections "$idle" --pid "$ifloor")
python3 - "$a_idle" "$f_idle" <<'PY'
import json, sys
a, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name, r in (("airstream", a), ("floor", f)):
    print(f"idle: {name} {r['connections']} streams, each on its own search: RSS {r['rss_before_mib']} -> {r['rss_with_idle_streams_mib']} MiB, {r['per_connection_kib']} KiB per connection")
print(f"idle memory ratio airstream/floor: {a['per_connection_kib'] / f['per_connection_kib']:.2f} (goal at most 1; airstream in all {a['rss_with_idle_streams_mib']} MiB, goal under 200)")
PY
