//! [`NulString`]: the string type of roster items. UTF-8 text with a trailing NUL, so the C API
//! hands out `const char *` into the roster itself (no copy per snapshot) while Rust code sees a
//! plain `&str` without the NUL.
//!
//! A string owns its bytes alone (one heap allocation), or shares a block of a
//! [`StringArena`]: a fetched roster cuts all its JIDs and names from a few 64 KiB blocks instead
//! of making two allocations per item, and a block is freed with the last string cut from it.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::{Borrow, Cow};
use std::ffi::c_char;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

/// An immutable UTF-8 string stored with a trailing NUL.
///
/// Derefs to `str` (the text without the NUL), compares and hashes like that `str`. Text cannot
/// contain NUL (XML cannot carry one either): a NUL given to `From` is replaced by `?` so that C,
/// which sees the text up to the first NUL, never sees it cut short. Cloning a string cut from
/// an arena block copies nothing.
pub struct NulString {
    /// The first of `len` bytes of UTF-8, followed by a NUL.
    ptr: NonNull<u8>,
    len: usize,
    /// `Some`: the bytes are in this arena block. `None`: they are this string's own heap
    /// allocation of `len + 1` bytes, or, for the empty string, the static [`EMPTY`].
    block: Option<Arc<Block>>,
}

static EMPTY: [u8; 1] = [0];

// SAFETY: the bytes a `NulString` points to are never written once it exists (an arena writes
// only past the strings it has cut), and its block is `Send + Sync`; so it is a `Box<str>` or an
// `Arc<str>` to every thread.
unsafe impl Send for NulString {}
unsafe impl Sync for NulString {}

impl NulString {
    /// The text as a C string, valid as long as `self` (or a clone of it) is not dropped.
    pub fn as_c_ptr(&self) -> *const c_char {
        self.ptr.as_ptr().cast()
    }

    /// The text without the NUL.
    pub fn as_str(&self) -> &str {
        // SAFETY: `ptr` points to `len` bytes of UTF-8 that live as long as `self` (see the
        // constructors: copied from a `&str`).
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)) }
    }

    /// Text known to hold no NUL (e.g. XML the decoder checked): skips the search for one.
    pub(crate) fn from_text_without_nul(s: &str) -> NulString {
        debug_assert!(!s.contains('\0'));
        NulString::own_copy(s.as_bytes())
    }

    fn from_str_bytes(s: &str) -> NulString {
        let mut n = NulString::own_copy(s.as_bytes());
        n.replace_nuls();
        n
    }

    /// A heap copy of `text` (UTF-8) with the NUL appended.
    fn own_copy(text: &[u8]) -> NulString {
        let mut v = Vec::with_capacity(text.len() + 1);
        v.extend_from_slice(text);
        NulString::own(v)
    }

    /// `text` (UTF-8) with the NUL appended, in its own allocation.
    fn own(mut text: Vec<u8>) -> NulString {
        if text.is_empty() {
            return NulString::default();
        }
        let len = text.len();
        text.push(0);
        // The allocation is released in `Drop`, as the `Box<[u8]>` of `len + 1` bytes it is.
        let ptr = NonNull::from(Box::leak(text.into_boxed_slice())).cast::<u8>();
        NulString { ptr, len, block: None }
    }

    /// Replaces each NUL inside the text by '?'. Only for a string not yet shared with anyone.
    fn replace_nuls(&mut self) {
        let text = self.as_str().as_bytes();
        if memchr::memchr(0, text).is_none() {
            return;
        }
        // SAFETY: a string just made, not yet handed out: its `len` bytes are written by no one
        // else and read through no other reference; '?' keeps them UTF-8.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) };
        for b in bytes {
            if *b == 0 {
                *b = b'?';
            }
        }
    }

    /// Appends the NUL to UTF-8 text, first replacing any NUL inside by '?'.
    fn terminate(v: Vec<u8>) -> NulString {
        let mut n = NulString::own(v);
        n.replace_nuls();
        n
    }
}

