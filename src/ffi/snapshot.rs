//! `xmpp_roster_snapshot` and `xmpp_roster_item`: the roster at one moment, read from C.
//!
//! A snapshot is the core's copy-on-write roster snapshot: taking one is O(1) and copies
//! nothing, and item accessors return pointers straight into the core's items, whose strings
//! carry their NUL ([`NulString`]). Reading a 50,000-item roster from C allocates nothing. The
//! bulk export (one buffer for bindings, see `xmpp_roster_snapshot_export`) is laid out on first
//! request.

use super::error::{xmpp_roster_result, XMPP_ROSTER_ERR_INVALID_ARGUMENT, XMPP_ROSTER_ERR_INVALID_JID, XMPP_ROSTER_ERR_NOT_FOUND};
use super::{arg_str, c_safe, non_null, Failed};
use crate::jid::normalize_bare;
use crate::groups::Groups;
use crate::{NulString, Roster, RosterChange, RosterItem, RosterSnapshot, Subscription};
use std::ffi::c_char;
use std::sync::OnceLock;

/// An immutable copy of the roster at one moment (opaque). Owned by the caller: free it with
/// `xmpp_roster_snapshot_free`. Independent of the client: it stays valid and unchanged after
/// later roster changes and after the client is freed. Read-only, so it may be read from several
/// threads at once.
pub struct xmpp_roster_snapshot {
    _private: [u8; 0],
}

/// One roster item (opaque), always borrowed: from a snapshot (valid until that snapshot is
/// freed) or from a roster-change callback (valid until the callback returns). Never freed by
/// the caller.
pub struct xmpp_roster_item {
    _private: [u8; 0],
}

/// `xmpp_roster_item_subscription`: neither side sees the other's presence.
pub const XMPP_ROSTER_SUBSCRIPTION_NONE: u32 = 0;
/// The user sees the contact's presence.
pub const XMPP_ROSTER_SUBSCRIPTION_TO: u32 = 1;
/// The contact sees the user's presence.
pub const XMPP_ROSTER_SUBSCRIPTION_FROM: u32 = 2;
/// Both see each other's presence.
pub const XMPP_ROSTER_SUBSCRIPTION_BOTH: u32 = 3;

/// Roster-change callback `change`: the item is new.
pub const XMPP_ROSTER_CHANGE_ADDED: u32 = 0;
/// The item existed and changed (name, groups, subscription, ...).
pub const XMPP_ROSTER_CHANGE_UPDATED: u32 = 1;
/// The item was removed; the item passed is what it was before removal.
pub const XMPP_ROSTER_CHANGE_REMOVED: u32 = 2;

pub(crate) fn subscription_code(s: Subscription) -> u32 {
    match s {
        Subscription::None => XMPP_ROSTER_SUBSCRIPTION_NONE,
        Subscription::To => XMPP_ROSTER_SUBSCRIPTION_TO,
        Subscription::From => XMPP_ROSTER_SUBSCRIPTION_FROM,
        Subscription::Both => XMPP_ROSTER_SUBSCRIPTION_BOTH,
    }
}

fn subscription_from_digit(d: &[u8]) -> Option<Subscription> {
    match d {
        b"0" => Some(Subscription::None),
        b"1" => Some(Subscription::To),
        b"2" => Some(Subscription::From),
        b"3" => Some(Subscription::Both),
        _ => None,
    }
}

fn flag(d: &[u8]) -> Option<bool> {
    match d {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    }
}

/// The name field of the export format when an item has no name.
const NO_NAME: u8 = 0x01;
/// In the export format's groups field, the byte before each group.
const GROUP_MARK: u8 = 0x01;

/// Appends `s` as one field of the export format, then its NUL. XML cannot carry NUL or U+0001,
/// so only a Rust caller's strings could hold them: they become '?' rather than split a field.
fn push_text(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if memchr::memchr2(0, 1, b).is_none() {
        out.extend_from_slice(b);
    } else {
        out.extend(b.iter().map(|&c| if c <= 1 { b'?' } else { c }));
    }
}

