"""The ctypes declarations match include/xmpp_roster.h exactly: every function, every type,
every constant. A mismatch here is a silent memory-safety bug at run time, so check it statically."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from xmpp_roster import _ffi

HEADER = Path(__file__).resolve().parents[3] / "include" / "xmpp_roster.h"

# C type (without "const", spaces squeezed) -> the ctypes types accepted for it.
C_TO_CTYPES = {
    "void": (None,),
    "bool": (ctypes.c_bool,),
    "int8_t": (ctypes.c_int8,),
    "uint16_t": (ctypes.c_uint16,),
    "uint32_t": (ctypes.c_uint32,),
    "size_t": (ctypes.c_size_t,),
    "xmpp_roster_result": (ctypes.c_uint32,),
    # Strings in are c_char_p; strings out and caller buffers are c_void_p (read by hand).
    "char *": (ctypes.c_char_p, ctypes.c_void_p),
    "char * *": (ctypes.POINTER(ctypes.c_char_p),),
    "uint8_t *": (ctypes.c_void_p,),  # bytes in (snapshot import): ctypes passes bytes as is
    "uint8_t * *": (ctypes.POINTER(ctypes.c_void_p),),
    "bool *": (ctypes.POINTER(ctypes.c_bool),),
    "size_t *": (ctypes.POINTER(ctypes.c_size_t),),
    "xmpp_roster_config *": (_ffi.ConfigPtr,),
    "xmpp_roster_config * *": (ctypes.POINTER(_ffi.ConfigPtr),),
    "xmpp_roster_client *": (_ffi.ClientPtr,),
    "xmpp_roster_client * *": (ctypes.POINTER(_ffi.ClientPtr),),
    "xmpp_roster_snapshot *": (_ffi.SnapshotPtr,),
    "xmpp_roster_snapshot * *": (ctypes.POINTER(_ffi.SnapshotPtr),),
    "xmpp_roster_item *": (_ffi.ItemPtr,),
    "xmpp_roster_feed *": (_ffi.FeedPtr,),
    "xmpp_roster_feed * *": (ctypes.POINTER(_ffi.FeedPtr),),
    "void *": (ctypes.c_void_p,),
    "xmpp_roster_free_fn": (_ffi.FREE_FN,),
    "xmpp_roster_roster_change_cb": (_ffi.ROSTER_CHANGE_CB,),
    "xmpp_roster_subscription_cb": (_ffi.SUBSCRIPTION_CB,),
    "xmpp_roster_presence_cb": (_ffi.PRESENCE_CB,),
    "xmpp_roster_disconnect_cb": (_ffi.DISCONNECT_CB,),
}
# Callbacks receive strings as c_void_p too (NULL-safe, read with string_at).
CALLBACK_C_TO_CTYPES = dict(C_TO_CTYPES, **{"char *": (ctypes.c_void_p,)})


def _header_text() -> str:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} not found (tests run outside the repository)")
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _normalize(c_type: str) -> str:
    c_type = re.sub(r"\bconst\b", "", c_type)
    c_type = c_type.replace("*", " * ")
    return " ".join(c_type.split())


def _split_param(param: str) -> str:
    """'const char *const *groups' -> 'char * *'."""
    param = param.strip()
    if param in ("void", ""):
        return ""
    m = re.match(r"^(.*?)([A-Za-z_][A-Za-z0-9_]*)$", param)
    assert m, param
    return _normalize(m.group(1))


def _functions(text: str) -> Dict[str, Tuple[str, List[str]]]:
    found = {}
    for m in re.finditer(r"^([A-Za-z_][\w \*]*?)\s*\b(xmpp_roster_\w+)\s*\(([^)]*)\)\s*;", text, re.M):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        args = [_split_param(p) for p in params.split(",")]
        found[name] = (_normalize(ret), [a for a in args if a])
    return found


def _callbacks(text: str) -> Dict[str, Tuple[str, List[str]]]:
    found = {}
    for m in re.finditer(r"typedef\s+(\w+)\s*\(\*(\w+)\)\s*\(([^)]*)\)\s*;", text):
        found[m.group(2)] = (_normalize(m.group(1)), [_split_param(p) for p in m.group(3).split(",")])
    return found


def test_every_header_function_is_declared_with_matching_types() -> None:
    functions = _functions(_header_text())
    assert len(functions) > 50, "header parsing found too few functions"
    assert set(functions) == set(_ffi._PROTOTYPES), (
        f"only in header: {set(functions) - set(_ffi._PROTOTYPES)}; "
        f"only in binding: {set(_ffi._PROTOTYPES) - set(functions)}"
    )
    for name, (ret, args) in functions.items():
        fn = getattr(_ffi.lib, name)
        assert fn.restype in C_TO_CTYPES[ret], f"{name}: returns {ret}, restype {fn.restype}"
        assert fn.argtypes is not None, name
        assert len(fn.argtypes) == len(args), f"{name}: {args} vs {fn.argtypes}"
        for i, (c_arg, py_arg) in enumerate(zip(args, fn.argtypes)):
            assert py_arg in C_TO_CTYPES[c_arg], f"{name} argument {i}: {c_arg} declared as {py_arg}"


def test_callback_types_match_the_header() -> None:
    callbacks = _callbacks(_header_text())
    ours = {
        "xmpp_roster_free_fn": _ffi.FREE_FN,
        "xmpp_roster_roster_change_cb": _ffi.ROSTER_CHANGE_CB,
        "xmpp_roster_subscription_cb": _ffi.SUBSCRIPTION_CB,
        "xmpp_roster_presence_cb": _ffi.PRESENCE_CB,
        "xmpp_roster_disconnect_cb": _ffi.DISCONNECT_CB,
    }
    assert set(callbacks) == set(ours)
    for name, (ret, args) in callbacks.items():
        cb = ours[name]
        expected_ret = {"int": ctypes.c_int, "void": None}[ret]
        assert cb._restype_ is expected_ret, name
        assert len(cb._argtypes_) == len(args), name
        for c_arg, py_arg in zip(args, cb._argtypes_):
            assert py_arg in CALLBACK_C_TO_CTYPES[c_arg], f"{name}: {c_arg} declared as {py_arg}"


def test_constants_match_the_header() -> None:
    defines = dict(re.findall(r"#define\s+XMPP_ROSTER_(\w+)\s+(\d+)", _header_text()))
    checked = 0
    for name, value in defines.items():
        ours = getattr(_ffi, name, None)
        if name.startswith(("ERR_", "TLS_", "SASL_")) or name == "OK":
            assert ours == int(value), name
            checked += 1
    assert checked == 25
    version = ".".join(defines[f"VERSION_{part}"] for part in ("MAJOR", "MINOR", "PATCH"))
    assert version == _ffi.library_version == _ffi.BINDING_VERSION
