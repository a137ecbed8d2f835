# Sourced by the callgrind scripts: the valgrind command line (nothing
# counted until `callgrind_control -i on`), where profiles go, and the
# instructions a profile counted in all.
grind=(valgrind --tool=callgrind --instr-atstart=no)
mkdir -p target/profiles

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
