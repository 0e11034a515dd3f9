"""Config and Client: the Python face of xmpp_roster_config and xmpp_roster_client."""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import threading
import types
import weakref
from ctypes import byref, c_bool, c_char_p, c_size_t, c_void_p
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from . import _ffi
from ._errors import (
    InvalidArgumentError,
    InvalidUtf8Error,
    NotConnectedError,
    BusyError,
    XmppRosterError,
    _BY_CODE,
    check,
    error_from_code,
)
from ._export import decode_export
from ._feed import BATCH_ITEMS, FeedDecoder
from ._types import (
    CHANGES,
    SHOWS,
    SUBSCRIPTION_KINDS,
    SUBSCRIPTIONS,
    DisconnectEvent,
    PresenceEvent,
    RosterEvent,
    RosterItem,
    SavedRoster,
    Show,
    SubscriptionEvent,
)

_lib = _ffi.lib

_TLS_MODES = {"starttls": _ffi.TLS_STARTTLS, "direct": _ffi.TLS_DIRECT, "plaintext": _ffi.TLS_PLAINTEXT}
_MECHANISMS = {"SCRAM-SHA-256": _ffi.SASL_SCRAM_SHA_256, "SCRAM-SHA-1": _ffi.SASL_SCRAM_SHA_1, "PLAIN": _ffi.SASL_PLAIN}
_SHOW_CODES = {show: code for code, show in enumerate(SHOWS)}
_UINT32_MAX = 2**32 - 1
_SIZE_MAX = 2 ** (8 * ctypes.sizeof(c_size_t)) - 1

StrPath = Union[str, "os.PathLike[str]"]
F = TypeVar("F", bound=Callable[..., Any])


# --- argument conversion: ctypes would silently truncate ints and cut strings at NUL -----------


