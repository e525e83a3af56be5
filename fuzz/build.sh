#!/usr/bin/env bash
# Builds every fuzz target. With cargo-fuzz installed this is a real instrumented build
# (`cargo fuzz build`, made to work on the stable toolchain with RUSTC_BOOTSTRAP); without it,
# a plain build that proves the targets compile and link against libFuzzer.
# Run one:  RUSTC_BOOTSTRAP=1 cargo fuzz run envelope   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo fuzz --version >/dev/null 2>&1; then
  RUSTC_BOOTSTRAP=1 cargo fuzz build -O
else
  cargo build --release --manifest-path fuzz/Cargo.toml --bins
fi
