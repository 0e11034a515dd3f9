"""Every exception class, driven for real wherever a real server (or a scripted fake) can do it."""

from __future__ import annotations

import builtins
import ctypes
import socket
import threading
import time
from typing import List

import pytest

import xmpp_roster
from xmpp_roster import _errors, _ffi

from conftest import LOOPBACK, User
from helpers import FakeServer, SilentServer


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])  # nobody listens once this socket closes


def test_hierarchy() -> None:
    for name in xmpp_roster.__all__:
        obj = getattr(xmpp_roster, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, xmpp_roster.XmppRosterError)
    assert issubclass(xmpp_roster.TimeoutError, builtins.TimeoutError)
    assert issubclass(xmpp_roster.XmppIOError, builtins.ConnectionError)
    assert issubclass(xmpp_roster.DisconnectedError, builtins.ConnectionError)
    assert issubclass(xmpp_roster.InvalidJidError, xmpp_roster.InvalidArgumentError)
    assert issubclass(xmpp_roster.InvalidArgumentError, ValueError)
    # One class per result code, and the library knows a description for each.
    for code, cls in _errors._BY_CODE.items():
        assert cls.code == code or code == _ffi.ERR_NULL_PARAMETER
        assert _ffi.string_at(_ffi.lib.xmpp_roster_result_str(code)) not in (None, "", "unknown result code")
    assert _ffi.string_at(_ffi.lib.xmpp_roster_result_str(9999)) == "unknown result code"


def test_wrong_password_is_auth_error(server, make_user, config_for) -> None:
    user = make_user("alice")
    client = xmpp_roster.Client(config_for(User(user.name, "wrong")))
    with pytest.raises(xmpp_roster.AuthError) as info:
        client.connect()
    assert info.value.code == _ffi.ERR_AUTH
    assert info.value.condition == "not-authorized"
    assert info.value.message
    # The SASL <failure/>'s <text/>, worded differently by the two servers (Prosody's is that
    # of SCRAM, the mechanism chosen by default).
    if server.is_ejabberd:
        assert info.value.text == "Invalid username or password"
    else:
        assert info.value.text == "The response provided by the client doesn't match the one we calculated."
    assert info.value.message.endswith(": " + info.value.text)
    assert info.value.error_type is None
    assert not client.is_connected
    client.close()


def test_closed_port_is_io_error_from_the_context_manager(make_user) -> None:
    user = make_user("alice")
    config = xmpp_roster.Config(user.jid, user.password, host=LOOPBACK, port=_closed_port(), tls="plaintext")
    with pytest.raises(xmpp_roster.XmppIOError):
        with xmpp_roster.Client(config):
            pytest.fail("connected to a closed port")  # pragma: no cover


def test_closed_port_raises(make_user) -> None:
    user = make_user("alice")
    config = xmpp_roster.Config(user.jid, user.password, host=LOOPBACK, port=_closed_port(), tls="plaintext")
    client = xmpp_roster.Client(config)
    with pytest.raises(xmpp_roster.XmppIOError) as info:
        client.connect()
    assert isinstance(info.value, ConnectionError)
    assert info.value.code == _ffi.ERR_IO
    client.close()


def test_untrusted_certificate_is_tls_error(server, make_user, config_for) -> None:
    user = make_user("alice")
    client = xmpp_roster.Client(config_for(user, ca_file=None))
    with pytest.raises(xmpp_roster.TlsError):
        client.connect()
    client.close()
    # The same server is fine once its certificate is trusted, or (tests only) not checked.
    with xmpp_roster.Client(config_for(user, ca_file=None, danger_accept_invalid_certs=True)) as ok:
        assert ok.is_connected
    with xmpp_roster.Client(config_for(user, tls="direct", port=server.tls_port)) as ok:
        assert ok.is_connected


def test_certificate_for_another_name_is_tls_error(server, make_user, config_for) -> None:
    user = make_user("alice")
    client = xmpp_roster.Client(config_for(user, tls_server_name="not-localhost.example"))
    with pytest.raises(xmpp_roster.TlsError):
        client.connect()
    client.close()


def test_unknown_domain_is_stream_error(server) -> None:
    config = xmpp_roster.Config(
        "alice@unknown.example", "pw", host=server.host, port=server.port, tls="plaintext", timeout=10
    )
    client = xmpp_roster.Client(config)
    with pytest.raises(xmpp_roster.StreamError) as info:
        client.connect()
    assert info.value.condition == "host-unknown"
    client.close()


