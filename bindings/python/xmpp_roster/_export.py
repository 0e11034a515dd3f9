"""Decoding the bulk export of a snapshot (``xmpp_roster_snapshot_export``, format 2) into
``RosterItem`` objects, with C-speed bulk operations instead of a Python loop per item.

Format 2 (docs/C-API.md): for each item, in snapshot order, exactly six fields, each followed by
one NUL byte::

    jid \\0 name \\0 subscription \\0 ask \\0 approved \\0 groups \\0

* ``name`` is the single byte ``\\x01`` when the item has none (an empty name is the empty field);
* ``subscription`` is one digit ``0``..``3`` (none, to, from, both: the C enumeration);
* ``ask`` and ``approved`` are ``0`` or ``1``;
* ``groups`` is every group preceded by one ``\\x01`` (``""``: no groups; ``"\\x01"``: one group
  with an empty name; ``"\\x01Friends\\x01Work"``: two groups).

XML carries neither NUL nor ``\\x01``, so neither occurs inside a field. The buffer thus holds
exactly 6 NULs per item and ends with one (an empty roster is the empty buffer).

How the items are built: the whole buffer is decoded and split once (two C calls), each field
becomes a column (a stride slice of the split), every column is turned into its values with
``map()`` over C callables (dict look-ups), and the items are made by ``map(tuple.__new__, ...)``
over ``zip`` of the six columns (``RosterItem`` stores its values as a tuple: see ``_types.py``),
with no Python frame per item.
"""

from __future__ import annotations

import gc
from itertools import repeat
from typing import Any, List, Tuple

from ._types import SUBSCRIPTIONS, RosterItem

_FIELDS = 6  # per item
_SUBSCRIPTION_BY_DIGIT = {str(code): sub for code, sub in enumerate(SUBSCRIPTIONS)}
_BOOL_BY_DIGIT = {"0": False, "1": True}
_NONE_FOR_NO_NAME = {"\x01": None}  # .get(name, name): None for the marker, else the name itself


class ExportFormatError(ValueError):
    """The buffer is not in export format 2 (a library/binding mismatch, or corrupt data)."""


class _GroupTuples(dict):  # type: ignore[type-arg]
    """groups field -> tuple of group names, each built once per decode: a roster has few
    distinct group lists, so almost every lookup is a hit in C (and equal lists share a tuple)."""

    __slots__ = ()

    def __missing__(self, joined: str) -> Tuple[str, ...]:
        if joined[:1] != "\x01":
            raise ExportFormatError(f"bad export data: groups field {joined!r} does not start with \\x01")
        groups = self[joined] = tuple(joined.split("\x01")[1:])
        return groups


def decode_export(data: Any) -> List[RosterItem]:
    """All items of an export buffer (bytes-like, format 2), as ``RosterItem`` objects in order.

    Invalid UTF-8 is replaced with U+FFFD (the library only produces valid UTF-8).

    Raises:
        ExportFormatError: ``data`` is not in export format 2.
    """
    if not len(data):
        return []
    fields = str(data, "utf-8", "replace").split("\0")
    count, rest = divmod(len(fields) - 1, _FIELDS)
    if rest or fields[-1]:
        raise ExportFormatError(
            f"bad export data: {len(fields) - 1} NUL-terminated fields"
            + (", not a multiple of 6" if rest else ", then bytes without a final NUL")
        )
    # 50,000 items are 50,000 new GC-tracked objects: with the collector on, the allocations
    # trigger collections that traverse the growing lists again and again (here ~10% of the
    # decode for 50k in a fresh process, and more in a process that holds many objects). None of
    # these objects can be part of a cycle (they hold str, bool, enum members and tuples of
    # str), so those collections would find nothing; the collector resumes afterwards. (Another
    # thread that runs meanwhile also runs with the collector paused for those few milliseconds;
    # gc.collect() still works.)
    gc_was_enabled = gc.isenabled()
    if gc_was_enabled:
        gc.disable()
    try:
        names = fields[1::_FIELDS]
        columns = zip(
            fields[0::_FIELDS],
            map(_NONE_FOR_NO_NAME.get, names, names),
            map(_SUBSCRIPTION_BY_DIGIT.__getitem__, fields[2::_FIELDS]),
            map(_BOOL_BY_DIGIT.__getitem__, fields[3::_FIELDS]),
            map(_BOOL_BY_DIGIT.__getitem__, fields[4::_FIELDS]),
            map(_GroupTuples({"": ()}).__getitem__, fields[5::_FIELDS]),
        )
        try:
            return list(map(tuple.__new__, repeat(RosterItem), columns))
        except KeyError as e:
            raise ExportFormatError(f"bad export data: {e.args[0]!r} where a digit was expected") from None
    finally:
        if gc_was_enabled:
            gc.enable()
