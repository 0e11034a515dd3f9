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
use hashbrown::hash_map::{Entry, HashMap};
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

fn subscription_from_code(code: u8) -> Option<Subscription> {
    match u32::from(code) {
        XMPP_ROSTER_SUBSCRIPTION_NONE => Some(Subscription::None),
        XMPP_ROSTER_SUBSCRIPTION_TO => Some(Subscription::To),
        XMPP_ROSTER_SUBSCRIPTION_FROM => Some(Subscription::From),
        XMPP_ROSTER_SUBSCRIPTION_BOTH => Some(Subscription::Both),
        _ => None,
    }
}

fn flag(byte: u8) -> Option<bool> {
    match byte {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Export format 3 begins with these bytes: "XRS", then the format number.
const EXPORT_MAGIC: [u8; 4] = *b"XRS\x03";
/// The header: the magic, then six little-endian u32 (see `xmpp_roster_snapshot_export`).
const EXPORT_HEADER_LEN: usize = 4 + 6 * 4;
/// In a group list of the export format, the byte before each group.
const GROUP_MARK: u8 = 0x01;

/// Appends a group name. XML cannot carry U+0001, so only a Rust caller's group names could hold
/// it: it becomes '?' rather than split the list. (No `NulString` holds a NUL.)
fn push_group(out: &mut Vec<u8>, group: &str) {
    out.push(GROUP_MARK);
    let b = group.as_bytes();
    if memchr::memchr(GROUP_MARK, b).is_none() {
        out.extend_from_slice(b);
    } else {
        out.extend(b.iter().map(|&c| if c == GROUP_MARK { b'?' } else { c }));
    }
}

fn push_u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Lays out `items` in export format 3 (see `xmpp_roster_snapshot_export`). Fails only for a
/// roster whose counts or sections do not fit the format's 32-bit fields.
pub(crate) fn export_items(items: &[RosterItem]) -> Result<Vec<u8>, String> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let too_large = |_| format!("a roster of {} items is too large for export format 3", items.len());
    // The distinct group lists (in order of first use) and each item's index into them.
    let mut lists: Vec<&[NulString]> = Vec::new();
    let mut list_index: HashMap<&[NulString], u32> = HashMap::new();
    // Items of a fetch share their group lists (see `Groups`): looked up by address first, by
    // content only the first time an address is seen.
    let mut by_address: HashMap<*const NulString, u32> = HashMap::new();
    let mut group_index = Vec::with_capacity(items.len());
    let mut nameless = Vec::new();
    let (mut jids_len, mut names_len, mut lists_len) = (0, 0, 0);
    for (i, it) in items.iter().enumerate() {
        let groups = &it.groups[..];
        let index = match by_address.entry(groups.as_ptr()) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(by_addr) => {
                let index = match list_index.entry(groups) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        lists.push(groups);
                        lists_len += 1 + groups.iter().map(|g| g.len() + 1).sum::<usize>();
                        *e.insert(u32::try_from(lists.len() - 1).map_err(too_large)?)
                    }
                };
                *by_addr.insert(index)
            }
        };
        group_index.push(index);
        jids_len += it.jid.len() + 1;
        match &it.name {
            Some(n) => names_len += n.len() + 1,
            None => {
                names_len += 1;
                nameless.push(u32::try_from(i).map_err(too_large)?);
            }
        }
    }
    let header = [items.len(), lists.len(), nameless.len(), jids_len, names_len, lists_len];
    let fixed = 4 * (items.len() + nameless.len()) + 3 * items.len();
    let mut out = Vec::with_capacity(EXPORT_HEADER_LEN + fixed + jids_len + names_len + lists_len);
    out.extend_from_slice(&EXPORT_MAGIC);
    for n in header {
        out.extend_from_slice(&u32::try_from(n).map_err(too_large)?.to_le_bytes());
    }
    push_u32s(&mut out, &group_index);
    push_u32s(&mut out, &nameless);
    out.extend(items.iter().map(|it| subscription_code(it.subscription) as u8));
    out.extend(items.iter().map(|it| u8::from(it.ask)));
    out.extend(items.iter().map(|it| u8::from(it.approved)));
    // A `NulString` holds no NUL, so JIDs and names are copied as they are.
    for it in items {
        out.extend_from_slice(it.jid.as_bytes());
        out.push(0);
    }
    for it in items {
        out.extend_from_slice(it.name.as_deref().map_or(&b""[..], str::as_bytes));
        out.push(0);
    }
    for groups in lists {
        for g in groups {
            push_group(&mut out, g);
        }
        out.push(0);
    }
    Ok(out)
}

