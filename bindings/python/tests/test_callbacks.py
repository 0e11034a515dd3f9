"""Event callbacks: lifetime of the Python callables, exceptions, re-entrancy, threads, exit."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import weakref
from typing import List

import pytest

import xmpp_roster
from xmpp_roster import RosterChange, RosterEvent, _client

from helpers import poll_until


class Counter:
    """A callable whose lifetime we can watch with a weakref."""

    def __init__(self, sink: List[RosterEvent]) -> None:
        self.sink = sink

    def __call__(self, event: RosterEvent) -> None:
        self.sink.append(event)


def test_callbacks_dropped_by_python_stay_alive_while_registered(make_user, connect) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    client = connect(alice)
    client.fetch_roster()
    seen: List[RosterEvent] = []
    callback = Counter(seen)
    ref = weakref.ref(callback)
    client.on_roster_change(callback)
    del callback
    gc.collect()
    assert ref() is not None, "the registry must keep a registered callable alive"

    client.set_item(bob.jid, "Bob")
    assert [e.change for e in seen] == [RosterChange.ADDED]

    # Same for a lambda nobody else references.
    lambdas: List[str] = []
    client.on_subscription(lambda event: lambdas.append(event.jid))
    gc.collect()

    # Replacing the registration releases the old callable (the library's free_userdata runs).
    replacement: List[RosterEvent] = []
    client.on_roster_change(replacement.append)
    gc.collect()
    assert ref() is None, "a replaced callback must be released"
    client.set_item(carol.jid)
    assert len(seen) == 1 and [e.item.jid for e in replacement] == [carol.jid]

    # Removing with None releases it too, and then nothing is called.
    client.on_roster_change(None)
    client.remove_item(carol.jid)
    assert len(replacement) == 1


def test_close_and_forgetting_release_every_callback(make_user, config_for) -> None:
    user = make_user("alice")
    baseline = len(_client._registry)

    client = xmpp_roster.Client(config_for(user))
    sink: List[object] = []
    refs = []
    for register in (client.on_roster_change, client.on_subscription, client.on_presence, client.on_disconnect):
        fn = Counter(sink)  # type: ignore[arg-type]
        refs.append(weakref.ref(fn))
        register(fn)
    del fn
    assert len(_client._registry) == baseline + 4
    client.connect()
    client.close()
    assert len(_client._registry) == baseline
    assert all(r() is None for r in refs)
    assert len(sink) == 1  # the disconnect event from close()

    # A client that is simply dropped is freed by the garbage collector, callbacks included.
    forgotten = xmpp_roster.Client(config_for(user))
    forgotten.connect()
    forgotten.on_roster_change(Counter([]))
    forgotten_ref = weakref.ref(forgotten)
    del forgotten
    gc.collect()
    assert forgotten_ref() is None
    assert len(_client._registry) == baseline


def test_decorators_and_event_contents(make_user, connect) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    client = connect(alice)
    got: List[RosterEvent] = []

    @client.on_roster_change
    def on_change(event: RosterEvent) -> None:
        got.append(event)

    assert callable(on_change)  # the decorator hands the function back
    client.fetch_roster()
    client.set_item(bob.jid, "Bob", ["G"])
    (event,) = got
    assert event.change is RosterChange.ADDED
    assert event.item == client.roster[bob.jid]
    assert event.version == client.roster_version


def test_exception_in_callback_is_reraised_from_the_call(make_user, connect) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    client = connect(alice)
    client.fetch_roster()

    class Boom(Exception):
        pass

    def exploding_callback(event: RosterEvent) -> None:
        raise Boom(f"no thanks: {event.item.jid}")

    client.on_roster_change(exploding_callback)
    with pytest.raises(Boom) as info:
        client.set_item(bob.jid, "Bob")
    assert str(info.value) == f"no thanks: {bob.jid}"
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "exploding_callback" in frames and "set_item" in frames, frames
    # The stanza was fully handled before the call was aborted.
    assert bob.jid in client.roster

    # The exception is not raised twice: the next call is clean.
    client.on_roster_change(None)
    assert client.fetch_roster() == list(client.roster.values())

    # During poll(): a change made by another session.
    client.on_roster_change(exploding_callback)
    other = connect(alice, resource="other")
    other.fetch_roster()
    other.set_item(carol.jid)
    with pytest.raises(Boom):
        for _ in range(50):
            client.poll(0.1)
    assert carol.jid in other.roster
    client.on_roster_change(None)
    poll_until(client, lambda: carol.jid in client.roster)


def test_keyboard_interrupt_in_callback_propagates(make_user, connect) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    client = connect(alice)
    client.fetch_roster()

    def ctrl_c(event: RosterEvent) -> None:
        raise KeyboardInterrupt

    client.on_roster_change(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        client.set_item(bob.jid)


def test_exception_in_disconnect_callback(make_user, connect) -> None:
    client = connect(make_user("alice"))

    def on_disconnect(event: xmpp_roster.DisconnectEvent) -> None:
        assert event.error is None  # requested
        raise RuntimeError("disconnect handler failed")

    client.on_disconnect(on_disconnect)
    with pytest.raises(RuntimeError, match="disconnect handler failed"):
        client.disconnect()
    assert not client.is_connected


def test_calling_the_client_from_its_callback_is_busy(make_user, connect) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    client = connect(alice)
    client.fetch_roster()
    inside = {}

    def reentrant(event: RosterEvent) -> None:
        inside["is_connected"] = client.is_connected  # False while busy, never a deadlock
        inside["bound_jid"] = client.bound_jid
        for name, attempt in (("close", client.close), ("roster", lambda: client.roster)):
            try:
                attempt()
            except xmpp_roster.BusyError as e:
                inside[name] = e
        client.fetch_roster()  # raises BusyError, which aborts set_item

    client.on_roster_change(reentrant)
    with pytest.raises(xmpp_roster.BusyError) as info:
        client.set_item(bob.jid)
    assert info.value.code == xmpp_roster.BusyError.code
    assert isinstance(inside.get("close"), xmpp_roster.BusyError)
    assert isinstance(inside.get("roster"), xmpp_roster.BusyError)
    assert inside["is_connected"] is False and inside["bound_jid"] is None
    # Registering from inside a callback is refused too, and leaks nothing.
    before = len(_client._registry)

    def register_inside(event: RosterEvent) -> None:
        client.on_presence(print)

    client.on_roster_change(register_inside)
    with pytest.raises(xmpp_roster.BusyError):
        client.set_item(carol.jid)
    assert len(_client._registry) == before
    client.on_roster_change(None)
    assert client.is_connected and not client.closed


def test_concurrent_call_from_another_thread_is_busy(make_user, connect) -> None:
    client = connect(make_user("alice"))
    client.fetch_roster()
    outcome: List[BaseException] = []

    def long_poll() -> None:
        try:
            client.poll(30)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=long_poll)
    worker.start()
    # Wait until the worker is inside poll(): from then on every call answers "busy" (reading the
    # roster too, which is harmless before that).
    deadline = time.monotonic() + 10
    while True:
        try:
            client.roster
        except xmpp_roster.BusyError:
            break
        assert time.monotonic() < deadline, "the worker never entered poll()"
        time.sleep(0.01)
    try:
        with pytest.raises(xmpp_roster.BusyError):
            client.fetch_roster()
        with pytest.raises(xmpp_roster.BusyError):
            client.close()
    finally:
        client.interrupt()
        worker.join(10)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], xmpp_roster.InterruptedCallError)
    client.close()


def test_forgotten_client_with_callbacks_exits_cleanly(server, make_user, tmp_path) -> None:
    user = make_user("alice")
    script = tmp_path / "forget.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import xmpp_roster
            config = xmpp_roster.Config({user.jid!r}, {user.password!r}, host={server.host!r},
                                        port={server.port}, ca_file={server.ca_file!r})
            client = xmpp_roster.Client(config)
            client.connect()
            client.fetch_roster()
            # A callback that refers to its own client: only close() or exit frees it.
            client.on_roster_change(lambda event: print(client, event))
            client.on_disconnect(lambda event: print("disconnect", event))
            client.set_item("bob@localhost", "Bob")
            never_closed = xmpp_roster.Client(config)
            print("done")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("done")
    assert "Exception" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_close_racing_calls_from_other_threads_is_safe(make_user, config_for) -> None:
    user = make_user("alice")
    allowed = (xmpp_roster.BusyError, xmpp_roster.NotConnectedError)
    for _ in range(20):
        client = xmpp_roster.Client(config_for(user, tls="plaintext", sasl_mechanisms=["PLAIN"], ca_file=None))
        client.connect()
        stop = threading.Event()
        unexpected: List[BaseException] = []

        def hammer() -> None:
            while not stop.is_set():
                try:
                    client.poll(0)
                    client.is_connected
                    client.bound_jid
                    client.interrupt()
                except allowed:
                    pass
                except xmpp_roster.InterruptedCallError:
                    pass
                except BaseException as e:  # pragma: no cover - reported below
                    unexpected.append(e)
                    return

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.02)
        while True:
            try:
                client.close()
                break
            except xmpp_roster.BusyError:
                time.sleep(0.001)  # another thread is inside a call: try again
        stop.set()
        for t in threads:
            t.join(10)
        assert not unexpected, unexpected
        assert client.closed and not client.is_connected
