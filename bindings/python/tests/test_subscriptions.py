"""Subscription handshakes and presence between two (or three) real accounts."""

from __future__ import annotations

from typing import List

import pytest

import xmpp_roster
from xmpp_roster import (
    PresenceEvent,
    RosterEvent,
    Show,
    Subscription,
    SubscriptionEvent,
    SubscriptionKind,
)

from helpers import poll_quietly, poll_until


class Recorder:
    """Connects one account, fetches its roster, goes available and records every event."""

    def __init__(self, client: xmpp_roster.Client) -> None:
        self.client = client
        self.roster_events: List[RosterEvent] = []
        self.subscriptions: List[SubscriptionEvent] = []
        self.presences: List[PresenceEvent] = []
        client.on_roster_change(self.roster_events.append)
        client.on_subscription(self.subscriptions.append)
        client.on_presence(self.presences.append)
        client.fetch_roster()
        client.send_presence()

    def subscription_of(self, jid: str) -> object:
        item = self.client.roster.get(jid)
        return None if item is None else (item.subscription, item.ask)

    def wait_subscription(self, jid: str, subscription: Subscription, ask: bool = False) -> None:
        poll_until(self.client, lambda: self.subscription_of(jid) == (subscription, ask))

    def wait_request(self, kind: SubscriptionKind, jid: str) -> None:
        poll_until(self.client, lambda: any(e.kind == kind and e.jid == jid for e in self.subscriptions))


def test_subscription_handshake_in_both_directions(make_user, connect) -> None:
    alice_user, bob_user = make_user("alice"), make_user("bob")
    alice = Recorder(connect(alice_user))
    bob = Recorder(connect(bob_user))

    # alice -> bob: subscribe, the server records the pending request in alice's roster.
    alice.client.subscribe(bob_user.jid)
    alice.wait_subscription(bob_user.jid, Subscription.NONE, ask=True)
    bob.wait_request(SubscriptionKind.SUBSCRIBE, alice_user.jid)

    # bob approves: both rosters change through pushes, and alice is told.
    bob.client.approve(alice_user.jid)
    bob.wait_subscription(alice_user.jid, Subscription.FROM)
    alice.wait_subscription(bob_user.jid, Subscription.TO)
    alice.wait_request(SubscriptionKind.SUBSCRIBED, bob_user.jid)
    # Now subscribed, alice receives bob's current presence.
    poll_until(alice.client, lambda: any(p.jid.startswith(bob_user.jid + "/") for p in alice.presences))

    # bob -> alice: the other direction, ending in "both" on each side.
    bob.client.subscribe(alice_user.jid)
    bob.wait_subscription(alice_user.jid, Subscription.FROM, ask=True)
    alice.wait_request(SubscriptionKind.SUBSCRIBE, bob_user.jid)
    alice.client.approve(bob_user.jid)
    alice.wait_subscription(bob_user.jid, Subscription.BOTH)
    bob.wait_subscription(alice_user.jid, Subscription.BOTH)
    bob.wait_request(SubscriptionKind.SUBSCRIBED, alice_user.jid)

    # Roster pushes were seen on both sides for each step.
    assert [e.item.subscription for e in alice.roster_events if e.item.jid == bob_user.jid][-1] == "both"
    assert [e.item.subscription for e in bob.roster_events if e.item.jid == alice_user.jid][-1] == "both"

    # alice unsubscribes: she keeps "from", bob keeps "to" and is told.
    alice.client.unsubscribe(bob_user.jid)
    alice.wait_subscription(bob_user.jid, Subscription.FROM)
    bob.wait_request(SubscriptionKind.UNSUBSCRIBE, alice_user.jid)
    bob.wait_subscription(alice_user.jid, Subscription.TO)

    # alice cancels bob's remaining view of her presence ("unsubscribed").
    alice.client.deny(bob_user.jid)
    alice.wait_subscription(bob_user.jid, Subscription.NONE)
    bob.wait_request(SubscriptionKind.UNSUBSCRIBED, alice_user.jid)
    bob.wait_subscription(alice_user.jid, Subscription.NONE)


