//! The C ABI. This module and its children are the only place with `extern "C"`; the rest of the
//! crate knows nothing about C. One file per C concept:
//!
//! | file | C concept |
//! |---|---|
//! | `error.rs` | result codes, the thread-local last error |
//! | `version.rs` | version string and macros |
//! | `config.rs` | `xmpp_roster_config` |
//! | `client.rs` | `xmpp_roster_client`: the busy flag, blocking calls, interrupt |
//! | `callbacks.rs` | the four event callbacks and their finalizers |
//! | `snapshot.rs` | `xmpp_roster_snapshot`, `xmpp_roster_item`, the bulk export |
//! | `feed.rs` | `xmpp_roster_feed`: a fetch's items handed to another thread in batches |
//!
//! # Conventions (the contract is docs/C-API.md)
//! - Every exported function starts with [`ffi_result!`] or [`ffi_value!`]: the panic boundary.
//!   A panic becomes `XMPP_ROSTER_ERR_PANIC` (or the function's documented default) and never
//!   unwinds into C. `tests/c_abi.rs` checks that no export lacks it.
//! - Pointers from C are checked for NULL and strings for UTF-8 by the helpers below, which set
//!   the thread-local last error. Out-parameters are written only on success.
//! - Enumerations arrive as `uint32_t` and are range-checked, never transmuted.
//! - Opaque C types are zero-sized marker structs (`_private: [u8; 0]`, as in rustls-ffi); the
//!   real state is a private Rust struct behind the same pointer.

#![allow(non_camel_case_types)]
// The safety contract of every `unsafe extern "C" fn` is the C API's (docs/C-API.md): pointers are
// NULL or came from this library and are still live, strings are NUL-terminated, buffers hold
// `len` bytes. Repeating it as a `# Safety` section on each would only bloat the generated header.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A `*const c_char` to a static NUL-terminated copy of a string literal.
macro_rules! cstr {
    ($s:literal) => {
        concat!($s, "\0").as_ptr().cast::<::std::ffi::c_char>()
    };
}

/// The panic boundary of a function returning `xmpp_roster_result`. The body is a block that
/// evaluates to `Result<(), Failed>` (so `?` works on core results and argument helpers).
macro_rules! ffi_result {
    ($($body:tt)*) => {
        $crate::ffi::catch_result(move || -> ::std::result::Result<(), $crate::ffi::Failed> { $($body)* })
    };
}

/// The panic boundary of a function returning a plain value: `ffi_value!(default; body)`.
/// A panic sets the last error to `XMPP_ROSTER_ERR_PANIC` and returns `default`.
macro_rules! ffi_value {
    ($default:expr; $($body:tt)*) => {
        $crate::ffi::catch_value($default, move || { $($body)* })
    };
}

pub mod error;
pub mod version;
pub mod config;
pub mod client;
pub mod snapshot;
pub mod callbacks;
pub mod feed;

pub use error::xmpp_roster_result;
use error::{set_last_error, XMPP_ROSTER_ERR_INVALID_ARGUMENT, XMPP_ROSTER_ERR_INVALID_UTF8, XMPP_ROSTER_ERR_NULL_PARAMETER, XMPP_ROSTER_ERR_PANIC, XMPP_ROSTER_OK};

/// A failure whose last error is already recorded; carries the result code to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed(pub xmpp_roster_result);

impl Failed {
    /// Records `message` as this thread's last error and returns the failure for `code`.
    pub(crate) fn new(code: xmpp_roster_result, message: impl Into<String>) -> Failed {
        set_last_error(code, message.into(), String::new(), String::new());
        Failed(code)
    }
}

