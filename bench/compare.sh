#!/usr/bin/env bash
# Compares two airstream binaries in one run, so the machine's drift from
# day to day cancels out: throughput on bench/providers/zero_latency, the
# time to complete at a fixed 50 ms per airline and 500 searches/s, and the
# bytes of one search's SSE stream on each binary's own sample airlines.
# One load generator (the NEW binary's `loadtest`) drives both servers;
# the two alternate round by round.
#
#   bench/compare.sh OLD_BIN OLD_SAMPLES NEW_BIN NEW_SAMPLES [ROUNDS]
#
# For example, against the last commit before a change:
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
#   cargo build --release
#   bench/compare.sh /tmp/old/target/release/airstream /tmp/old/providers.d \
#       target/release/airstream providers.d 3
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 old_samples=$2 new=$3 new_samples=$4 rounds=${5:-3}
port=${PORT:-3710}
server=""
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap stop EXIT
start() { # BIN DIR
  AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=$2 AIRSTREAM_LOG__FILTER=error "$1" serve &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "server $1 did not become ready" >&2; exit 1
}
load() { "$new" loadtest --url "http://127.0.0.1:$port" --json "$@"; }
summary() {
  python3 - "$1" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
t = r["time_to_complete"]
print(f"{r['searches_per_sec']:.0f} searches/s, errors {r['errors']}, "
      f"complete p50 {t['p50_ms']:.1f} ms p99 {t['p99_ms']:.1f} ms")
PY
}
date=$(date -u -d '+14 days' +%F)
stream_bytes() { # average bytes of one CGK-DPS search's stream, 20 searches
  python3 - "$port" "$date" <<'PY'
import json, sys, urllib.request
port, date = sys.argv[1], sys.argv[2]
total, offers = 0, 0
for _ in range(20):
    body = json.dumps({"from": "CGK", "to": "DPS", "date": date, "passengers": 1}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/flights/search", body, {"content-type": "application/json"})
    sid = json.load(urllib.request.urlopen(req))["data"]["search_id"]
    data = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/flights/search/{sid}/stream").read()
    total += len(data)
    last = [l for l in data.decode().split("\n") if l.startswith("data: ")][-1]
    offers += json.loads(last[6:])["total_offers"]
print(f"{total / 20:.0f} bytes per search stream, {offers / 20:.1f} offers per search")
PY
}
for round in $(seq "$rounds"); do
  for which in old new; do
    bin=${!which}
    start "$bin" bench/providers/zero_latency
    load -n 5000 -c 64 >/dev/null
    echo "round $round $which zero_latency: $(summary "$(load -n 20000 -c 64)")"
    stop
  done
done
for which in old new; do
  bin=${!which}
  start "$bin" bench/providers/fixed_50ms
  echo "$which fixed_50ms at 500/s: $(summary "$(load -n 10000 --rate 500 -c 1000)")"
  stop
done
for which in old new; do
  bin=${!which} samples_var=${which}_samples
  start "$bin" "${!samples_var}"
  echo "$which samples CGK-DPS: $(stream_bytes)"
  stop
done
