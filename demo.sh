#!/usr/bin/env bash
# The xmpp-roster demo, in one command: ./demo.sh
#
# Installs what is missing (Debian packages, as root), builds the `xmpp-roster` command, starts a
# throwaway Prosody on 127.0.0.1 with two users (juliet and romeo) in a temp dir, runs the story in
# scripts/demo-story.sh with the real command, then stops the server and removes the temp dir.
# Nothing is left running, even when the story fails or Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"

if [ -t 2 ]; then
  say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  say() { printf '\n%s\n' "$*"; }
fi

say "== Installing what is missing"
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-deps.sh
elif ! command -v prosody >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  echo "demo: prosody and openssl are needed: run  sudo bash scripts/install-deps.sh  first" >&2
  exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is needed to build xmpp-roster: install a Rust toolchain (https://rustup.rs)" >&2
  exit 1
fi

say "== Building xmpp-roster (and the test-server wrapper that runs Prosody)"
cargo build --quiet -p xmpp-roster-cli -p xmpp-roster-testsupport --bins
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/debug"

# Everything of this run lives in one temp dir: the server's dir is made inside it too (the
# wrapper honours TMPDIR), so the cleanup can find any process of ours by that path.
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/xmpp-roster-demo.XXXXXX")
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # Normally the wrapper has stopped Prosody already; this only catches a run cut short.
  local pids
  pids=$(pgrep -f -- "$run_dir/" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    sleep 2
    pids=$(pgrep -f -- "$run_dir/" 2>/dev/null || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Throwaway passwords, handed to the command through XMPP_ROSTER_PASSWORD (never as a flag).
export DEMO_JULIET_PASSWORD="juliet-$(openssl rand -hex 6)"
export DEMO_ROMEO_PASSWORD="romeo-$(openssl rand -hex 6)"
export DEMO_RUN_DIR="$run_dir"

say "== Starting a throwaway Prosody on 127.0.0.1 with users juliet and romeo"
status=0
TMPDIR="$run_dir" "$bin/xmpp-test-server" \
  --user "juliet:$DEMO_JULIET_PASSWORD" --user "romeo:$DEMO_ROMEO_PASSWORD" \
  -- bash scripts/demo-story.sh "$bin/xmpp-roster" || status=$?

if [ "$status" -eq 0 ]; then
  say "== Done: the server is stopped and its temp dir is gone. Tests: bash scripts/test-cli.sh"
else
  say "== The demo failed (exit $status)"
fi
exit "$status"
