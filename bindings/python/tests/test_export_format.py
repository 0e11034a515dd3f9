"""Decoding the bulk export (format 3) into RosterItems, from crafted buffers: no server needed
(these tests use none of the server fixtures, so the session's server is not started for them)."""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import random
import struct
from typing import Dict, Iterable, Optional, Sequence, Tuple

import pytest

from helpers import export_layout, nul_terminated
from xmpp_roster import RosterItem, Subscription
from xmpp_roster._export import ExportFormatError, decode_export

SUBSCRIPTION_CODES = {Subscription.NONE: 0, Subscription.TO: 1, Subscription.FROM: 2, Subscription.BOTH: 3}


def encode(items: Iterable[RosterItem]) -> bytes:
    """What xmpp_roster_snapshot_export writes for these items (distinct group lists in order of
    first use)."""
    items = list(items)
    if not items:
        return b""
    lists: Dict[Tuple[str, ...], int] = {}
    group_index = [lists.setdefault(item.groups, len(lists)) for item in items]
    return export_layout(
        group_index,
        [n for n, item in enumerate(items) if item.name is None],
        bytes(SUBSCRIPTION_CODES[item.subscription] for item in items),
        bytes(item.ask for item in items),
        bytes(item.approved for item in items),
        nul_terminated(item.jid for item in items),
        nul_terminated(item.name or "" for item in items),
        ["".join("\x01" + group for group in groups) for groups in lists],
    )


def one(
    jid: bytes = b"bob@localhost\0",
    name: bytes = b"Bob\0",
    subscription: bytes = b"\x03",
    ask: bytes = b"\x01",
    approved: bytes = b"\x00",
    groups: str = "\x01Friends\x01Work",
    nameless: Sequence[int] = (),
    group_index: int = 0,
) -> bytes:
    """One item, field by field (by default Bob, both, ask, in Friends and Work)."""
    return export_layout([group_index], nameless, subscription, ask, approved, jid, name, [groups])


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
    [got] = decode_export(one())
    assert type(got) is RosterItem
    assert got.jid == "bob@localhost"
    assert got.name == "Bob"
    assert got.subscription is Subscription.BOTH
    assert got.ask is True and got.approved is False
    assert got.groups == ("Friends", "Work")
    assert got == item("bob@localhost", "Bob", Subscription.BOTH, True, False, ("Friends", "Work"))


def test_no_name_is_none_and_an_empty_name_is_the_empty_string() -> None:
    data = export_layout([0, 0], [0], b"\0\0", b"\0\0", b"\0\0", b"a@x\0b@x\0", b"\0\0", [""])
    no_name, empty_name = decode_export(data)
    assert no_name.name is None
    assert empty_name.name == ""


def test_no_groups_one_empty_group_and_several() -> None:
    lists = ["", "\x01", "\x01\x01", "\x01A\x01B\x01C", "\x01\x01B"]
    data = export_layout([0, 1, 2, 3, 4, 3], [], b"\0" * 6, b"\0" * 6, b"\0" * 6, nul_terminated(f"{c}@x" for c in "abcdef"), b"\0" * 6, lists)
    got = decode_export(data)
    assert [i.groups for i in got] == [(), ("",), ("", ""), ("A", "B", "C"), ("", "B"), ("A", "B", "C")]
    assert got[3].groups is got[5].groups, "one tuple per group list"


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


def test_codes_map_to_the_c_enumeration() -> None:
    data = export_layout([0] * 4, [], b"\x00\x01\x02\x03", b"\0" * 4, b"\0" * 4, nul_terminated(f"c{d}@x" for d in range(4)), b"\0" * 4, [""])
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
    [got] = decode_export(one(name=b"B\xffb\0"))
    assert got.name == "B\ufffdb"


def test_any_bytes_like_input() -> None:
    data = encode([item("a@x", "A", groups=("G",)), item("b@x")])
    want = decode_export(data)
    assert decode_export(bytearray(data)) == want
    assert decode_export(memoryview(data)) == want
    buffer = ctypes.create_string_buffer(data, len(data))
    assert decode_export((ctypes.c_char * len(data)).from_address(ctypes.addressof(buffer))) == want


