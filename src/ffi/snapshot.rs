//! `xmpp_roster_snapshot` and `xmpp_roster_item`: an immutable copy of the roster laid out for C.
//!
//! The snapshot is built once into a single arena that is, byte for byte, the bulk export format
//! (every field NUL-terminated, see `xmpp_roster_snapshot_export`). Item accessors return
//! pointers into that arena, so reading a 50,000-item roster from C allocates nothing, and a
//! binding can take the whole arena in one call.

use super::error::{xmpp_roster_result, XMPP_ROSTER_ERR_INVALID_ARGUMENT, XMPP_ROSTER_ERR_INVALID_JID, XMPP_ROSTER_ERR_NOT_FOUND};
use super::{arg_str, c_safe, non_null, to_cstring, Failed};
use crate::jid::normalize_bare;
use crate::{RosterChange, RosterItem, Subscription};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::ffi::{c_char, CStr, CString};
use std::hash::BuildHasher;

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

/// Parses the export format back into items, checking every field (see
/// `xmpp_roster_snapshot_import`). The error says where the data went wrong.
pub(crate) fn parse_export(data: &[u8]) -> Result<Vec<RosterItem>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = data.strip_suffix(&[0]) else {
        return Err("the data must end with a NUL (every field is NUL-terminated)".into());
    };
    let mut fields = body.split(|&b| b == 0);
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let text = |f: &[u8], what: &str, n: usize| -> Result<String, String> {
        std::str::from_utf8(f).map(str::to_string).map_err(|_| format!("item {n}: {what} is not valid UTF-8"))
    };
    while let Some(jid) = fields.next() {
        let n = items.len();
        let jid = text(jid, "jid", n)?;
        let jid = normalize_bare(&jid).ok_or_else(|| format!("item {n}: {jid:?} is not a bare JID"))?.into_owned();
        if !seen.insert(jid.clone()) {
            return Err(format!("item {n}: {jid} appears twice"));
        }
        let mut next = |what: &str| fields.next().ok_or_else(|| format!("item {n} ({jid}): the data ends before its {what}"));
        let name = next("name")?;
        let name = if name == [NO_NAME] { None } else { Some(text(name, "name", n)?) };
        let subscription = subscription_from_digit(next("subscription")?).ok_or_else(|| format!("item {n}: bad subscription field"))?;
        let ask = flag(next("ask")?).ok_or_else(|| format!("item {n}: bad ask field"))?;
        let approved = flag(next("approved")?).ok_or_else(|| format!("item {n}: bad approved field"))?;
        let count = next("group count")?;
        let count: usize = std::str::from_utf8(count).ok().filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())).and_then(|c| c.parse().ok()).ok_or_else(|| format!("item {n}: bad group count"))?;
        let mut groups = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            groups.push(text(next("groups")?, "group", n)?);
        }
        items.push(RosterItem { jid, name, subscription, ask, approved, groups });
    }
    Ok(items)
}

pub(crate) fn change_code(c: RosterChange) -> u32 {
    match c {
        RosterChange::Added => XMPP_ROSTER_CHANGE_ADDED,
        RosterChange::Updated => XMPP_ROSTER_CHANGE_UPDATED,
        RosterChange::Removed => XMPP_ROSTER_CHANGE_REMOVED,
    }
}

/// The real `xmpp_roster_item`: pointers into its snapshot's arena.
pub(crate) struct ItemEntry {
    jid: *const c_char,
    jid_len: usize,
    /// NULL when the item has no name.
    name: *const c_char,
    subscription: u32,
    ask: bool,
    approved: bool,
    /// `group_count` pointers into the snapshot's `group_ptrs`.
    groups: *const *const c_char,
    group_count: usize,
}

