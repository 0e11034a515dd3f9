#!/usr/bin/env bash
# Rust unit and integration tests (the integration tests start their own Prosody servers).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
