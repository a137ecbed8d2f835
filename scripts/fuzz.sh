#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo-fuzz with libFuzzer) for a given time
# each: `scripts/fuzz.sh TARGET SECONDS`, or `scripts/fuzz.sh all SECONDS`.
# Installs cargo-fuzz where it is missing. Builds without a sanitizer
# (`-s none`), which works on the stable toolchain; the properties the
# targets check are assertions, so a broken one is a crash. New inputs
# that reach new code go to target/fuzz-corpus/<target> (not the committed
# seeds in fuzz/corpus/<target>); crashes go to fuzz/artifacts/<target>.
# See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(provider_file template_values upstream_answer xml_answer search_body last_event_id)
target=${1:-all}
seconds=${2:-60}

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

build_dir="$PWD/target/fuzz"
if [ "$target" = all ]; then
  run=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $target "* ]]; then
  run=("$target")
else
  echo "unknown target '$target'; one of: all ${targets[*]}" >&2
  exit 2
fi

failed=()
for t in "${run[@]}"; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "==> $t for ${seconds}s"
  status=0
  (cd fuzz && cargo fuzz run -s none --target-dir "$build_dir" "$t" \
    "../$corpus" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048) >"target/fuzz-$t.log" 2>&1 || status=$?
  # The last progress line has executions and coverage (cov: edges).
  grep -E '^#[0-9]+' "target/fuzz-$t.log" | tail -1 || true
  grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "target/fuzz-$t.log" || true
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked at|SUMMARY|Test unit written to' "target/fuzz-$t.log" || true
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]} (logs in target/fuzz-<target>.log, inputs in fuzz/artifacts/)" >&2
  exit 1
fi
