//! The roster model (RFC 6121 §2): items, the local roster with its version, and the decoding of
//! `jabber:iq:roster` queries straight from a stanza's bytes.
//!
//! The local roster is copy-on-write: [`Roster::snapshot`] is O(1) and the snapshot stays valid and
//! unchanged while the client goes on applying pushes. Lookups by JID are O(1) through an index
//! that stores positions only (no second copy of each JID).

use crate::jid::normalize_bare;
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

/// One contact in the roster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterItem {
    /// The contact's bare JID, normalised (lower-case local and domain parts).
    pub jid: String,
    /// The name the user gave the contact, if any.
    pub name: Option<String>,
    pub subscription: Subscription,
    /// True when a subscription request to the contact is pending (`ask='subscribe'`).
    pub ask: bool,
    /// True when the user pre-approved the contact's subscription (`approved='true'`).
    pub approved: bool,
    /// The groups the contact is in: sorted, without duplicates (groups are a set; servers
    /// differ in the order they send them).
    pub groups: Vec<String>,
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
    index: HashTable<usize>,
    version: Option<String>,
}

/// An immutable view of the roster at one moment. Cheap to make and to clone; it stays as it was
/// while the client goes on applying changes. [`Roster`] derefs to it for all reading.
#[derive(Debug, Clone, Default)]
pub struct RosterSnapshot {
    data: Arc<RosterData>,
    hasher: DefaultHashBuilder,
}

fn find_in(data: &RosterData, hasher: &DefaultHashBuilder, jid: &str) -> Option<usize> {
    let hash = hasher.hash_one(jid);
    data.index.find(hash, |&i| data.items[i].jid == jid).copied()
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
        let valid = items.into_iter().filter(|i| normalize_bare(&i.jid).is_some_and(|n| n == i.jid.as_str())).collect();
        r.replace(version, valid);
        r
    }

    /// An immutable copy of the roster now, in O(1): later changes copy the data instead.
    pub fn snapshot(&self) -> RosterSnapshot {
        self.current.clone()
    }

    fn data_mut(&mut self) -> &mut RosterData {
        Arc::make_mut(&mut self.current.data)
    }

    /// Replaces the whole roster (a full fetch result).
    pub(crate) fn replace(&mut self, version: Option<String>, items: Vec<RosterItem>) {
        let mut data = RosterData { items: Vec::with_capacity(items.len()), index: HashTable::with_capacity(items.len()), version };
        for item in items {
            upsert(&mut data, &self.current.hasher, item);
        }
        self.current.data = Arc::new(data);
    }

    pub(crate) fn set_version(&mut self, version: Option<String>) {
        if version.is_some() && version != self.current.data.version {
            self.data_mut().version = version;
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
        if let Ok(entry) = data.index.find_entry(hasher.hash_one(jid), |&x| x == i) {
            entry.remove();
        }
        let removed = data.items.swap_remove(i);
        if i < data.items.len() {
            // The former last item now lives at `i`: repoint its index entry.
            let moved_from = data.items.len();
            let moved_hash = hasher.hash_one(data.items[i].jid.as_str());
            if let Some(slot) = data.index.find_mut(moved_hash, |&x| x == moved_from) {
                *slot = i;
            }
        }
        Some(removed)
    }
}

fn upsert(data: &mut RosterData, hasher: &DefaultHashBuilder, item: RosterItem) {
    if let Some(i) = find_in(data, hasher, &item.jid) {
        data.items[i] = item;
        return;
    }
    let hash = hasher.hash_one(item.jid.as_str());
    let pos = data.items.len();
    data.items.push(item);
    let items = &data.items;
    data.index.insert_unique(hash, pos, |&i| hasher.hash_one(items[i].jid.as_str()));
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

    #[test]
    fn snapshot_is_unaffected_by_later_changes() {
        let mut r = Roster::from_items(Some("1".into()), vec![item("a@x"), item("b@x")]);
        let snap = r.snapshot();
        r.remove("a@x");
        r.apply(item("c@x"));
        r.set_version(Some("2".into()));
        assert_eq!(snap.len(), 2);
        assert!(snap.get("a@x").is_some() && snap.get("c@x").is_none());
        assert_eq!(snap.version(), Some("1"));
        assert_eq!(r.version(), Some("2"));
    }
}
