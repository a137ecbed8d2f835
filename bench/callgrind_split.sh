#!/usr/bin/env bash
# Instructions per search on Redis, counted by callgrind: a fresh
# redis-server, one `providers` and one `api` process (BIN, default
# target/release/airstream), all three under valgrind on PROVIDERS_DIR
# (default five zero-latency airlines); 300 warm-up searches
# uninstrumented, then SEARCHES (default 2000) with instrumentation on, 8
# in flight. Prints each process's instructions per search and where its
# profile is; read one with `callgrind_annotate [--inclusive=yes] FILE`.
# Repeatable where the split's timings are not, for comparing two builds.
#
#   bench/callgrind_split.sh [BIN] [SEARCHES] [PROVIDERS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/airstream} n=${2:-2000} dir=${3:-bench/providers/zero_latency}
port=${PORT:-3760} rport=${REDIS_PORT:-6398}
load=target/release/airstream
[ -x "$load" ] || cargo build --release --quiet --bin airstream
source bench/callgrind_lib.sh
refuse_busy_ports "$port"
out=target/profiles/split.$(date +%s)-$$
grind_redis "$out.redis"
export AIRSTREAM_REDIS_URL=redis://127.0.0.1:$rport AIRSTREAM_PROVIDERS_DIR=$dir AIRSTREAM_LOG__FILTER=warn
AIRSTREAM_LISTEN=127.0.0.1:$((port + 1)) "${grind[@]}" --callgrind-out-file="$out.providers" "$bin" serve --role providers >"$work/providers.log" 2>&1 &
providers=$!
AIRSTREAM_LISTEN=127.0.0.1:$port "${grind[@]}" --callgrind-out-file="$out.api" "$bin" serve --role api >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
$load loadtest --url "http://127.0.0.1:$port" -n 300 -c 8 >/dev/null
for p in $redis $providers $api; do callgrind_control -i on "$p" >/dev/null; done
$load loadtest --url "http://127.0.0.1:$port" -n "$n" -c 8 >/dev/null
for p in $redis $providers $api; do callgrind_control -i off "$p" >/dev/null; done
# Each profile is written as its process exits.
kill $api $providers $redis
wait $api $providers $redis 2>/dev/null || true
for name in redis providers api; do
  total=$(program_total "$out.$name")
  echo "$name: $((total / n)) instructions per search ($n searches); profile: $out.$name"
done
