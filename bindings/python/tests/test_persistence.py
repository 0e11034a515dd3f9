"""Saving the roster and starting a later session from it (export_roster / load_roster): with
roster versioning the server then answers "unchanged" instead of sending the whole roster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest

import xmpp_roster
from helpers import FeedSpy, export_layout
from xmpp_roster import RosterItem, SavedRoster, Subscription


def _save(path: Path, saved: SavedRoster) -> None:
    # One way a program may keep it: the bytes as they are, the version next to them.
    path.with_suffix(".roster").write_bytes(saved.data)
    path.with_suffix(".json").write_text(json.dumps({"version": saved.version}))


def _restore(path: Path) -> SavedRoster:
    return SavedRoster(path.with_suffix(".roster").read_bytes(), json.loads(path.with_suffix(".json").read_text())["version"])


def test_a_saved_roster_makes_the_next_session_fetch_unchanged(make_user, connect, config_for, tmp_path, monkeypatch) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    first = connect(alice)
    first.fetch_roster()
    # Two changes, so that Prosody's version is above 1 (it says ver='1' both for a never-saved
    # roster and after the first change).
    first.set_item(bob.jid, "Bób <&>", ["Friends", "日本"])
    first.set_item(carol.jid)
    saved = first.export_roster()
    assert isinstance(saved, SavedRoster) and isinstance(saved.data, bytes)
    assert saved.version == first.roster_version and saved.version not in (None, "", "1")
    expected = dict(first.roster)
    first.close()
    _save(tmp_path / "alice", saved)

    # A new process: load before connecting; the roster is there at once, nothing sent yet.
    client = xmpp_roster.Client(config_for(alice))
    client.load_roster(*_restore(tmp_path / "alice"))
    assert dict(client.roster) == expected
    assert client.roster_version == saved.version
    assert client.last_fetch_unchanged is None
    client.connect()
    spy = FeedSpy(monkeypatch, batch_items=1)
    items = client.fetch_roster()
    assert client.last_fetch_unchanged is True
    # Nothing came to make items from: fetch_roster returned the kept roster from the snapshot,
    # in its order.
    assert (spy.batches, spy.completes, spy.snapshot_decodes) == ([], [False], 1)
    assert items == list(client.roster.values())
    assert {item.jid: item for item in items} == expected
    assert client.roster[bob.jid] == RosterItem(bob.jid, "Bób <&>", Subscription.NONE, False, False, expected[bob.jid].groups)
    assert sorted(client.roster[bob.jid].groups) == ["Friends", "日本"]
    # Pushes apply on top of the loaded roster as usual.
    client.remove_item(carol.jid)
    assert set(client.roster) == {bob.jid}
    client.close()


def test_a_stale_saved_roster_is_replaced_by_the_full_fetch(make_user, connect, config_for) -> None:
    alice, bob, carol, dave = make_user("alice"), make_user("bob"), make_user("carol"), make_user("dave")
    first = connect(alice)
    first.fetch_roster()
    first.set_item(bob.jid, "Bob")
    first.set_item(carol.jid, "Carol")
    saved = first.export_roster()
    # Changed elsewhere after the save.
    first.remove_item(carol.jid)
    first.set_item(dave.jid, "Dave")
    now = dict(first.roster)

    client = connect(alice, resource="later")
    client.load_roster(saved.data, saved.version)
    assert set(client.roster) == {bob.jid, carol.jid}  # loaded while connected: allowed too
    items = client.fetch_roster()
    assert client.last_fetch_unchanged is False
    assert dict(client.roster) == now
    assert items == list(client.roster.values())  # the new roster, not the loaded one
    assert client.roster_version == first.roster_version


def _bob_and_carol(
    subscriptions: bytes = b"\x03\x00",
    jids: bytes = b"bob@localhost\0carol@localhost\0",
    lists: Tuple[str, ...] = ("\x01Friends\x01Work", ""),
) -> bytes:
    """Export format 3 (docs/C-API.md): Bob in group list 0; Carol (no name, ask) in list 1."""
    return export_layout([0, 1], [1], subscriptions, b"\x00\x01", b"\x00\x00", jids, b"Bob\0\0", lists)


def test_load_roster_round_trips_and_checks_its_input(make_user, config_for) -> None:
    client = xmpp_roster.Client(config_for(make_user("alice")))
    assert client.export_roster() == SavedRoster(b"", None)
    data = _bob_and_carol()
    client.load_roster(bytearray(data), "v7")
    assert client.export_roster() == SavedRoster(data, "v7")
    assert client.roster["bob@localhost"] == RosterItem("bob@localhost", "Bob", Subscription.BOTH, False, False, ("Friends", "Work"))
    assert client.roster["carol@localhost"] == RosterItem("carol@localhost", None, Subscription.NONE, True, False, ())
    client.load_roster(memoryview(b""), None)
    assert client.roster == {} and client.roster_version is None

    format2 = b"bob@localhost\0Bob\0" b"3\0" b"0\0" b"0\0" b"\x01Friends\x01Work\0"  # the previous format
    for bad in (
        b"no header",
        _bob_and_carol(subscriptions=b"\x07\x00"),
        _bob_and_carol(jids=b"bob@localhost/res\0carol@localhost\0"),  # not bare
        _bob_and_carol(lists=("Friends", "")),  # a group list without its \x01
        format2,
        data[:-1],
        _bob_and_carol(jids=b"bob@localhost\0bob@localhost\0"),  # one JID twice
    ):
        with pytest.raises(xmpp_roster.InvalidArgumentError) as info:
            client.load_roster(bad, None)
        assert "bad snapshot data" in info.value.message
    assert client.roster == {}  # a refused load changes nothing
    with pytest.raises(TypeError):
        client.load_roster("bob@localhost", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.load_roster(data, 7)  # type: ignore[arg-type]
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        client.load_roster(data, "v\0")
    client.close()
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.load_roster(data, None)
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.export_roster()
