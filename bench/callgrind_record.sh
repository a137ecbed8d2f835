#!/usr/bin/env bash
# Instructions the record script costs Redis, counted by callgrind: a
# fresh redis-server under valgrind, driven by bench/record_script.py (two
# batches of answers a search, five airlines, each staged by HSET before
# its EVALSHA); 200 warm-up searches uninstrumented, then SEARCHES. Prints
# Redis's instructions per search in all and inside EVALSHA. SCRIPT is a
# record.lua to try instead of the repository's (common.lua goes first
# either way), so a change to the script is measured without a build.
#
#   bench/callgrind_record.sh [SEARCHES] [SCRIPT]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000} script=${2:-}
rport=${REDIS_PORT:-6405}
source bench/callgrind_lib.sh
refuse_busy_ports
out=target/profiles/record.$(date +%s)-$$
grind_redis "$out"
drive=(python3 bench/record_script.py --port "$rport")
[ -n "$script" ] && drive+=(--script "$script")
"${drive[@]}" --searches 200 >/dev/null
redis-cli -p "$rport" flushall >/dev/null
callgrind_control -i on "$redis" >/dev/null
"${drive[@]}" --searches "$n"
callgrind_control -i off "$redis" >/dev/null
kill $redis
wait $redis 2>/dev/null || true
total=$(program_total "$out")
script_total=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '/evalShaCommand/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "redis: $((total / n)) instructions per search, of which EVALSHA $((script_total / n)) ($n searches); profile: $out"