/// The real `xmpp_roster_snapshot`.
///
/// `arena` and `group_ptrs` are never changed after `build`, so the raw pointers into them
/// (heap memory of `Vec`s, which does not move when the `Vec` itself moves) stay valid for the
/// snapshot's lifetime.
pub(crate) struct SnapshotData {
    arena: Vec<u8>,
    /// Only read through the items' `groups` pointers; owned here so that they stay valid.
    #[allow(dead_code)]
    group_ptrs: Vec<*const c_char>,
    items: Vec<ItemEntry>,
    version: Option<CString>,
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

/// The name field of the export format when an item has no name.
const NO_NAME: u8 = 0x01;

impl SnapshotData {
    /// Lays out `items` in the export format and indexes them by JID.
    pub(crate) fn build<'a>(version: Option<&str>, items: impl ExactSizeIterator<Item = &'a RosterItem> + Clone) -> SnapshotData {
        // Pass 1: the arena, with each item's field offsets.
        struct Offsets {
            jid: usize,
            jid_len: usize,
            name: Option<usize>,
            groups_start: usize,
            group_count: usize,
        }
        let size: usize = items.clone().map(|it| it.jid.len() + it.name.as_ref().map_or(1, |n| n.len()) + it.groups.iter().map(|g| g.len() + 1).sum::<usize>() + 6 + 20).sum();
        let mut arena = Vec::with_capacity(size);
        let mut offsets = Vec::with_capacity(items.len());
        let mut group_offsets = Vec::new();
        let push_field = |arena: &mut Vec<u8>, s: &[u8]| {
            let at = arena.len();
            // XML cannot carry NUL, but never let one split a field.
            arena.extend(s.iter().map(|&b| if b == 0 { b'?' } else { b }));
            arena.push(0);
            at
        };
        for it in items.clone() {
            let jid = push_field(&mut arena, it.jid.as_bytes());
            let name = match &it.name {
                Some(n) => Some(push_field(&mut arena, n.as_bytes())),
                None => {
                    push_field(&mut arena, &[NO_NAME]);
                    None
                }
            };
            push_field(&mut arena, &[b'0' + subscription_code(it.subscription) as u8]);
            push_field(&mut arena, if it.ask { b"1" } else { b"0" });
            push_field(&mut arena, if it.approved { b"1" } else { b"0" });
            push_field(&mut arena, it.groups.len().to_string().as_bytes());
            let groups_start = group_offsets.len();
            for g in &it.groups {
                group_offsets.push(push_field(&mut arena, g.as_bytes()));
            }
            offsets.push(Offsets { jid, jid_len: it.jid.len(), name, groups_start, group_count: it.groups.len() });
        }
        // Pass 2: pointers. The arena is complete; from here on it is only read.
        let base = arena.as_ptr().cast::<c_char>();
        // SAFETY (all `base.add`): every offset was recorded while pushing into `arena`.
        let group_ptrs: Vec<*const c_char> = group_offsets.iter().map(|&o| unsafe { base.add(o) }).collect();
        let gbase = group_ptrs.as_ptr();
        let entries: Vec<ItemEntry> = offsets
            .iter()
            .zip(items.clone())
            .map(|(o, it)| ItemEntry {
                jid: unsafe { base.add(o.jid) },
                jid_len: o.jid_len,
                name: o.name.map_or(std::ptr::null(), |n| unsafe { base.add(n) }),
                subscription: subscription_code(it.subscription),
                ask: it.ask,
                approved: it.approved,
                // SAFETY: `groups_start + group_count <= group_ptrs.len()`.
                groups: unsafe { gbase.add(o.groups_start) },
                group_count: o.group_count,
            })
            .collect();
        let hasher = DefaultHashBuilder::default();
        let hashes: Vec<u64> = items.map(|it| hasher.hash_one(it.jid.as_str())).collect();
        let mut index = HashTable::with_capacity(entries.len());
        for (i, &hash) in hashes.iter().enumerate() {
            let jid = &arena[offsets[i].jid..offsets[i].jid + offsets[i].jid_len];
            // The core roster has unique JIDs; keep the first should that ever change.
            if index.find(hash, |&j: &usize| &arena[offsets[j].jid..offsets[j].jid + offsets[j].jid_len] == jid).is_none() {
                index.insert_unique(hash, i, |&j| hashes[j]);
            }
        }
        SnapshotData { arena, group_ptrs, items: entries, version: version.map(to_cstring), index, hasher }
    }

    fn item_jid(&self, i: usize) -> &[u8] {
        let e = &self.items[i];
        // SAFETY: `jid` points to `jid_len` bytes inside `self.arena`.
        unsafe { std::slice::from_raw_parts(e.jid.cast::<u8>(), e.jid_len) }
    }