def _cstr(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise InvalidArgumentError(f"{what} contains a NUL character", code=_ffi.ERR_INVALID_ARGUMENT)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidUtf8Error(f"{what} cannot be encoded as UTF-8: {e}", code=_ffi.ERR_INVALID_UTF8) from None


def _opt_cstr(value: Optional[str], what: str) -> Optional[bytes]:
    return None if value is None else _cstr(value, what)


def _int_in(value: int, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidArgumentError(f"{what} must be in {low}..{high}, got {value}", code=_ffi.ERR_INVALID_ARGUMENT)
    return value


def _millis(seconds: float, what: str, minimum: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise TypeError(f"{what} must be a number of seconds")
    if seconds < 0 or (minimum > 0 and seconds <= 0):
        raise InvalidArgumentError(f"{what} must be {'positive' if minimum else 'non-negative'}", code=_ffi.ERR_INVALID_ARGUMENT)
    if seconds * 1000 > _UINT32_MAX:
        raise InvalidArgumentError(f"{what} is too long (at most {_UINT32_MAX // 1000} s)", code=_ffi.ERR_INVALID_ARGUMENT)
    return max(minimum, math.ceil(seconds * 1000))


# --- Config -----------------------------------------------------------------------------------


class Config:
    """Everything needed to connect. Checked when built; immutable afterwards.

    Args:
        jid: the account's JID, e.g. ``"romeo@example.net"`` (a resource given here is the one
            requested at bind time).
        password: the account's password (never sent in the clear unless ``tls="plaintext"``
            and the server offers only PLAIN).
        host, port: connect here instead of the JID's domain on the mode's default port
            (5222, or 5223 for ``"direct"``).
        tls: ``"starttls"`` (plain TCP upgraded with ``<starttls/>``; fails if not offered),
            ``"direct"`` (TLS from the first byte, XEP-0368) or ``"plaintext"`` (no TLS at all:
            tests and trusted local links only).
        ca_file: a PEM file of extra certificates to trust, besides the system's roots.
        timeout: the longest any single wait on the server may take, in seconds.
        resource: the resource to bind; ``None`` lets the server pick.
        max_stanza_size: the largest stanza accepted from the server, in bytes (at least
            4096; default 16 MiB). Checked once per socket read, so a stanza may overshoot it by
            up to one read (64 KiB) before the stream is closed with ``policy-violation``.
        sasl_mechanisms: restrict SASL to these of ``"SCRAM-SHA-256"``, ``"SCRAM-SHA-1"``,
            ``"PLAIN"`` (still chosen in that order of preference).
        auto_approve: answer every incoming subscription request with ``subscribed``.
        danger_accept_invalid_certs: TESTS ONLY: accept any server certificate. Anyone on the
            path can then read the password and the roster.
        tls_server_name: the name the certificate must match (default: the JID's domain).

    Raises:
        InvalidJidError: ``jid`` is malformed.
        InvalidArgumentError: any other value is unusable.
    """

    __slots__ = (
        "_ptr",
        "_finalizer",
        "jid",
        "host",
        "port",
        "tls",
        "ca_file",
        "timeout",
        "resource",
        "max_stanza_size",
        "sasl_mechanisms",
        "auto_approve",
        "danger_accept_invalid_certs",
        "tls_server_name",
        "__weakref__",
    )

    def __init__(
        self,
        jid: str,
        password: str,
        host: Optional[str] = None,
        port: Optional[int] = None,
        tls: str = "starttls",
        ca_file: Optional[StrPath] = None,
        timeout: float = 30.0,
        resource: Optional[str] = None,
        max_stanza_size: Optional[int] = None,
        sasl_mechanisms: Optional[Iterable[str]] = None,
        auto_approve: bool = False,
        danger_accept_invalid_certs: bool = False,
        tls_server_name: Optional[str] = None,
    ) -> None:
        if tls not in _TLS_MODES:
            raise InvalidArgumentError(
                f"tls must be one of {', '.join(map(repr, _TLS_MODES))}, got {tls!r}", code=_ffi.ERR_INVALID_ARGUMENT
            )
        mask = 0
        mechanisms: Optional[Tuple[str, ...]] = None
        if sasl_mechanisms is not None:
            mechanisms = tuple(sasl_mechanisms)
            for m in mechanisms:
                if m not in _MECHANISMS:
                    raise InvalidArgumentError(
                        f"unknown SASL mechanism {m!r} (known: {', '.join(_MECHANISMS)})", code=_ffi.ERR_INVALID_ARGUMENT
                    )
                mask |= _MECHANISMS[m]
        ptr = _ffi.ConfigPtr()
        check(_lib.xmpp_roster_config_new(_cstr(jid, "jid"), _cstr(password, "password"), byref(ptr)))
        # From here on the C object is ours: free it when this Config goes away (or at exit).
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, _lib.xmpp_roster_config_free, ptr)
        if host is not None or port is not None:
            p = 0 if port is None else _int_in(port, 1, 65535, "port")
            check(_lib.xmpp_roster_config_set_server(ptr, _opt_cstr(host, "host"), p))
        check(_lib.xmpp_roster_config_set_tls(ptr, _TLS_MODES[tls]))
        if ca_file is not None:
            check(_lib.xmpp_roster_config_set_ca_file(ptr, _cstr(os.fspath(ca_file), "ca_file")))
        if tls_server_name is not None:
            check(_lib.xmpp_roster_config_set_tls_server_name(ptr, _cstr(tls_server_name, "tls_server_name")))
        if danger_accept_invalid_certs:
            check(_lib.xmpp_roster_config_set_danger_accept_invalid_certs(ptr, True))
        check(_lib.xmpp_roster_config_set_timeout_ms(ptr, _millis(timeout, "timeout", 1)))
        if resource is not None:
            check(_lib.xmpp_roster_config_set_resource(ptr, _cstr(resource, "resource")))
        if max_stanza_size is not None:
            check(_lib.xmpp_roster_config_set_max_stanza_size(ptr, _int_in(max_stanza_size, 0, _SIZE_MAX, "max_stanza_size")))
        if mechanisms is not None:
            check(_lib.xmpp_roster_config_set_sasl_mechanisms(ptr, mask))
        if auto_approve:
            check(_lib.xmpp_roster_config_set_auto_approve(ptr, True))
        self.jid = jid
        self.host = host
        self.port = port
        self.tls = tls
        self.ca_file = None if ca_file is None else os.fspath(ca_file)
        self.timeout = float(timeout)
        self.resource = resource
        self.max_stanza_size = max_stanza_size
        self.sasl_mechanisms = mechanisms
        self.auto_approve = bool(auto_approve)
        self.danger_accept_invalid_certs = bool(danger_accept_invalid_certs)
        self.tls_server_name = tls_server_name

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):
            raise AttributeError(f"Config is immutable: cannot change {name}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        where = f"{self.host or ''}:{self.port or ''}" if (self.host or self.port) else "(JID domain)"
        return f"Config(jid={self.jid!r}, server={where}, tls={self.tls!r}, timeout={self.timeout})"


# --- callbacks: module-level trampolines and the table of live Python callables ----------------


class _CallState:
    """Per client: the first exception a Python callback raised during the current call, per
    thread (callbacks run on the thread that is inside the blocking call)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: Dict[int, BaseException] = {}

    def store(self, exc: BaseException) -> None:
        self.pending.setdefault(threading.get_ident(), exc)

    def take(self) -> Optional[BaseException]:
        return self.pending.pop(threading.get_ident(), None)


# userdata integer -> (callable, the owning client's call state). An entry lives exactly as long
# as the C library holds the registration: added before registering, removed by free_userdata
# (or by us when registration fails, in which case C never calls free_userdata).
_registry: Dict[int, Tuple[Callable[[Any], Any], _CallState]] = {}
_next_key = itertools.count(1).__next__  # never 0: userdata NULL is not a key


def _item_from_handle(item: Any) -> RosterItem:
    lib = _lib
    groups = tuple(
        _ffi.string_at(lib.xmpp_roster_item_group(item, i)) or "" for i in range(lib.xmpp_roster_item_group_count(item))
    )
    return RosterItem(
        _ffi.string_at(lib.xmpp_roster_item_jid(item)) or "",
        _ffi.string_at(lib.xmpp_roster_item_name(item)),
        SUBSCRIPTIONS[lib.xmpp_roster_item_subscription(item)],
        bool(lib.xmpp_roster_item_ask(item)),
        bool(lib.xmpp_roster_item_approved(item)),
        groups,
    )


def _dispatch(userdata: Optional[int], make_event: Callable[[], Any]) -> int:
    entry = _registry.get(userdata or 0)
    if entry is None:
        return 0
    fn, state = entry
    try:
        fn(make_event())
        return 0
    except BaseException as e:  # noqa: BLE001 - everything, KeyboardInterrupt too, goes back to the caller
        state.store(e)
        return 1


def _on_roster_change(userdata: Optional[int], change: int, item: Any, version: Optional[int]) -> int:
    return _dispatch(
        userdata, lambda: RosterEvent(CHANGES[change], _item_from_handle(item), _ffi.string_at(version))
    )


def _on_subscription(userdata: Optional[int], kind: int, jid: Optional[int], status: Optional[int]) -> int:
    return _dispatch(
        userdata,
        lambda: SubscriptionEvent(SUBSCRIPTION_KINDS[kind], _ffi.string_at(jid) or "", _ffi.string_at(status)),
    )


def _on_presence(
    userdata: Optional[int], jid: Optional[int], available: bool, show: int, status: Optional[int], priority: int
) -> int:
    return _dispatch(
        userdata,
        lambda: PresenceEvent(
            _ffi.string_at(jid) or "",
            bool(available),
            SHOWS[show] if show < len(SHOWS) else Show.AVAILABLE,
            _ffi.string_at(status),
            priority,
        ),
    )


def _disconnect_event(reason: int, message: Optional[int]) -> DisconnectEvent:
    text = _ffi.string_at(message) or ""
    if reason == _ffi.OK:
        return DisconnectEvent(None, text)
    # The library recorded the error that ended the connection as this thread's last error just
    # before calling us (we run on the thread inside the blocking call): it carries the condition
    # and the <text/>, which the callback's own arguments do not.
    if _lib.xmpp_roster_last_error_code() == reason:
        error = error_from_code(reason)
    else:  # pragma: no cover - an older library that does not set it
        error = _BY_CODE.get(reason, XmppRosterError)(text or f"disconnected (result code {reason})", code=reason)
    return DisconnectEvent(error, text, error.condition, error.text)


def _on_disconnect(userdata: Optional[int], reason: int, message: Optional[int]) -> None:
    _dispatch(userdata, lambda: _disconnect_event(reason, message))


def _free_userdata(userdata: Optional[int]) -> None:
    try:
        _registry.pop(userdata or 0, None)
    except BaseException:  # noqa: BLE001 - may run during interpreter shutdown; never raise into C
        pass


# Module-level so they outlive every client: C keeps these function pointers.
_ROSTER_CHANGE_TRAMPOLINE = _ffi.ROSTER_CHANGE_CB(_on_roster_change)
_SUBSCRIPTION_TRAMPOLINE = _ffi.SUBSCRIPTION_CB(_on_subscription)
_PRESENCE_TRAMPOLINE = _ffi.PRESENCE_CB(_on_presence)
_DISCONNECT_TRAMPOLINE = _ffi.DISCONNECT_CB(_on_disconnect)
_FREE_TRAMPOLINE = _ffi.FREE_FN(_free_userdata)


# --- snapshot decoding --------------------------------------------------------------------------


def _export(snapshot: Any) -> List[RosterItem]:
    """All items of a snapshot from one bulk buffer (no per-item C calls; see _export.py)."""
    data = c_void_p()
    size = c_size_t()
    check(_lib.xmpp_roster_snapshot_export(snapshot, byref(data), byref(size)))
    if not size.value or not data.value:
        return []
    # Decoded straight from the snapshot's buffer (valid until snapshot_free, after this returns):
    # no copy into a bytes object first.
    return decode_export((ctypes.c_char * size.value).from_address(data.value))


def _free_client(free: Callable[[Any], None], ptr: Any) -> None:
    free(ptr)


# --- Client -------------------------------------------------------------------------------------


class Client:
    """A blocking XMPP roster client for one account.

    Every call that talks to the server blocks the calling thread (releasing the GIL) until done,
    until ``config.timeout`` passes (:class:`TimeoutError`), or until another thread calls
    :meth:`interrupt` (:class:`InterruptedCallError`); the connection stays usable after both.

    One call at a time: a second call made meanwhile, from another thread or from inside one of
    this client's callbacks, raises :class:`BusyError`. Only :meth:`interrupt` is allowed then.

    Callbacks run on the thread inside a blocking call (including :meth:`poll`), while the
    stanza that caused them is handled. An exception raised by a callback aborts that call,
    which re-raises it (with its traceback) once the stanza was fully handled.

    Use as a context manager (connects on enter, :meth:`close` on exit) or call :meth:`connect`
    and :meth:`close` yourself. A client that is never closed is freed by the garbage collector
    or at interpreter exit, which closes its connection.
    """

    def __init__(self, config: Config) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {type(config).__name__}")
        ptr = _ffi.ClientPtr()
        check(_lib.xmpp_roster_client_new(config._ptr, byref(ptr)))
        self._ptr: Optional[Any] = ptr
        self._lock = threading.Lock()
        self._active = 0
        self._state = _CallState()
        self._nesting = threading.local()  # .depth: calls of this client on the stack of a thread
        self._last_fetch_unchanged: Optional[bool] = None
        # Frees the C client (closing the connection, releasing callbacks) when this object is
        # collected or at interpreter exit; holds its own reference to the C function.
        self._finalizer = weakref.finalize(self, _free_client, _lib.xmpp_roster_client_free, ptr)

    # -- plumbing --

    def _enter(self) -> Any:
        with self._lock:
            if self._ptr is None:
                raise NotConnectedError("the client is closed", code=_ffi.ERR_NOT_CONNECTED)
            self._active += 1
            return self._ptr

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            # close() ran while this call was starting on another thread: the last one out frees.
            free_now = self._ptr is None and self._active == 0 and self._finalizer.alive
        if free_now:
            self._finalizer()

    def _call(self, fn: Callable[..., int], *args: Any) -> None:
        ptr = self._enter()
        nesting = self._nesting
        depth = getattr(nesting, "depth", 0)
        nesting.depth = depth + 1
        try:
            code = fn(ptr, *args)
            # Read the thread-local last error right away, before anything else touches it.
            err = error_from_code(code) if code != _ffi.OK else None
        finally:
            nesting.depth = depth
            self._leave()
        # Only the outermost call on this thread collects a callback's exception: a call made
        # from inside a callback (refused as busy) must not swallow it.
        pending = self._state.take() if depth == 0 else None
        if pending is not None:
            if err is not None and code != _ffi.ERR_CALLBACK_ABORTED and pending.__context__ is None:
                pending.__context__ = err
            raise pending
        if err is not None:
            raise err

    # -- connection --

    def connect(self) -> None:
        """Connects, secures and authenticates the stream, and binds a resource.

        On the wire: TCP to the configured host and port, ``<stream:stream>``, then
        ``<starttls/>`` and the TLS handshake (``"starttls"``) or TLS first (``"direct"``),
        SASL ``<auth/>`` with the best offered mechanism (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN),
        a stream restart, ``<iq type='set'><bind/></iq>`` and, if the server requires it,
        ``<session/>``. No presence is sent. Waits at most ``config.timeout`` in all.

        Raises:
            XmppIOError, TlsError, AuthError, StreamError, TimeoutError, InterruptedCallError.
        """
        self._call(_lib.xmpp_roster_client_connect)

    def disconnect(self) -> None:
        """Closes the stream politely: sends ``</stream:stream>``, waits up to 2 s for the
        server's, then closes the socket. The disconnect callback fires with ``error=None``.
        Does nothing when not connected; the client may :meth:`connect` again."""
        self._call(_lib.xmpp_roster_client_disconnect)

    def close(self) -> None:
        """Disconnects (as :meth:`disconnect`) and frees the client. Idempotent.

        Every registered callback is released. Any later call raises :class:`NotConnectedError`.

        Raises:
            BusyError: a call on this client is in progress (from a callback or another thread).
        """
        with self._lock:
            if self._ptr is None:
                return
            if self._active:
                raise BusyError(
                    "close() called while a call on this client is in progress", code=_ffi.ERR_BUSY
                )
            ptr = self._ptr
            self._active += 1
        try:
            # A failed polite goodbye (e.g. the server already dropped us) is not raised: the
            # connection is closed either way.
            _lib.xmpp_roster_client_disconnect(ptr)
        finally:
            with self._lock:
                self._active -= 1
                self._ptr = None  # from now on no call can start
                # A call that slipped in on another thread during the disconnect frees on leaving.
                free_now = self._active == 0
            if free_now:
                self._finalizer()  # xmpp_roster_client_free: releases every callback registration
        pending = self._state.take()
        if pending is not None:
            raise pending  # a disconnect callback raised

    def __enter__(self) -> "Client":
        if not self.is_connected:
            self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._ptr is None

    @property
    def is_connected(self) -> bool:
        """True while the stream is up. False when closed, or while a call is in progress
        (e.g. when asked from inside a callback)."""
        with self._lock:
            if self._ptr is None:
                return False
            return bool(_lib.xmpp_roster_client_is_connected(self._ptr))

    @property
    def bound_jid(self) -> Optional[str]:
        """The full JID the server bound for this session (``user@domain/resource``), or
        ``None`` when not connected (or asked from inside a callback)."""
        with self._lock:
            if self._ptr is None:
                return None
            jid = _ffi.read_sized(_lib.xmpp_roster_client_bound_jid, self._ptr)
        return jid or None

    @property
    def supports_preapproval(self) -> bool:
        """True if the server advertised ``urn:xmpp:features:pre-approval``."""
        with self._lock:
            return self._ptr is not None and bool(_lib.xmpp_roster_client_supports_preapproval(self._ptr))

    @property
    def supports_roster_versioning(self) -> bool:
        """True if the server advertised ``urn:xmpp:features:rosterver``."""
        with self._lock:
            return self._ptr is not None and bool(_lib.xmpp_roster_client_supports_roster_versioning(self._ptr))

    # -- roster --

    def fetch_roster(self) -> List[RosterItem]:
        """Fetches the roster and returns all its items.

        On the wire: ``<iq type='get'><query xmlns='jabber:iq:roster' ver='...'/></iq>``
        (``ver`` only if the server offers roster versioning: the version of the roster held
        now, empty at first). If the server answers that this version is current, the local
        roster is kept and :attr:`last_fetch_unchanged` is True; otherwise it is replaced.
        Either way the items returned are the local roster after the fetch, and from now on
        the server sends roster pushes to this session. They are plain immutable values, ready to
        use without further calls into the library: a short-lived helper thread turns the new
        items into :class:`RosterItem` objects in bulk, a batch at a time while the fetch runs
        (callbacks still run on this thread; see _feed.py), or, when the batches are not the
        roster, the snapshot is turned into them after the fetch.

        Raises:
            NotConnectedError, StanzaError, TimeoutError, InterruptedCallError, DisconnectedError.
        """
        unchanged = c_bool(False)
        feed = _ffi.FeedPtr()
        check(_lib.xmpp_roster_feed_new(BATCH_ITEMS, byref(feed)))
        try:
            # The items are made on a second thread while the fetch runs (see _feed.py).
            decoder = FeedDecoder.start(feed)
            if decoder is None:
                # No thread to be had (interpreter shutdown, thread limit): the fetch alone.
                self._call(_lib.xmpp_roster_client_fetch, byref(unchanged))
            else:
                try:
                    self._call(_lib.xmpp_roster_client_fetch_feed, feed, byref(unchanged))
                finally:
                    items = decoder.finish()
            self._last_fetch_unchanged = bool(unchanged.value)
            if decoder is not None and _lib.xmpp_roster_feed_complete(feed):
                return items
        finally:
            _lib.xmpp_roster_feed_free(feed)
        # Unchanged (no batches), a result that listed a JID twice, or no helper thread: the
        # roster as it is now.
        return self._snapshot()[0]

    @property
    def last_fetch_unchanged(self) -> Optional[bool]:
        """After :meth:`fetch_roster`: True if the server said the held roster version was
        current (an empty result, RFC 6121 §2.6.3), False if it sent the whole roster;
        ``None`` before the first fetch."""
        return self._last_fetch_unchanged

    def _snapshot(self) -> Tuple[List[RosterItem], Optional[str]]:
        snap = _ffi.SnapshotPtr()
        self._call(_lib.xmpp_roster_client_snapshot, byref(snap))
        try:
            return _export(snap), _ffi.string_at(_lib.xmpp_roster_snapshot_version(snap))
        finally:
            _lib.xmpp_roster_snapshot_free(snap)

    @property
    def roster(self) -> Mapping[str, RosterItem]:
        """A read-only snapshot of the local roster, by bare JID. Sends nothing: it is what the
        last fetch and the pushes since made it. Not available inside a callback (BusyError);
        callbacks get the changed item in their event instead."""
        items, _ = self._snapshot()
        return types.MappingProxyType({item.jid: item for item in items})

    @property
    def roster_version(self) -> Optional[str]:
        """The version of the local roster (RFC 6121 §2.6), ``None`` if the server gave none."""
        snap = _ffi.SnapshotPtr()
        self._call(_lib.xmpp_roster_client_snapshot, byref(snap))
        try:
            return _ffi.string_at(_lib.xmpp_roster_snapshot_version(snap))
        finally:
            _lib.xmpp_roster_snapshot_free(snap)

    def export_roster(self) -> SavedRoster:
        """The local roster and its version, to save (e.g. to a file) and give to
        :meth:`load_roster` in a later session. Sends nothing; works connected or not.

        ``data`` is bytes in the library's export format (format 3, docs/C-API.md); keep
        ``version`` with it."""
        snap = _ffi.SnapshotPtr()
        self._call(_lib.xmpp_roster_client_snapshot, byref(snap))
        try:
            data = c_void_p()
            size = c_size_t()
            check(_lib.xmpp_roster_snapshot_export(snap, byref(data), byref(size)))
            raw = ctypes.string_at(data.value, size.value) if size.value and data.value else b""
            return SavedRoster(raw, _ffi.string_at(_lib.xmpp_roster_snapshot_version(snap)))
        finally:
            _lib.xmpp_roster_snapshot_free(snap)

    def load_roster(self, data: Union[bytes, bytearray, memoryview], version: Optional[str]) -> None:
        """Replaces the local roster with one saved by :meth:`export_roster` (in this process or
        an earlier one). Sends nothing; allowed before :meth:`connect` and between calls.

        The next :meth:`fetch_roster` then sends ``version``, and a server with roster
        versioning answers "unchanged" (:attr:`last_fetch_unchanged` is True, nothing is
        downloaded) if the roster did not change since; otherwise it sends the whole roster,
        which replaces the loaded one. Use the version saved with the data: a version that does
        not belong to these items makes the client trust the wrong roster.

        Raises:
            InvalidArgumentError: ``data`` is not in the export format (the message says where;
                also data saved by a library older than export format 3), or holds a JID that is
                not bare or appears twice.
            TypeError: ``data`` is not bytes-like or ``version`` not a str or None.
        """
        if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes (from export_roster()), not {type(data).__name__}")
        if version is not None and not isinstance(version, str):
            raise TypeError(f"version must be str or None, not {type(version).__name__}")
        raw = bytes(data)  # ctypes passes a pointer into it; the library copies what it keeps
        snap = _ffi.SnapshotPtr()
        check(_lib.xmpp_roster_snapshot_import(raw or None, len(raw), _opt_cstr(version, "version"), byref(snap)))
        try:
            self._call(_lib.xmpp_roster_client_load_snapshot, snap)
        finally:
            _lib.xmpp_roster_snapshot_free(snap)

    def set_item(self, jid: str, name: Optional[str] = None, groups: Iterable[str] = ()) -> None:
        """Adds ``jid`` to the roster or replaces its name and groups.

        On the wire: ``<iq type='set'><query xmlns='jabber:iq:roster'><item jid='...'
        name='...'><group>...</group></item></query></iq>`` (duplicate groups sent once).
        Returns once the server accepted it and its roster push was applied, so
        :attr:`roster` shows the change. Does not subscribe (see :meth:`subscribe`).

        Raises:
            InvalidJidError, InvalidArgumentError (empty group, NUL), StanzaError, TimeoutError.
        """
        if isinstance(groups, str):
            raise TypeError("groups must be an iterable of str, not a str")
        encoded = [_cstr(g, "group") for g in groups]
        array = (c_char_p * len(encoded))(*encoded) if encoded else None
        self._call(
            _lib.xmpp_roster_client_set_item, _cstr(jid, "jid"), _opt_cstr(name, "name"), array, len(encoded)
        )

    def remove_item(self, jid: str) -> None:
        """Removes ``jid`` from the roster; the server also cancels subscriptions both ways.

        On the wire: ``<iq type='set'><query xmlns='jabber:iq:roster'><item jid='...'
        subscription='remove'/></query></iq>``; returns once its push was applied.

        Raises:
            StanzaError: ``item-not-found`` if ``jid`` is not in the roster (Prosody).
        """
        self._call(_lib.xmpp_roster_client_remove_item, _cstr(jid, "jid"))

    # -- subscriptions and presence --

    def subscribe(self, jid: str) -> None:
        """Asks to see ``jid``'s presence. Sends ``<presence to='jid' type='subscribe'/>``;
        the server adds the contact with ``ask`` set (a roster push)."""
        self._call(_lib.xmpp_roster_client_subscribe, _cstr(jid, "jid"))

    def unsubscribe(self, jid: str) -> None:
        """Stops seeing ``jid``'s presence. Sends ``<presence to='jid' type='unsubscribe'/>``."""
        self._call(_lib.xmpp_roster_client_unsubscribe, _cstr(jid, "jid"))

    def approve(self, jid: str) -> None:
        """Lets ``jid`` see the user's presence (answers its request).
        Sends ``<presence to='jid' type='subscribed'/>``."""
        self._call(_lib.xmpp_roster_client_approve, _cstr(jid, "jid"))

    def deny(self, jid: str) -> None:
        """Refuses ``jid``'s request, or cancels its existing subscription.
        Sends ``<presence to='jid' type='unsubscribed'/>``."""
        self._call(_lib.xmpp_roster_client_deny, _cstr(jid, "jid"))

    def preapprove(self, jid: str) -> None:
        """Approves ``jid`` before it asks (RFC 6121 §3.4). Sends
        ``<presence to='jid' type='subscribed'/>`` for a contact that has not asked.

        Raises:
            UnsupportedError: the server does not offer pre-approval.
        """
        self._call(_lib.xmpp_roster_client_preapprove, _cstr(jid, "jid"))

    def send_presence(
        self,
        show: Union[Show, str, None] = None,
        status: Optional[str] = None,
        priority: int = 0,
        available: bool = True,
    ) -> None:
        """Sends the user's own presence to the server, which broadcasts it to subscribers.

        On the wire: ``<presence><show>away</show><status>...</status><priority>5</priority>
        </presence>`` (``show`` one of ``"away"``, ``"chat"``, ``"dnd"``, ``"xa"``, omitted
        for ``None``/``"available"``; priority omitted when 0), or with ``available=False``
        ``<presence type='unavailable'><status>...</status></presence>``. The first available
        presence also makes the server send the contacts' presences (:meth:`on_presence`).
        """
        try:
            show_code = 0 if show is None else _SHOW_CODES[Show(show)]
        except ValueError:
            raise InvalidArgumentError(
                f"show must be one of {', '.join(s.value for s in Show)}, got {show!r}", code=_ffi.ERR_INVALID_ARGUMENT
            ) from None
        self._call(
            _lib.xmpp_roster_client_send_presence,
            bool(available),
            show_code,
            _opt_cstr(status, "status"),
            _int_in(priority, -128, 127, "priority"),
        )

    def poll(self, timeout: float = 0.0) -> int:
        """Waits up to ``timeout`` seconds for the server, handles everything that arrived
        (callbacks fire from here) and returns how many stanzas were handled (0 if the timeout
        passed quietly). Sends nothing, except answers the protocol requires (pings, errors to
        refused pushes)."""
        handled = c_size_t(0)
        self._call(_lib.xmpp_roster_client_poll, _millis(timeout, "timeout", 0), byref(handled))
        return handled.value

    def interrupt(self) -> None:
        """Makes the blocking call now running on this client (in another thread) raise
        :class:`InterruptedCallError`; if none is waiting, the next one that would wait does.
        Safe from any thread at any time, including from a callback. No-op once closed."""
        with self._lock:
            if self._ptr is not None:
                check(_lib.xmpp_roster_client_interrupt(self._ptr))

    # -- events --

    def _register(self, register: Callable[..., int], trampoline: Any, fn: Optional[Callable[[Any], Any]]) -> None:
        if fn is None:
            # A NULL function pointer (ctypes refuses None here) removes the registration.
            self._call(register, type(trampoline)(), None, _ffi.FREE_FN())
            return
        if not callable(fn):
            raise TypeError("the callback must be callable (or None to remove it)")
        key = _next_key()
        _registry[key] = (fn, self._state)
        try:
            self._call(register, trampoline, c_void_p(key), _FREE_TRAMPOLINE)
        except BaseException:
            # Registration failed: the library did not take userdata and will never free it.
            _registry.pop(key, None)
            raise

    def on_roster_change(self, fn: Optional[F]) -> Optional[F]:
        """Calls ``fn(RosterEvent)`` for every roster push applied to the local roster
        (replaces any earlier roster callback; ``None`` removes it). Usable as a decorator."""
        self._register(_lib.xmpp_roster_client_on_roster_change, _ROSTER_CHANGE_TRAMPOLINE, fn)
        return fn

    def on_subscription(self, fn: Optional[F]) -> Optional[F]:
        """Calls ``fn(SubscriptionEvent)`` for each incoming ``subscribe``, ``subscribed``,
        ``unsubscribe`` or ``unsubscribed`` presence. Usable as a decorator."""
        self._register(_lib.xmpp_roster_client_on_subscription, _SUBSCRIPTION_TRAMPOLINE, fn)
        return fn

    def on_presence(self, fn: Optional[F]) -> Optional[F]:
        """Calls ``fn(PresenceEvent)`` when a contact's resource becomes available, changes its
        presence or leaves. Usable as a decorator."""
        self._register(_lib.xmpp_roster_client_on_presence, _PRESENCE_TRAMPOLINE, fn)
        return fn

    def on_disconnect(self, fn: Optional[F]) -> Optional[F]:
        """Calls ``fn(DisconnectEvent)`` when the connection ends, requested or not. Not
        called when the client is freed (close() calls it through its disconnect).
        Usable as a decorator."""
        self._register(_lib.xmpp_roster_client_on_disconnect, _DISCONNECT_TRAMPOLINE, fn)
        return fn

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<xmpp_roster.Client closed>"
        return f"<xmpp_roster.Client {self.bound_jid or 'not connected'}>"
