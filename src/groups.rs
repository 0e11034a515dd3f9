//! [`Groups`]: the groups of a roster item, a sorted set of names shared between the items that
//! are in the same groups, and [`GroupInterner`], which makes that sharing while a roster is
//! decoded (a roster has few distinct group lists: one copy of each, not one per group of every
//! item).

use crate::nul_string::NulString;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The groups a contact is in: sorted, without duplicates (groups are a set; servers differ in the
/// order they send them). Derefs to `[NulString]`. Cheap to clone (items with the same groups
/// share one copy); no groups takes no allocation.
#[derive(Clone, Default)]
pub struct Groups(Option<ListRef>);

/// A list of `len` names from slot `at` of a [`ListBlock`].
#[derive(Clone)]
struct ListRef {
    block: Arc<ListBlock>,
    at: u32,
    len: u32,
}

/// Slots for the names of group lists, written front to back by one [`BlockWriter`] and shared by
/// the lists cut from it. The lists a roster decode makes share a few blocks, so giving an item
/// its groups counts a reference on a block that is in the cache anyway, not on a list of its own
/// (which, with thousands of distinct lists, was a cache miss per item).
struct ListBlock {
    slots: Box<[UnsafeCell<MaybeUninit<NulString>>]>,
    /// How many slots (from the first) are written: those are never written again, the others
    /// are read by no one.
    filled: AtomicUsize,
}

// SAFETY: a slot is written once, by the block's only `BlockWriter`, before any `ListRef` to it
// exists; after that it is only read. The names are `Send + Sync`.
unsafe impl Send for ListBlock {}
unsafe impl Sync for ListBlock {}

impl Drop for ListBlock {
    fn drop(&mut self) {
        let filled = *self.filled.get_mut();
        for slot in &mut self.slots[..filled] {
            // SAFETY: the first `filled` slots were written (see `BlockWriter::push_list`).
            unsafe { slot.get_mut().assume_init_drop() }
        }
    }
}

/// The one writer of a [`ListBlock`]: not `Clone`, so its `&mut self` methods are the only
/// writes to the block.
struct BlockWriter(Arc<ListBlock>);

impl BlockWriter {
    fn new(capacity: usize) -> BlockWriter {
        let slots = (0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
        BlockWriter(Arc::new(ListBlock { slots, filled: AtomicUsize::new(0) }))
    }

    fn room(&self) -> usize {
        self.0.slots.len() - self.0.filled.load(Ordering::Relaxed)
    }

    /// Writes `names` (not empty, at most [`room`](Self::room)) into the next free slots.
    fn push_list(&mut self, names: Vec<NulString>) -> Groups {
        let at = self.0.filled.load(Ordering::Relaxed);
        let len = names.len();
        assert!(len > 0 && len <= self.room() && at + len <= u32::MAX as usize, "a group list must fit its block");
        for (slot, name) in self.0.slots[at..at + len].iter().zip(names) {
            // SAFETY: slots from `filled` on were never written and no `ListRef` covers them,
            // so no one reads them; only this writer (borrowed mutably) writes.
            unsafe { (*slot.get()).write(name) };
        }
        self.0.filled.store(at + len, Ordering::Relaxed);
        Groups(Some(ListRef { block: Arc::clone(&self.0), at: at as u32, len: len as u32 }))
    }
}

impl Groups {
    /// Groups from names in any order, duplicates allowed (sorted and de-duplicated here).
    pub fn new(mut names: Vec<NulString>) -> Groups {
        canonical(&mut names);
        Groups::from_canonical(names)
    }

    /// A list of its own (a block that fits it exactly).
    fn from_canonical(names: Vec<NulString>) -> Groups {
        if names.is_empty() {
            Groups(None)
        } else {
            BlockWriter::new(names.len()).push_list(names)
        }
    }

    pub fn as_slice(&self) -> &[NulString] {
        match &self.0 {
            None => &[],
            // SAFETY: the list's slots were written before the `ListRef` was made and are never
            // written again; `UnsafeCell<MaybeUninit<T>>` is laid out as `T`.
            Some(l) => unsafe { std::slice::from_raw_parts(l.block.slots.as_ptr().add(l.at as usize).cast::<NulString>(), l.len as usize) },
        }
    }

    /// True when both are the same copy (not only equal names).
    pub(crate) fn same_copy(&self, other: &Groups) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.block, &b.block) && a.at == b.at && a.len == b.len,
            _ => false,
        }
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
        self.same_copy(other) || self.as_slice() == other.as_slice()
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
    /// Where new lists are written.
    store: ListStore,
}

/// The blocks a [`GroupInterner`] writes lists to grow from this many slots to
/// [`LAST_BLOCK_SLOTS`], so that the groups of one pushed item do not hold a big block.
const FIRST_BLOCK_SLOTS: usize = 4;
/// The largest block (a longer list gets a block of its own).
const LAST_BLOCK_SLOTS: usize = 1024;

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
                let groups = self.store.push(texts.collect::<Option<Vec<_>>>()?);
                e.insert(InternedList { hash, key_at: self.keys.len(), key_len: self.key.len(), groups: groups.clone() });
                self.keys.extend_from_slice(&self.key);
                Some(groups)
            }
        }
    }
}

