"""xmpp_roster: a fast, safe, blocking XMPP roster client (RFC 6120 / RFC 6121).

A ctypes binding of libxmpp_roster. The library is looked up in this order:

1. the path in the ``XMPP_ROSTER_LIBRARY`` environment variable;
2. a copy inside this package's directory (``libxmpp_roster.so``);
3. the system (``ctypes.util.find_library("xmpp_roster")``).

Example::

    import xmpp_roster

    config = xmpp_roster.Config("romeo@example.net", "secret")
    with xmpp_roster.Client(config) as client:
        for item in client.fetch_roster():
            print(item.jid, item.name, item.subscription, item.groups)

        @client.on_roster_change
        def changed(event: xmpp_roster.RosterEvent) -> None:
            print(event.change, event.item.jid)

        client.set_item("juliet@example.com", "Juliet", ["Friends"])
        client.poll(5.0)
"""

from ._ffi import BINDING_VERSION as __version__
from ._ffi import library_path, library_version
from ._errors import (
    AuthError,
    BusyError,
    CallbackAbortedError,
    DisconnectedError,
    InterruptedCallError,
    InvalidArgumentError,
    InvalidJidError,
    InvalidUtf8Error,
    NotConnectedError,
    NotFoundError,
    PanicError,
    StanzaError,
    StreamError,
    TimeoutError,
    TlsError,
    UnsupportedError,
    XmppIOError,
    XmppRosterError,
)
from ._types import (
    DisconnectEvent,
    PresenceEvent,
    RosterChange,
    RosterEvent,
    RosterItem,
    SavedRoster,
    Show,
    Subscription,
    SubscriptionEvent,
    SubscriptionKind,
)
from ._client import Client, Config

__all__ = [
    "__version__",
    "library_path",
    "library_version",
    "Client",
    "Config",
    "RosterItem",
    "SavedRoster",
    "Subscription",
    "RosterChange",
    "SubscriptionKind",
    "Show",
    "RosterEvent",
    "SubscriptionEvent",
    "PresenceEvent",
    "DisconnectEvent",
    "XmppRosterError",
    "InvalidArgumentError",
    "InvalidUtf8Error",
    "InvalidJidError",
    "XmppIOError",
    "TlsError",
    "AuthError",
    "StreamError",
    "StanzaError",
    "TimeoutError",
    "InterruptedCallError",
    "DisconnectedError",
    "NotConnectedError",
    "CallbackAbortedError",
    "BusyError",
    "NotFoundError",
    "UnsupportedError",
    "PanicError",
]
