#!/usr/bin/env bash
# Rust unit and integration tests (the integration tests start their own Prosody servers).
# The build comes first: tests/c_abi.rs inspects the shared library that `cargo build` makes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --locked
cargo test --workspace --locked
