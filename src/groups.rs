//! [`Groups`]: the groups of a roster item, a sorted set of names shared between the items that
//! are in the same groups, and [`GroupInterner`], which makes that sharing while a roster is
//! decoded (a roster has few distinct group lists: one allocation for each, not one per group of
//! every item).

use crate::nul_string::NulString;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The groups a contact is in: sorted, without duplicates (groups are a set; servers differ in the
/// order they send them). Derefs to `[NulString]`. Cheap to clone (items with the same groups
/// share one copy); no groups takes no allocation.
#[derive(Clone, Default)]
pub struct Groups(Option<Arc<[NulString]>>);

impl Groups {
    /// Groups from names in any order, duplicates allowed (sorted and de-duplicated here).
    pub fn new(mut names: Vec<NulString>) -> Groups {
        canonical(&mut names);
        Groups::from_canonical(names)
    }

    fn from_canonical(names: Vec<NulString>) -> Groups {
        if names.is_empty() {
            Groups(None)
        } else {
            Groups(Some(names.into()))
        }
    }

    pub fn as_slice(&self) -> &[NulString] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// Sorts and de-duplicates in O(k log k) (a contains() check per group would let a hostile item
/// with many groups cost quadratic time).
pub(crate) fn canonical<T: Ord>(names: &mut Vec<T>) {
    if names.len() > 1 {
        names.sort_unstable();
        names.dedup();
    }
}

impl Deref for Groups {
    type Target = [NulString];
    fn deref(&self) -> &[NulString] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Groups {
    type Item = &'a NulString;
    type IntoIter = std::slice::Iter<'a, NulString>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl From<Vec<NulString>> for Groups {
    fn from(names: Vec<NulString>) -> Groups {
        Groups::new(names)
    }
}

impl<S: Into<NulString>> FromIterator<S> for Groups {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Groups {
        Groups::new(iter.into_iter().map(Into::into).collect())
    }
}

impl PartialEq for Groups {
    fn eq(&self, other: &Groups) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.as_slice() == other.as_slice(),
        }
    }
}

impl Eq for Groups {}

impl Hash for Groups {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

fn same_names<S: AsRef<str>>(groups: &Groups, other: &[S]) -> bool {
    groups.len() == other.len() && groups.iter().zip(other).all(|(a, b)| a.as_str() == b.as_ref())
}

impl<S: AsRef<str>> PartialEq<[S]> for Groups {
    fn eq(&self, other: &[S]) -> bool {
        same_names(self, other)
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Groups {
    fn eq(&self, other: &Vec<S>) -> bool {
        same_names(self, other)
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Groups {
    fn eq(&self, other: &[S; N]) -> bool {
        same_names(self, other)
    }
}

/// Hands out one shared [`Groups`] per distinct group list while a roster is decoded.
///
/// Looking a list up must not cost a cache miss per group: the lists already seen are kept as
/// keys packed one after the other in one buffer (each name as its length in 4 bytes, then its
/// bytes), and the table holds each key's full hash, so a look-up reads the small table, then the
/// packed keys, and touches the shared copy only to clone it.
#[derive(Default)]
pub(crate) struct GroupInterner {
    sets: HashTable<InternedList>,
    keys: Vec<u8>,
    /// The key being looked up (scratch space).
    key: Vec<u8>,
    hasher: DefaultHashBuilder,
}

struct InternedList {
    hash: u64,
    key_at: usize,
    key_len: usize,
    groups: Groups,
}

impl GroupInterner {
    /// The groups named by `names` (decoded texts in any order, duplicates allowed): the copy
    /// made for the first item with the same set of names. The names are checked to be UTF-8 only
    /// then (a list seen before was checked): `None` if one is not. `names` may be reordered.
    pub(crate) fn intern(&mut self, names: &mut Vec<Cow<'_, [u8]>>) -> Option<Groups> {
        if names.is_empty() {
            return Some(Groups(None));
        }
        // The common case, a few distinct names: looked up by a hash that does not depend on
        // their order, compared as sets, so nothing is sorted or copied.
        if names.len() <= SHORT_LIST && distinct(names) {
            let hash = set_hash(&self.hasher, names.iter().map(|n| &n[..]));
            let keys = &self.keys;
            if let Some(l) = self.sets.find(hash, |l| l.hash == hash && same_set(&keys[l.key_at..l.key_at + l.key_len], names)) {
                return Some(l.groups.clone());
            }
        }
        canonical(names);
        self.key.clear();
        for n in names.iter() {
            // A name is shorter than a stanza, which is far below 4 GiB (`max_stanza_size`).
            self.key.extend_from_slice(&(n.len() as u32).to_le_bytes());
            self.key.extend_from_slice(n);
        }
        let hash = set_hash(&self.hasher, names.iter().map(|n| &n[..]));
        let (keys, key) = (&self.keys, &self.key);
        let entry = self.sets.entry(hash, |l| l.hash == hash && keys[l.key_at..l.key_at + l.key_len] == key[..], |l| l.hash);
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => Some(e.get().groups.clone()),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let texts = names.iter().map(|n| crate::xml::utf8::from_utf8(n).map(NulString::from));
                let groups = Groups::from_canonical(texts.collect::<Option<Vec<_>>>()?);
                e.insert(InternedList { hash, key_at: self.keys.len(), key_len: self.key.len(), groups: groups.clone() });
                self.keys.extend_from_slice(&self.key);
                Some(groups)
            }
        }
    }
}

/// Lists up to this long are looked up without sorting (see `GroupInterner::intern`).
const SHORT_LIST: usize = 4;

/// True when no name appears twice (pairwise: for short lists only).
fn distinct(names: &[Cow<'_, [u8]>]) -> bool {
    names.iter().enumerate().all(|(i, a)| names[i + 1..].iter().all(|b| a != b))
}

/// A hash of a set of distinct names: the same whatever their order (a sum of each name's hash),
/// then mixed so that every bit depends on the sum.
fn set_hash<'a>(hasher: &DefaultHashBuilder, names: impl Iterator<Item = &'a [u8]>) -> u64 {
    let sum = names.fold(0u64, |sum, n| sum.wrapping_add(hasher.hash_one(n)));
    let h = sum.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// True when the packed key (see `GroupInterner`) holds exactly the distinct `names`, in any order.
fn same_set(mut key: &[u8], names: &[Cow<'_, [u8]>]) -> bool {
    let mut count = 0;
    while key.len() >= 4 {
        let len = u32::from_le_bytes([key[0], key[1], key[2], key[3]]) as usize;
        let Some(name) = key.get(4..4 + len) else { return false };
        if !names.iter().any(|n| &n[..] == name) {
            return false;
        }
        count += 1;
        key = &key[4 + len..];
    }
    count == names.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_a_sorted_set_whatever_order_they_come_in() {
        let g: Groups = ["Work", "Friends", "Work", ""].into_iter().collect();
        assert_eq!(g, ["", "Friends", "Work"]);
        assert!(Groups::default().is_empty());
        assert_eq!(Groups::new(Vec::new()), Groups::default());
    }

    #[test]
    fn the_interner_shares_one_copy_per_distinct_list() {
        let mut interner = GroupInterner::default();
        let mut intern = |names: &[&str]| interner.intern(&mut names.iter().map(|n| Cow::Borrowed(n.as_bytes())).collect()).unwrap();
        let a = intern(&["b", "a"]);
        let b = intern(&["a", "b", "a"]);
        let c = intern(&["a"]);
        assert_eq!(a, ["a", "b"]);
        assert!(matches!((&a.0, &b.0), (Some(x), Some(y)) if Arc::ptr_eq(x, y)), "equal lists share");
        assert_eq!(c, ["a"]);
        assert_ne!(a, c);
        assert!(intern(&[]).is_empty());
        // Any order, with or without duplicates, longer than the short lists: one copy.
        let d = intern(&["c", "a", "b"]);
        for names in [&["a", "b", "c"][..], &["b", "c", "a"], &["c", "c", "a", "b"], &["a", "b", "b", "c", "a"]] {
            let again = intern(names);
            assert!(matches!((&d.0, &again.0), (Some(x), Some(y)) if Arc::ptr_eq(x, y)), "{names:?}");
        }
        let long: Vec<String> = (0..9).map(|i| format!("g{i}")).collect();
        let l1 = intern(&long.iter().rev().map(String::as_str).collect::<Vec<_>>());
        let l2 = intern(&long.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(matches!((&l1.0, &l2.0), (Some(x), Some(y)) if Arc::ptr_eq(x, y)));
        assert_eq!(l1.len(), 9);
        // A subset or superset is another list.
        assert_eq!(intern(&["a", "b"]), ["a", "b"]);
        assert_eq!(intern(&["a", "b", "c", "d"]), ["a", "b", "c", "d"]);
        assert_eq!(intern(&["a", "a"]), ["a"]);
        // Equal to a list built without the interner; a name that reads like two stays one.
        let plain: Groups = ["a", "b"].into_iter().collect();
        assert_eq!(a, plain);
        assert_eq!(intern(&["ab"]), ["ab"]);
        assert_eq!(interner.intern(&mut vec![Cow::Borrowed(&b"ok"[..]), Cow::Borrowed(&b"\xff"[..])]), None, "not UTF-8");
    }
}
