#!/usr/bin/env bash
# Builds every fuzz target with cargo-fuzz (instrumented, on the stable toolchain through
# RUSTC_BOOTSTRAP), installing cargo-fuzz from the Rust package registry first if it is missing.
# Also builds the seed writer (examples/seeds.rs). With `--smoke SECONDS`, also runs each target
# that long.
# Run one by hand:  RUSTC_BOOTSTRAP=1 cargo fuzz run envelope -O   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
# The seed writer the long run starts from (fuzz/long-run.sh) builds too, so it keeps up with
# the formats it writes.
cargo build --quiet --manifest-path fuzz/Cargo.toml --example seeds
if [ "${1:-}" = "--smoke" ]; then
  for target in $(cargo fuzz list); do
    cargo fuzz run "$target" -O -- -max_total_time="${2:-5}"
  done
fi
