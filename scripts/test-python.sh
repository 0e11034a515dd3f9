#!/usr/bin/env bash
# The Python binding: builds the shared library, installs bindings/python into a fresh venv with
# pytest, and runs its tests (each session starts its own Prosody on 127.0.0.1) against the build.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
cargo build --release --lib --locked
library="$target/release/libxmpp_roster.so"
[ -f "$library" ] || { echo "test-python: $library was not built" >&2; exit 1; }

# Debian's interpreter (a pyenv python3 earlier on PATH may lack venv/ensurepip).
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3)"
venv="${XMPP_ROSTER_PYTHON_VENV:-$target/python-venv}"
rm -rf "$venv"
"$python" -m venv "$venv"
# pip builds in the source tree: drop stale build output so the wheel holds only current files.
rm -rf bindings/python/build bindings/python/*.egg-info
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./bindings/python
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest

# Run from outside the source tree so that only the installed package can be imported.
status=0
(cd "$target" && XMPP_ROSTER_LIBRARY="$library" "$venv/bin/python" -m pytest \
  -p no:cacheprovider -ra "$root/bindings/python/tests" "$@") || status=$?
if [ "$status" -eq 5 ]; then
  echo "test-python: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