impl Drop for NulString {
    fn drop(&mut self) {
        if self.block.is_none() && self.len > 0 {
            // SAFETY: made by `own_copy` from a `Box<[u8]>` of `len + 1` bytes, freed once here.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len + 1)) });
        }
    }
}

impl Clone for NulString {
    fn clone(&self) -> NulString {
        match &self.block {
            Some(block) => NulString { ptr: self.ptr, len: self.len, block: Some(block.clone()) },
            None => NulString::own_copy(self.as_str().as_bytes()),
        }
    }
}

impl PartialEq for NulString {
    fn eq(&self, other: &NulString) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NulString {}

impl PartialOrd for NulString {
    fn partial_cmp(&self, other: &NulString) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NulString {
    fn cmp(&self, other: &NulString) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Default for NulString {
    fn default() -> NulString {
        NulString { ptr: NonNull::from(&EMPTY).cast(), len: 0, block: None }
    }
}

/// A block of bytes strings are cut from (see [`StringArena`]).
struct Block {
    start: NonNull<u8>,
    size: usize,
}

// SAFETY: a block is plain bytes; who may write which of them is the arena's rule (see
// `StringArena::cut`), and it is freed only by the last `Arc`.
unsafe impl Send for Block {}
unsafe impl Sync for Block {}

impl Block {
    fn new(size: usize) -> Block {
        let layout = Layout::array::<u8>(size).unwrap_or_else(|_| Layout::new::<u8>());
        // SAFETY: `size` is never 0 (see `StringArena`).
        let start = NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout));
        Block { start, size }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated in `Block::new` with this layout; the last `Arc` is going away.
        unsafe { dealloc(self.start.as_ptr(), Layout::array::<u8>(self.size).unwrap_or_else(|_| Layout::new::<u8>())) }
    }
}

/// Cuts many short strings from shared blocks: one allocation per block instead of one per
/// string, and no per-allocation overhead in memory. Blocks grow from 4 KiB to 64 KiB, so a small
/// roster does not hold a big block. Longer strings get their own allocation.
#[derive(Default)]
pub(crate) struct StringArena {
    block: Option<Arc<Block>>,
    /// Bytes of `block` already cut.
    used: usize,
    /// The size of the next block.
    next_size: usize,
}

const FIRST_BLOCK: usize = 4 * 1024;
const LAST_BLOCK: usize = 64 * 1024;

impl StringArena {
    /// A copy of `s` in the arena; NULs inside are replaced by '?' (see [`NulString`]).
    pub(crate) fn copy(&mut self, s: &str) -> NulString {
        let mut n = self.cut(s);
        n.replace_nuls();
        n
    }

    /// A copy of `s`, which holds no NUL (checked text, e.g. a valid JID or plain XML text).
    pub(crate) fn copy_without_nul(&mut self, s: &str) -> NulString {
        debug_assert!(!s.contains('\0'));
        self.cut(s)
    }

    fn cut(&mut self, s: &str) -> NulString {
        let need = s.len() + 1;
        if s.is_empty() || need > LAST_BLOCK / 16 {
            return NulString::own_copy(s.as_bytes());
        }
        let block = match &self.block {
            Some(b) if self.used + need <= b.size => b,
            _ => {
                let size = self.next_size.clamp(FIRST_BLOCK, LAST_BLOCK);
                self.next_size = size * 2;
                self.used = 0;
                self.block.insert(Arc::new(Block::new(size)))
            }
        };
        // SAFETY: `used + need <= size`; the bytes from `used` on were never handed out, so no
        // one reads them, and only this arena (which holds the block) writes them; `s` is UTF-8.
        let ptr = unsafe {
            let at = block.start.as_ptr().add(self.used);
            std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
            *at.add(s.len()) = 0;
            NonNull::new_unchecked(at)
        };
        self.used += need;
        NulString { ptr, len: s.len(), block: Some(block.clone()) }
    }
}

impl Deref for NulString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for NulString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for NulString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for NulString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for NulString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NulString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<&str> for NulString {
    fn from(s: &str) -> NulString {
        NulString::from_str_bytes(s)
    }
}

impl From<&String> for NulString {
    fn from(s: &String) -> NulString {
        NulString::from_str_bytes(s)
    }
}

impl From<String> for NulString {
    fn from(s: String) -> NulString {
        NulString::terminate(s.into_bytes())
    }
}

impl From<Cow<'_, str>> for NulString {
    fn from(s: Cow<'_, str>) -> NulString {
        match s {
            Cow::Borrowed(b) => NulString::from_str_bytes(b),
            Cow::Owned(o) => NulString::from(o),
        }
    }
}

