"""fetch_roster's helper thread (xmpp_roster/_feed.py): the C fetch runs on the calling thread
with the GIL released while a short-lived "feed decoder" thread turns each batch of new items
into RosterItem objects; when the batches are not the roster (an unchanged versioned fetch, a
result that lists a JID twice) the items come from the snapshot instead. Either way the caller
gets the local roster after the fetch, the helper thread is gone when fetch_roster returns or
raises, and the garbage collector is back as it was.

The batch size is lowered to 2 (``FeedSpy(..., batch_items=2)``) so that a handful of items make
several batches; ``FeedSpy`` shows which path made the items, so no test here can pass by the
snapshot fallback alone.
"""

from __future__ import annotations

import gc
import re
import socket
import struct
import threading
import time
from typing import Callable, Iterator, List

import pytest

import xmpp_roster
from helpers import (
    FEED_DECODER_THREAD,
    FakeConnection,
    FakeServer,
    FeedSpy,
    feed_decoder_threads,
    poll_until,
)
from xmpp_roster import RosterItem, Subscription, _client, _feed

LOOPBACK = "127.0.0.1"


def assert_helper_gone_and_collector_on() -> None:
    assert feed_decoder_threads() == []
    assert gc.isenabled()


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Every test here starts with the collector on (and fails loudly rather than leave it off)."""
    gc.enable()
    yield
    was_on = gc.isenabled()
    gc.enable()
    assert was_on, "the garbage collector was left disabled"


# --- against the real server ---------------------------------------------------------------------


def test_a_roster_of_several_batches_is_made_on_the_helper_thread(make_user, connect, monkeypatch) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    writer = connect(alice)
    writer.fetch_roster()
    contacts = [f"feed{i}@example.org" for i in range(5)]
    writer.set_item(contacts[0], "Zoë <&> 'ü'", ["Friends", "日本"])
    writer.set_item(contacts[1])
    writer.set_item(contacts[2], "Two groups", ["Work", "Friends"])
    writer.set_item(contacts[3], "Only a name")
    writer.set_item(contacts[4], None, ["Solo"])
    writer.subscribe(carol.jid)  # pending: subscription none, ask
    requests = []
    writer.on_subscription(requests.append)
    writer.send_presence()  # subscription requests go to available resources
    bob_client = connect(bob)
    bob_client.subscribe(alice.jid)
    poll_until(writer, lambda: any(r.jid == bob.jid for r in requests))
    writer.approve(bob.jid)  # alice's roster: bob with subscription "from"
    poll_until(writer, lambda: bob.jid in writer.roster and writer.roster[bob.jid].subscription == Subscription.FROM)
    poll_until(writer, lambda: carol.jid in writer.roster and writer.roster[carol.jid].ask)
    expected = dict(writer.roster)
    assert len(expected) == 7

    reader = connect(alice, resource="reader")
    spy = FeedSpy(monkeypatch, batch_items=2)
    items = reader.fetch_roster()

    # Made on the helper thread, batch by batch (2 + 2 + 2 + 1), with the collector paused,
    # and handed back as they are: no snapshot read.
    assert spy.batches == [2, 2, 2, 1]
    assert spy.batch_threads == [FEED_DECODER_THREAD] * 4
    assert spy.gc_enabled_in_batches == [False] * 4
    assert spy.completes == [True]
    assert spy.snapshot_decodes == 0
    assert reader.last_fetch_unchanged is False
    assert_helper_gone_and_collector_on()

    # Exactly the local roster after the fetch, in its order, every field intact.
    assert items == list(reader.roster.values())
    assert {item.jid: item for item in items} == expected
    by_jid = {item.jid: item for item in items}
    assert by_jid[contacts[0]].name == "Zoë <&> 'ü'"
    assert sorted(by_jid[contacts[0]].groups) == ["Friends", "日本"]
    assert by_jid[contacts[1]] == RosterItem(contacts[1], None, Subscription.NONE, False, False, ())
    assert sorted(by_jid[contacts[2]].groups) == ["Friends", "Work"]
    assert by_jid[contacts[3]].name == "Only a name" and by_jid[contacts[3]].groups == ()
    assert by_jid[contacts[4]].name is None and by_jid[contacts[4]].groups == ("Solo",)
    assert (by_jid[carol.jid].subscription, by_jid[carol.jid].ask) == (Subscription.NONE, True)
    assert (by_jid[bob.jid].subscription, by_jid[bob.jid].ask) == (Subscription.FROM, False)


def test_an_exception_in_the_helper_thread_is_raised_by_fetch_roster(make_user, connect, monkeypatch) -> None:
    alice = make_user("alice")
    writer = connect(alice)
    writer.fetch_roster()
    for i in range(3):
        writer.set_item(f"boom{i}@example.org", f"Boom {i}")

    class DecoderFailed(Exception):
        pass

    calls: List[str] = []

    def broken_decode(data: object, known_lists: object = None) -> List[RosterItem]:
        calls.append(threading.current_thread().name)
        raise DecoderFailed("cannot make the items")

    reader = connect(alice, resource="reader")
    with monkeypatch.context() as patch:
        patch.setattr(_client, "BATCH_ITEMS", 2)
        patch.setattr(_feed, "decode_export", broken_decode)
        with pytest.raises(DecoderFailed, match="cannot make the items"):
            reader.fetch_roster()
    assert calls == [FEED_DECODER_THREAD]  # raised on the helper thread, which stopped there
    assert_helper_gone_and_collector_on()
    # The fetch itself completed: the local roster is the server's, and the client still works.
    assert set(reader.roster) == {f"boom{i}@example.org" for i in range(3)}
    assert reader.fetch_roster() == list(reader.roster.values())


def test_fetch_on_an_unconnected_or_closed_client_fails_at_once_and_leaves_no_helper(make_user, config_for) -> None:
    client = xmpp_roster.Client(config_for(make_user("alice")))
    # Not connected: the library refuses the fetch, which ends the feed at once.
    started = time.monotonic()
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.fetch_roster()
    assert time.monotonic() - started < 0.5
    assert_helper_gone_and_collector_on()

    client.connect()
    client.close()
    # Closed: the binding refuses before the library sees the feed; the helper, waiting for a
    # fetch that never starts, is stopped.
    started = time.monotonic()
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.fetch_roster()
    assert time.monotonic() - started < 0.5
    assert_helper_gone_and_collector_on()


# --- against a scripted server -------------------------------------------------------------------


def roster_items(*items: str) -> str:
    return "".join(items)


def item(jid: str, name: str | None = None, subscription: str = "none", groups: tuple = ()) -> str:
    attrs = f" jid='{jid}' subscription='{subscription}'" + (f" name='{name}'" if name is not None else "")
    return f"<item{attrs}>" + "".join(f"<group>{g}</group>" for g in groups) + "</item>"


RESULT_HEAD = "<iq type='result' id='{id}'><query xmlns='jabber:iq:roster'>"
RESULT_TAIL = "</query></iq>"


def read_roster_get(conn: FakeConnection) -> str:
    """Reads the client's roster get and returns its id."""
    got = conn.read_until(b"jabber:iq:roster")
    if not got.endswith(b"</iq>"):
        got += conn.read_until(b"</iq>")
    ids = re.findall(rb"<iq\b[^>]*\bid=['\"]([^'\"]+)['\"]", got)
    assert ids, got
    return ids[-1].decode()