impl From<crate::Error> for Failed {
    fn from(e: crate::Error) -> Failed {
        Failed(error::record_error(&e))
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

fn record_panic(payload: &(dyn std::any::Any + Send)) {
    set_last_error(XMPP_ROSTER_ERR_PANIC, format!("internal error (panic): {}", panic_message(payload)), String::new(), String::new());
}

#[doc(hidden)]
pub fn catch_result<F: FnOnce() -> Result<(), Failed>>(f: F) -> xmpp_roster_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => XMPP_ROSTER_OK,
        Ok(Err(Failed(code))) => code,
        Err(payload) => {
            record_panic(payload.as_ref());
            XMPP_ROSTER_ERR_PANIC
        }
    }
}

#[doc(hidden)]
pub fn catch_value<T, F: FnOnce() -> T>(default: T, f: F) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            record_panic(payload.as_ref());
            default
        }
    }
}

/// `Err(NULL_PARAMETER)` naming `what` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<(), Failed> {
    if p.is_null() {
        return Err(Failed::new(XMPP_ROSTER_ERR_NULL_PARAMETER, format!("{what} is NULL")));
    }
    Ok(())
}

/// A required C string argument as `&str`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failed> {
    non_null(p, what)?;
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|_| Failed::new(XMPP_ROSTER_ERR_INVALID_UTF8, format!("{what} is not valid UTF-8")))
}

/// An optional C string argument: NULL is `None`.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failed> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { arg_str(p, what) }.map(Some)
}

/// A C array argument `(p, count)` as a slice; `p` may be NULL only when `count` is 0.
///
/// # Safety
/// `p` is NULL or points to `count` readable elements that outlive `'a`.
pub(crate) unsafe fn arg_slice<'a, T>(p: *const T, count: usize, what: &str) -> Result<&'a [T], Failed> {
    if count == 0 {
        return Ok(&[]);
    }
    non_null(p, what)?;
    if count > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("{what}: count {count} is too large")));
    }
    // SAFETY: non-NULL, bounded length, readable per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// Copies `text` into `buf` with snprintf semantics: writes at most `len - 1` bytes and a NUL
/// when `len > 0`, and returns the full length of `text` (without the NUL).
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn copy_out(text: &[u8], buf: *mut c_char, len: usize) -> usize {
    if !buf.is_null() && len > 0 {
        let n = text.len().min(len - 1);
        // SAFETY: `buf` holds `len` bytes and `n + 1 <= len`; `text` cannot overlap a C buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    text.len()
}

/// `s` without interior NULs, so that it survives as a C string. (XML cannot carry NUL, so in
/// practice nothing is lost.)
pub(crate) fn c_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A C string for `s` (interior NULs replaced).
pub(crate) fn to_cstring(s: &str) -> std::ffi::CString {
    let safe = c_safe(s);
    // After `c_safe` there is no NUL, so this cannot fail; fall back to empty rather than panic.
    std::ffi::CString::new(safe.as_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::error::{xmpp_roster_last_error_code, XMPP_ROSTER_ERR_PANIC};
    use super::*;

    #[test]
    fn a_panic_becomes_the_panic_code_and_a_message() {
        let code = catch_result(|| panic!("boom in the boundary test"));
        assert_eq!(code, XMPP_ROSTER_ERR_PANIC);
        assert_eq!(xmpp_roster_last_error_code(), XMPP_ROSTER_ERR_PANIC);
        let mut buf = [0 as c_char; 128];
        // SAFETY: a 128-byte buffer.
        let n = unsafe { error::xmpp_roster_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: NUL-terminated by the call.
        let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(n, msg.len());
        assert!(msg.contains("boom in the boundary test"), "{msg}");
        assert_eq!(catch_value(7u32, || -> u32 { panic!("again") }), 7);
    }

    #[test]
    fn copy_out_has_snprintf_semantics() {
        let mut buf = [b'x' as c_char; 4];
        // SAFETY: 4-byte buffer; NULL with 0.
        unsafe {
            assert_eq!(copy_out(b"hello", std::ptr::null_mut(), 0), 5);
            assert_eq!(copy_out(b"hello", buf.as_mut_ptr(), 4), 5);
        }
        assert_eq!(buf.map(|c| c as u8), *b"hel\0");
    }
}
