#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs every area's tests in turn.
# Each area has its own script scripts/test-<area>.sh; they run in this order and all must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
for area in rust c python cli; do
  script="scripts/test-$area.sh"
  [ -f "$script" ] || continue
  echo "=== $script"
  bash "$script"
done
echo "=== all test areas passed"