impl From<NulString> for String {
    fn from(s: NulString) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq<str> for NulString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for NulString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for NulString {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<NulString> for str {
    fn eq(&self, other: &NulString) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<NulString> for &str {
    fn eq(&self, other: &NulString) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<NulString> for String {
    fn eq(&self, other: &NulString) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn text_is_the_str_and_c_sees_the_same_text() {
        for s in ["", "juliet@example.com", "Zoë & \"O'Brien\"", "李"] {
            let n = NulString::from(s);
            assert_eq!(&*n, s);
            assert_eq!(n, s);
            assert_eq!(unsafe { CStr::from_ptr(n.as_c_ptr()) }.to_str().unwrap(), s);
            assert_eq!(NulString::from(s.to_string()), n);
            assert_eq!(String::from(n.clone()), s);
            assert_eq!(format!("{n:?}"), format!("{s:?}"));
        }
        assert_eq!(&*NulString::default(), "");
        assert_eq!(unsafe { CStr::from_ptr(NulString::default().as_c_ptr()) }.to_bytes(), b"");
    }

    #[test]
    fn a_nul_inside_never_cuts_the_c_string_short() {
        let n = NulString::from("a\0b");
        assert_eq!(&*n, "a?b");
        assert_eq!(unsafe { CStr::from_ptr(n.as_c_ptr()) }.to_str().unwrap(), "a?b");
        assert_eq!(&*NulString::from(String::from("\0")), "?");
    }

    #[test]
    fn arena_strings_share_blocks_and_outlive_the_arena() {
        let mut arena = StringArena::default();
        let names: Vec<String> = (0..5000).map(|i| format!("contact{i}@example.org")).collect();
        let kept: Vec<NulString> = names.iter().map(|n| arena.copy_without_nul(n)).collect();
        let with_nul = arena.copy("a\0b");
        let long = arena.copy(&"x".repeat(LAST_BLOCK));
        let empty = arena.copy("");
        drop(arena);
        // Blocks: far fewer than strings, and each lives as long as a string cut from it.
        let blocks: std::collections::HashSet<*const Block> = kept.iter().filter_map(|n| n.block.as_ref().map(Arc::as_ptr)).collect();
        assert!(blocks.len() < 20, "{} blocks", blocks.len());
        let clones: Vec<NulString> = kept.iter().step_by(97).cloned().collect();
        drop(kept);
        for (i, n) in clones.iter().enumerate() {
            assert_eq!(n, &names[i * 97]);
            assert_eq!(unsafe { CStr::from_ptr(n.as_c_ptr()) }.to_str().unwrap(), names[i * 97]);
        }
        assert_eq!(with_nul, "a?b");
        assert!(long.block.is_none() && long.len() == LAST_BLOCK, "a long string gets its own allocation");
        assert_eq!(empty, "");
        // Strings cut from one block, used from other threads while the block's arena is gone.
        let mut arena = StringArena::default();
        let shared: Vec<NulString> = (0..100).map(|i| arena.copy(&format!("g{i}"))).collect();
        drop(arena);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| assert!(shared.iter().enumerate().all(|(i, n)| *n == format!("g{i}"))));
            }
        });
    }

    #[test]
    fn hashes_and_orders_like_str() {
        use std::collections::HashSet;
        let set: HashSet<NulString> = ["b", "a"].into_iter().map(NulString::from).collect();
        assert!(set.contains("a"));
        let mut v = vec![NulString::from("b"), NulString::from("a"), NulString::from("ab")];
        v.sort();
        assert_eq!(v, ["a", "ab", "b"]);
    }
}
