//! The roster model (RFC 6121 §2): items, the local roster with its version, and the decoding of
//! `jabber:iq:roster` queries straight from a stanza's bytes.
//!
//! The local roster is copy-on-write: [`Roster::snapshot`] is O(1) and the snapshot stays valid and
//! unchanged while the client goes on applying pushes. Lookups by JID are O(1) through an index
//! that stores positions only (no second copy of each JID).

use crate::groups::Groups;
use crate::jid::normalize_bare;
use crate::nul_string::NulString;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;
use std::sync::Arc;

/// The subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subscription {
    #[default]
    None,
    To,
    From,
    Both,
}

impl Subscription {
    /// The wire value: `none`, `to`, `from` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Parses a wire value; `None` for anything else (including `remove`).
    pub fn parse(s: &str) -> Option<Subscription> {
        match s {
            "none" => Some(Subscription::None),
            "to" => Some(Subscription::To),
            "from" => Some(Subscription::From),
            "both" => Some(Subscription::Both),
            _ => None,
        }
    }
}

/// One contact in the roster. Its strings are [`NulString`]s (they deref to `&str`), so the C API
/// lends them out without copying.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterItem {
    /// The contact's bare JID, normalised (lower-case local and domain parts).
    pub jid: NulString,
    /// The name the user gave the contact, if any.
    pub name: Option<NulString>,
    pub subscription: Subscription,
    /// True when a subscription request to the contact is pending (`ask='subscribe'`).
    pub ask: bool,
    /// True when the user pre-approved the contact's subscription (`approved='true'`).
    pub approved: bool,
    /// The groups the contact is in: a sorted set, shared with the items in the same groups.
    pub groups: Groups,
}

/// What a roster push or change did to the local roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterChange {
    Added,
    Updated,
    Removed,
}

#[derive(Debug, Clone, Default)]
struct RosterData {
    items: Vec<RosterItem>,
    /// Positions into `items`, hashed by the item's JID.
    index: HashTable<Slot>,
    version: Option<NulString>,
}

/// An immutable view of the roster at one moment. Cheap to make and to clone; it stays as it was
/// while the client goes on applying changes. [`Roster`] derefs to it for all reading.
#[derive(Debug, Clone, Default)]
pub struct RosterSnapshot {
    data: Arc<RosterData>,
    hasher: DefaultHashBuilder,
}

/// An index entry: an item's position in `items` and the hash of its JID. The hash is kept so
/// that a probe compares hashes before it reads an item, and the index grows without hashing any
/// JID again. (Positions are `u32`: four billion items would need hundreds of gigabytes.)
#[derive(Debug, Clone, Copy)]
struct Slot {
    pos: u32,
    hash: u32,
}

/// The 32-bit hash of a JID kept in its [`Slot`].
fn jid_hash(hasher: &DefaultHashBuilder, jid: &str) -> u32 {
    let h = hasher.hash_one(jid);
    (h ^ (h >> 32)) as u32
}

/// The table's 64-bit hash from the kept 32 bits: the table picks buckets with the low bits and
/// tags them with the top 7, which are then bits 25..31 of the same hash.
fn table_hash(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

fn find_in(data: &RosterData, hasher: &DefaultHashBuilder, jid: &str) -> Option<usize> {
    let hash = jid_hash(hasher, jid);
    data.index.find(table_hash(hash), |s| s.hash == hash && *data.items[s.pos as usize].jid == *jid).map(|s| s.pos as usize)
}

impl RosterSnapshot {
    pub fn len(&self) -> usize {
        self.data.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.items.is_empty()
    }
    /// The items: in fetch order, except that a removal moves the last item into the hole.
    pub fn items(&self) -> &[RosterItem] {
        &self.data.items
    }
    /// The item for `jid` (any case; resource not allowed).
    pub fn get(&self, jid: &str) -> Option<&RosterItem> {
        self.position(jid).map(|i| &self.data.items[i])
    }
    /// The position of `jid` in [`items`](Self::items).
    pub fn position(&self, jid: &str) -> Option<usize> {
        let key = normalize_bare(jid)?;
        find_in(&self.data, &self.hasher, &key)
    }
    /// The roster version the server last reported, if any.
    pub fn version(&self) -> Option<&str> {
        self.data.version.as_deref()
    }
    /// The version with its NUL, for the C API.
    pub(crate) fn version_nul(&self) -> Option<&NulString> {
        self.data.version.as_ref()
    }
}

/// The local roster, plus the roster version the server last reported. Read it through
/// [`RosterSnapshot`]'s methods (it derefs to the current state); only the client changes it.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    current: RosterSnapshot,
}

impl std::ops::Deref for Roster {
    type Target = RosterSnapshot;
    fn deref(&self) -> &RosterSnapshot {
        &self.current
    }
}

impl Roster {
    /// A roster holding `items` at `version`, e.g. restored from a cache for a versioned fetch.
    /// Items whose JID is not a normalised bare JID are dropped; for duplicates the last one wins.
    pub fn from_items(version: Option<String>, items: Vec<RosterItem>) -> Roster {
        let mut r = Roster::default();
        let mut builder = r.builder(None);
        for item in items {
            if normalize_bare(&item.jid).is_some_and(|n| n == item.jid.as_str()) {
                builder.push(item);
            }
        }
        r.install(builder, version.map(NulString::from));
        r
    }

