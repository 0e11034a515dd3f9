"""Decoding the bulk export of a snapshot (``xmpp_roster_snapshot_export``, format 3) into
``RosterItem`` objects, column by column, each column with a few C-speed bulk operations instead
of a Python loop per item.

Format 3 (docs/C-API.md; all integers little-endian, n = the number of items): an empty roster is
the empty buffer; otherwise a 28-byte header (``b"XRS\\x03"``, then six u32: n, g distinct group
lists, m items without a name, and the byte lengths of the JIDs, names and group-lists sections),
then these sections with nothing between or after them:

=====================  ===================================================================
group list of items    n u32: indexes into the group lists
items without a name   m u32: increasing item indexes
subscription           n bytes ``0``..``3`` (none, to, from, both: the C enumeration)
ask, approved          n bytes each, ``0`` or ``1``
JIDs, names            n strings each (an item without a name has the empty string)
group lists            g strings, each group preceded by ``\\x01`` (``""``: no groups)
=====================  ===================================================================

Every string is UTF-8 followed by one NUL; XML carries neither NUL nor ``\\x01``.

How the items are built: each string section is decoded and split once (so each JID and name is
one ``str`` made by ``str.split`` in C); each group list becomes one tuple shared by the items in
it; the byte columns become values through ``operator.itemgetter`` over a table (the indexes are
small ints, which CPython caches) or a ``memoryview`` cast to ``bool``; and the items are made by
``map(tuple.__new__, ...)`` over ``zip`` of the six columns (``RosterItem`` stores its values as
a tuple: see ``_types.py``).
"""

from __future__ import annotations

import gc
import struct
import sys
from array import array
from collections import deque
from contextlib import contextmanager
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ._types import SUBSCRIPTIONS, RosterItem

_HEADER = struct.Struct("<4s6I")
_MAGIC = b"XRS\x03"
_U32 = "I" if array("I").itemsize == 4 else "L"
_drop_first = itemgetter(slice(1, None))


class ExportFormatError(ValueError):
    """The buffer is not in export format 3 (a library/binding mismatch, or corrupt data)."""


def _bad(why: str) -> ExportFormatError:
    return ExportFormatError(f"bad export data: {why}")


def _run(iterator: Iterator[Any]) -> None:
    """Exhausts an iterator at C speed, keeping nothing."""
    deque(iterator, maxlen=0)


def _pick(table: Sequence[Any], indexes: Sequence[int]) -> Tuple[Any, ...]:
    """``tuple(table[i] for i in indexes)`` in one C call (IndexError for an index out of range)."""
    if len(indexes) == 1:  # itemgetter of one index returns the value itself, not a 1-tuple
        return (table[indexes[0]],)
    return itemgetter(*indexes)(table)


def _u32s(data: memoryview) -> "array[int]":
    values = array(_U32)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _strings(data: memoryview, count: int, what: str) -> List[str]:
    """The ``count`` NUL-terminated strings of a section (invalid UTF-8 replaced with U+FFFD)."""
    if len(data) and data[-1] != 0:
        raise _bad(f"the {what} do not end with a NUL")
    strings = str(data[:-1], "utf-8", "replace").split("\0") if len(data) else []
    if len(strings) != count:
        raise _bad(f"{len(strings)} {what} where the header says {count}")
    return strings


def _flags(data: memoryview, what: str) -> List[bool]:
    if data.tobytes().strip(b"\0\1"):
        raise _bad(f"an {what} flag that is neither 0 nor 1")
    return data.cast("?").tolist()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while roster items are made.

    50,000 items are 50,000 new GC-tracked objects: with the collector on, the allocations
    trigger collections that traverse the growing lists again and again. None of these objects
    can be part of a cycle (they hold str, bool, enum members and tuples of str), so those
    collections would find nothing; the collector resumes afterwards. (Another thread that runs
    meanwhile also runs with the collector paused for those few milliseconds; gc.collect() still
    works.) Nested or concurrent uses are fine: only the one that paused it resumes it.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _new_group_lists(strings: List[str]) -> List[Tuple[str, ...]]:
    """The tuple of group names of each group-list string (``"\\x01A\\x01B"`` -> ``("A", "B")``)."""
    split_lists = list(map(str.split, strings, repeat("\x01")))
    if any(map(itemgetter(0), split_lists)):  # text before the first \x01
        raise _bad("a group list that is neither empty nor starts with \\x01")
    return list(map(tuple, map(_drop_first, split_lists)))


def _group_lists(strings: List[str], known: Optional[Dict[str, Tuple[str, ...]]]) -> List[Tuple[str, ...]]:
    """:func:`_new_group_lists`, taking the lists already in ``known`` from there and adding the
    others to it."""
    if known is None:
        return _new_group_lists(strings)
    found = list(map(known.get, strings))
    if None in found:
        new = list(compress(strings, map(is_, found, repeat(None))))
        known.update(zip(new, _new_group_lists(new)))
        found = list(map(known.__getitem__, strings))
    return found


def decode_export(data: Any, known_lists: Optional[Dict[str, Tuple[str, ...]]] = None) -> List[RosterItem]:
    """All items of an export buffer (bytes-like, format 3), as ``RosterItem`` objects in order.

    Invalid UTF-8 is replaced with U+FFFD (the library only produces valid UTF-8). With
    ``known_lists`` (a dict kept across calls, as for the batches of one fetch, which repeat group
    lists) items share one tuple per distinct group list across the calls, and a list seen before
    is not split again.

    Raises:
        ExportFormatError: ``data`` is not in export format 3.
    """
    view = memoryview(data).cast("B")
    if not len(view):
        return []
    if view[:4] != _MAGIC:
        older = " (format 2 or older?)" if view[:3] != _MAGIC[:3] else f" (format {view[3]})"
        raise _bad("no export format 3 header" + older)
    if len(view) < _HEADER.size:
        raise _bad("the data ends inside its header")
    _, n, lists, nameless, jids_len, names_len, lists_len = _HEADER.unpack_from(view)
    size = _HEADER.size + 7 * n + 4 * nameless + jids_len + names_len + lists_len
    if len(view) != size:
        raise _bad(f"{len(view)} bytes where the header says {size}")
    if not n:
        return []
    offset = _HEADER.size

    def section(length: int) -> memoryview:
        nonlocal offset
        offset += length
        return view[offset - length : offset]

    with gc_paused():
        group_index = _u32s(section(4 * n))
        no_name = _u32s(section(4 * nameless))
        try:
            subscriptions = _pick(SUBSCRIPTIONS, section(n))
        except IndexError:
            raise _bad("a subscription that is not 0..3") from None
        asks = _flags(section(n), "ask")
        approvals = _flags(section(n), "approved")
        jids = _strings(section(jids_len), n, "JIDs")
        names = _strings(section(names_len), n, "names")
        group_lists = _group_lists(_strings(section(lists_len), lists, "group lists"), known_lists)
        try:
            groups = _pick(group_lists, group_index)
            _run(map(names.__setitem__, no_name, repeat(None)))
        except IndexError:
            raise _bad("an index past the end of the group lists or of the items") from None
        return list(map(tuple.__new__, repeat(RosterItem), zip(jids, names, subscriptions, asks, approvals, groups)))