/// Lays out `items` in the export format (see `xmpp_roster_snapshot_export`).
pub(crate) fn export_items(items: &[RosterItem]) -> Vec<u8> {
    let size: usize = items.iter().map(|it| it.jid.len() + it.name.as_ref().map_or(1, |n| n.len()) + it.groups.iter().map(|g| g.len() + 1).sum::<usize>() + 12).sum();
    let mut out = Vec::with_capacity(size);
    for it in items {
        push_text(&mut out, &it.jid);
        out.push(0);
        match &it.name {
            Some(n) => push_text(&mut out, n),
            None => out.push(NO_NAME),
        }
        out.push(0);
        out.extend_from_slice(&[b'0' + subscription_code(it.subscription) as u8, 0, b'0' + u8::from(it.ask), 0, b'0' + u8::from(it.approved), 0]);
        for g in &it.groups {
            out.push(GROUP_MARK);
            push_text(&mut out, g);
        }
        out.push(0);
    }
    out
}

/// Parses the export format back into a roster, checking every field (see
/// `xmpp_roster_snapshot_import`). The error says where the data went wrong.
pub(crate) fn parse_export(data: &[u8], version: Option<&str>) -> Result<RosterSnapshot, String> {
    let mut roster = Roster::default();
    let mut builder = roster.builder();
    if !data.is_empty() {
        let Some(body) = data.strip_suffix(&[0]) else {
            return Err("the data must end with a NUL (every field is NUL-terminated)".into());
        };
        let mut fields = body.split(|&b| b == 0);
        let text = |f: &[u8], what: &str, n: usize| -> Result<NulString, String> {
            std::str::from_utf8(f).map(NulString::from).map_err(|_| format!("item {n}: {what} is not valid UTF-8"))
        };
        while let Some(jid) = fields.next() {
            let n = builder.len();
            let jid = std::str::from_utf8(jid).map_err(|_| format!("item {n}: jid is not valid UTF-8"))?;
            let bare = normalize_bare(jid).ok_or_else(|| format!("item {n}: {jid:?} is not a bare JID"))?;
            let jid = NulString::from(&*bare);
            let mut next = |what: &str| fields.next().ok_or_else(|| format!("item {n} ({jid}): the data ends before its {what}"));
            let name = next("name")?;
            let name = if name == [NO_NAME] { None } else { Some(text(name, "name", n)?) };
            let subscription = subscription_from_digit(next("subscription")?).ok_or_else(|| format!("item {n}: bad subscription field"))?;
            let ask = flag(next("ask")?).ok_or_else(|| format!("item {n}: bad ask field"))?;
            let approved = flag(next("approved")?).ok_or_else(|| format!("item {n}: bad approved field"))?;
            let groups_field = next("groups")?;
            let mut groups = Vec::new();
            if !groups_field.is_empty() {
                let Some(rest) = groups_field.strip_prefix(&[GROUP_MARK]) else {
                    return Err(format!("item {n}: the groups field must be empty or start with \\x01"));
                };
                for g in rest.split(|&b| b == GROUP_MARK) {
                    groups.push(text(g, "group", n)?);
                }
            }
            if !builder.push(RosterItem { jid, name, subscription, ask, approved, groups: Groups::new(groups) }) {
                return Err(format!("item {n}: {bare} appears twice"));
            }
        }
    }
    roster.install(builder, version.map(NulString::from));
    Ok(roster.snapshot())
}

pub(crate) fn change_code(c: RosterChange) -> u32 {
    match c {
        RosterChange::Added => XMPP_ROSTER_CHANGE_ADDED,
        RosterChange::Updated => XMPP_ROSTER_CHANGE_UPDATED,
        RosterChange::Removed => XMPP_ROSTER_CHANGE_REMOVED,
    }
}

/// The C handle of a roster item: the core's item itself, whose strings carry their NUL.
pub(crate) fn item_handle(item: &RosterItem) -> *const xmpp_roster_item {
    (item as *const RosterItem).cast()
}

