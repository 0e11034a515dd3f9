"""The roster life cycle against a real Prosody: fetch, add, update, remove, versioned refetch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import xmpp_roster
from xmpp_roster import RosterChange, RosterEvent, RosterItem, Subscription

from helpers import poll_until


def test_package_and_library_versions_agree() -> None:
    assert xmpp_roster.library_version == xmpp_roster.__version__
    cargo = (Path(__file__).resolve().parents[3] / "Cargo.toml").read_text()
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    crate_version = re.search(r'^version = "([^"]+)"', cargo, re.M)
    package_version = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert crate_version and package_version
    assert crate_version.group(1) == package_version.group(1) == xmpp_roster.__version__


def test_full_roster_life_cycle(server, make_user, connect) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    client = connect(alice)
    assert client.is_connected
    assert client.bound_jid is not None and client.bound_jid.startswith(alice.jid + "/")
    assert client.supports_roster_versioning
    # Prosody 0.12 advertises subscription pre-approval; ejabberd 23.01 does not.
    assert client.supports_preapproval is (not server.is_ejabberd)

    events: list[RosterEvent] = []
    client.on_roster_change(events.append)

    assert client.fetch_roster() == []
    assert client.last_fetch_unchanged is False
    assert dict(client.roster) == {}

    client.set_item(bob.jid, "Bob", ["Friends", "Work", "Friends"])
    item = client.roster[bob.jid]
    assert sorted(item.groups) == ["Friends", "Work"]  # sent once each; Prosody keeps no order
    expected = RosterItem(bob.jid, "Bob", Subscription.NONE, False, False, item.groups)
    assert item == expected
    assert [(e.change, e.item) for e in events] == [(RosterChange.ADDED, expected)]
    assert events[0].version == client.roster_version

    client.set_item(carol.jid)  # no name, no groups
    assert client.roster[carol.jid] == RosterItem(carol.jid, None, "none", False, False, ())

    client.set_item(bob.jid, "Robert", groups=[])
    assert client.roster[bob.jid].name == "Robert"
    assert client.roster[bob.jid].groups == ()
    assert events[-1].change == RosterChange.UPDATED

    # A second session of the same account sees the same roster from the server.
    other = connect(alice, resource="second")
    assert sorted(item.jid for item in other.fetch_roster()) == sorted([bob.jid, carol.jid])

    # A change made by the other session arrives here as a push.
    other.remove_item(carol.jid)
    poll_until(client, lambda: carol.jid not in client.roster)
    assert events[-1].change == RosterChange.REMOVED
    assert events[-1].item.jid == carol.jid

    client.remove_item(bob.jid)
    assert dict(client.roster) == {}
    assert [e.change for e in events] == [
        RosterChange.ADDED,
        RosterChange.ADDED,
        RosterChange.UPDATED,
        RosterChange.REMOVED,
        RosterChange.REMOVED,
    ]

    client.close()
    assert client.closed and not client.is_connected
    client.close()  # idempotent
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.fetch_roster()


def test_roster_item_is_immutable_and_roster_is_a_read_only_snapshot(make_user, connect) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    client = connect(alice)
    client.fetch_roster()
    client.set_item(bob.jid, "Bob")
    snapshot = client.roster
    item = snapshot[bob.jid]
    with pytest.raises(AttributeError):
        item.name = "Mallory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot["x@y"] = item  # type: ignore[index]
    client.remove_item(bob.jid)
    assert bob.jid in snapshot  # a snapshot does not change afterwards
    assert bob.jid not in client.roster


def test_unicode_names_and_groups_round_trip(make_user, connect) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    client = connect(alice)
    client.fetch_roster()
    client.set_item(bob.jid, "Bób <&> 'ü' \"😀\"", ["Grüße", "日本", "a&b<c>"])
    other = connect(alice, resource="other")
    (item,) = other.fetch_roster()
    assert item.name == "Bób <&> 'ü' \"😀\""
    assert sorted(item.groups) == sorted(("Grüße", "日本", "a&b<c>"))  # Prosody keeps groups as a set


def test_versioned_refetch(make_user, connect) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    client = connect(alice)
    client.fetch_roster()
    # Prosody reports ver='1' both for a never-saved roster and after its first change: make
    # two changes so that the cached version is above 1 and "unchanged" means something.
    client.set_item(bob.jid, "Bob")
    client.set_item(carol.jid, "Carol")
    version = client.roster_version
    assert version is not None and version not in ("", "1")

    assert client.fetch_roster() == list(client.roster.values())
    assert client.last_fetch_unchanged is True
    assert {i.jid for i in client.fetch_roster()} == {bob.jid, carol.jid}
    assert client.roster_version == version

    # While we are away, another session changes the roster: the refetch gets it all.
    client.disconnect()
    assert not client.is_connected
    other = connect(alice, resource="other")
    other.fetch_roster()
    other.remove_item(carol.jid)
    client.connect()
    items = client.fetch_roster()
    assert client.last_fetch_unchanged is False
    assert [i.jid for i in items] == [bob.jid]
    assert client.roster_version != version

    # And once more: now we are current again.
    assert client.fetch_roster() == items
    assert client.last_fetch_unchanged is True


def test_big_roster_bulk_export(make_user, connect) -> None:
    alice = make_user("alice")
    client = connect(alice)
    client.fetch_roster()
    jids = [f"contact{i:03d}@example.org" for i in range(150)]
    for i, jid in enumerate(jids):
        client.set_item(jid, f"Contact {i}" if i % 2 else None, [f"G{i % 7}"] * (i % 3))
    other = connect(alice, resource="other")
    items = {item.jid: item for item in other.fetch_roster()}
    assert set(items) == set(jids)
    for i, jid in enumerate(jids):
        assert items[jid].name == (f"Contact {i}" if i % 2 else None)
        assert items[jid].groups == ((f"G{i % 7}",) if i % 3 else ())
    assert dict(other.roster) == items
