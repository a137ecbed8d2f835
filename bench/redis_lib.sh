# Sourced by the Redis benchmarks: builds the release binary and starts a
# fresh redis-server on $rport without persistence, in a temporary
# directory ($work) that goes away on exit with every process in $pids.
cargo build --release --quiet
bin=./target/release/airstream
work=$(mktemp -d)
redis-server --port "$rport" --save "" --appendonly no --dir "$work" >"$work/redis.log" &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
