//! Result codes and the thread-local last error.

use super::copy_out;
use crate::Error;
use std::cell::RefCell;
use std::ffi::c_char;

/// The result of a fallible call: `XMPP_ROSTER_OK` (0) or one `XMPP_ROSTER_ERR_*` code per
/// failure class. On failure the call also records this thread's last error (message,
/// condition, error type); success leaves the last error unchanged, like `errno`.
pub type xmpp_roster_result = u32;

/// Success.
pub const XMPP_ROSTER_OK: xmpp_roster_result = 0;
/// A pointer argument that must not be NULL was NULL.
pub const XMPP_ROSTER_ERR_NULL_PARAMETER: xmpp_roster_result = 1;
/// An argument is unusable: out-of-range enumeration value, empty or over-long text, ...
pub const XMPP_ROSTER_ERR_INVALID_ARGUMENT: xmpp_roster_result = 2;
/// A string argument is not valid UTF-8.
pub const XMPP_ROSTER_ERR_INVALID_UTF8: xmpp_roster_result = 3;
/// A JID argument (or the account JID) is malformed.
pub const XMPP_ROSTER_ERR_INVALID_JID: xmpp_roster_result = 4;
/// A socket-level failure: name resolution, connection refused, reset, ...
pub const XMPP_ROSTER_ERR_IO: xmpp_roster_result = 5;
/// TLS could not be established or broke (handshake, certificate, STARTTLS refused).
pub const XMPP_ROSTER_ERR_TLS: xmpp_roster_result = 6;
/// Authentication failed; the condition is the SASL condition (e.g. `not-authorized`).
pub const XMPP_ROSTER_ERR_AUTH: xmpp_roster_result = 7;
/// The XML stream was closed with a stream error; the condition is the stream condition.
pub const XMPP_ROSTER_ERR_STREAM: xmpp_roster_result = 8;
/// The server answered with a stanza error; see the condition and the error type.
pub const XMPP_ROSTER_ERR_STANZA: xmpp_roster_result = 9;
/// The configured timeout passed before the server answered. The connection stays usable.
pub const XMPP_ROSTER_ERR_TIMEOUT: xmpp_roster_result = 10;
/// `xmpp_roster_client_interrupt` cut the call short. The connection stays usable.
pub const XMPP_ROSTER_ERR_INTERRUPTED: xmpp_roster_result = 11;
/// The connection ended while the call needed it.
pub const XMPP_ROSTER_ERR_DISCONNECTED: xmpp_roster_result = 12;
/// The call needs a connected client.
pub const XMPP_ROSTER_ERR_NOT_CONNECTED: xmpp_roster_result = 13;
/// A callback returned non-zero; the stanza that triggered it was fully handled first.
pub const XMPP_ROSTER_ERR_CALLBACK_ABORTED: xmpp_roster_result = 14;
/// Another call on the same client is in progress (re-entrant call from a callback, or a
/// concurrent call from another thread). Nothing was done.
pub const XMPP_ROSTER_ERR_BUSY: xmpp_roster_result = 15;
/// The thing looked up does not exist.
pub const XMPP_ROSTER_ERR_NOT_FOUND: xmpp_roster_result = 16;
/// The server does not offer what the call needs (e.g. pre-approval).
pub const XMPP_ROSTER_ERR_UNSUPPORTED: xmpp_roster_result = 17;
/// An internal error (a Rust panic) was caught at the API boundary. Please report it.
pub const XMPP_ROSTER_ERR_PANIC: xmpp_roster_result = 18;

/// The last failure recorded on this thread.
#[derive(Default)]
struct LastError {
    code: xmpp_roster_result,
    message: String,
    condition: String,
    error_type: String,
    /// The server's human-readable `<text/>` of a stanza, stream or SASL error.
    text: String,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError::default());
}

