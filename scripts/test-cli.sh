#!/usr/bin/env bash
# The xmpp-roster command: its end-to-end tests against real Prosody servers, a short smoke test
# against ejabberd (list/add/show/remove through xmpp-test-server --server ejabberd), then
# ./demo.sh once the way CI runs it (CI=true, no stdin, no terminal), checking it succeeds and
# leaves no server.
set -euo pipefail

# The ejabberd smoke, run by this script itself under xmpp-test-server: smoke CLI_BINARY.
if [ "${1:-}" = "--ejabberd-smoke" ]; then
  cli=$2
  [ "${XMPP_TEST_SERVER_KIND:-}" = ejabberd ] || { echo "smoke: not under xmpp-test-server --server ejabberd" >&2; exit 2; }
  export XMPP_ROSTER_JID=smoke@localhost XMPP_ROSTER_PASSWORD=smoke-pw XMPP_ROSTER_TIMEOUT=10 \
         XMPP_ROSTER_SERVER="$XMPP_TEST_HOST:$XMPP_TEST_PORT" XMPP_ROSTER_CA_FILE="$XMPP_TEST_CA_FILE"
  checks=0
  expect() { # expect WHAT GOT WANT-REGEX
    if ! grep -Eq -- "$3" <<<"$2"; then echo "FAIL (ejabberd smoke): $1: got: $2" >&2; exit 1; fi
    checks=$((checks + 1))
  }
  expect "empty list" "$("$cli" list --json)" '^\[\]$'
  expect "add" "$("$cli" add romeo@localhost --name Romeo --group Friends)" 'romeo@localhost subscription=none name="Romeo" groups="Friends"'
  listed=$("$cli" list --json)
  expect "list has romeo" "$listed" '"jid": "romeo@localhost"'
  expect "list has the group" "$listed" '"Friends"'
  expect "table" "$("$cli" list)" '^romeo@localhost +Romeo +none +Friends$'
  expect "show" "$("$cli" show romeo@localhost --json)" '"name": "Romeo"'
  expect "remove" "$("$cli" remove romeo@localhost)" '^removed romeo@localhost$'
  # Removing a contact that is not there exits 7 on both servers (the command checks its fetched
  # roster; ejabberd itself would accept the removal, Prosody would answer item-not-found).
  expect "remove again: not in the roster" "$("$cli" remove romeo@localhost 2>&1 || echo "exit $?")" 'exit 7'
  expect "empty again" "$("$cli" list --json)" '^\[\]$'
  expect "wrong password" "$(XMPP_ROSTER_PASSWORD=wrong "$cli" list 2>&1 || echo "exit $?")" 'exit [1-9]'
  echo "ejabberd smoke: $checks passed, 0 failed"
  exit 0
fi

cd "$(dirname "$0")/.."
root=$PWD
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

echo "--- cargo test --locked -p xmpp-roster-cli"
cargo test --locked -p xmpp-roster-cli

echo "--- smoke test against ejabberd"
cargo build --locked -p xmpp-roster-cli -p xmpp-roster-testsupport --bins
"$target/debug/xmpp-test-server" --server ejabberd --user smoke:smoke-pw -- \
  "$root/scripts/test-cli.sh" --ejabberd-smoke "$target/debug/xmpp-roster"

echo "--- ./demo.sh (non-interactive)"
# The demo's temp dirs (and so its server's) go under this dir, so a leftover process of this
# run can be told apart from servers that other test runs on the machine may have going.
demo_tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-cli-demo.XXXXXX")
log="$demo_tmp.log"
trap 'rm -f "$log"; rmdir "$demo_tmp" 2>/dev/null || true' EXIT
status=0
CI=true TMPDIR="$demo_tmp" ./demo.sh </dev/null >"$log" 2>&1 || status=$?
leftover=$(pgrep -a -f -- "$demo_tmp/" || true)
left_files=$(find "$demo_tmp" -mindepth 1 -maxdepth 1 2>/dev/null | head -5)
rmdir "$demo_tmp" 2>/dev/null || true
if [ "$status" -ne 0 ]; then
  cat "$log"
  echo "FAIL: ./demo.sh exited $status" >&2
  exit 1
fi
if [ -n "$leftover" ]; then
  echo "FAIL: ./demo.sh left processes running:" >&2
  echo "$leftover" >&2
  # They are ours (their command lines name our temp dir): stop them by process id.
  kill $(pgrep -f -- "$demo_tmp/") 2>/dev/null || true
  exit 1
fi
if [ -n "$left_files" ]; then
  echo "FAIL: ./demo.sh left files in its temp dir: $left_files" >&2
  exit 1
fi
# Without a terminal the demo must print no escape sequences or progress redraws.
if grep -q $'[\r\033]' "$log"; then
  echo "FAIL: ./demo.sh printed terminal control characters without a terminal" >&2
  exit 1
fi
tail -n 3 "$log"
echo "demo: 1 passed, 0 failed"
