#!/usr/bin/env bash
# The Python binding: builds the shared library, installs bindings/python into a fresh venv with
# pytest, and runs its tests against each real server on 127.0.0.1:
#   prosody   a Prosody the test session starts itself (bindings/python/tests/conftest.py);
#   ejabberd  an ejabberd started by xmpp-test-server --server ejabberd (testsupport), whose
#             XMPP_TEST_* variables the conftest picks up (XMPP_TEST_SERVER_KIND=ejabberd).
# XMPP_ROSTER_TEST_SERVERS chooses (default "prosody ejabberd"); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
servers="${XMPP_ROSTER_TEST_SERVERS:-prosody ejabberd}"

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
cargo build --release --lib --locked
library="$target/release/libxmpp_roster.so"
[ -f "$library" ] || { echo "test-python: $library was not built" >&2; exit 1; }
test_server="$target/release/xmpp-test-server"
case " $servers " in
  *" ejabberd "*) cargo build --release --locked -p xmpp-roster-testsupport --bin xmpp-test-server ;;
esac

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
run_pytest() {
  (cd "$target" && XMPP_ROSTER_LIBRARY="$library" "$@" "$venv/bin/python" -m pytest \
    -p no:cacheprovider -ra "$root/bindings/python/tests" "${pytest_args[@]}")
}
pytest_args=("$@")
failed=""
summary=""
for server in $servers; do
  echo "--- pytest against $server"
  started=$SECONDS
  status=0
  case "$server" in
    prosody) run_pytest env -u XMPP_TEST_PORT -u XMPP_TEST_SERVER_KIND || status=$? ;;
    ejabberd) run_pytest "$test_server" --server ejabberd -- || status=$? ;;
    *) echo "test-python: unknown server $server (XMPP_ROSTER_TEST_SERVERS)" >&2; exit 2 ;;
  esac
  if [ "$status" -eq 5 ]; then
    echo "test-python: pytest collected no tests" >&2
    status=1
  fi
  summary="$summary$server: exit $status in $((SECONDS - started)) s"$'\n'
  [ "$status" -eq 0 ] || failed="$failed $server"
done
printf '%s' "$summary"
if [ -n "$failed" ]; then
  echo "test-python: failed against:$failed" >&2
  exit 1
fi