def until_closed(conn: FakeConnection) -> None:
    try:
        conn.read_until(b"</stream:stream>")
    except (EOFError, OSError):
        pass


def serve_roster(answer: Callable[[FakeConnection, str], None]) -> FakeServer:
    """A scripted server that logs the client in (no roster versioning) and calls
    ``answer(conn, id)`` with the id of its roster get."""

    def script(conn: FakeConnection) -> None:
        conn.login_plain()
        answer(conn, read_roster_get(conn))

    return FakeServer(script)


def fake_client(fake: FakeServer) -> xmpp_roster.Client:
    config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=fake.port, tls="plaintext", timeout=5)
    client = xmpp_roster.Client(config)
    client.connect()
    return client


FIVE = [
    item("a@localhost", "A", "both", ("Friends",)),
    item("b@localhost"),
    item("c@localhost", "C", "to"),
    item("d@localhost", "D", "from", ("Work", "Friends")),
    item("e@localhost", "E"),
]


def test_items_are_made_while_the_result_still_arrives_and_callbacks_stay_on_the_calling_thread(monkeypatch) -> None:
    spy = FeedSpy(monkeypatch, batch_items=2)
    first_batch_before_the_rest: List[bool] = []

    def answer(conn: FakeConnection, iq_id: str) -> None:
        # A push before the result: its callback runs inside the fetch.
        conn.send("<iq type='set' id='push1'><query xmlns='jabber:iq:roster'><item jid='early@localhost'/></query></iq>")
        conn.send(RESULT_HEAD.format(id=iq_id) + roster_items(*FIVE[:3]))
        # The fetch is still waiting for the rest: the first batch must be made meanwhile.
        first_batch_before_the_rest.append(spy.first_batch.wait(5))
        conn.send(roster_items(*FIVE[3:]) + RESULT_TAIL)
        until_closed(conn)

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        callback_threads: List[str] = []
        client.on_roster_change(lambda event: callback_threads.append(threading.current_thread().name))
        items = client.fetch_roster()
        assert first_batch_before_the_rest == [True]
        assert spy.batches == [2, 2, 1] and spy.completes == [True] and spy.snapshot_decodes == 0
        assert callback_threads == [threading.current_thread().name]
        assert_helper_gone_and_collector_on()
        assert items == [
            RosterItem("a@localhost", "A", Subscription.BOTH, False, False, ("Friends",)),
            RosterItem("b@localhost", None, Subscription.NONE, False, False, ()),
            RosterItem("c@localhost", "C", Subscription.TO, False, False, ()),
            RosterItem("d@localhost", "D", Subscription.FROM, False, False, ("Friends", "Work")),  # sorted
            RosterItem("e@localhost", "E", Subscription.NONE, False, False, ()),
        ]
        assert items == list(client.roster.values())  # the result replaced the pushed item
        client.close()
    assert fake.error is None, fake.error


