#!/usr/bin/env bash
# Searches at a steady rate while every provider file is rewritten again and
# again: no search may fail or hang because of a reload. Copies the given
# provider set (default bench/providers/fixed_50ms) to a temporary directory, serves
# it, runs `airstream loadtest` at RATE searches/s for SECONDS, and rewrites
# every file (temp file + rename, a changed airline name, so every
# definition is replaced) every 0.5 s meanwhile.
#
#   bench/reload_under_load.sh [PROVIDERS_DIR] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-bench/providers/fixed_50ms} rate=${2:-500} secs=${3:-20} port=${PORT:-3720}
cargo build --release --quiet
bin=./target/release/airstream
dir=$(mktemp -d)
cp "$src"/*.yaml "$dir"/
AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn $bin serve &
server=$!
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
$bin loadtest --url "http://127.0.0.1:$port" -n $((rate * secs)) --rate "$rate" -c 2000 >"$dir/report" &
load=$!
rewrites=0
while kill -0 $load 2>/dev/null; do
  for f in "$dir"/*.yaml; do
    sed "s/^name: .*/name: Bench Air (rewrite $rewrites)/" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  done
  rewrites=$((rewrites + 1))
  sleep 0.5
done
wait $load
reloads=$(curl -s "http://127.0.0.1:$port/api/providers" | python3 -c 'import json,sys; print(sorted({p["name"] for p in json.load(sys.stdin)["data"]}))')
echo "every file rewritten $rewrites times during the run; names in force at the end: $reloads"
grep -E "searches|throughput|complete" "$dir/report"