def test_denied_request(make_user, connect) -> None:
    alice_user, carol_user = make_user("alice"), make_user("carol")
    alice = Recorder(connect(alice_user))
    carol = Recorder(connect(carol_user))
    carol.client.subscribe(alice_user.jid)
    carol.wait_subscription(alice_user.jid, Subscription.NONE, ask=True)
    alice.wait_request(SubscriptionKind.SUBSCRIBE, carol_user.jid)
    alice.client.deny(carol_user.jid)
    carol.wait_request(SubscriptionKind.UNSUBSCRIBED, alice_user.jid)
    carol.wait_subscription(alice_user.jid, Subscription.NONE, ask=False)


def test_preapproval(server, make_user, connect) -> None:
    alice_user, bob_user = make_user("alice"), make_user("bob")
    alice = Recorder(connect(alice_user))
    if server.is_ejabberd:
        # ejabberd 23.01 does not advertise pre-approval: the call says so instead of sending.
        assert not alice.client.supports_preapproval
        with pytest.raises(xmpp_roster.UnsupportedError):
            alice.client.preapprove(bob_user.jid)
        assert bob_user.jid not in alice.client.roster
        return
    assert alice.client.supports_preapproval
    alice.client.preapprove(bob_user.jid)
    # Prosody 0.12 adds the contact but does not report approved='true' in the roster.
    poll_until(alice.client, lambda: bob_user.jid in alice.client.roster)

    bob = Recorder(connect(bob_user))
    bob.client.subscribe(alice_user.jid)
    # The server answers for alice: bob is subscribed at once.
    bob.wait_request(SubscriptionKind.SUBSCRIBED, alice_user.jid)
    bob.wait_subscription(alice_user.jid, Subscription.TO)
    alice.wait_subscription(bob_user.jid, Subscription.FROM)


def test_auto_approve(make_user, connect) -> None:
    alice_user, bob_user = make_user("alice"), make_user("bob")
    alice = Recorder(connect(alice_user, auto_approve=True))
    bob = Recorder(connect(bob_user))
    bob.client.subscribe(alice_user.jid)
    # alice's client approves by itself while it polls.
    poll_until(alice.client, lambda: alice.subscription_of(bob_user.jid) == (Subscription.FROM, False))
    bob.wait_subscription(alice_user.jid, Subscription.TO)


def _befriend(a: Recorder, a_jid: str, b: Recorder, b_jid: str) -> None:
    a.client.subscribe(b_jid)
    b.wait_request(SubscriptionKind.SUBSCRIBE, a_jid)
    b.client.approve(a_jid)
    a.wait_subscription(b_jid, Subscription.TO)


def test_presence_events_from_a_contacts_resource(make_user, connect) -> None:
    alice_user, bob_user = make_user("alice"), make_user("bob")
    alice = Recorder(connect(alice_user))
    bob = Recorder(connect(bob_user, resource="phone"))
    _befriend(alice, alice_user.jid, bob, bob_user.jid)
    bob_full = f"{bob_user.jid}/phone"
    poll_until(alice.client, lambda: any(p.jid == bob_full for p in alice.presences))
    alice.presences.clear()

    bob.client.send_presence(show="away", status="at lunch", priority=5)
    poll_until(alice.client, lambda: bool(alice.presences))
    assert alice.presences[-1] == PresenceEvent(bob_full, True, Show.AWAY, "at lunch", 5)

    bob.client.send_presence(show=Show.DND, priority=-3)
    poll_until(alice.client, lambda: len(alice.presences) >= 2)
    assert alice.presences[-1] == PresenceEvent(bob_full, True, Show.DND, None, -3)

    bob.client.send_presence(available=False, status="bye")
    poll_until(alice.client, lambda: len(alice.presences) >= 3)
    assert alice.presences[-1].jid == bob_full
    assert alice.presences[-1].available is False
    assert alice.presences[-1].status == "bye"

    # A second resource shows up separately, and leaving (closing) is seen as unavailable.
    laptop = connect(bob_user, resource="laptop")
    laptop.send_presence(show="chat")
    poll_until(alice.client, lambda: any(p.jid == f"{bob_user.jid}/laptop" and p.available for p in alice.presences))
    laptop.close()
    poll_until(
        alice.client, lambda: any(p.jid == f"{bob_user.jid}/laptop" and not p.available for p in alice.presences)
    )
    # Nothing else arrives for alice by itself.
    count = len(alice.presences)
    poll_quietly(alice.client, 0.3)
    assert len(alice.presences) == count