/// The real `xmpp_roster_snapshot`: the core's copy-on-write roster snapshot (taking one is
/// O(1): the client copies its data only when it next changes while a snapshot shares it), plus
/// the bulk export, laid out on first use.
pub(crate) struct SnapshotData {
    roster: RosterSnapshot,
    export: OnceLock<Vec<u8>>,
}

impl SnapshotData {
    pub(crate) fn new(roster: RosterSnapshot) -> SnapshotData {
        SnapshotData { roster, export: OnceLock::new() }
    }

    pub(crate) fn roster(&self) -> &RosterSnapshot {
        &self.roster
    }

    fn export(&self) -> &[u8] {
        self.export.get_or_init(|| export_items(self.roster.items()))
    }

    pub(crate) fn into_raw(self) -> *mut xmpp_roster_snapshot {
        Box::into_raw(Box::new(self)).cast()
    }
}

pub(crate) fn snapshot_ref<'a>(p: *const xmpp_roster_snapshot) -> Option<&'a SnapshotData> {
    // SAFETY: a non-NULL snapshot pointer came from `SnapshotData::into_raw` (caller's contract).
    unsafe { p.cast::<SnapshotData>().as_ref() }
}

fn item_ref<'a>(p: *const xmpp_roster_item) -> Option<&'a RosterItem> {
    // SAFETY: a non-NULL item pointer points to a `RosterItem` of a live snapshot or event
    // (contract); see `item_handle`.
    unsafe { p.cast::<RosterItem>().as_ref() }
}

/// Frees a snapshot and every item and string borrowed from it. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_free(snapshot: *mut xmpp_roster_snapshot) {
    ffi_value!((); {
        if !snapshot.is_null() {
            // SAFETY: came from `SnapshotData::into_raw`; freed once (caller's contract).
            drop(unsafe { Box::from_raw(snapshot.cast::<SnapshotData>()) });
        }
    })
}

/// The number of items; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_len(snapshot: *const xmpp_roster_snapshot) -> usize {
    ffi_value!(0;
        snapshot_ref(snapshot).map_or(0, |s| s.roster.len())
    )
}

/// The item at `index` (0-based, in the order the server sent them; a removal moves the last item
/// into the gap). NULL if `snapshot` is NULL or `index` is out of range. The item is borrowed
/// from the snapshot: valid until `xmpp_roster_snapshot_free`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_item(snapshot: *const xmpp_roster_snapshot, index: usize) -> *const xmpp_roster_item {
    ffi_value!(std::ptr::null();
        snapshot_ref(snapshot).and_then(|s| s.roster.items().get(index)).map_or(std::ptr::null(), item_handle)
    )
}

/// The item for `jid` (a bare JID; local and domain part compared case-insensitively), or NULL.
/// When it returns NULL it records the last error: NOT_FOUND (absent), NULL_PARAMETER,
/// INVALID_UTF8 or INVALID_JID. The item is borrowed from the snapshot.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_find(snapshot: *const xmpp_roster_snapshot, jid: *const c_char) -> *const xmpp_roster_item {
    ffi_value!(std::ptr::null();
        let found = (|| -> Result<*const xmpp_roster_item, Failed> {
            non_null(snapshot, "snapshot")?;
            let s = snapshot_ref(snapshot).ok_or(Failed(0))?;
            // SAFETY: C string per the contract.
            let jid = unsafe { arg_str(jid, "jid") }?;
            let key = normalize_bare(jid).ok_or_else(|| Failed::new(XMPP_ROSTER_ERR_INVALID_JID, format!("{:?} is not a bare JID", c_safe(jid))))?;
            let item = s.roster.get(&key).ok_or_else(|| Failed::new(XMPP_ROSTER_ERR_NOT_FOUND, format!("{key} is not in the roster")))?;
            Ok(item_handle(item))
        })();
        found.unwrap_or(std::ptr::null())
    )
}

/// The roster version the server reported (e.g. "42"), or NULL if it gave none (or `snapshot` is
/// NULL). Borrowed from the snapshot.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_version(snapshot: *const xmpp_roster_snapshot) -> *const c_char {
    ffi_value!(std::ptr::null();
        snapshot_ref(snapshot).and_then(|s| s.roster.version_nul()).map_or(std::ptr::null(), NulString::as_c_ptr)
    )
}

