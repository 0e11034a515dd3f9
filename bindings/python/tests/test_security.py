"""Roster pushes that do not come from the user's own account are refused (RFC 6121 §2.1.6)."""

from __future__ import annotations

import re
import time
from typing import Callable, List

from xmpp_roster import RosterEvent

from conftest import DOMAIN
from helpers import RawXmpp, poll_quietly


def test_spoofed_roster_push_from_another_user_is_refused(server, make_user, connect) -> None:
    victim_user, friend, mallory = make_user("victim"), make_user("friend"), make_user("mallory")
    victim = connect(victim_user)
    victim.fetch_roster()
    victim.set_item(friend.jid, "Friend", ["Close"])
    before = dict(victim.roster)
    version_before = victim.roster_version
    events: List[RosterEvent] = []
    victim.on_roster_change(events.append)

    attacker = RawXmpp(server.host, server.port, DOMAIN, mallory.name, mallory.password)
    try:
        target = victim.bound_jid
        assert target is not None
        replies = b""

        def answered(*ids: bytes) -> bool:
            return all(re.search(rb"<iq\b[^>]*\bid=['\"]" + i + rb"['\"][^>]*>", replies) for i in ids)

        def exchange(done: Callable[[], bool]) -> None:
            # Waits until the victim has answered what reached it (it refuses each with an
            # error), rather than for a fixed time: on a loaded machine the pushes could still be
            # in flight after it, and the checks below would pass without the victim having seen
            # them at all.
            nonlocal replies
            deadline = time.monotonic() + 10
            while not done():
                assert time.monotonic() < deadline, f"no answer from the victim: {replies!r}"
                poll_quietly(victim, 0.1)
                replies += attacker.read_available(0.05)

        # The server stamps from='mallory@localhost/raw' on these.
        attacker.send(
            f"<iq type='set' id='evil-add' to='{target}'><query xmlns='jabber:iq:roster'>"
            f"<item jid='{mallory.jid}' name='Trust me' subscription='both'><group>Close</group></item>"
            "</query></iq>"
        )
        attacker.send(
            f"<iq type='set' id='evil-ver' to='{target}'><query xmlns='jabber:iq:roster' ver='999'>"
            f"<item jid='{friend.jid}' name='Renamed'/></query></iq>"
        )
        exchange(lambda: answered(b"evil-add", b"evil-ver"))
        # A forged 'from': Prosody replaces it with mallory's JID and routes the push; ejabberd
        # closes mallory's stream instead (invalid-from), so there it never reaches the victim.
        attacker.send(
            f"<iq type='set' id='evil-remove' to='{target}' from='{victim_user.jid}'>"
            f"<query xmlns='jabber:iq:roster'><item jid='{friend.jid}' subscription='remove'/></query></iq>"
        )
        if server.is_ejabberd:
            exchange(lambda: b"invalid-from" in replies)
        else:
            exchange(lambda: answered(b"evil-remove"))
        # Then anything else that might still come.
        poll_quietly(victim, 0.3)
        replies += attacker.read_available(0.2)
    finally:
        attacker.close()

    assert events == [], f"a callback fired for a spoofed push: {events}"
    assert dict(victim.roster) == before
    assert victim.roster_version == version_before
    # Whatever the victim answered, it did not accept any of them: no type='result'.
    for tag in re.findall(rb"<iq\b[^>]*>", replies):
        if b"evil-" in tag:
            assert re.search(rb"type=['\"]error['\"]", tag), replies

    # The victim's connection is still fine and the server-side roster is untouched.
    items = victim.fetch_roster()
    assert {item.jid for item in items} == {friend.jid}
    assert victim.roster[friend.jid].name == "Friend"