def test_decoded_items_are_ordinary_frozen_dataclasses() -> None:
    [got] = decode_export(one(ask=b"\0", approved=b"\x01", groups="\x01Friends"))
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

    [got] = decode_export(one())
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(got, protocol))
        assert back == got and type(back) is RosterItem and back.groups == ("Friends", "Work")
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
    assert struct.unpack_from("<I", data, 4) == (len(items),)
    assert decode_export(data) == items


def test_batches_decoded_with_known_lists_share_one_tuple_per_group_list() -> None:
    # The batches of one fetch repeat group lists; decoded with one dict, they share the tuples.
    first = [item("a@x", groups=("G", "H")), item("b@x"), item("c@x", groups=("K",))]
    second = [item("d@x", groups=("K",)), item("e@x", groups=("G", "H")), item("f@x", groups=("N",))]
    known: Dict[str, Tuple[str, ...]] = {}
    got = decode_export(encode(first), known) + decode_export(encode(second), known)
    assert got == first + second == decode_export(encode(first + second))
    assert got[0].groups is got[4].groups and got[2].groups is got[3].groups
    assert known == {"\x01G\x01H": ("G", "H"), "": (), "\x01K": ("K",), "\x01N": ("N",)}


def test_a_malformed_group_list_is_refused_with_known_lists_too() -> None:
    known: Dict[str, Tuple[str, ...]] = {"\x01Friends": ("Friends",)}
    with pytest.raises(ExportFormatError, match="neither empty nor starts with"):
        decode_export(one(groups="Friends"), known)
    assert known == {"\x01Friends": ("Friends",)}, "nothing added from a refused buffer"


def test_a_roster_of_one_item_in_every_shape() -> None:
    # one item: itemgetter of a single index returns the value itself, not a 1-tuple
    for built in (item("a@x"), item("a@x", "A", Subscription.FROM, True, True, ("G",))):
        assert decode_export(encode([built])) == [built]


@pytest.mark.parametrize(
    "data",
    [
        b"bob@localhost\0Bob\0" b"3\0" b"1\0" b"0\0" b"\x01Friends\0",  # format 2
        b"XRS\x02" + one()[4:],  # another format number
        one()[:20],  # cut inside the header
        one()[:-1],  # one byte short
        one() + b"\0",  # one byte too many
        one(subscription=b"\x04"),  # subscription out of range
        one(ask=b"\x02"),  # ask not 0/1
        one(approved=b"\xff"),  # approved not 0/1
        one(group_index=1),  # past the group lists
        one(groups="Friends"),  # a group list without the \x01 before its first group
        one(nameless=[1], name=b"\0"),  # past the items
        one(jid=b"a@x\0b@x\0", name=b"\0\0"),  # more JIDs than items
        one(jid=b"bob@localhost"),  # JIDs without their final NUL
        export_layout([0, 0], [], b"\0\0", b"\0\0", b"\0\0", b"a@x\0b@x\0", b"\0", [""]),  # fewer names than items
    ],
)
def test_malformed_buffers_are_refused(data: bytes) -> None:
    with pytest.raises(ExportFormatError) as info:
        decode_export(data)
    assert "bad export data" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_older_formats_are_named_in_the_error() -> None:
    with pytest.raises(ExportFormatError, match="format 2 or older"):
        decode_export(b"bob@localhost\0Bob\0" b"3\0" b"1\0" b"0\0" b"\x01Friends\0")
    with pytest.raises(ExportFormatError, match=r"\(format 2\)"):
        decode_export(b"XRS\x02" + one()[4:])


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        decode_export(encode([item("a@x", "A", groups=("G",))]))
        assert gc.isenabled() is enabled
        with pytest.raises(ExportFormatError):
            decode_export(one(subscription=b"\x09"))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
