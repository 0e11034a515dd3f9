#!/usr/bin/env bash
# The xmpp-roster command: its end-to-end tests against real Prosody servers, then ./demo.sh once
# the way CI runs it (CI=true, no stdin, no terminal), checking it succeeds and leaves no server.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- cargo test --locked -p xmpp-roster-cli"
cargo test --locked -p xmpp-roster-cli

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
