"""Value types: roster items, enumerations and the events callbacks receive."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, Optional, Tuple

from ._errors import XmppRosterError


class Subscription(str, enum.Enum):
    """The ``subscription`` attribute of a roster item (RFC 6121 §2.1.2.5).

    A ``str`` subclass: ``item.subscription == "both"`` works.
    """

    NONE = "none"
    """Neither side sees the other's presence."""
    TO = "to"
    """The user sees the contact's presence."""
    FROM = "from"
    """The contact sees the user's presence."""
    BOTH = "both"
    """Both see each other's presence."""

    def __str__(self) -> str:
        return self.value


class RosterChange(str, enum.Enum):
    """What a roster push did to the local roster."""

    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


class SubscriptionKind(str, enum.Enum):
    """The ``type`` of an incoming subscription presence (RFC 6121 §3)."""

    SUBSCRIBE = "subscribe"
    """The contact asks to see the user's presence (answer with approve() or deny())."""
    SUBSCRIBED = "subscribed"
    """The contact approved the user's request."""
    UNSUBSCRIBE = "unsubscribe"
    """The contact no longer wants the user's presence."""
    UNSUBSCRIBED = "unsubscribed"
    """The contact denied or cancelled the user's subscription."""

    def __str__(self) -> str:
        return self.value


class Show(str, enum.Enum):
    """The ``<show/>`` of an available presence; ``AVAILABLE`` when there is none."""

    AVAILABLE = "available"
    AWAY = "away"
    CHAT = "chat"
    DND = "dnd"
    XA = "xa"

    def __str__(self) -> str:
        return self.value


# Index = the C enumeration value.
SUBSCRIPTIONS = (Subscription.NONE, Subscription.TO, Subscription.FROM, Subscription.BOTH)
CHANGES = (RosterChange.ADDED, RosterChange.UPDATED, RosterChange.REMOVED)
SUBSCRIPTION_KINDS = (
    SubscriptionKind.SUBSCRIBE,
    SubscriptionKind.SUBSCRIBED,
    SubscriptionKind.UNSUBSCRIBE,
    SubscriptionKind.UNSUBSCRIBED,
)
SHOWS = (Show.AVAILABLE, Show.AWAY, Show.CHAT, Show.DND, Show.XA)


# init=False: __new__ stores the values. eq=False: tuple's own == and hash (C speed) compare the
# six values in field order, as a generated __eq__ would (and also equal a plain tuple of them).
@dataclass(frozen=True, init=False, eq=False)
class RosterItem(tuple):  # type: ignore[misc]
    """One contact in the roster (an ``<item/>`` of ``jabber:iq:roster``). Immutable.

    A frozen dataclass (``dataclasses.fields``, ``replace``, ``asdict`` work) that stores its
    values as a tuple: it subclasses ``tuple``, so that :meth:`Client.fetch_roster` builds them
    all with one ``map(tuple.__new__, ...)``, no Python code per item (see docs/PERFORMANCE.md).
    It is therefore also a 6-tuple in field order:
    it unpacks (``jid, name, *_ = item``), indexes, iterates and orders like one, and equals a
    plain tuple of the same six values.
    """

    __slots__ = ()

    jid: str
    name: Optional[str]
    subscription: Subscription
    ask: bool
    approved: bool
    groups: Tuple[str, ...]

    def __new__(
        cls,
        jid: str,
        name: Optional[str],
        subscription: Subscription,
        ask: bool,
        approved: bool,
        groups: Tuple[str, ...],
    ) -> "RosterItem":
        return tuple.__new__(cls, (jid, name, subscription, ask, approved, groups))

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (RosterItem, tuple(self))


# The fields read the tuple (``property(itemgetter(i))``), set after @dataclass so that it does
# not take them for default values.
for _index, (_field, _doc) in enumerate(
    {
        "jid": "The contact's bare JID, e.g. ``juliet@example.com``.",
        "name": "The user's name for the contact, or ``None``.",
        "subscription": "Who sees whose presence.",
        "ask": "True while the user's own subscription request is pending (``ask='subscribe'``).",
        "approved": "True if the user pre-approved the contact's subscription (``approved='true'``).",
        "groups": "The groups the contact is in: sorted, without duplicates (groups are a set).",
    }.items()
):
    setattr(RosterItem, _field, property(itemgetter(_index), doc=_doc))
del _index, _field, _doc


@dataclass(frozen=True)
class RosterEvent:
    """A roster push from the server changed the local roster (RFC 6121 §2.1.6)."""

    change: RosterChange
    item: RosterItem
    """The item after the change (for ``REMOVED``: the item as it was)."""
    version: Optional[str]
    """The roster version after the change, ``None`` if the server uses no versioning."""


@dataclass(frozen=True)
class SubscriptionEvent:
    """A contact sent a subscription-related presence (RFC 6121 §3)."""

    kind: SubscriptionKind
    jid: str
    """The contact's bare JID."""
    status: Optional[str]
    """The optional ``<status/>`` text that came with it."""


@dataclass(frozen=True)
class PresenceEvent:
    """A contact's resource became available, changed its presence, or left (RFC 6121 §4)."""

    jid: str
    """The sender's full JID (``contact@domain/resource``), or bare if it had no resource."""
    available: bool
    """False for ``type='unavailable'``."""
    show: Show
    status: Optional[str]
    priority: int
    """-128..127."""


@dataclass(frozen=True)
class DisconnectEvent:
    """The connection ended."""

    error: Optional[XmppRosterError]
    """Why, as the exception a call would have raised (with its ``condition`` and ``text``);
    ``None`` when ``disconnect()`` or ``close()`` asked for it."""
    message: str
    """The library's description of the reason (empty when requested)."""
    condition: Optional[str] = None
    """The stream error condition (e.g. ``conflict``, ``system-shutdown``) or SASL condition,
    ``None`` if the connection ended without one (requested, socket closed, ...)."""
    text: Optional[str] = None
    """The server's ``<text/>`` with that error (e.g. ``"Replaced by new connection"``), or
    ``None``."""


class SavedRoster(NamedTuple):
    """A roster as :meth:`Client.export_roster` saves it, for :meth:`Client.load_roster` in a
    later session: ``client.load_roster(*saved)`` or ``client.load_roster(saved.data,
    saved.version)``."""

    data: bytes
    """The items in the library's export format 3 (a header, then the items column by column: see
    docs/C-API.md, ``xmpp_roster_snapshot_export``). Store it as it is; it is checked when loaded.
    Data saved by a library older than format 3 is refused (``InvalidArgumentError``): fetch the
    whole roster instead."""
    version: Optional[str]
    """The roster version (RFC 6121 §2.6) the items are at, ``None`` if the server gave none."""
