"""Small helpers shared by the tests: waiting on events, a raw-socket XMPP client, export format 3
buffers made by hand, and a spy on how fetch_roster made its items."""

from __future__ import annotations

import base64
import gc
import struct
import re
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, List, Sequence

import pytest

import xmpp_roster
from xmpp_roster import _client, _export, _feed, _ffi


def poll_until(client: xmpp_roster.Client, done: Callable[[], bool], timeout: float = 5.0) -> None:
    """Polls ``client`` until ``done()`` is true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"condition not reached within {timeout} s")
        client.poll(min(left, 0.2))


def poll_quietly(client: xmpp_roster.Client, seconds: float) -> None:
    """Polls ``client`` for ``seconds``, handling whatever arrives."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        client.poll(min(left, 0.2))


class RawXmpp:
    """A deliberately dumb XMPP client over a plain TCP socket: PLAIN auth, bind, send raw XML.

    Used to play a malicious third party (the library's own client would refuse to send what
    we need to send).
    """

    def __init__(self, host: str, port: int, domain: str, user: str, password: str, resource: str = "raw") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.domain = domain
        self._open_stream()
        features = self.read_until(b"</stream:features>")
        assert b"PLAIN" in features, features
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        reply = self.read_until_any([b"<success", b"<failure"])
        assert b"<success" in reply, reply
        self.read_until_any([b"/>", b"</success>"])
        self.buf = b""
        self._open_stream()
        self.read_until(b"</stream:features>")
        self.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>{resource}</resource></bind></iq>"
        )
        bound = self.read_until(b"</iq>")
        m = re.search(rb"<jid>([^<]+)</jid>", bound)
        assert m, bound
        self.jid = m.group(1).decode()

    def _open_stream(self) -> None:
        self.send(
            f"<?xml version='1.0'?><stream:stream to='{self.domain}' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )

    def send(self, xml: str) -> None:
        self.sock.sendall(xml.encode())

    def read_until_any(self, markers: List[bytes], timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            for marker in markers:
                at = self.buf.find(marker)
                if at >= 0:
                    out, self.buf = self.buf[: at + len(marker)], self.buf[at + len(marker) :]
                    return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"raw client: none of {markers} within {timeout} s; got {self.buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"raw client: connection closed; got {self.buf!r}")
            self.buf += chunk

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        return self.read_until_any([marker], timeout)

    def read_available(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self.sock.close()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeServer:
    """A scripted one-connection XMPP server on 127.0.0.1, for what Prosody will not do.

    ``script(conn)`` runs in a thread with a :class:`FakeConnection` once a client connects.
    """

    def __init__(self, script: Callable[["FakeConnection"], None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = int(self.sock.getsockname()[1])
        self.error: BaseException | None = None
        self._script = script
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.sock.settimeout(10)
            conn, _ = self.sock.accept()
            with conn:
                self._script(FakeConnection(conn))
        except BaseException as e:  # reported by close()
            self.error = e

    def close(self) -> None:
        self._thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeConnection:
    STREAM_HEADER = (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='{id}' version='1.0'>"
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(10)
        self.buf = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"client closed; got {self.buf!r}")
            self.buf += chunk
        at = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:at], self.buf[at:]
        return out

    def send(self, xml: str) -> None:
        self.sock.sendall(xml.encode())

    def answer_iq(self, marker: bytes, reply: str) -> None:
        """Reads up to ``marker`` (inside an IQ) and the end of that IQ, then sends ``reply``
        with ``{id}`` replaced by the IQ's id."""
        got = self.read_until(marker)
        if not got.endswith(b"</iq>"):
            got += self.read_until(b"</iq>")
        ids = re.findall(rb"<iq\b[^>]*\bid=['\"]([^'\"]+)['\"]", got)
        assert ids, got
        self.send(reply.replace("{id}", ids[-1].decode()))

    def open_stream(self, features: str) -> None:
        self.read_until(b"<stream:stream")
        self.read_until(b">")
        self.send(self.STREAM_HEADER.format(id=uuid.uuid4().hex) + f"<stream:features>{features}</stream:features>")

    def login_plain(self, extra_features: str = "") -> None:
        """Plaintext PLAIN login (any password) and resource binding; no pre-approval, no rosterver."""
        self.open_stream(
            "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
        )
        self.read_until(b"</auth>")
        self.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self.open_stream("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" + extra_features)
        iq = self.read_until(b"</iq>")
        iq_id = re.search(rb"id=['\"]([^'\"]+)['\"]", iq)
        assert iq_id, iq
        self.send(
            f"<iq type='result' id='{iq_id.group(1).decode()}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<jid>alice@localhost/fake</jid></bind></iq>"
        )


def nul_terminated(texts: Iterable[str]) -> bytes:
    """UTF-8 strings, each followed by a NUL (a string section of export format 3)."""
    return "".join(text + "\0" for text in texts).encode("utf-8")


def _u32s(values: Iterable[int]) -> bytes:
    return b"".join(struct.pack("<I", v) for v in values)


def export_layout(
    group_index: Sequence[int],
    nameless: Sequence[int],
    subscriptions: bytes,
    asks: bytes,
    approvals: bytes,
    jids: bytes,
    names: bytes,
    lists: Sequence[str],
) -> bytes:
    """Format 3 from its sections, as docs/C-API.md describes it: the header, then the sections."""
    n = len(group_index)
    group_lists = nul_terminated(lists)
    header = b"XRS\x03" + struct.pack("<6I", n, len(lists), len(nameless), len(jids), len(names), len(group_lists))
    return header + _u32s(group_index) + _u32s(nameless) + subscriptions + asks + approvals + jids + names + group_lists


#: The name of fetch_roster's helper thread (xmpp_roster/_feed.py).
FEED_DECODER_THREAD = "xmpp_roster feed decoder"


def feed_decoder_threads() -> List[threading.Thread]:
    """The fetch_roster helper threads still alive."""
    return [t for t in threading.enumerate() if t.name == FEED_DECODER_THREAD]


class FeedSpy:
    """Records how ``fetch_roster`` made its items, from creation until the test ends: each batch
    the feed decoder decoded (its size, the thread, whether the collector was on while its items
    were made), each snapshot
    decoded (the fallback path, also ``client.roster``), and what ``xmpp_roster_feed_complete``
    said. With ``batch_items``, feeds hand out that many items per batch.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, batch_items: int | None = None) -> None:
        self.batches: List[int] = []
        self.batch_threads: List[str] = []
        self.gc_enabled_in_batches: List[bool] = []
        self.snapshot_decodes = 0
        self.completes: List[bool] = []
        #: Set once the first batch has been decoded.
        self.first_batch = threading.Event()
        decode_batch = _feed.decode_export
        decode_snapshot = _client.decode_export
        feed_complete = _ffi.lib.xmpp_roster_feed_complete

        # Whether the collector was on inside each pause of decode_export (while it made items).
        made_with_collector: List[bool] = []
        pause = _export.gc_paused

        @contextmanager
        def watched_pause() -> Iterator[None]:
            with pause():
                made_with_collector.append(gc.isenabled())
                yield

        def batch(data: Any, known_lists: Any = None) -> List[xmpp_roster.RosterItem]:
            self.batch_threads.append(threading.current_thread().name)
            before = len(made_with_collector)
            items = decode_batch(data, known_lists)
            # No pause at all counts as "on".
            self.gc_enabled_in_batches.append(any(made_with_collector[before:]) or len(made_with_collector) == before)
            self.batches.append(len(items))
            self.first_batch.set()
            return items

        def snapshot(data: Any) -> List[xmpp_roster.RosterItem]:
            self.snapshot_decodes += 1
            return decode_snapshot(data)

        def complete(feed: Any) -> bool:
            done = bool(feed_complete(feed))
            self.completes.append(done)
            return done

        monkeypatch.setattr(_export, "gc_paused", watched_pause)
        monkeypatch.setattr(_feed, "decode_export", batch)
        monkeypatch.setattr(_client, "decode_export", snapshot)
        monkeypatch.setattr(_ffi.lib, "xmpp_roster_feed_complete", complete)
        if batch_items is not None:
            # Imported by name into _client, which creates the feeds.
            monkeypatch.setattr(_client, "BATCH_ITEMS", batch_items)
