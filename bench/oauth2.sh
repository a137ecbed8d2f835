#!/usr/bin/env bash
# An OAuth2 airline under load: serves bench/providers/oauth2_50ms (one
# upstream airline behind client credentials, whose API answers in a fixed
# 50 ms through the simulated API's token endpoint and v2 route), runs
# `airstream loadtest` at RATE searches/s for SECONDS with tokens that last
# LIFETIME, and prints the time to complete and the token requests made,
# beside the number one per token lifetime gives (a token is renewed a
# tenth of its life, at most a minute, before it expires). Every search
# asks the airline live (`--no-cache`): the call is measured, not the cache.
#
#   bench/oauth2.sh [RATE] [SECONDS] [LIFETIME_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-300} secs=${2:-30} life=${3:-10} port=${PORT:-3725}
cargo build --release --quiet
bin=./target/release/airstream
report=$(mktemp)
AIRSTREAM_LISTEN=127.0.0.1:$port AIRSTREAM_PROVIDERS_DIR=bench/providers/oauth2_50ms \
  AIRSTREAM_SIM__TOKEN_LIFETIME=${life}s AIRSTREAM_LOG__FILTER=warn $bin serve &
server=$!
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null; rm -f "$report"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
start=$(date +%s.%N)
$bin loadtest --url "http://127.0.0.1:$port" -n $((rate * secs)) --rate "$rate" -c 2000 --no-cache >"$report"
took=$(echo "$(date +%s.%N) - $start" | bc)
tokens=$(curl -s "http://127.0.0.1:$port/metrics" |
  awk '/^airstream_upstream_token_requests_total\{/ { n += $NF } END { print n + 0 }')
# Renewed at life - min(life/10, 60 s): one token per that span, and the first.
expected=$(python3 -c "import math; l=$life; s=l-min(l/10,60); print(math.floor($took/s)+1)")
grep -E "searches|throughput|complete|errors" "$report"
echo "token requests: $tokens over ${took%.*} s with ${life} s tokens (one per lifetime: $expected)"