/// Records this thread's last error (with no `<text/>`). NULs are replaced so that C sees the
/// whole text.
pub(crate) fn set_last_error(code: xmpp_roster_result, message: String, condition: String, error_type: String) {
    store(code, message, condition, error_type, String::new());
}

fn store(code: xmpp_roster_result, message: String, condition: String, error_type: String, text: String) {
    let clean = |s: String| if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s };
    let entry = LastError { code, message: clean(message), condition: clean(condition), error_type: clean(error_type), text: clean(text) };
    // `try_with`: during thread teardown the slot may be gone; losing the message then is fine.
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut slot) = e.try_borrow_mut() {
            *slot = entry;
        }
    });
}

/// The result code for a core error.
pub(crate) fn code_of(e: &Error) -> xmpp_roster_result {
    match e {
        Error::InvalidArgument(_) => XMPP_ROSTER_ERR_INVALID_ARGUMENT,
        Error::InvalidJid(_) => XMPP_ROSTER_ERR_INVALID_JID,
        Error::Io(_) => XMPP_ROSTER_ERR_IO,
        Error::Tls(_) => XMPP_ROSTER_ERR_TLS,
        Error::Auth { .. } => XMPP_ROSTER_ERR_AUTH,
        Error::Stream { .. } => XMPP_ROSTER_ERR_STREAM,
        Error::Stanza(_) => XMPP_ROSTER_ERR_STANZA,
        Error::Timeout => XMPP_ROSTER_ERR_TIMEOUT,
        Error::Interrupted => XMPP_ROSTER_ERR_INTERRUPTED,
        Error::Disconnected(_) => XMPP_ROSTER_ERR_DISCONNECTED,
        Error::NotConnected => XMPP_ROSTER_ERR_NOT_CONNECTED,
        Error::CallbackAborted => XMPP_ROSTER_ERR_CALLBACK_ABORTED,
        Error::Unsupported(_) => XMPP_ROSTER_ERR_UNSUPPORTED,
    }
}

/// Records a core error as this thread's last error and returns its code.
pub(crate) fn record_error(e: &Error) -> xmpp_roster_result {
    let code = code_of(e);
    let (condition, error_type, text) = match e {
        Error::Auth { condition, text } | Error::Stream { condition, text, .. } => (condition.clone(), String::new(), text.clone()),
        Error::Stanza(s) => (s.condition.clone(), s.error_type.clone(), s.text.clone()),
        _ => (String::new(), String::new(), None),
    };
    store(code, e.to_string(), condition, error_type, text.unwrap_or_default());
    code
}

fn with_last<R>(f: impl FnOnce(&LastError) -> R, default: R) -> R {
    LAST_ERROR.try_with(|e| e.try_borrow().ok().map(|slot| f(&slot))).ok().flatten().unwrap_or(default)
}

/// A static, human-readable name for `code` (e.g. "stanza error"); "unknown result code" for a
/// value that is not one of the codes. Never NULL; never free it.
#[no_mangle]
pub extern "C" fn xmpp_roster_result_str(code: xmpp_roster_result) -> *const c_char {
    ffi_value!(cstr!("unknown result code");
        match code {
            XMPP_ROSTER_OK => cstr!("ok"),
            XMPP_ROSTER_ERR_NULL_PARAMETER => cstr!("NULL parameter"),
            XMPP_ROSTER_ERR_INVALID_ARGUMENT => cstr!("invalid argument"),
            XMPP_ROSTER_ERR_INVALID_UTF8 => cstr!("invalid UTF-8"),
            XMPP_ROSTER_ERR_INVALID_JID => cstr!("invalid JID"),
            XMPP_ROSTER_ERR_IO => cstr!("I/O error"),
            XMPP_ROSTER_ERR_TLS => cstr!("TLS error"),
            XMPP_ROSTER_ERR_AUTH => cstr!("authentication failed"),
            XMPP_ROSTER_ERR_STREAM => cstr!("stream error"),
            XMPP_ROSTER_ERR_STANZA => cstr!("stanza error"),
            XMPP_ROSTER_ERR_TIMEOUT => cstr!("timed out"),
            XMPP_ROSTER_ERR_INTERRUPTED => cstr!("interrupted"),
            XMPP_ROSTER_ERR_DISCONNECTED => cstr!("disconnected"),
            XMPP_ROSTER_ERR_NOT_CONNECTED => cstr!("not connected"),
            XMPP_ROSTER_ERR_CALLBACK_ABORTED => cstr!("aborted by a callback"),
            XMPP_ROSTER_ERR_BUSY => cstr!("busy: another call on this client is in progress"),
            XMPP_ROSTER_ERR_NOT_FOUND => cstr!("not found"),
            XMPP_ROSTER_ERR_UNSUPPORTED => cstr!("not supported by the server"),
            XMPP_ROSTER_ERR_PANIC => cstr!("internal error (panic)"),
            _ => cstr!("unknown result code"),
        }
    )
}