    /// The roster `snapshot` holds, e.g. to load into a client: O(1), nothing is copied.
    pub fn from_snapshot(snapshot: RosterSnapshot) -> Roster {
        Roster { current: snapshot }
    }

    /// An immutable copy of the roster now, in O(1): later changes copy the data instead.
    pub fn snapshot(&self) -> RosterSnapshot {
        self.current.clone()
    }

    fn data_mut(&mut self) -> &mut RosterData {
        Arc::make_mut(&mut self.current.data)
    }

    /// A builder for a whole new roster (a full fetch result), filled item by item as they are
    /// decoded, then put in place with [`install`](Self::install). With a `sink`, the new items
    /// are also handed out in batches as they are added.
    pub(crate) fn builder(&self, sink: Option<BatchSink>) -> RosterBuilder {
        RosterBuilder { data: RosterData::default(), hasher: self.current.hasher.clone(), sink }
    }

    /// Replaces the whole roster with what `builder` holds. Returns true when the builder had a
    /// sink and the batches it handed out are the new roster exactly, in order (see
    /// [`BatchSink`]).
    pub(crate) fn install(&mut self, builder: RosterBuilder, version: Option<NulString>) -> bool {
        let RosterBuilder { mut data, sink, .. } = builder;
        let exact = sink.is_some_and(|mut sink| sink.finish(&data.items));
        data.version = version;
        self.current.data = Arc::new(data);
        exact
    }

    pub(crate) fn set_version(&mut self, version: Option<&str>) {
        if let Some(v) = version {
            if self.current.data.version.as_deref() != Some(v) {
                self.data_mut().version = Some(v.into());
            }
        }
    }

    /// Applies one pushed item. Returns the change, or `None` when the item was already there
    /// exactly as pushed (servers repeat pushes; no event is due).
    pub(crate) fn apply(&mut self, item: RosterItem) -> Option<RosterChange> {
        match find_in(&self.current.data, &self.current.hasher, &item.jid) {
            Some(i) if self.current.data.items[i] == item => None,
            Some(i) => {
                self.data_mut().items[i] = item;
                Some(RosterChange::Updated)
            }
            None => {
                let hasher = self.current.hasher.clone();
                upsert(self.data_mut(), &hasher, item);
                Some(RosterChange::Added)
            }
        }
    }

    /// Removes `jid`. Returns the removed item, if it was there.
    pub(crate) fn remove(&mut self, jid: &str) -> Option<RosterItem> {
        let i = find_in(&self.current.data, &self.current.hasher, jid)?;
        let hasher = self.current.hasher.clone();
        let data = self.data_mut();
        if let Ok(entry) = data.index.find_entry(table_hash(jid_hash(&hasher, jid)), |s| s.pos as usize == i) {
            entry.remove();
        }
        let removed = data.items.swap_remove(i);
        if i < data.items.len() {
            // The former last item now lives at `i`: repoint its index entry.
            let moved_from = data.items.len();
            let moved_hash = table_hash(jid_hash(&hasher, &data.items[i].jid));
            if let Some(slot) = data.index.find_mut(moved_hash, |s| s.pos as usize == moved_from) {
                slot.pos = i as u32;
            }
        }
        Some(removed)
    }
}

/// A new roster being filled (see [`Roster::builder`]): items are indexed as they arrive; for a
/// JID that comes twice the last item wins.
pub(crate) struct RosterBuilder {
    data: RosterData,
    hasher: DefaultHashBuilder,
    sink: Option<BatchSink>,
}

impl RosterBuilder {
    /// Adds `item`; false when it replaced an item with the same JID.
    pub(crate) fn push(&mut self, item: RosterItem) -> bool {
        let new = upsert(&mut self.data, &self.hasher, item);
        if let Some(sink) = self.sink.as_mut() {
            sink.added(new, &self.data.items);
        }
        new
    }
    pub(crate) fn len(&self) -> usize {
        self.data.items.len()
    }
}

/// Hands out the items of a roster being built, `size` at a time, while it is built (for
/// [`Client::fetch_roster_in_batches`](crate::Client::fetch_roster_in_batches)): each batch is
/// the items added since the last one. Once an item replaces an earlier one with the same JID,
/// the batches can no longer add up to the roster, so it stops and reports them as not exact.
pub(crate) struct BatchSink {
    size: usize,
    handed_out: usize,
    exact: bool,
    each: BatchFn,
}

/// What a [`BatchSink`] calls with each batch.
pub(crate) type BatchFn = Box<dyn FnMut(&[RosterItem]) + Send>;

impl BatchSink {
    /// `size` is clamped to at least 1.
    pub(crate) fn new(size: usize, each: BatchFn) -> BatchSink {
        BatchSink { size: size.max(1), handed_out: 0, exact: true, each }
    }

