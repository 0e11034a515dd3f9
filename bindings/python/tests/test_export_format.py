"""Decoding the bulk export (format 2) into RosterItems, from crafted buffers: no server needed
(these tests use none of the server fixtures, so the session's server is not started for them)."""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import random
from typing import Iterable, List, Optional, Tuple

import pytest

from xmpp_roster import RosterItem, Subscription
from xmpp_roster._export import ExportFormatError, decode_export

SUBSCRIPTION_DIGITS = {Subscription.NONE: "0", Subscription.TO: "1", Subscription.FROM: "2", Subscription.BOTH: "3"}


def encode(items: Iterable[RosterItem]) -> bytes:
    """Format 2 as docs/C-API.md describes it (what xmpp_roster_snapshot_export writes)."""
    out: List[str] = []
    for item in items:
        out += [
            item.jid,
            "\x01" if item.name is None else item.name,
            SUBSCRIPTION_DIGITS[item.subscription],
            "1" if item.ask else "0",
            "1" if item.approved else "0",
            "".join("\x01" + group for group in item.groups),
        ]
    return "".join(field + "\0" for field in out).encode("utf-8")


def item(
    jid: str = "bob@localhost",
    name: Optional[str] = None,
    subscription: Subscription = Subscription.NONE,
    ask: bool = False,
    approved: bool = False,
    groups: Tuple[str, ...] = (),
) -> RosterItem:
    return RosterItem(jid, name, subscription, ask, approved, groups)


def test_empty_roster_is_the_empty_buffer() -> None:
    assert decode_export(b"") == []
    assert encode([]) == b""


def test_one_item_field_by_field() -> None:
    [got] = decode_export(b"bob@localhost\0Bob\0" b"3\0" b"1\0" b"0\0" b"\x01Friends\x01Work\0")
    assert type(got) is RosterItem
    assert got.jid == "bob@localhost"
    assert got.name == "Bob"
    assert got.subscription is Subscription.BOTH
    assert got.ask is True and got.approved is False
    assert got.groups == ("Friends", "Work")
    assert got == item("bob@localhost", "Bob", Subscription.BOTH, True, False, ("Friends", "Work"))


def test_no_name_is_none_and_an_empty_name_is_the_empty_string() -> None:
    no_name, empty_name = decode_export(b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0\0" b"b@x\0\0" b"0\0" b"0\0" b"0\0\0")
    assert no_name.name is None
    assert empty_name.name == ""


def test_no_groups_one_empty_group_and_several() -> None:
    data = (
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"\0"
        b"b@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"\x01\0"
        b"c@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"\x01\x01\0"
        b"d@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"\x01A\x01B\x01C\0"
        b"e@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"\x01\x01B\0"
    )
    assert [i.groups for i in decode_export(data)] == [(), ("",), ("", ""), ("A", "B", "C"), ("", "B")]


def test_every_subscription_and_flag_combination() -> None:
    items = [
        item(f"c{n}@x", f"C{n}", sub, ask, approved)
        for n, (sub, ask, approved) in enumerate(
            (sub, ask, approved) for sub in Subscription for ask in (False, True) for approved in (False, True)
        )
    ]
    got = decode_export(encode(items))
    assert got == items
    assert [i.subscription for i in got] == [i.subscription for i in items]
    assert all(type(i.subscription) is Subscription for i in got)
    assert all(type(i.ask) is bool and type(i.approved) is bool for i in got)


def test_digits_map_to_the_c_enumeration() -> None:
    data = b"".join(b"c%d@x\0\x01\0%d\0" b"0\0" b"0\0\0" % (d, d) for d in range(4))
    assert [i.subscription for i in decode_export(data)] == [
        Subscription.NONE,
        Subscription.TO,
        Subscription.FROM,
        Subscription.BOTH,
    ]


def test_non_ascii_and_xml_special_characters() -> None:
    items = [
        item("zoë@例え.jp", "Zoë 山田 <&>\"'", Subscription.TO, groups=("Büro", "Друзья", "家族")),
        item("emoji@x", "🎭 Romeo", Subscription.FROM, groups=("🎭",)),
        item("plain@x", "tab\tnew\nline", groups=(" spaced ",)),
    ]
    assert decode_export(encode(items)) == items


def test_invalid_utf8_is_replaced() -> None:
    [got] = decode_export(b"a@x\0B\xffb\0" b"0\0" b"0\0" b"0\0\0")
    assert got.name == "B\ufffdb"


def test_any_bytes_like_input() -> None:
    data = encode([item("a@x", "A", groups=("G",)), item("b@x")])
    want = decode_export(data)
    assert decode_export(bytearray(data)) == want
    assert decode_export(memoryview(data)) == want
    buffer = ctypes.create_string_buffer(data, len(data))
    assert decode_export((ctypes.c_char * len(data)).from_address(ctypes.addressof(buffer))) == want


def test_decoded_items_are_ordinary_frozen_dataclasses() -> None:
    data = b"bob@localhost\0Bob\0" b"3\0" b"0\0" b"1\0" b"\x01Friends\0"
    [got] = decode_export(data)
    built = item("bob@localhost", "Bob", Subscription.BOTH, False, True, ("Friends",))
    assert got == built and hash(got) == hash(built) and repr(got) == repr(built)
    assert got in {built} and built in {got}
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.name = "Robert"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del got.jid  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        got.extra = 1  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(got)] == ["jid", "name", "subscription", "ask", "approved", "groups"]
    assert dataclasses.asdict(got) == dataclasses.asdict(built)
    assert dataclasses.astuple(got) == ("bob@localhost", "Bob", Subscription.BOTH, False, True, ("Friends",))
    assert dataclasses.replace(got, name=None) == item("bob@localhost", None, Subscription.BOTH, False, True, ("Friends",))
    assert not hasattr(got, "__dict__")


