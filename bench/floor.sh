#!/usr/bin/env bash
# airstream beside its floor, in one run: a release airstream on the given
# provider set (embedded bus), and bench/floor (the same HTTP stack
# answering the same two exchanges with bytes recorded from that airstream,
# doing no work), driven by the same `airstream loadtest` at the same
# concurrency, in alternating rounds. Prints each round's searches/s, the
# CPU per search of each server, and the ratio airstream / floor.
#
#   bench/floor.sh [PROVIDERS_DIR] [ROUNDS] [SEARCHES] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench/providers/zero_latency} rounds=${2:-3} n=${3:-20000} c=${4:-64}
port=${PORT:-3730} fport=$((${PORT:-3730} + 1))
cargo build --release --quiet --bin airstream --bin floor
bin=./target/release/airstream
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
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
echo "recorded: $(wc -c <"$work/post.json") bytes of envelope, $(wc -c <"$work/stream.sse") bytes of stream ($(grep -c '^event:' "$work/stream.sse") events)"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run NAME PORT PID: one round of the load generator; prints searches/s and
# CPU µs per search of the server.
run() {
  local before after out
  before=$(ticks "$3")
  out=$($bin loadtest --url "http://127.0.0.1:$2" -n "$n" -c "$c" --json)
  after=$(ticks "$3")
  python3 - "$out" "$before" "$after" "$hz" "$n" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); before, after, hz, n = map(float, sys.argv[2:6])
print(f"{r['searches_per_sec']:.0f} {(after - before) / hz / n * 1e6:.0f} {r['errors']} {r['time_to_complete']['p99_ms']:.1f}")
PY
}
# Warm-up, not reported.
$bin loadtest --url "http://127.0.0.1:$port" -n 3000 -c "$c" >/dev/null
$bin loadtest --url "http://127.0.0.1:$fport" -n 3000 -c "$c" >/dev/null
for round in $(seq "$rounds"); do
  read -r a_rate a_cpu a_err a_p99 < <(run airstream "$port" "$server")
  read -r f_rate f_cpu f_err f_p99 < <(run floor "$fport" "$floor")
  python3 -c 'import sys; a,f=float(sys.argv[1]),float(sys.argv[2]); print(f"round {sys.argv[3]}: airstream {a:.0f} searches/s ({sys.argv[4]} us CPU/search, errors {sys.argv[6]}, p99 {sys.argv[8]} ms), floor {f:.0f} searches/s ({sys.argv[5]} us CPU/search, errors {sys.argv[7]}, p99 {sys.argv[9]} ms), ratio {a/f:.2f}")' \
    "$a_rate" "$f_rate" "$round" "$a_cpu" "$f_cpu" "$a_err" "$f_err" "$a_p99" "$f_p99"
done
