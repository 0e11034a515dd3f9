"""Turning a fetch's items into ``RosterItem`` objects on a second thread while the fetch runs
(``xmpp_roster_feed``, docs/C-API.md).

``Client.fetch_roster`` calls ``xmpp_roster_client_fetch_feed`` on the caller's thread: ctypes
releases the GIL for the call, and the library reads and decodes the roster and lays out each
batch of new items in export format 3. Meanwhile a ``FeedDecoder`` thread takes the batches with
``xmpp_roster_feed_next`` and decodes them (``decode_export``), so building the Python objects
overlaps with the fetch instead of following it. When the fetch has returned, the feed has ended;
the decoder drains it and stops. If the feed is not complete (an unchanged versioned fetch, a
result that listed a JID twice, or a failed fetch), the caller reads the snapshot instead.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import byref, c_size_t, c_void_p
from typing import Any, Dict, List, Optional, Tuple

from . import _ffi
from ._errors import error_from_code
from ._export import decode_export
from ._types import RosterItem

_lib = _ffi.lib

#: Items per batch: big enough that the per-batch cost (a wake-up, the header, a few calls) is
#: small, small enough that the last batch, decoded after the fetch returns, is quick.
BATCH_ITEMS = 2048

#: How long one ``xmpp_roster_feed_next`` waits before the thread checks whether it should stop
#: (only when the fetch never started: once started, the library ends the feed).
_WAIT_MS = 100


class FeedDecoder:
    """Decodes the batches of ``feed`` on a thread of its own, from construction until
    :meth:`finish`."""

    def __init__(self, feed: Any) -> None:
        self._feed = feed
        self._stop = threading.Event()
        self.items: List[RosterItem] = []
        #: What the thread raised, if anything (re-raised by ``finish``).
        self._error: Optional[BaseException] = None
        #: The group lists seen in earlier batches, shared by their items (see decode_export).
        self._known_lists: Dict[str, Tuple[str, ...]] = {}
        self._data = c_void_p()
        self._size = c_size_t()
        self._thread = threading.Thread(target=self._run, name="xmpp_roster feed decoder", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, feed: Any) -> Optional["FeedDecoder"]:
        """A decoder whose thread is running, or None when no thread can be started now
        (``threading`` raises RuntimeError at interpreter shutdown and at the system's thread
        limit); the caller then fetches without a feed."""
        try:
            return cls(feed)
        except RuntimeError:
            return None

    def _run(self) -> None:
        try:
            batch = self._next()
            # decode_export pauses the collector while it makes a batch's items, never while
            # the fetch waits for the server (up to the client's timeout, before or between
            # batches). Pausing it for the whole fetch measured no faster.
            while batch is not None:
                self.items += decode_export(batch, self._known_lists)
                batch = self._next()
        except BaseException as e:  # noqa: BLE001 - handed to the fetching thread by finish()
            self._error = e

    def _next(self) -> Optional[Any]:
        """The next batch, valid until the next call (decoded in place), or None once the feed
        has ended and every batch was taken (or :meth:`finish` stopped a fetch that never
        started)."""
        while True:
            code = _lib.xmpp_roster_feed_next(self._feed, _WAIT_MS, byref(self._data), byref(self._size))
            if code == _ffi.ERR_TIMEOUT:
                if self._stop.is_set():
                    return None
                continue
            if code != _ffi.OK:
                raise error_from_code(code)
            if not self._size.value:
                return None
            return (ctypes.c_char * self._size.value).from_address(self._data.value)

    def finish(self) -> List[RosterItem]:
        """Waits for the thread (call once the fetch call has returned or failed) and returns the
        items of every batch, or raises what the thread raised."""
        # A fetch that started has ended the feed, so the thread drains it and stops without
        # waiting; this only stops one that waits for a fetch that never started.
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.items