def test_removing_an_unknown_item(server, make_user, connect) -> None:
    client = connect(make_user("alice"))
    client.fetch_roster()
    if server.is_ejabberd:
        # ejabberd answers with a result (and a push that removes nothing).
        client.remove_item("nobody@localhost")
        assert client.roster == {}
        return
    # Prosody refuses it (RFC 6121 §2.5.3), with no <text/>.
    with pytest.raises(xmpp_roster.StanzaError) as info:
        client.remove_item("nobody@localhost")
    err = info.value
    assert (err.code, err.condition, err.error_type) == (_ffi.ERR_STANZA, "item-not-found", "modify")
    assert err.text is None
    assert "item-not-found" in str(err)
    assert client.is_connected  # a stanza error leaves the stream up


def test_adding_own_jid(server, make_user, connect) -> None:
    user = make_user("alice")
    client = connect(user)
    client.fetch_roster()
    if server.is_ejabberd:
        # ejabberd accepts the user's own JID like any other contact.
        client.set_item(user.jid, "me")
        assert client.roster[user.jid].name == "me"
        return
    # Prosody refuses it.
    with pytest.raises(xmpp_roster.StanzaError) as info:
        client.set_item(user.jid, "me")
    assert info.value.condition == "not-allowed"
    assert info.value.error_type == "cancel"
    assert client.roster == {}


def test_stanza_and_stream_error_texts_from_a_scripted_server() -> None:
    # Neither real server sends a <text/> with the stanza errors this API can provoke (Prosody
    # sends none; ejabberd only for requests the library never makes, like duplicate groups).
    def script(conn) -> None:  # type: ignore[no-untyped-def]
        conn.login_plain()
        conn.answer_iq(
            b"jabber:iq:roster",
            "<iq type='error' id='{id}'><error type='wait'>"
            "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Roster storage is busy &amp; will be back"
            "</text></error></iq>",
        )
        conn.answer_iq(
            b"</iq>",
            "<iq type='error' id='{id}'><error type='cancel'>"
            "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        )
        conn.read_until(b"</iq>")
        conn.send(
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Too many requests</text></stream:error></stream:stream>"
        )
        try:
            conn.read_until(b"</stream:stream>")
        except (EOFError, OSError):
            pass

    with FakeServer(script) as fake:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=fake.port, tls="plaintext", timeout=5)
        client = xmpp_roster.Client(config)
        events = []
        client.on_disconnect(events.append)
        client.connect()
        with pytest.raises(xmpp_roster.StanzaError) as info:
            client.fetch_roster()
        err = info.value
        assert (err.condition, err.error_type) == ("resource-constraint", "wait")
        assert err.text == "Roster storage is busy & will be back"
        assert err.message.endswith(": Roster storage is busy & will be back")
        with pytest.raises(xmpp_roster.StanzaError) as info:
            client.set_item("bob@localhost")
        assert info.value.condition == "not-allowed" and info.value.text is None
        with pytest.raises(xmpp_roster.StreamError) as stream_info:
            client.set_item("bob@localhost")
        assert stream_info.value.condition == "policy-violation"
        assert stream_info.value.text == "Too many requests"
        (event,) = events
        assert isinstance(event.error, xmpp_roster.StreamError)
        assert (event.condition, event.text) == ("policy-violation", "Too many requests")
        assert (event.error.condition, event.error.text) == ("policy-violation", "Too many requests")
        assert event.message == stream_info.value.message
        client.close()
    assert fake.error is None, fake.error


def test_silent_server_is_timeout(make_user) -> None:
    with SilentServer() as silent:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=silent.port, tls="plaintext", timeout=0.5)
        client = xmpp_roster.Client(config)
        started = time.monotonic()
        with pytest.raises(xmpp_roster.TimeoutError) as info:
            client.connect()
        elapsed = time.monotonic() - started
        assert isinstance(info.value, builtins.TimeoutError)
        assert 0.4 <= elapsed < 5, elapsed
        client.close()


def test_interrupt_from_another_thread_during_connect() -> None:
    with SilentServer() as silent:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=silent.port, tls="plaintext", timeout=30)
        client = xmpp_roster.Client(config)
        timer = threading.Timer(0.3, client.interrupt)
        timer.start()
        started = time.monotonic()
        with pytest.raises(xmpp_roster.InterruptedCallError):
            client.connect()
        assert time.monotonic() - started < 5
        timer.join()
        client.close()