    fn find(&self, jid: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(jid);
        self.index.find(hash, |&i| self.item_jid(i) == jid.as_bytes()).copied()
    }

    /// The items as the core's roster items (to load them into a client).
    pub(crate) fn to_items(&self) -> Vec<RosterItem> {
        // SAFETY (all `CStr::from_ptr` and `groups.add`): pointers into this snapshot's arena and
        // group table, NUL-terminated by construction.
        let cstr = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        self.items
            .iter()
            .enumerate()
            .map(|(i, e)| RosterItem {
                jid: String::from_utf8_lossy(self.item_jid(i)).into_owned(),
                name: if e.name.is_null() { None } else { Some(cstr(e.name)) },
                subscription: match e.subscription {
                    XMPP_ROSTER_SUBSCRIPTION_TO => Subscription::To,
                    XMPP_ROSTER_SUBSCRIPTION_FROM => Subscription::From,
                    XMPP_ROSTER_SUBSCRIPTION_BOTH => Subscription::Both,
                    _ => Subscription::None,
                },
                ask: e.ask,
                approved: e.approved,
                groups: (0..e.group_count).map(|g| cstr(unsafe { *e.groups.add(g) })).collect(),
            })
            .collect()
    }

    pub(crate) fn version(&self) -> Option<String> {
        self.version.as_ref().map(|v| v.to_string_lossy().into_owned())
    }

    /// The first item's C handle (for a one-item snapshot built for a callback).
    pub(crate) fn first_item(&self) -> *const xmpp_roster_item {
        self.items.first().map_or(std::ptr::null(), |e| (e as *const ItemEntry).cast())
    }

    pub(crate) fn into_raw(self) -> *mut xmpp_roster_snapshot {
        Box::into_raw(Box::new(self)).cast()
    }

    #[cfg(test)]
    fn group_ptrs_len(&self) -> usize {
        self.group_ptrs.len()
    }
}

pub(crate) fn snapshot_ref<'a>(p: *const xmpp_roster_snapshot) -> Option<&'a SnapshotData> {
    // SAFETY: a non-NULL snapshot pointer came from `SnapshotData::into_raw` (caller's contract).
    unsafe { p.cast::<SnapshotData>().as_ref() }
}

fn item_ref<'a>(p: *const xmpp_roster_item) -> Option<&'a ItemEntry> {
    // SAFETY: a non-NULL item pointer points to an `ItemEntry` of a live snapshot (contract).
    unsafe { p.cast::<ItemEntry>().as_ref() }
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
        snapshot_ref(snapshot).map_or(0, |s| s.items.len())
    )
}

/// The item at `index` (0-based, in the order the server sent them; a removal moves the last item
/// into the gap). NULL if `snapshot` is NULL or `index` is out of range. The item is borrowed
/// from the snapshot: valid until `xmpp_roster_snapshot_free`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_item(snapshot: *const xmpp_roster_snapshot, index: usize) -> *const xmpp_roster_item {
    ffi_value!(std::ptr::null();
        snapshot_ref(snapshot).and_then(|s| s.items.get(index)).map_or(std::ptr::null(), |e| (e as *const ItemEntry).cast())
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
            let i = s.find(&key).ok_or_else(|| Failed::new(XMPP_ROSTER_ERR_NOT_FOUND, format!("{key} is not in the roster")))?;
            Ok((&s.items[i] as *const ItemEntry).cast())
        })();
        found.unwrap_or(std::ptr::null())
    )
}

/// The roster version the server reported (e.g. "42"), or NULL if it gave none (or `snapshot` is
/// NULL). Borrowed from the snapshot.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_version(snapshot: *const xmpp_roster_snapshot) -> *const c_char {
    ffi_value!(std::ptr::null();
        snapshot_ref(snapshot).and_then(|s| s.version.as_ref()).map_or(std::ptr::null(), |v| v.as_ptr())
    )
}