def test_items_are_also_tuples_of_their_fields() -> None:
    built = RosterItem(jid="bob@localhost", name="Bob", subscription=Subscription.TO, ask=False, approved=True, groups=("G",))
    [got] = decode_export(encode([built]))
    values = ("bob@localhost", "Bob", Subscription.TO, False, True, ("G",))
    for it in (built, got):
        assert isinstance(it, tuple) and len(it) == 6 and tuple(it) == values
        jid, name, *_ = it
        assert (jid, name, it[2]) == ("bob@localhost", "Bob", Subscription.TO)
        assert it == values and hash(it) == hash(values)
    assert sorted([item("b@x"), item("a@x")]) == [item("a@x"), item("b@x")]
    with pytest.raises(TypeError):
        RosterItem("bob@localhost", "Bob")  # type: ignore[call-arg]


def test_items_pickle_and_copy_as_values() -> None:
    import copy
    import pickle

    [got] = decode_export(b"bob@localhost\0Bob\0" b"3\0" b"0\0" b"1\0" b"\x01Friends\0")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(got, protocol))
        assert back == got and type(back) is RosterItem
    assert copy.copy(got) == got and copy.deepcopy(got) == got


def test_items_with_the_same_groups_are_independent_values() -> None:
    a, b = decode_export(encode([item("a@x", groups=("G", "H")), item("b@x", groups=("G", "H"))]))
    assert a.groups == b.groups == ("G", "H") and isinstance(a.groups, tuple)
    assert a != b


def test_a_big_random_roster_round_trips() -> None:
    rnd = random.Random(6)
    names = ["Romeo", "Zoë", "山田 太郎", "O'Brien & Co", "<admin>", "", "Дмитрий"]
    all_groups = ["Friends", "Family", "Work", "Büro", "", "R&D", "家族", "Close friends"]
    items = [
        item(
            f"contact{n}@example{n % 7}.org",
            None if rnd.random() < 0.15 else rnd.choice(names) + str(n),
            rnd.choice(list(Subscription)),
            rnd.random() < 0.1,
            rnd.random() < 0.1,
            tuple(sorted(set(rnd.sample(all_groups, rnd.choice([0, 0, 1, 1, 2, 3]))))),
        )
        for n in range(5000)
    ]
    data = encode(items)
    assert data.count(b"\0") == 6 * len(items)
    assert decode_export(data) == items


@pytest.mark.parametrize(
    "data",
    [
        b"a@x",  # no NUL at all
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0",  # five fields
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0\0b@x\0",  # a second item cut short
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0\0trailing",  # bytes after the last NUL
        b"a@x\0\x01\0" b"4\0" b"0\0" b"0\0\0",  # subscription out of range
        b"a@x\0\x01\0" b"both\0" b"0\0" b"0\0\0",
        b"a@x\0\x01\0" b"0\0" b"2\0" b"0\0\0",  # ask not 0/1
        b"a@x\0\x01\0" b"0\0" b"0\0" b"true\0\0",  # approved not 0/1
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"Friends\0",  # groups without the \x01 prefix
        b"a@x\0\x01\0" b"0\0" b"0\0" b"0\0" b"2\0Friends\0Work\0",  # format 1 (a group count)
    ],
)
def test_malformed_buffers_are_refused(data: bytes) -> None:
    with pytest.raises(ExportFormatError) as info:
        decode_export(data)
    assert "bad export data" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        decode_export(encode([item("a@x", "A", groups=("G",))]))
        assert gc.isenabled() is enabled
        with pytest.raises(ExportFormatError):
            decode_export(b"a@x\0\x01\0" b"9\0" b"0\0" b"0\0\0")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