/// Copies the message of this thread's last failure into `buf`, with snprintf semantics: returns
/// the message's full length in bytes (without the NUL); when `len > 0` writes at most `len - 1`
/// bytes and a terminating NUL. `buf` may be NULL when `len` is 0 (to ask for the length).
/// The message is "" when no call on this thread has failed yet.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_last_error(buf: *mut c_char, len: usize) -> usize {
    ffi_value!(0;
        let text = with_last(|e| e.message.clone(), String::new());
        // SAFETY: the caller gives `len` writable bytes at `buf` (or NULL).
        unsafe { copy_out(text.as_bytes(), buf, len) }
    )
}

/// The condition of this thread's last failure, snprintf semantics as `xmpp_roster_last_error`:
/// the stanza error condition for `XMPP_ROSTER_ERR_STANZA` (e.g. "item-not-found"), the SASL
/// condition for `XMPP_ROSTER_ERR_AUTH` (e.g. "not-authorized"), the stream error condition for
/// `XMPP_ROSTER_ERR_STREAM` (e.g. "policy-violation"); "" otherwise.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_last_error_condition(buf: *mut c_char, len: usize) -> usize {
    ffi_value!(0;
        let text = with_last(|e| e.condition.clone(), String::new());
        // SAFETY: as above.
        unsafe { copy_out(text.as_bytes(), buf, len) }
    )
}

/// The stanza error type of this thread's last failure ("cancel", "modify", "auth", "wait",
/// "continue"), snprintf semantics; "" unless the last failure was `XMPP_ROSTER_ERR_STANZA`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_last_error_type(buf: *mut c_char, len: usize) -> usize {
    ffi_value!(0;
        let text = with_last(|e| e.error_type.clone(), String::new());
        // SAFETY: as above.
        unsafe { copy_out(text.as_bytes(), buf, len) }
    )
}

/// The human-readable `<text/>` of the error behind this thread's last failure, alone (the
/// message of `xmpp_roster_last_error` ends with it), snprintf semantics as
/// `xmpp_roster_last_error`: the server's text for `XMPP_ROSTER_ERR_STANZA`, `_AUTH` and a
/// `_STREAM` error the server sent (e.g. "Replaced by new connection" with `conflict`); for a
/// stream error this library raised itself (malformed XML, oversized stanza, ...) its own
/// description of the violation. "" when there is none.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_last_error_text(buf: *mut c_char, len: usize) -> usize {
    ffi_value!(0;
        let text = with_last(|e| e.text.clone(), String::new());
        // SAFETY: as above.
        unsafe { copy_out(text.as_bytes(), buf, len) }
    )
}

/// The code of this thread's last failure; `XMPP_ROSTER_OK` if no call on this thread failed yet.
#[no_mangle]
pub extern "C" fn xmpp_roster_last_error_code() -> xmpp_roster_result {
    ffi_value!(XMPP_ROSTER_ERR_PANIC;
        with_last(|e| e.code, XMPP_ROSTER_OK)
    )
}