/// The whole snapshot in one buffer, for bindings that want no per-item calls. Writes a pointer
/// to the buffer (owned by the snapshot, valid until `xmpp_roster_snapshot_free`; never NULL,
/// even when empty) to `*data` and its length in bytes to `*len`.
///
/// Layout, for each item in index order, each field followed by one '\0':
/// jid, name (the single byte '\x01' when the item has no name), subscription ('0'..'3', as
/// `XMPP_ROSTER_SUBSCRIPTION_*`), ask ('0'/'1'), approved ('0'/'1'), the group count in decimal,
/// then each group. Errors: NULL_PARAMETER.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_export(snapshot: *const xmpp_roster_snapshot, data: *mut *const u8, len: *mut usize) -> xmpp_roster_result {
    ffi_result! {
        non_null(snapshot, "snapshot")?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        let s = snapshot_ref(snapshot).ok_or(Failed(0))?;
        // SAFETY: `data` and `len` are non-NULL and writable per the contract.
        unsafe {
            *data = s.arena.as_ptr();
            *len = s.arena.len();
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
        let items = parse_export(bytes).map_err(|m| Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("bad snapshot data: {m}")))?;
        let snapshot = SnapshotData::build(version, items.iter());
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
        item_ref(item).map_or(std::ptr::null(), |e| e.jid)
    )
}

/// The name the user gave the contact, or NULL if none (an empty name is ""). Borrowed.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_name(item: *const xmpp_roster_item) -> *const c_char {
    ffi_value!(std::ptr::null();
        item_ref(item).map_or(std::ptr::null(), |e| e.name)
    )
}

/// The subscription state, one of `XMPP_ROSTER_SUBSCRIPTION_*` (NONE for a NULL item).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_subscription(item: *const xmpp_roster_item) -> u32 {
    ffi_value!(XMPP_ROSTER_SUBSCRIPTION_NONE;
        item_ref(item).map_or(XMPP_ROSTER_SUBSCRIPTION_NONE, |e| e.subscription)
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
        item_ref(item).map_or(0, |e| e.group_count)
    )
}

/// The group at `index` (in the order the server sent them), or NULL if out of range. Borrowed.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_item_group(item: *const xmpp_roster_item, index: usize) -> *const c_char {
    ffi_value!(std::ptr::null();
        match item_ref(item) {
            // SAFETY: `groups` points to `group_count` pointers in the owner's `group_ptrs`.
            Some(e) if index < e.group_count => unsafe { *e.groups.add(index) },
            _ => std::ptr::null(),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(jid: &str, name: Option<&str>, groups: &[&str]) -> RosterItem {
        RosterItem { jid: jid.into(), name: name.map(Into::into), subscription: Subscription::Both, ask: true, approved: false, groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn export_parses_back_to_the_same_items_and_bad_data_is_refused() {
        let items = vec![item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[]), item("e@f", Some(""), &[""])];
        let s = SnapshotData::build(Some("7"), items.iter());
        assert_eq!(parse_export(&s.arena).unwrap(), items);
        assert_eq!(s.to_items(), items);
        assert_eq!(s.version().as_deref(), Some("7"));
        assert_eq!(parse_export(b"").unwrap(), vec![]);
        assert_eq!(parse_export(b"A@B\0\x01\x000\x000\x000\x000\0").unwrap()[0].jid, "a@b");
        for bad in [
            &b"a@b\0A\x003\x001\x000\x002\0G1\0"[..], // group missing
            b"a@b\0A\x004\x001\x000\x000\0",           // subscription out of range
            b"a@b\0A\x003\x002\x000\x000\0",           // ask not 0/1
            b"a@b\0A\x003\x001\x000\x00x\0",           // count not a number
            b"a@b/r\0A\x003\x001\x000\x000\0",         // not bare
            b"a@b\0A\x003\x001\x000\x000",              // no final NUL
            b"a@b\0\xff\x003\x001\x000\x000\0",         // name not UTF-8
            b"a@b\0\x01\x000\x000\x000\x000\0a@b\0\x01\x000\x000\x000\x000\0", // twice
        ] {
            assert!(parse_export(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arena_is_the_export_format_and_find_works() {
        let items = [item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[])];
        let s = SnapshotData::build(Some("7"), items.iter());
        assert_eq!(s.arena, b"a@b\0A\x003\x001\x000\x002\0G1\0G2\0c@d\0\x01\x003\x001\x000\x000\0");
        assert_eq!(s.find("c@d"), Some(1));
        assert_eq!(s.find("x@y"), None);
        assert_eq!(s.group_ptrs_len(), 2);
        assert!(s.items[1].name.is_null());
    }
}