def test_the_collector_is_paused_while_items_are_made_not_while_waiting_for_the_server(monkeypatch) -> None:
    spy = FeedSpy(monkeypatch, batch_items=2)
    collector_on: List[bool] = []

    def answer(conn: FakeConnection, iq_id: str) -> None:
        # The fetch waits for the server: the helper is running, but makes nothing yet.
        deadline = time.monotonic() + 5
        while not feed_decoder_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        collector_on.append(gc.isenabled())
        conn.send(RESULT_HEAD.format(id=iq_id) + roster_items(*FIVE[:3]))
        spy.first_batch.wait(5)
        collector_on.append(gc.isenabled())  # between batches: waiting again
        conn.send(roster_items(*FIVE[3:]) + RESULT_TAIL)
        until_closed(conn)

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        assert len(client.fetch_roster()) == 5
        assert collector_on == [True, True]
        assert spy.gc_enabled_in_batches == [False] * 3
        assert_helper_gone_and_collector_on()
        client.close()
    assert fake.error is None, fake.error


def test_a_collector_the_program_turned_off_stays_off(monkeypatch) -> None:
    spy = FeedSpy(monkeypatch, batch_items=2)

    def answer(conn: FakeConnection, iq_id: str) -> None:
        conn.send(RESULT_HEAD.format(id=iq_id) + roster_items(*FIVE) + RESULT_TAIL)
        until_closed(conn)

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        gc.disable()
        try:
            assert len(client.fetch_roster()) == 5
            assert spy.batches == [2, 2, 1]
            assert not gc.isenabled()
        finally:
            gc.enable()
        client.close()
    assert fake.error is None, fake.error


