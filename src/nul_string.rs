//! [`NulString`]: the string type of roster items. One allocation holding the UTF-8 text and a
//! trailing NUL, so the C API hands out `const char *` into the roster itself (no copy per
//! snapshot) while Rust code sees a plain `&str` without the NUL.

use std::borrow::{Borrow, Cow};
use std::ffi::c_char;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// An immutable UTF-8 string stored with a trailing NUL (16 bytes, one allocation).
///
/// Derefs to `str` (the text without the NUL), compares and hashes like that `str`. Text cannot
/// contain NUL (XML cannot carry one either): a NUL given to `From` is replaced by `?` so that C,
/// which sees the text up to the first NUL, never sees it cut short.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NulString(Box<[u8]>);

impl NulString {
    /// The text as a C string, valid as long as `self` is neither dropped nor moved out of.
    pub fn as_c_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }

    /// The text without the NUL.
    pub fn as_str(&self) -> &str {
        // SAFETY: built only from `&str` bytes plus one trailing NUL (see `from_str_bytes`).
        unsafe { std::str::from_utf8_unchecked(&self.0[..self.0.len() - 1]) }
    }

    /// Text known to hold no NUL (e.g. XML the decoder checked): skips the search for one.
    pub(crate) fn from_text_without_nul(s: &str) -> NulString {
        debug_assert!(!s.contains('\0'));
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        NulString(v.into_boxed_slice())
    }

    fn from_str_bytes(s: &str) -> NulString {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        NulString::terminate(v)
    }

    /// Appends the NUL to UTF-8 text, first replacing any NUL inside by '?'.
    fn terminate(mut v: Vec<u8>) -> NulString {
        if memchr::memchr(0, &v).is_some() {
            for b in &mut v {
                if *b == 0 {
                    *b = b'?';
                }
            }
        }
        v.push(0);
        NulString(v.into_boxed_slice())
    }
}

impl Default for NulString {
    fn default() -> NulString {
        NulString(Box::new([0]))
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
        let mut v = Vec::from(s.0);
        v.pop();
        // SAFETY: the bytes before the NUL are the UTF-8 text.
        unsafe { String::from_utf8_unchecked(v) }
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
    fn hashes_and_orders_like_str() {
        use std::collections::HashSet;
        let set: HashSet<NulString> = ["b", "a"].into_iter().map(NulString::from).collect();
        assert!(set.contains("a"));
        let mut v = vec![NulString::from("b"), NulString::from("a"), NulString::from("ab")];
        v.sort();
        assert_eq!(v, ["a", "ab", "b"]);
    }
}
