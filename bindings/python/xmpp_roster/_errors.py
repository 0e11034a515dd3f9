"""Exceptions: one class per failure class of the C API's result codes."""

from __future__ import annotations

import builtins
from typing import Dict, Optional, Type

from . import _ffi


class XmppRosterError(Exception):
    """Base class of every error the library reports.

    Attributes:
        code: the C result code (``XMPP_ROSTER_ERR_*``), 0 for errors raised by the binding itself.
        condition: the XMPP condition when there is one (SASL condition for :class:`AuthError`,
            stream error condition for :class:`StreamError`, stanza error condition for
            :class:`StanzaError`), else ``None``.
        error_type: the stanza error type (``cancel``, ``modify``, ``auth``, ``wait``,
            ``continue``) for :class:`StanzaError`, else ``None``.
        text: the human-readable ``<text/>`` of the stanza, stream or SASL error
            (``xmpp_roster_last_error_text``), ``None`` when there was none.
        message: the library's message (``xmpp_roster_last_error``; it ends with the text).
    """

    code: int = 0

    def __init__(
        self,
        message: str,
        *,
        code: Optional[int] = None,
        condition: Optional[str] = None,
        error_type: Optional[str] = None,
        text: Optional[str] = None,
    ) -> None:
        # A single positional argument keeps OSError-derived subclasses from reading it as errno.
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.condition = condition
        self.error_type = error_type
        self.text = text

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(XmppRosterError, ValueError):
    """An argument is unusable: empty, too long, containing NUL or characters XML cannot carry."""

    code = _ffi.ERR_INVALID_ARGUMENT


class InvalidUtf8Error(InvalidArgumentError):
    """A string was not valid UTF-8 (only reachable by calling the C library directly)."""

    code = _ffi.ERR_INVALID_UTF8


class InvalidJidError(InvalidArgumentError):
    """A JID (in the configuration or an argument) is malformed, or has a resource where a bare
    JID is needed."""

    code = _ffi.ERR_INVALID_JID


class XmppIOError(XmppRosterError, builtins.ConnectionError):
    """Socket-level failure: name resolution, connection refused, reset."""

    code = _ffi.ERR_IO


class TlsError(XmppRosterError):
    """TLS could not be established or broke: handshake, certificate check, STARTTLS refused."""

    code = _ffi.ERR_TLS


class AuthError(XmppRosterError):
    """SASL authentication failed (``condition`` is the SASL condition, e.g. ``not-authorized``;
    ``text`` the server's explanation, if any) or no acceptable mechanism was offered."""

    code = _ffi.ERR_AUTH


class StreamError(XmppRosterError):
    """The XML stream was closed with a stream error (``condition``, e.g. ``host-unknown``;
    ``text``, e.g. ``"Replaced by new connection"`` with ``conflict``)."""

    code = _ffi.ERR_STREAM


class StanzaError(XmppRosterError):
    """The server answered a request with ``<iq type='error'/>``.

    ``condition`` (e.g. ``item-not-found``), ``error_type`` (e.g. ``cancel``) and ``text`` (the
    server's ``<text/>``, or ``None``) describe it.
    """

    code = _ffi.ERR_STANZA


class TimeoutError(XmppRosterError, builtins.TimeoutError):
    """The configured timeout passed before the server answered. The connection stays usable."""

    code = _ffi.ERR_TIMEOUT


class InterruptedCallError(XmppRosterError):
    """Another thread called :meth:`Client.interrupt`. The connection stays usable."""

    code = _ffi.ERR_INTERRUPTED


class DisconnectedError(XmppRosterError, builtins.ConnectionError):
    """The connection ended (server closed the stream or the socket) while the call needed it."""

    code = _ffi.ERR_DISCONNECTED


class NotConnectedError(XmppRosterError):
    """The call needs a connected client (or the client was closed)."""

    code = _ffi.ERR_NOT_CONNECTED


class CallbackAbortedError(XmppRosterError):
    """An event callback aborted the call. Python callbacks abort by raising; their exception is
    re-raised instead of this one, so this is only seen if the abort came from elsewhere."""

    code = _ffi.ERR_CALLBACK_ABORTED


class BusyError(XmppRosterError):
    """A call on this client is already in progress: from inside one of its callbacks, or from
    another thread. Only :meth:`Client.interrupt` may be called then."""

    code = _ffi.ERR_BUSY


class NotFoundError(XmppRosterError, LookupError):
    """A looked-up roster item does not exist."""

    code = _ffi.ERR_NOT_FOUND


class UnsupportedError(XmppRosterError):
    """The server does not offer what the call needs (e.g. subscription pre-approval)."""

    code = _ffi.ERR_UNSUPPORTED


class PanicError(XmppRosterError):
    """A bug inside the library was caught at the C boundary. Please report it."""

    code = _ffi.ERR_PANIC


_BY_CODE: Dict[int, Type[XmppRosterError]] = {
    _ffi.ERR_NULL_PARAMETER: InvalidArgumentError,
    _ffi.ERR_INVALID_ARGUMENT: InvalidArgumentError,
    _ffi.ERR_INVALID_UTF8: InvalidUtf8Error,
    _ffi.ERR_INVALID_JID: InvalidJidError,
    _ffi.ERR_IO: XmppIOError,
    _ffi.ERR_TLS: TlsError,
    _ffi.ERR_AUTH: AuthError,
    _ffi.ERR_STREAM: StreamError,
    _ffi.ERR_STANZA: StanzaError,
    _ffi.ERR_TIMEOUT: TimeoutError,
    _ffi.ERR_INTERRUPTED: InterruptedCallError,
    _ffi.ERR_DISCONNECTED: DisconnectedError,
    _ffi.ERR_NOT_CONNECTED: NotConnectedError,
    _ffi.ERR_CALLBACK_ABORTED: CallbackAbortedError,
    _ffi.ERR_BUSY: BusyError,
    _ffi.ERR_NOT_FOUND: NotFoundError,
    _ffi.ERR_UNSUPPORTED: UnsupportedError,
    _ffi.ERR_PANIC: PanicError,
}

_lib = _ffi.lib


def error_from_code(code: int) -> XmppRosterError:
    """The exception for result ``code``, filled from this thread's last error."""
    cls = _BY_CODE.get(code, XmppRosterError)
    message = _ffi.read_sized(_lib.xmpp_roster_last_error)
    if not message or _lib.xmpp_roster_last_error_code() != code:
        # The library documents that every failure sets the last error; fall back to the
        # code's description rather than show a stale message.
        raw = _lib.xmpp_roster_result_str(code)
        message = _ffi.string_at(raw) or f"result code {code}"
        return cls(message, code=code)
    condition = _ffi.read_sized(_lib.xmpp_roster_last_error_condition) or None
    error_type = _ffi.read_sized(_lib.xmpp_roster_last_error_type) or None
    text = _ffi.read_sized(_lib.xmpp_roster_last_error_text) or None
    return cls(message, code=code, condition=condition, error_type=error_type, text=text)


def check(code: int) -> None:
    """Raises the matching exception unless ``code`` is ``XMPP_ROSTER_OK``."""
    if code != _ffi.OK:
        raise error_from_code(code)