def test_a_result_listing_a_jid_twice_falls_back_to_the_snapshot_and_the_last_one_wins(monkeypatch) -> None:
    spy = FeedSpy(monkeypatch, batch_items=2)

    def answer(conn: FakeConnection, iq_id: str) -> None:
        result = roster_items(
            item("a@localhost", "First A"),
            item("b@localhost", "B"),
            item("c@localhost", "C"),
            item("a@localhost", "Last A", "both", ("Friends",)),
            item("d@localhost", "D"),
        )
        conn.send(RESULT_HEAD.format(id=iq_id) + result + RESULT_TAIL)
        until_closed(conn)

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        items = client.fetch_roster()
        # a and b went out as a batch before a came again; then the batches stopped, the feed
        # was not complete and the items came from the snapshot.
        assert spy.batches == [2]
        assert spy.completes == [False]
        assert spy.snapshot_decodes == 1
        assert client.last_fetch_unchanged is False
        assert_helper_gone_and_collector_on()
        assert [i.jid for i in items] == ["a@localhost", "b@localhost", "c@localhost", "d@localhost"]
        assert items[0] == RosterItem("a@localhost", "Last A", Subscription.BOTH, False, False, ("Friends",))
        assert items == list(client.roster.values())
        client.close()
    assert fake.error is None, fake.error


@pytest.mark.parametrize("how", ["reset", "close"])
def test_a_connection_lost_in_the_middle_of_the_result_is_disconnected(monkeypatch, how: str) -> None:
    spy = FeedSpy(monkeypatch, batch_items=2)

    def answer(conn: FakeConnection, iq_id: str) -> None:
        conn.send(RESULT_HEAD.format(id=iq_id) + roster_items(*FIVE[:3]))
        spy.first_batch.wait(5)  # a batch was made; then the connection goes
        if how == "reset":
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        events = []
        client.on_disconnect(events.append)
        started = time.monotonic()
        with pytest.raises(xmpp_roster.DisconnectedError):
            client.fetch_roster()
        assert time.monotonic() - started < 4  # noticed, not timed out (timeout=5)
        assert spy.batches == [2]
        assert_helper_gone_and_collector_on()
        assert not client.is_connected
        assert len(events) == 1 and isinstance(events[0].error, xmpp_roster.DisconnectedError)
        # The items of the failed fetch were neither returned nor installed.
        assert client.roster == {}
        assert client.last_fetch_unchanged is None
        client.close()
    assert fake.error is None, fake.error


def test_without_a_helper_thread_the_fetch_still_returns_the_roster(monkeypatch) -> None:
    # threading refuses new threads at interpreter shutdown and at the system's thread limit.
    spy = FeedSpy(monkeypatch, batch_items=2)

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    def answer(conn: FakeConnection, iq_id: str) -> None:
        conn.send(RESULT_HEAD.format(id=iq_id) + roster_items(*FIVE) + RESULT_TAIL)
        until_closed(conn)

    with serve_roster(answer) as fake:
        client = fake_client(fake)
        with monkeypatch.context() as patch:  # the fake server's own thread is running already
            patch.setattr(threading.Thread, "start", no_thread)
            items = client.fetch_roster()
        assert spy.batches == [] and spy.snapshot_decodes == 1, "the plain fetch, then the snapshot"
        assert [i.jid for i in items] == ["a@localhost", "b@localhost", "c@localhost", "d@localhost", "e@localhost"]
        assert items == list(client.roster.values())
        assert client.last_fetch_unchanged is False
        assert_helper_gone_and_collector_on()
        client.close()
    assert fake.error is None, fake.error