/// The whole snapshot in one buffer, for bindings that want no per-item calls. Writes a pointer
/// to the buffer (owned by the snapshot, valid until `xmpp_roster_snapshot_free`; never NULL,
/// even when empty) to `*data` and its length in bytes to `*len`. The buffer is laid out on the
/// first call (O(roster size)); later calls return the same buffer.
///
/// Layout ("format 2"): for each item in index order, exactly six fields, each followed by one
/// '\0': jid; name (the single byte '\x01' when the item has no name); subscription ('0'..'3', as
/// `XMPP_ROSTER_SUBSCRIPTION_*`); ask ('0'/'1'); approved ('0'/'1'); groups, each group preceded
/// by one '\x01' byte ("" for none). So the buffer holds 6 NULs per item and ends with one. XML
/// cannot carry '\0' or '\x01', so neither occurs inside a field. Errors: NULL_PARAMETER.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_export(snapshot: *const xmpp_roster_snapshot, data: *mut *const u8, len: *mut usize) -> xmpp_roster_result {
    ffi_result! {
        non_null(snapshot, "snapshot")?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        let s = snapshot_ref(snapshot).ok_or(Failed(0))?;
        let export = s.export();
        // SAFETY: `data` and `len` are non-NULL and writable per the contract.
        unsafe {
            *data = export.as_ptr();
            *len = export.len();
        }
        Ok(())
    }
}

/// Builds a snapshot from data in the export format (see `xmpp_roster_snapshot_export`), e.g. a
/// roster saved by an earlier run, with the roster `version` it was at (NULL: none). The data is
/// copied. With `xmpp_roster_client_load_snapshot` this lets the next fetch send that version and
/// get "unchanged" back instead of the whole roster. On success writes the new snapshot (owned by
/// the caller) to `*out`. Errors: NULL_PARAMETER (`data` may be NULL only when `len` is 0),
/// INVALID_UTF8 (version), INVALID_ARGUMENT (malformed data: the message says where; also a JID
/// that is not a bare JID, or one that appears twice).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_import(data: *const u8, len: usize, version: *const c_char, out: *mut *mut xmpp_roster_snapshot) -> xmpp_roster_result {
    ffi_result! {
        non_null(out, "out")?;
        // SAFETY: `len` readable bytes at `data`, and a C string, per the contract.
        let bytes = unsafe { super::arg_slice(data, len, "data") }?;
        let version = unsafe { super::opt_str(version, "version") }?;
        let roster = parse_export(bytes, version).map_err(|m| Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("bad snapshot data: {m}")))?;
        let snapshot = SnapshotData::new(roster);
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = snapshot.into_raw() };
        Ok(())
    }
}

/// The item's bare JID (normalised: lower-case local and domain parts). Borrowed from the item's
/// owner. NULL only for a NULL item.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_jid(item: *const xmpp_roster_item) -> *const c_char {
    ffi_value!(std::ptr::null();
        item_ref(item).map_or(std::ptr::null(), |e| e.jid.as_c_ptr())
    )
}

/// The name the user gave the contact, or NULL if none (an empty name is ""). Borrowed.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_name(item: *const xmpp_roster_item) -> *const c_char {
    ffi_value!(std::ptr::null();
        item_ref(item).and_then(|e| e.name.as_ref()).map_or(std::ptr::null(), NulString::as_c_ptr)
    )
}

/// The subscription state, one of `XMPP_ROSTER_SUBSCRIPTION_*` (NONE for a NULL item).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_subscription(item: *const xmpp_roster_item) -> u32 {
    ffi_value!(XMPP_ROSTER_SUBSCRIPTION_NONE;
        item_ref(item).map_or(XMPP_ROSTER_SUBSCRIPTION_NONE, |e| subscription_code(e.subscription))
    )
}