def test_interrupt_from_another_thread_during_poll(make_user, connect) -> None:
    client = connect(make_user("alice"))
    client.fetch_roster()
    # Other Python threads keep running while poll() blocks: ctypes releases the GIL.
    ticks = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    entered: List[float] = []

    def ticks_in_poll() -> int:
        return sum(1 for t in ticks if entered and t > entered[0])

    def interrupter() -> None:
        # Interrupt once the ticker ran 20 times during the poll (at most 10 s): a held GIL would
        # stop it, and the assertion below would fail.
        deadline = time.monotonic() + 10
        while ticks_in_poll() < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        client.interrupt()

    threads = [threading.Thread(target=ticker), threading.Thread(target=interrupter)]
    for t in threads:
        t.start()
    started = time.monotonic()
    try:
        with pytest.raises(xmpp_roster.InterruptedCallError):
            entered.append(time.monotonic())
            client.poll(30)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert time.monotonic() - started < 15
    assert ticks_in_poll() >= 20, "the GIL was held during poll()"
    # The connection survives an interrupt.
    assert client.is_connected
    assert client.fetch_roster() == []


def test_bad_jids_are_invalid_jid_error(make_user, connect) -> None:
    for bad in ("", "@localhost", "alice@", "a@b@c", "alice@localhost/"):
        with pytest.raises(xmpp_roster.InvalidJidError) as info:
            xmpp_roster.Config(bad, "pw")
        assert info.value.code == _ffi.ERR_INVALID_JID, bad
    client = connect(make_user("alice"))
    client.fetch_roster()
    with pytest.raises(xmpp_roster.InvalidJidError):
        client.set_item("bad@@jid")
    with pytest.raises(xmpp_roster.InvalidJidError):
        client.subscribe("bob@localhost/resource")  # roster and subscription JIDs are bare


def test_nul_and_bad_values_are_invalid_argument(make_user, connect) -> None:
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost\0evil", "pw")
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost", "pw\0")
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost", "pw", port=70000)
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost", "pw", tls="ssl")
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost", "pw", timeout=0)
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        xmpp_roster.Config("alice@localhost", "pw", sasl_mechanisms=["DIGEST-MD5"])
    with pytest.raises(xmpp_roster.InvalidUtf8Error):
        xmpp_roster.Config("alice@localhost", "\ud800")  # a lone surrogate has no UTF-8 form

    client = connect(make_user("alice"))
    client.fetch_roster()
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        client.set_item("bob@localhost", "Bob\0Mallory")
    with pytest.raises(xmpp_roster.InvalidArgumentError) as info:
        client.set_item("bob@localhost", "Bob", [""])  # refused by the library itself
    assert info.value.code == _ffi.ERR_INVALID_ARGUMENT
    with pytest.raises(xmpp_roster.InvalidArgumentError) as info:
        client.set_item("bob@localhost", "Bob\x07")  # XML cannot carry control characters
    assert info.value.code == _ffi.ERR_INVALID_ARGUMENT
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        client.send_presence(priority=128)
    with pytest.raises(xmpp_roster.InvalidArgumentError):
        client.send_presence(show="sleeping")
    with pytest.raises(TypeError):
        client.set_item("bob@localhost", groups="Friends")
    assert client.roster == {}  # nothing was sent


def test_invalid_utf8_from_c() -> None:
    # Python strings always encode to valid UTF-8; only a direct C call can pass bad bytes.
    out = _ffi.ConfigPtr()
    code = _ffi.lib.xmpp_roster_config_new(b"al\xffce@localhost", b"pw", ctypes.byref(out))
    assert code == _ffi.ERR_INVALID_UTF8
    assert not out  # out-params are written only on success
    err = _errors.error_from_code(code)
    assert isinstance(err, xmpp_roster.InvalidUtf8Error) and err.message


def test_not_connected(make_user, config_for) -> None:
    client = xmpp_roster.Client(config_for(make_user("alice")))
    assert not client.is_connected and client.bound_jid is None
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.fetch_roster()
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.set_item("bob@localhost")
    with pytest.raises(xmpp_roster.NotConnectedError):
        client.send_presence()
    client.close()


def test_not_found_from_snapshot_lookup(make_user, connect) -> None:
    # The Python API looks items up in its own Mapping; the C lookup is exercised directly.
    client = connect(make_user("alice"))
    client.fetch_roster()
    with pytest.raises(KeyError):
        client.roster["nobody@localhost"]
    snap = _ffi.SnapshotPtr()
    assert _ffi.lib.xmpp_roster_client_snapshot(client._ptr, ctypes.byref(snap)) == _ffi.OK
    try:
        assert not _ffi.lib.xmpp_roster_snapshot_find(snap, b"nobody@localhost")
        code = _ffi.lib.xmpp_roster_last_error_code()
        assert code == _ffi.ERR_NOT_FOUND
        assert isinstance(_errors.error_from_code(code), xmpp_roster.NotFoundError)
    finally:
        _ffi.lib.xmpp_roster_snapshot_free(snap)