    /// After an item was added to `items` (`new`) or replaced one there (not `new`).
    fn added(&mut self, new: bool, items: &[RosterItem]) {
        self.exact &= new;
        if self.exact && items.len() - self.handed_out >= self.size {
            self.hand_out(items);
        }
    }

    /// Hands out what is left; true when the batches are `items` exactly.
    fn finish(&mut self, items: &[RosterItem]) -> bool {
        if self.exact && items.len() > self.handed_out {
            self.hand_out(items);
        }
        self.exact
    }

    fn hand_out(&mut self, items: &[RosterItem]) {
        (self.each)(&items[self.handed_out..]);
        self.handed_out = items.len();
    }
}

/// Inserts `item`, or replaces the item with its JID. True when it was new.
fn upsert(data: &mut RosterData, hasher: &DefaultHashBuilder, item: RosterItem) -> bool {
    let hash = jid_hash(hasher, &item.jid);
    let items = &data.items;
    match data.index.entry(table_hash(hash), |s| s.hash == hash && *items[s.pos as usize].jid == *item.jid, |s| table_hash(s.hash)) {
        hashbrown::hash_table::Entry::Occupied(e) => {
            let i = e.get().pos as usize;
            data.items[i] = item;
            false
        }
        hashbrown::hash_table::Entry::Vacant(e) => {
            e.insert(Slot { pos: items.len() as u32, hash });
            data.items.push(item);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(jid: &str) -> RosterItem {
        RosterItem { jid: jid.into(), ..Default::default() }
    }

    #[test]
    fn apply_remove_and_lookup_keep_the_index_true() {
        let mut r = Roster::default();
        for i in 0..100 {
            assert_eq!(r.apply(item(&format!("u{i}@x"))), Some(RosterChange::Added));
        }
        assert_eq!(r.apply(item("u5@x")), None, "identical push is not a change");
        let mut named = item("u5@x");
        named.name = Some("Five".into());
        assert_eq!(r.apply(named), Some(RosterChange::Updated));
        for i in (0..100).step_by(3) {
            assert!(r.remove(&format!("u{i}@x")).is_some());
        }
        assert!(r.remove("u0@x").is_none());
        for i in 0..100 {
            let present = r.get(&format!("U{i}@X")).is_some();
            assert_eq!(present, i % 3 != 0, "u{i}");
        }
        assert_eq!(r.get("u5@x").unwrap().name.as_deref(), Some("Five"));
        assert_eq!(r.len(), 66);
    }

    /// A builder whose sink records each batch's JIDs.
    fn batched(size: usize) -> (RosterBuilder, Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let sink = BatchSink::new(size, Box::new(move |items: &[RosterItem]| {
            seen.lock().unwrap().push(items.iter().map(|i| i.jid.to_string()).collect());
        }));
        (Roster::default().builder(Some(sink)), batches)
    }

    #[test]
    fn batches_are_handed_out_while_building_and_add_up_to_the_roster() {
        let (mut builder, batches) = batched(3);
        for i in 0..7 {
            builder.push(item(&format!("u{i}@x")));
            // A batch goes out as soon as it is full, before the roster is installed.
            assert_eq!(batches.lock().unwrap().len(), (i + 1) / 3, "after item {i}");
        }
        let mut r = Roster::default();
        assert!(r.install(builder, None), "no duplicates: the batches are the roster");
        let got = batches.lock().unwrap().clone();
        assert_eq!(got, [vec!["u0@x", "u1@x", "u2@x"], vec!["u3@x", "u4@x", "u5@x"], vec!["u6@x"]]);
        let roster: Vec<String> = r.items().iter().map(|i| i.jid.to_string()).collect();
        assert_eq!(got.concat(), roster);
    }

    #[test]
    fn a_repeated_jid_makes_the_batches_inexact_and_stops_them() {
        let (mut builder, batches) = batched(2);
        for jid in ["a@x", "b@x", "c@x", "a@x", "d@x", "e@x"] {
            builder.push(item(jid));
        }
        let mut r = Roster::default();
        assert!(!r.install(builder, None), "a@x came twice");
        assert_eq!(*batches.lock().unwrap(), [vec!["a@x", "b@x"]], "nothing after the repeat");
        assert_eq!(r.len(), 5, "the roster itself keeps the last a@x and the rest");
    }

    #[test]
    fn an_empty_result_hands_out_nothing_and_is_exact() {
        let (builder, batches) = batched(0);
        assert!(Roster::default().install(builder, None));
        assert!(batches.lock().unwrap().is_empty());
        assert!(!Roster::default().install(Roster::default().builder(None), None), "no sink: nothing to be exact about");
    }

    #[test]
    fn snapshot_is_unaffected_by_later_changes() {
        let mut r = Roster::from_items(Some("1".into()), vec![item("a@x"), item("b@x")]);
        let snap = r.snapshot();
        r.remove("a@x");
        r.apply(item("c@x"));
        r.set_version(Some("2"));
        assert_eq!(snap.len(), 2);
        assert!(snap.get("a@x").is_some() && snap.get("c@x").is_none());
        assert_eq!(snap.version(), Some("1"));
        assert_eq!(r.version(), Some("2"));
    }
}
