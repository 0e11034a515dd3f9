#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine (as root),
# skipping what is already there. Each area lists its Debian packages in scripts/deps/*.apt.
set -euo pipefail
cd "$(dirname "$0")/.."

want=()
for f in scripts/deps/*.apt; do
  while read -r pkg _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || want+=("$pkg")
  done < "$f"
done
if [ ${#want[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${want[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo is missing; this project needs a Rust toolchain (rustup)" >&2
  exit 1
fi
