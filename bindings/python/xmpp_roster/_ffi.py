"""Loading libxmpp_roster and declaring every C function it exports.

Nothing here is public. Every function gets ``argtypes`` and ``restype``: handles are typed
pointers to opaque structures (never ``int``, which would truncate 64-bit pointers), strings
going in are ``c_char_p`` (the library copies them), strings coming out are ``c_void_p`` read
with :func:`ctypes.string_at` (so ctypes never guesses an encoding or frees anything).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int8,
    c_size_t,
    c_uint16,
    c_uint32,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional, Tuple

#: The library version this package was written against. The library's major version must
#: match (and, while the major is 0, its minor too: in 0.x releases the minor is what breaks).
BINDING_VERSION = "0.1.0"

LIBRARY_ENV = "XMPP_ROSTER_LIBRARY"

# Result codes (xmpp_roster_result).
OK = 0
ERR_NULL_PARAMETER = 1
ERR_INVALID_ARGUMENT = 2
ERR_INVALID_UTF8 = 3
ERR_INVALID_JID = 4
ERR_IO = 5
ERR_TLS = 6
ERR_AUTH = 7
ERR_STREAM = 8
ERR_STANZA = 9
ERR_TIMEOUT = 10
ERR_INTERRUPTED = 11
ERR_DISCONNECTED = 12
ERR_NOT_CONNECTED = 13
ERR_CALLBACK_ABORTED = 14
ERR_BUSY = 15
ERR_NOT_FOUND = 16
ERR_UNSUPPORTED = 17
ERR_PANIC = 18

TLS_STARTTLS = 0
TLS_DIRECT = 1
TLS_PLAINTEXT = 2

SASL_SCRAM_SHA_256 = 1
SASL_SCRAM_SHA_1 = 2
SASL_PLAIN = 4


class ConfigHandle(Structure):
    """Opaque ``xmpp_roster_config``."""


class ClientHandle(Structure):
    """Opaque ``xmpp_roster_client``."""


class SnapshotHandle(Structure):
    """Opaque ``xmpp_roster_snapshot``."""


class ItemHandle(Structure):
    """Opaque ``xmpp_roster_item`` (always borrowed)."""


class FeedHandle(Structure):
    """Opaque ``xmpp_roster_feed``."""


ConfigPtr = POINTER(ConfigHandle)
ClientPtr = POINTER(ClientHandle)
SnapshotPtr = POINTER(SnapshotHandle)
ItemPtr = POINTER(ItemHandle)
FeedPtr = POINTER(FeedHandle)

result_t = c_uint32

# Callback types. Strings are c_void_p: a c_char_p argument would be converted by ctypes
# too, but c_void_p keeps NULL and non-NULL handling explicit in one place (_string_at).
FREE_FN = CFUNCTYPE(None, c_void_p)
ROSTER_CHANGE_CB = CFUNCTYPE(c_int, c_void_p, c_uint32, ItemPtr, c_void_p)
SUBSCRIPTION_CB = CFUNCTYPE(c_int, c_void_p, c_uint32, c_void_p, c_void_p)
PRESENCE_CB = CFUNCTYPE(c_int, c_void_p, c_void_p, c_bool, c_uint32, c_void_p, c_int8)
DISCONNECT_CB = CFUNCTYPE(None, c_void_p, result_t, c_void_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    # errors and version
    "xmpp_roster_result_str": (c_void_p, [result_t]),
    "xmpp_roster_last_error": (c_size_t, [c_void_p, c_size_t]),
    "xmpp_roster_last_error_condition": (c_size_t, [c_void_p, c_size_t]),
    "xmpp_roster_last_error_type": (c_size_t, [c_void_p, c_size_t]),
    "xmpp_roster_last_error_text": (c_size_t, [c_void_p, c_size_t]),
    "xmpp_roster_last_error_code": (result_t, []),
    "xmpp_roster_version": (c_void_p, []),
    # config
    "xmpp_roster_config_new": (result_t, [c_char_p, c_char_p, POINTER(ConfigPtr)]),
    "xmpp_roster_config_free": (None, [ConfigPtr]),
    "xmpp_roster_config_set_server": (result_t, [ConfigPtr, c_char_p, c_uint16]),
    "xmpp_roster_config_set_tls": (result_t, [ConfigPtr, c_uint32]),
    "xmpp_roster_config_set_ca_file": (result_t, [ConfigPtr, c_char_p]),
    "xmpp_roster_config_set_tls_server_name": (result_t, [ConfigPtr, c_char_p]),
    "xmpp_roster_config_set_danger_accept_invalid_certs": (result_t, [ConfigPtr, c_bool]),
    "xmpp_roster_config_set_timeout_ms": (result_t, [ConfigPtr, c_uint32]),
    "xmpp_roster_config_set_resource": (result_t, [ConfigPtr, c_char_p]),
    "xmpp_roster_config_set_max_stanza_size": (result_t, [ConfigPtr, c_size_t]),
    "xmpp_roster_config_set_sasl_mechanisms": (result_t, [ConfigPtr, c_uint32]),
    "xmpp_roster_config_set_auto_approve": (result_t, [ConfigPtr, c_bool]),
    # client
    "xmpp_roster_client_new": (result_t, [ConfigPtr, POINTER(ClientPtr)]),
    "xmpp_roster_client_free": (None, [ClientPtr]),
    "xmpp_roster_client_connect": (result_t, [ClientPtr]),
    "xmpp_roster_client_fetch": (result_t, [ClientPtr, POINTER(c_bool)]),
    "xmpp_roster_client_set_item": (
        result_t,
        [ClientPtr, c_char_p, c_char_p, POINTER(c_char_p), c_size_t],
    ),
    "xmpp_roster_client_remove_item": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_subscribe": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_unsubscribe": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_approve": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_deny": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_preapprove": (result_t, [ClientPtr, c_char_p]),
    "xmpp_roster_client_send_presence": (result_t, [ClientPtr, c_bool, c_uint32, c_char_p, c_int8]),
    "xmpp_roster_client_poll": (result_t, [ClientPtr, c_uint32, POINTER(c_size_t)]),
    "xmpp_roster_client_interrupt": (result_t, [ClientPtr]),
    "xmpp_roster_client_disconnect": (result_t, [ClientPtr]),
    "xmpp_roster_client_is_connected": (c_bool, [ClientPtr]),
    "xmpp_roster_client_bound_jid": (c_size_t, [ClientPtr, c_void_p, c_size_t]),
    "xmpp_roster_client_supports_preapproval": (c_bool, [ClientPtr]),
    "xmpp_roster_client_supports_roster_versioning": (c_bool, [ClientPtr]),
    # snapshot and items
    "xmpp_roster_client_snapshot": (result_t, [ClientPtr, POINTER(SnapshotPtr)]),
    "xmpp_roster_snapshot_free": (None, [SnapshotPtr]),
    "xmpp_roster_snapshot_len": (c_size_t, [SnapshotPtr]),
    "xmpp_roster_snapshot_item": (ItemPtr, [SnapshotPtr, c_size_t]),
    "xmpp_roster_snapshot_find": (ItemPtr, [SnapshotPtr, c_char_p]),
    "xmpp_roster_snapshot_version": (c_void_p, [SnapshotPtr]),
    "xmpp_roster_snapshot_export": (result_t, [SnapshotPtr, POINTER(c_void_p), POINTER(c_size_t)]),
    "xmpp_roster_snapshot_import": (result_t, [c_void_p, c_size_t, c_char_p, POINTER(SnapshotPtr)]),
    "xmpp_roster_client_load_snapshot": (result_t, [ClientPtr, SnapshotPtr]),
    # feed: a fetch's items in batches, for a second thread
    "xmpp_roster_feed_new": (result_t, [c_size_t, POINTER(FeedPtr)]),
    "xmpp_roster_feed_free": (None, [FeedPtr]),
    "xmpp_roster_client_fetch_feed": (result_t, [ClientPtr, FeedPtr, POINTER(c_bool)]),
    "xmpp_roster_feed_next": (result_t, [FeedPtr, c_uint32, POINTER(c_void_p), POINTER(c_size_t)]),
    "xmpp_roster_feed_complete": (c_bool, [FeedPtr]),
    "xmpp_roster_item_jid": (c_void_p, [ItemPtr]),
    "xmpp_roster_item_name": (c_void_p, [ItemPtr]),
    "xmpp_roster_item_subscription": (c_uint32, [ItemPtr]),
    "xmpp_roster_item_ask": (c_bool, [ItemPtr]),
    "xmpp_roster_item_approved": (c_bool, [ItemPtr]),
    "xmpp_roster_item_group_count": (c_size_t, [ItemPtr]),
    "xmpp_roster_item_group": (c_void_p, [ItemPtr, c_size_t]),
    # callbacks
    "xmpp_roster_client_on_roster_change": (result_t, [ClientPtr, ROSTER_CHANGE_CB, c_void_p, FREE_FN]),
    "xmpp_roster_client_on_subscription": (result_t, [ClientPtr, SUBSCRIPTION_CB, c_void_p, FREE_FN]),
    "xmpp_roster_client_on_presence": (result_t, [ClientPtr, PRESENCE_CB, c_void_p, FREE_FN]),
    "xmpp_roster_client_on_disconnect": (result_t, [ClientPtr, DISCONNECT_CB, c_void_p, FREE_FN]),
}


def _library_file_names() -> List[str]:
    if sys.platform == "darwin":
        return ["libxmpp_roster.dylib"]
    if sys.platform == "win32":
        return ["xmpp_roster.dll"]
    return ["libxmpp_roster.so", "libxmpp_roster.so.0"]


def _candidates() -> List[Tuple[str, Optional[str]]]:
    """(description, path-or-None) in lookup order; None means "not available"."""
    found: List[Tuple[str, Optional[str]]] = []
    env = os.environ.get(LIBRARY_ENV)
    found.append((f"${LIBRARY_ENV}" + (f"={env!r}" if env else " (not set)"), env or None))
    here = Path(__file__).resolve().parent
    for name in _library_file_names():
        path = here / name
        found.append((str(path), str(path) if path.exists() else None))
    system = ctypes.util.find_library("xmpp_roster")
    found.append(("ctypes.util.find_library('xmpp_roster')" + (f" -> {system}" if system else " (nothing)"), system))
    return found


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    for description, path in _candidates():
        if path is None:
            tried.append(description)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{description}: {e}")
            if description.startswith("$"):
                # An explicit choice that fails must not silently fall back to another copy.
                break
    raise ImportError(
        "xmpp_roster: cannot load the shared library libxmpp_roster. Tried, in order:\n  - "
        + "\n  - ".join(tried)
        + f"\nBuild it (cargo build --release --lib) and set {LIBRARY_ENV} to the .so file, "
        "copy it into the package directory, or install it where the dynamic loader finds it."
    )


def _declare(lib: ctypes.CDLL, path: str) -> None:
    missing = []
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(f"xmpp_roster: {path} lacks {', '.join(missing)}; it is not a compatible libxmpp_roster")


def _check_version(lib: ctypes.CDLL, path: str) -> str:
    raw = lib.xmpp_roster_version()
    version = ctypes.string_at(raw).decode("ascii", "replace") if raw else "?"
    theirs = version.split(".")
    ours = BINDING_VERSION.split(".")
    compatible = len(theirs) >= 2 and theirs[0] == ours[0] and (ours[0] != "0" or theirs[1] == ours[1])
    if not compatible:
        raise ImportError(
            f"xmpp_roster: {path} is libxmpp_roster {version}, but this package {BINDING_VERSION} needs "
            f"{ours[0]}.x" + (f" (with minor {ours[1]}: 0.x minors are incompatible)" if ours[0] == "0" else "")
        )
    return version


lib, library_path = _load()
_declare(lib, library_path)
library_version = _check_version(lib, library_path)


def string_at(ptr: Optional[int]) -> Optional[str]:
    """A borrowed NUL-terminated UTF-8 string from C, or None for NULL."""
    if not ptr:
        return None
    return ctypes.string_at(ptr).decode("utf-8", "replace")


def read_sized(fn, *args) -> str:  # type: ignore[no-untyped-def]
    """Calls an snprintf-style ``fn(*args, buf, len)`` twice if needed and returns the string."""
    buf = ctypes.create_string_buffer(256)
    n = fn(*args, buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        n = fn(*args, buf, len(buf))
    return buf.raw[: min(n, len(buf) - 1)].decode("utf-8", "replace")
