#!/usr/bin/env python3
"""Connect, fetch and print the roster, add and remove a contact, then watch pushes for a while.

The Python twin of examples/roster.c, with the same arguments:

    python3 roster.py JID PASSWORD [HOST [PORT [CA_FILE [SECONDS]]]] [--tls MODE]

Any of JID, PASSWORD, HOST, PORT and CA_FILE left out is taken from the environment:
XMPP_JID, XMPP_PASSWORD, and the test harness's XMPP_TEST_HOST, XMPP_TEST_PORT, XMPP_TEST_CA_FILE.
For example, against a throwaway server:

    xmpp-test-server --user juliet:secret -- python3 roster.py juliet@localhost secret
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import xmpp_roster


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="Connect, fetch, print, add and remove a contact, watch pushes.")
    p.add_argument("jid", nargs="?", default=env("XMPP_JID"), help="account JID (env XMPP_JID)")
    p.add_argument("password", nargs="?", default=env("XMPP_PASSWORD"), help="password (env XMPP_PASSWORD)")
    p.add_argument("host", nargs="?", default=env("XMPP_TEST_HOST"), help="server host (default: the JID's domain)")
    p.add_argument("port", nargs="?", type=int, default=int(env("XMPP_TEST_PORT", "0")), help="0: the mode's default")
    p.add_argument("ca_file", nargs="?", default=env("XMPP_TEST_CA_FILE"), help="extra trusted certificate (PEM)")
    p.add_argument("seconds", nargs="?", type=float, default=3.0, help="how long to watch (default 3)")
    p.add_argument("--tls", choices=["starttls", "direct", "plaintext"], default="starttls")
    args = p.parse_args()
    if not args.jid or not args.password:
        p.error("JID and PASSWORD are required (or XMPP_JID and XMPP_PASSWORD)")
    return args


def print_roster(items: "list[xmpp_roster.RosterItem]") -> None:
    if not items:
        print("  (empty)")
    for item in sorted(items, key=lambda i: i.jid):
        flags = " ask" if item.ask else ""
        flags += " approved" if item.approved else ""
        groups = ", ".join(item.groups) or "-"
        print(f"  {item.jid:<32} {item.name or '':<20} {item.subscription:<5}{flags}  [{groups}]")


def main() -> int:
    args = parse_args()
    config = xmpp_roster.Config(
        args.jid, args.password, host=args.host, port=args.port or None, tls=args.tls, ca_file=args.ca_file, timeout=10
    )
    # A contact on the account's own domain, so the example works on any server.
    contact = "xmpp-roster-example@" + args.jid.split("@", 1)[-1].split("/", 1)[0]

    try:
        with xmpp_roster.Client(config) as client:
            print(f"connected as {client.bound_jid} (libxmpp_roster {xmpp_roster.library_version})")

            @client.on_roster_change
            def roster_changed(event: xmpp_roster.RosterEvent) -> None:
                print(f"push: {event.change} {event.item.jid} ({event.item.subscription}), version {event.version}")

            @client.on_subscription
            def subscription(event: xmpp_roster.SubscriptionEvent) -> None:
                print(f"subscription: {event.kind} from {event.jid}" + (f": {event.status}" if event.status else ""))

            @client.on_presence
            def presence(event: xmpp_roster.PresenceEvent) -> None:
                state = event.show if event.available else "unavailable"
                print(f"presence: {event.jid} {state}" + (f" ({event.status})" if event.status else ""))

            @client.on_disconnect
            def disconnected(event: xmpp_roster.DisconnectEvent) -> None:
                print("disconnected" + (f": {event.error}" if event.error else ""))

            items = client.fetch_roster()
            print(f"roster version {client.roster_version}, {len(items)} item(s):")
            print_roster(items)

            client.set_item(contact, "Example contact", ["Examples"])
            print(f"added {contact}: {client.roster[contact]}")
            client.remove_item(contact)
            print(f"removed {contact}; {len(client.roster)} item(s) left")

            client.send_presence(status="watching the roster")
            print(f"watching for {args.seconds:g} s...")
            deadline = time.monotonic() + args.seconds
            while (left := deadline - time.monotonic()) > 0:
                client.poll(min(left, 1.0))
    except xmpp_roster.XmppRosterError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