/// Why data that does not start with the format 3 header is refused.
fn unknown_format(data: &[u8]) -> String {
    match data {
        [b'X', b'R', b'S', 3, ..] => "the data ends inside its header".into(),
        [b'X', b'R', b'S', v, ..] => format!("export format {v}, but this library reads format 3"),
        _ => "no export format 3 header (data saved by a library older than format 3 cannot be loaded: fetch the roster instead)".into(),
    }
}

/// The export format's little-endian u32 values.
fn u32s(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Splits the sections of export data off its front, in order.
struct Sections<'a>(&'a [u8]);

impl<'a> Sections<'a> {
    fn take(&mut self, len: Option<usize>, what: &str) -> Result<&'a [u8], String> {
        let len = len.filter(|&l| l <= self.0.len()).ok_or_else(|| format!("the data ends inside its {what}"))?;
        let (section, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(section)
    }

    /// A section of `count` NUL-terminated strings, `len` bytes long.
    fn strings(&mut self, len: usize, count: usize, what: &str) -> Result<Vec<&'a [u8]>, String> {
        let strings: Vec<&[u8]> = match self.take(Some(len), what)?.split_last() {
            None => Vec::new(),
            Some((0, body)) => body.split(|&b| b == 0).collect(),
            Some(_) => return Err(format!("the {what} do not end with a NUL")),
        };
        if strings.len() != count {
            return Err(format!("{} {what} where the header says {count}", strings.len()));
        }
        Ok(strings)
    }
}

fn text(field: &[u8], what: &str, n: usize) -> Result<NulString, String> {
    std::str::from_utf8(field).map(NulString::from).map_err(|_| format!("item {n}: {what} is not valid UTF-8"))
}

/// One group list of the export format: each group preceded by `GROUP_MARK`.
fn group_list(field: &[u8], k: usize) -> Result<Groups, String> {
    let mut groups = Vec::new();
    if !field.is_empty() {
        let rest = field.strip_prefix(&[GROUP_MARK]).ok_or_else(|| format!("group list {k} is neither empty nor starts with \\x01"))?;
        for g in rest.split(|&b| b == GROUP_MARK) {
            groups.push(std::str::from_utf8(g).map(NulString::from).map_err(|_| format!("group list {k}: a group is not valid UTF-8"))?);
        }
    }
    // Sorted and de-duplicated here; the items with this list share it.
    Ok(Groups::new(groups))
}