/// True while a subscription request to the contact is pending (`ask='subscribe'`).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_ask(item: *const xmpp_roster_item) -> bool {
    ffi_value!(false;
        item_ref(item).is_some_and(|e| e.ask)
    )
}

/// True when the user pre-approved the contact's subscription (`approved='true'`).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_approved(item: *const xmpp_roster_item) -> bool {
    ffi_value!(false;
        item_ref(item).is_some_and(|e| e.approved)
    )
}

/// The number of groups the contact is in; 0 for a NULL item.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_group_count(item: *const xmpp_roster_item) -> usize {
    ffi_value!(0;
        item_ref(item).map_or(0, |e| e.groups.len())
    )
}

/// The group at `index` (in the order the server sent them), or NULL if out of range. Borrowed.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_group(item: *const xmpp_roster_item, index: usize) -> *const c_char {
    ffi_value!(std::ptr::null();
        item_ref(item).and_then(|e| e.groups.get(index)).map_or(std::ptr::null(), NulString::as_c_ptr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(jid: &str, name: Option<&str>, groups: &[&str]) -> RosterItem {
        RosterItem { jid: jid.into(), name: name.map(Into::into), subscription: Subscription::Both, ask: true, approved: false, groups: groups.iter().copied().collect() }
    }

    fn roster(items: &[RosterItem]) -> RosterSnapshot {
        Roster::from_items(Some("7".into()), items.to_vec()).snapshot()
    }

    #[test]
    fn export_parses_back_to_the_same_roster_and_bad_data_is_refused() {
        let items = vec![item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[]), item("e@f", Some(""), &[""])];
        let data = export_items(&items);
        let back = parse_export(&data, Some("7")).unwrap();
        assert_eq!(back.items(), &items[..]);
        assert_eq!(back.version(), Some("7"));
        assert!(parse_export(b"", None).unwrap().is_empty());
        assert_eq!(&*parse_export(b"A@B\0\x01\x000\x000\x000\x00\0", None).unwrap().items()[0].jid, "a@b");
        let unsorted = parse_export(b"a@b\0\x01\x000\x000\x000\x00\x01b\x01a\x01b\0", None).unwrap();
        assert_eq!(unsorted.items()[0].groups, ["a", "b"], "groups are a set, sorted like the core's");
        for bad in [
            &b"a@b\0A\x003\x001\x000\0"[..],          // groups field missing
            b"a@b\0A\x004\x001\x000\x00\0",          // subscription out of range
            b"a@b\0A\x003\x002\x000\x00\0",          // ask not 0/1
            b"a@b\0A\x003\x001\x000\x00G1\0",        // group without its \x01
            b"a@b/r\0A\x003\x001\x000\x00\0",        // not bare
            b"a@b\0A\x003\x001\x000\x00",             // no final NUL
            b"a@b\0\xff\x003\x001\x000\x00\0",      // name not UTF-8
            b"a@b\0\x01\x000\x000\x000\x00\0a@b\0\x01\x000\x000\x000\x00\0", // twice
        ] {
            assert!(parse_export(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn export_layout_is_six_fields_per_item() {
        let items = [item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[]), item("e@f", Some("x\u{1}y"), &[""])];
        assert_eq!(
            export_items(&items),
            b"a@b\0A\x003\x001\x000\x00\x01G1\x01G2\0c@d\0\x01\x003\x001\x000\x00\0e@f\0x?y\x003\x001\x000\x00\x01\0"
        );
    }

    #[test]
    fn a_snapshot_shares_the_core_items_and_c_reads_them_in_place() {
        let snap = roster(&[item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[])]);
        let data = SnapshotData::new(snap.clone());
        let c = data.roster().get("c@d").unwrap();
        assert!(std::ptr::eq(c, &snap.items()[1]), "no copy");
        let a = item_ref(item_handle(&snap.items()[0])).unwrap();
        let cstr = |p: *const c_char| unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(cstr(a.jid.as_c_ptr()), "a@b");
        assert_eq!(cstr(a.groups[1].as_c_ptr()), "G2");
        assert_eq!(data.export(), &export_items(snap.items())[..]);
    }
}