/// The [`ListBlock`]s a [`GroupInterner`] writes its lists into, one after the other.
#[derive(Default)]
struct ListStore {
    current: Option<BlockWriter>,
    /// The slots of the next block.
    next_slots: usize,
}

impl ListStore {
    /// Writes a new list (sorted, not empty) into the current block, or into a new one when it
    /// does not fit there; a list longer than [`LAST_BLOCK_SLOTS`] gets a block of its own.
    fn push(&mut self, texts: Vec<NulString>) -> Groups {
        if texts.len() > LAST_BLOCK_SLOTS {
            return Groups::from_canonical(texts);
        }
        let writer = match &mut self.current {
            Some(b) if b.room() >= texts.len() => b,
            _ => {
                let slots = self.next_slots.clamp(FIRST_BLOCK_SLOTS, LAST_BLOCK_SLOTS).max(texts.len());
                self.next_slots = slots * 2;
                self.current.insert(BlockWriter::new(slots))
            }
        };
        writer.push_list(texts)
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
        assert!(a.same_copy(&b), "equal lists share");
        assert_eq!(c, ["a"]);
        assert_ne!(a, c);
        assert!(intern(&[]).is_empty());
        // Any order, with or without duplicates, longer than the short lists: one copy.
        let d = intern(&["c", "a", "b"]);
        for names in [&["a", "b", "c"][..], &["b", "c", "a"], &["c", "c", "a", "b"], &["a", "b", "b", "c", "a"]] {
            let again = intern(names);
            assert!(d.same_copy(&again), "{names:?}");
        }
        let long: Vec<String> = (0..9).map(|i| format!("g{i}")).collect();
        let l1 = intern(&long.iter().rev().map(String::as_str).collect::<Vec<_>>());
        let l2 = intern(&long.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(l1.same_copy(&l2));
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

    fn intern_strs(interner: &mut GroupInterner, names: &[&str]) -> Groups {
        interner.intern(&mut names.iter().map(|n| Cow::Borrowed(n.as_bytes())).collect()).unwrap()
    }

    #[test]
    fn lists_fill_a_block_then_the_next_and_a_long_list_gets_its_own() {
        let mut interner = GroupInterner::default();
        let lists: Vec<Groups> = (0..600).map(|i| intern_strs(&mut interner, &[&format!("a{i}"), &format!("b{i}")])).collect();
        let capacity = |g: &Groups| g.0.as_ref().map(|l| l.block.slots.len());
        // The first block is small (the groups of one pushed item), later ones grow to the last size.
        assert_eq!(capacity(&lists[0]), Some(FIRST_BLOCK_SLOTS));
        assert_eq!(capacity(&lists[599]), Some(LAST_BLOCK_SLOTS));
        for (i, g) in lists.iter().enumerate() {
            assert_eq!(*g, [format!("a{i}"), format!("b{i}")], "list {i} reads back whole");
            assert!(g.same_copy(&intern_strs(&mut interner, &[&format!("b{i}"), &format!("a{i}")])), "list {i} is found again");
        }
        let (Some(first), Some(last)) = (&lists[0].0, &lists[599].0) else { panic!() };
        assert!(!Arc::ptr_eq(&first.block, &last.block), "a second block was started");
        let long: Vec<String> = (0..LAST_BLOCK_SLOTS + 1).map(|i| format!("g{i:05}")).collect();
        let g = intern_strs(&mut interner, &long.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(g.len(), LAST_BLOCK_SLOTS + 1);
        assert_eq!(capacity(&g), Some(LAST_BLOCK_SLOTS + 1), "a block of its own");
        // A list longer than the next block's size, but not than the last: a block that fits it.
        let mut fresh = GroupInterner::default();
        let seven = intern_strs(&mut fresh, &["1", "2", "3", "4", "5", "6", "7"]);
        assert_eq!(capacity(&seven), Some(7));
        assert_eq!(g[..], long[..]);
        // Blocks outlive the interner as long as a list is held.
        drop(interner);
        assert_eq!(lists[599], ["a599", "b599"]);
    }

    /// Lists are read on other threads while the interner writes new lists into the same block
    /// (what a fetch in batches does). Run under Miri, this checks the block's sharing is sound.
    #[test]
    fn lists_are_read_on_another_thread_while_more_are_written() {
        let mut interner = GroupInterner::default();
        let rounds = if cfg!(miri) { 8 } else { 200 };
        let mut readers = Vec::new();
        for i in 0..rounds {
            let g = intern_strs(&mut interner, &[&format!("x{i}"), "shared"]);
            readers.push(std::thread::spawn(move || g.iter().map(|n| n.to_string()).collect::<Vec<_>>()));
        }
        for (i, r) in readers.into_iter().enumerate() {
            assert_eq!(r.join().unwrap(), ["shared".to_string(), format!("x{i}")]);
        }
    }
}