/// Parses export format 3 back into a roster, checking every field (see
/// `xmpp_roster_snapshot_import`). The error says where the data went wrong.
pub(crate) fn parse_export(data: &[u8], version: Option<&str>) -> Result<RosterSnapshot, String> {
    let mut roster = Roster::default();
    let mut builder = roster.builder(None);
    if !data.is_empty() {
        let header = data.get(..EXPORT_HEADER_LEN).filter(|h| h[..4] == EXPORT_MAGIC).ok_or_else(|| unknown_format(data))?;
        let counts: Vec<usize> = u32s(&header[4..]).collect();
        let [n, list_count, nameless_count, jids_len, names_len, lists_len] = counts[..] else {
            return Err(unknown_format(data));
        };
        let mut s = Sections(&data[EXPORT_HEADER_LEN..]);
        let group_index = s.take(n.checked_mul(4), "group list indexes")?;
        let nameless = s.take(nameless_count.checked_mul(4), "list of items without a name")?;
        let subscriptions = s.take(Some(n), "subscriptions")?;
        let asks = s.take(Some(n), "ask flags")?;
        let approvals = s.take(Some(n), "approved flags")?;
        let jids = s.strings(jids_len, n, "JIDs")?;
        let names = s.strings(names_len, n, "names")?;
        let lists = s.strings(lists_len, list_count, "group lists")?;
        if !s.0.is_empty() {
            return Err(format!("{} bytes after the last section", s.0.len()));
        }
        let lists = lists.iter().enumerate().map(|(k, l)| group_list(l, k)).collect::<Result<Vec<_>, _>>()?;
        let mut nameless = u32s(nameless).peekable();
        for list in u32s(group_index) {
            let i = builder.len();
            let jid = std::str::from_utf8(jids[i]).map_err(|_| format!("item {i}: jid is not valid UTF-8"))?;
            let bare = normalize_bare(jid).ok_or_else(|| format!("item {i}: {jid:?} is not a bare JID"))?;
            let name = match nameless.next_if_eq(&i) {
                Some(_) if !names[i].is_empty() => return Err(format!("item {i}: listed as having no name, but has one")),
                Some(_) => None,
                None => Some(text(names[i], "name", i)?),
            };
            let subscription = subscription_from_code(subscriptions[i]).ok_or_else(|| format!("item {i}: bad subscription {}", subscriptions[i]))?;
            let ask = flag(asks[i]).ok_or_else(|| format!("item {i}: bad ask flag"))?;
            let approved = flag(approvals[i]).ok_or_else(|| format!("item {i}: bad approved flag"))?;
            let groups = lists.get(list).ok_or_else(|| format!("item {i}: group list {list} of {list_count}"))?.clone();
            if !builder.push(RosterItem { jid: NulString::from(&*bare), name, subscription, ask, approved, groups }) {
                return Err(format!("item {i}: {bare} appears twice"));
            }
        }
        if let Some(i) = nameless.next() {
            return Err(format!("the list of items without a name is not increasing, or lists item {i} of {n}"));
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
    export: OnceLock<Result<Vec<u8>, String>>,
}

impl SnapshotData {
    pub(crate) fn new(roster: RosterSnapshot) -> SnapshotData {
        SnapshotData { roster, export: OnceLock::new() }
    }

    pub(crate) fn roster(&self) -> &RosterSnapshot {
        &self.roster
    }

    fn export(&self) -> Result<&[u8], &str> {
        self.export.get_or_init(|| export_items(self.roster.items())).as_deref().map_err(String::as_str)
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
/// Layout ("format 3", column by column so that a binding builds each column with one bulk
/// operation; all integers little-endian; n = the number of items). An empty roster is the empty
/// buffer. Otherwise a 28-byte header: the bytes "XRS" and 3 (the format number), then six u32:
/// n, g (distinct group lists), m (items without a name), and the byte lengths of the JIDs, names
/// and group-lists sections. Then the sections, in this order, with nothing between or after:
/// group list of each item (n u32, indexes into the group lists); items without a name (m u32,
/// increasing item indexes); subscription of each item (n bytes, `XMPP_ROSTER_SUBSCRIPTION_*`);
/// ask (n bytes, 0 or 1); approved (n bytes, 0 or 1); JIDs (n strings); names (n strings, the
/// empty string for an item without a name); group lists (g strings, each group preceded by one
/// '\x01': "" = no groups; the distinct lists in order of first use). Every string is UTF-8
/// followed by one '\0' and holds no '\0'; a group name holds no '\x01' either (XML cannot carry
/// it; the library replaces one that a Rust caller put in a group name with '?'). Errors:
/// NULL_PARAMETER; INVALID_ARGUMENT for a roster too large for the format's 32-bit fields.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_snapshot_export(snapshot: *const xmpp_roster_snapshot, data: *mut *const u8, len: *mut usize) -> xmpp_roster_result {
    ffi_result! {
        non_null(snapshot, "snapshot")?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        let s = snapshot_ref(snapshot).ok_or(Failed(0))?;
        let export = s.export().map_err(|m| Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, m.to_owned()))?;
        // SAFETY: `data` and `len` are non-NULL and writable per the contract.
        unsafe {
            *data = export.as_ptr();
            *len = export.len();
        }
        Ok(())
    }
}

/// Builds a snapshot from data in export format 3 (see `xmpp_roster_snapshot_export`), e.g. a
/// roster saved by an earlier run, with the roster `version` it was at (NULL: none). The data is
/// copied. With `xmpp_roster_client_load_snapshot` this lets the next fetch send that version and
/// get "unchanged" back instead of the whole roster. On success writes the new snapshot (owned by
/// the caller) to `*out`. Errors: NULL_PARAMETER (`data` may be NULL only when `len` is 0),
/// INVALID_UTF8 (version), INVALID_ARGUMENT (malformed data: the message says where; also a JID
/// that is not a bare JID, or one that appears twice, and data in an older export format, which
/// an older library saved: fetch the whole roster instead).
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

    /// Export format 3 from its parts: header counts, then the sections in order.
    fn format3(n: u32, lists: u32, group_index: &[u32], nameless: &[u32], flags: [&[u8]; 3], texts: [&[u8]; 3]) -> Vec<u8> {
        let mut out = b"XRS\x03".to_vec();
        for v in [n, lists, nameless.len() as u32, texts[0].len() as u32, texts[1].len() as u32, texts[2].len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        push_u32s(&mut out, group_index);
        push_u32s(&mut out, nameless);
        flags.iter().chain(&texts).for_each(|s| out.extend_from_slice(s));
        out
    }

    /// One item "a@b" (or `jid`), named "A", subscription both, no flags, in group list 0 = `groups`.
    fn one(jid: &[u8], groups: &[u8]) -> Vec<u8> {
        let jid = [jid, b"\0"].concat();
        format3(1, 1, &[0], &[], [b"\x03", b"\0", b"\0"], [&jid, b"A\0", groups])
    }

    #[test]
    fn export_parses_back_to_the_same_roster_and_bad_data_is_refused() {
        let items = vec![item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[]), item("e@f", Some(""), &[""]), item("g@h", None, &["G1", "G2"])];
        let data = export_items(&items).unwrap();
        let back = parse_export(&data, Some("7")).unwrap();
        assert_eq!(back.items(), &items[..]);
        assert_eq!(back.version(), Some("7"));
        assert!(parse_export(b"", None).unwrap().is_empty());
        assert_eq!(&*parse_export(&one(b"A@B", b"\0"), None).unwrap().items()[0].jid, "a@b");
        let unsorted = parse_export(&one(b"a@b", b"\x01b\x01a\x01b\0"), None).unwrap();
        assert_eq!(unsorted.items()[0].groups, ["a", "b"], "groups are a set, sorted like the core's");
        let mut cut = data.clone();
        cut.pop();
        let mut trailing = data.clone();
        trailing.push(0);
        let mut format4 = data.clone();
        format4[3] = 4;
        let two = |jid: &[u8]| format3(2, 1, &[0, 0], &[], [b"\0\0", b"\0\0", b"\0\0"], [jid, b"\0\0", b"\0"]);
        let bad: &[(&str, Vec<u8>)] = &[
            ("format 2", b"a@b\0A\x003\x001\x000\x00\0".to_vec()),
            ("header cut short", data[..20].to_vec()),
            ("format 4", format4),
            ("last byte missing", cut),
            ("a byte after the end", trailing),
            ("subscription 4", format3(1, 1, &[0], &[], [b"\x04", b"\0", b"\0"], [b"a@b\0", b"A\0", b"\0"])),
            ("ask 2", format3(1, 1, &[0], &[], [b"\0", b"\x02", b"\0"], [b"a@b\0", b"A\0", b"\0"])),
            ("approved 2", format3(1, 1, &[0], &[], [b"\0", b"\0", b"\x02"], [b"a@b\0", b"A\0", b"\0"])),
            ("group list out of range", format3(1, 1, &[1], &[], [b"\0", b"\0", b"\0"], [b"a@b\0", b"A\0", b"\0"])),
            ("group without its \\x01", one(b"a@b", b"G1\0")),
            ("group not UTF-8", one(b"a@b", b"\x01\xff\0")),
            ("not bare", one(b"a@b/r", b"\0")),
            ("JID not UTF-8", one(b"a\xff@b", b"\0")),
            ("name not UTF-8", format3(1, 1, &[0], &[], [b"\0", b"\0", b"\0"], [b"a@b\0", b"\xff\0", b"\0"])),
            ("nameless but named", format3(1, 1, &[0], &[0], [b"\0", b"\0", b"\0"], [b"a@b\0", b"A\0", b"\0"])),
            ("nameless out of range", format3(1, 1, &[0], &[1], [b"\0", b"\0", b"\0"], [b"a@b\0", b"\0", b"\0"])),
            ("fewer JIDs than items", format3(2, 1, &[0, 0], &[], [b"\0\0", b"\0\0", b"\0\0"], [b"a@b\0", b"\0\0", b"\0"])),
            ("JIDs without their final NUL", format3(1, 1, &[0], &[], [b"\0", b"\0", b"\0"], [b"a@b", b"\0", b"\0"])),
            ("twice", two(b"a@b\0a@b\0")),
        ];
        assert!(parse_export(&two(b"a@b\0c@d\0"), None).is_ok(), "the base of the last case is valid");
        for (what, data) in bad {
            assert!(parse_export(data, None).is_err(), "{what}: {data:?}");
        }
        assert!(parse_export(b"a@b\0A\x003\x001\x000\x00\0", None).unwrap_err().contains("older than format 3"));
    }

    #[test]
    fn export_layout_is_a_header_then_columns() {
        let items = [item("a@b", Some("A"), &["G1", "G2"]), item("c@d", None, &[]), item("e@f", Some("x\u{1}y"), &["", "G\u{1}"]), item("g@h", Some("G"), &[])];
        let want = format3(4, 3, &[0, 1, 2, 1], &[1], [b"\x03\x03\x03\x03", b"\x01\x01\x01\x01", b"\0\0\0\0"], [
            b"a@b\0c@d\0e@f\0g@h\0",
            b"A\0\0x\x01y\0G\0",
            b"\x01G1\x01G2\0\0\x01\x01G?\0",
        ]);
        assert_eq!(export_items(&items).unwrap(), want);
        assert_eq!(&want[..4], b"XRS\x03");
        assert_eq!(export_items(&[]).unwrap(), b"", "an empty roster is the empty buffer");
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
        assert_eq!(data.export().unwrap(), &export_items(snap.items()).unwrap()[..]);
    }
}
