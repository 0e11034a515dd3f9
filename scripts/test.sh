#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs every area's tests in turn.
# Each area has its own script scripts/test-<area>.sh; they run in this order and all must pass:
# rust (core, FFI checks, CLI and harness crates, both real servers), c (CMake, C/C++ tests under
# valgrind, consumers), python (ctypes package), cli (command and demo), reliability (fuzz smoke,
# extra faults, load, soak), bench (benchmarks built and run once at the smallest size; no
# timing asserted). A missing area script is a broken checkout, not a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
for area in rust c python cli reliability bench; do
  script="scripts/test-$area.sh"
  [ -f "$script" ] || { echo "test.sh: missing $script" >&2; exit 1; }
  echo "=== $script"
  started=$SECONDS
  bash "$script"
  echo "=== $script passed in $((SECONDS - started)) s"
done
echo "=== all test areas passed"
