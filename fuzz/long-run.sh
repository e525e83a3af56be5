#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (default 10,000,000), one after
# another, each on its own growing corpus (fuzz/corpus/<target>), and prints one line per
# target: executions, seconds, executions per second, crashes. A crash stops that target,
# leaves its input in fuzz/artifacts/<target>/ and makes the script exit 1 at the end.
#
#   bash fuzz/long-run.sh [RUNS] [TARGET...]
#
# The long runs are built without a sanitizer (about twice the executions per second): the
# decoders under test forbid unsafe code, so what a run looks for is panics, hangs and
# unbounded allocations, which libFuzzer catches itself (-rss_limit_mb, -timeout). The short
# runs of `fuzz/build.sh --smoke` keep AddressSanitizer.
#
# Logs go to fuzz/target/long-run/<target>.log. See fuzz/README.md for the last figures.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10000000}"
shift || true
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz build -O --sanitizer none
# The entry target starts from a signed entry of every kind, the transcript target from a
# transcript that verifies (fuzz/examples/seeds.rs).
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
logs=fuzz/target/long-run
mkdir -p "$logs"
failed=0
printf '%-16s %12s %8s %10s %7s\n' target executions seconds 'execs/s' crashes
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  started=$(date +%s)
  crashes=0
  if ! cargo fuzz run "$target" -O --sanitizer none -- -runs="$runs" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    crashes=1
    failed=1
  fi
  seconds=$(( $(date +%s) - started ))
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  executed="${executed:-0}"
  printf '%-16s %12s %8s %10s %7s\n' "$target" "$executed" "$seconds" \
    "$(( executed / (seconds > 0 ? seconds : 1) ))" "$crashes"
done
exit "$failed"