def test_server_closing_the_connection_is_disconnected() -> None:
    def script(conn) -> None:  # type: ignore[no-untyped-def]
        conn.read_until(b"<stream:stream")
        conn.read_until(b">")
        # Close without a word: no header, no stream error.

    with FakeServer(script) as fake:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=fake.port, tls="plaintext", timeout=5)
        client = xmpp_roster.Client(config)
        with pytest.raises(xmpp_roster.DisconnectedError):
            client.connect()
        client.close()
    assert fake.error is None, fake.error


def test_disconnected_after_login() -> None:
    def script(conn) -> None:  # type: ignore[no-untyped-def]
        conn.login_plain()
        conn.read_until(b"jabber:iq:roster")  # the roster get: hang up instead of answering

    with FakeServer(script) as fake:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=fake.port, tls="plaintext", timeout=5)
        client = xmpp_roster.Client(config)
        events = []
        client.on_disconnect(events.append)
        client.connect()
        with pytest.raises(xmpp_roster.DisconnectedError):
            client.fetch_roster()
        assert not client.is_connected
        assert len(events) == 1 and isinstance(events[0].error, xmpp_roster.DisconnectedError)
        client.close()
    assert fake.error is None, fake.error


def test_preapproval_without_server_support_is_unsupported() -> None:
    def script(conn) -> None:  # type: ignore[no-untyped-def]
        conn.login_plain()  # advertises neither pre-approval nor roster versioning
        try:
            conn.read_until(b"</stream:stream>")
        except (EOFError, OSError):
            pass

    with FakeServer(script) as fake:
        config = xmpp_roster.Config("alice@localhost", "pw", host=LOOPBACK, port=fake.port, tls="plaintext", timeout=5)
        with xmpp_roster.Client(config) as client:
            assert client.bound_jid == "alice@localhost/fake"
            assert not client.supports_preapproval
            assert not client.supports_roster_versioning
            with pytest.raises(xmpp_roster.UnsupportedError):
                client.preapprove("bob@localhost")
    assert fake.error is None, fake.error


def test_resource_conflict_is_stream_error_and_reported_to_on_disconnect(make_user, connect) -> None:
    user = make_user("alice")
    first = connect(user, resource="same")
    first.fetch_roster()
    events = []
    first.on_disconnect(events.append)
    connect(user, resource="same")  # both servers' default: the new session replaces the old one
    with pytest.raises(xmpp_roster.StreamError) as info:
        for _ in range(50):
            first.poll(0.1)
    # Both servers say the same.
    assert info.value.condition == "conflict"
    assert info.value.text == "Replaced by new connection"
    assert not first.is_connected
    (event,) = events
    assert isinstance(event.error, xmpp_roster.StreamError) and "conflict" in event.message
    assert (event.condition, event.text) == ("conflict", "Replaced by new connection")
    assert (event.error.condition, event.error.text) == ("conflict", "Replaced by new connection")
    assert event.error.message == event.message == info.value.message


def test_oversized_stanza_is_stream_error(make_user, connect) -> None:
    user = make_user("alice")
    writer = connect(user)
    writer.fetch_roster()
    # The limit is checked once per read (up to 64 KiB), so the result must exceed one read.
    for i in range(80):
        writer.set_item(f"contact{i:02d}@example.org", f"{i:02d}" + "n" * 1000)
    small = connect(user, resource="small", max_stanza_size=4096)
    with pytest.raises(xmpp_roster.StreamError) as info:
        small.fetch_roster()
    assert info.value.condition == "policy-violation", info.value.message
    assert not small.is_connected


def test_abort_from_a_c_level_callback_is_callback_aborted(make_user, connect) -> None:
    # Python callbacks abort by raising (and their exception is re-raised); a callback that
    # returns non-zero without one, as a C callback would, gives CallbackAbortedError.
    client = connect(make_user("alice"))
    client.fetch_roster()
    abort = _ffi.ROSTER_CHANGE_CB(lambda userdata, change, item, version: 1)
    code = _ffi.lib.xmpp_roster_client_on_roster_change(client._ptr, abort, None, _ffi.FREE_FN())
    assert code == _ffi.OK
    try:
        with pytest.raises(xmpp_roster.CallbackAbortedError):
            client.set_item("bob@localhost")
        assert "bob@localhost" in client.roster  # aborted after the push was applied
    finally:
        client.on_roster_change(None)


def test_interrupt_before_the_call_is_not_lost(make_user, connect) -> None:
    client = connect(make_user("alice"))
    client.interrupt()  # no call running: the next wait is cut short instead
    with pytest.raises(xmpp_roster.InterruptedCallError):
        client.poll(10)
    assert client.poll(0) == 0  # consumed: once only
    assert client.fetch_roster() == []
