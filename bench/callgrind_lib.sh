# Sourced by the callgrind scripts: the valgrind command line (nothing
# counted until `callgrind_control -i on`), where profiles go, a
# temporary directory for logs ($work) removed on exit with every process
# the script started ($vpid, $redis, $providers, $api, whichever it did),
# and the instructions a profile counted in all.
grind=(valgrind --tool=callgrind --instr-atstart=no)
mkdir -p target/profiles
work=$(mktemp -d)
trap 'kill ${vpid:-} ${redis:-} ${providers:-} ${api:-} 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

# Exits, saying which variables to set, when something already answers on
# the Redis port $rport or on the HTTP port $1 (if given): it would be
# measured instead.
refuse_busy_ports() {
  if redis-cli -p "$rport" ping >/dev/null 2>&1 ||
    { [ -n "${1:-}" ] && curl -s "http://127.0.0.1:$1/" >/dev/null 2>&1; }; then
    echo "port $rport${1:+ or $1} is in use: set REDIS_PORT${1:+ and PORT}" >&2
    exit 1
  fi
}

# Instructions in all of the callgrind profile $1.
program_total() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' | head -1
}

# Starts redis-server under callgrind on $rport, without persistence, in
# the directory $work, writing its profile to $1; sets $redis to its pid
# and returns once it answers.
grind_redis() {
  "${grind[@]}" --callgrind-out-file="$1" redis-server --port "$rport" --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  redis=$!
  for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
