#!/usr/bin/env bash
# Instructions per search, counted by callgrind, which repeats on a noisy
# machine where timings do not: a release server (BIN, default
# target/release/airstream) under valgrind on PROVIDERS_DIR (default five
# zero-latency airlines), 300 warm-up searches uninstrumented, then SEARCHES
# (default 2000) with instrumentation on, 8 in flight. Prints the
# server's user-space instructions per search and where the profile is;
# read it with `callgrind_annotate [--inclusive=yes] FILE`.
#
#   bench/callgrind.sh [BIN] [SEARCHES] [PROVIDERS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/airstream} n=${2:-2000} dir=${3:-bench/providers/zero_latency}
port=${PORT:-3750}
source bench/callgrind_lib.sh
out=target/profiles/callgrind.$(date +%s)-$$
load=target/release/airstream
[ -x "$load" ] || cargo build --release --quiet --bin airstream
AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn \
  "${grind[@]}" --callgrind-out-file="$out" "$bin" serve >"$out.log" 2>&1 &
vpid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
$load loadtest --url "http://127.0.0.1:$port" -n 300 -c 8 >/dev/null
callgrind_control -i on "$vpid" >/dev/null
$load loadtest --url "http://127.0.0.1:$port" -n "$n" -c 8 >/dev/null
callgrind_control -i off "$vpid" >/dev/null
callgrind_control -d "$vpid" >/dev/null
total=$(program_total "$out.1")
echo "$((total / n)) instructions per search ($n searches); profile: $out.1"
