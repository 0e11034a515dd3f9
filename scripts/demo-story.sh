#!/usr/bin/env bash
# The demo's story, run by ./demo.sh inside `xmpp-test-server`, which has started Prosody and set
# XMPP_TEST_HOST, XMPP_TEST_PORT, XMPP_TEST_CA_FILE, ... Usage: demo-story.sh PATH/TO/xmpp-roster
set -euo pipefail
xmpp_roster=$1
work=$(mktemp -d "$DEMO_RUN_DIR/story.XXXXXX")
cd "$work" # files the story writes (the export) get short names

# Both users talk to the throwaway server over STARTTLS, trusting its self-signed certificate.
export XMPP_ROSTER_SERVER="$XMPP_TEST_HOST:$XMPP_TEST_PORT"
export XMPP_ROSTER_CA_FILE="$XMPP_TEST_CA_FILE"
export XMPP_ROSTER_TIMEOUT=10

if [ -t 1 ]; then bold=$'\033[1m' dim=$'\033[2m' off=$'\033[0m'; else bold='' dim='' off=''; fi
step() { printf '\n%s%s%s\n' "$bold" "$*" "$off"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$off"; }

# `as USER ARGS...` shows the command line, then runs it as USER (JID and password from the
# environment, as a user would export them).
as() {
  local user=$1 password
  shift
  case "$user" in
    juliet) password=$DEMO_JULIET_PASSWORD ;;
    romeo) password=$DEMO_ROMEO_PASSWORD ;;
  esac
  local shown
  shown=$(printf ' %q' "$@")
  printf '%s%s$%s xmpp-roster%s\n' "$bold" "$user" "$off" "$shown"
  XMPP_ROSTER_JID="$user@localhost" XMPP_ROSTER_PASSWORD="$password" "$xmpp_roster" "$@"
}

# Waits (up to 10 s) until FILE has a line matching PATTERN.
wait_for() {
  local file=$1 pattern=$2 i
  for i in $(seq 100); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: timed out waiting for '$pattern' in $file:" >&2
  cat "$file" >&2 || true
  return 1
}

watch_pid=''
stop_watch() {
  if [ -n "$watch_pid" ]; then
    kill -INT "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
    watch_pid=''
  fi
}
trap stop_watch EXIT

note "Prosody is on 127.0.0.1:$XMPP_TEST_PORT (STARTTLS) for the domain localhost."
note "Each command gets its account from XMPP_ROSTER_JID and XMPP_ROSTER_PASSWORD, and the"
note "server from XMPP_ROSTER_SERVER and XMPP_ROSTER_CA_FILE."

step "1. Juliet's roster starts empty"
as juliet list

step "2. Juliet adds contacts, with groups"
as juliet add romeo@localhost --name Romeo --group Montague --group "Star-crossed"
as juliet add nurse@localhost --name Nurse --group Capulet
as juliet add tybalt@localhost --name Tybalt --group Capulet
as juliet list

step "3. Juliet watches her roster (in the background), then asks Romeo for his presence"
printf '%sjuliet$%s xmpp-roster watch > juliet-watch.txt &\n' "$bold" "$off"
XMPP_ROSTER_JID=juliet@localhost XMPP_ROSTER_PASSWORD=$DEMO_JULIET_PASSWORD \
  "$xmpp_roster" watch >"$work/juliet-watch.txt" 2>"$work/juliet-watch.err" &
watch_pid=$!
wait_for "$work/juliet-watch.err" '^watching '
as juliet subscribe romeo@localhost

step "4. Romeo comes online, sees the request, and approves it"
as romeo watch --count 1 --duration 10
as romeo approve juliet@localhost
as romeo list

step "5. Romeo is online for a moment; then Juliet stops her watch (Ctrl-C)"
as romeo watch --duration 1
wait_for "$work/juliet-watch.txt" 'subscription=to'
wait_for "$work/juliet-watch.txt" 'presence romeo@localhost/.* unavailable'
stop_watch
note "Juliet's watch printed, as it happened:"
sed 's/^/    /' "$work/juliet-watch.txt"
as juliet show romeo@localhost

step "6. Juliet exports her contact list"
as juliet export juliet-roster.json
sed 's/^/    /' juliet-roster.json

step "7. Juliet removes Tybalt"
as juliet remove tybalt@localhost
as juliet list --csv

step "8. Importing the export shows what it would bring back, and does it with --yes"
as juliet import juliet-roster.json
as juliet import juliet-roster.json --yes
as juliet list --group Capulet

step "9. A wrong password fails with exit code 5 and says what to fix"
printf '%sjuliet$%s XMPP_ROSTER_PASSWORD=wrong xmpp-roster list\n' "$bold" "$off"
code=0
XMPP_ROSTER_JID=juliet@localhost XMPP_ROSTER_PASSWORD=wrong "$xmpp_roster" list || code=$?
note "exit code $code"
[ "$code" -eq 5 ]

step "10. Juliet removes Romeo: the server cancels the subscription both ways"
as juliet remove romeo@localhost
as romeo list
