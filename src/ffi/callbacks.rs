//! The four event callbacks. Each is registered as `(fn, userdata, free_userdata)`, wasmtime
//! style; `free_userdata` runs exactly once per registration: when it is replaced or removed, or
//! in `xmpp_roster_client_free`.
//!
//! Callbacks run only on the thread inside a blocking call of their client (including
//! `xmpp_roster_client_poll`), from the core's event handler. Calling the same client from a
//! callback returns `XMPP_ROSTER_ERR_BUSY` (the busy flag in `client.rs`); only
//! `xmpp_roster_client_interrupt` works there.

use super::client::{show_code, with_client};
use super::error::{record_error, xmpp_roster_result, XMPP_ROSTER_OK};
use super::snapshot::{change_code, item_handle, xmpp_roster_item};
use super::{to_cstring, Failed};
use crate::{Event, SubscriptionKind};
use std::ffi::{c_char, c_int, c_void, CString};
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard};

use super::client::xmpp_roster_client;

/// Subscription callback `kind`: the contact asks to see the user's presence.
pub const XMPP_ROSTER_SUBSCRIBE: u32 = 0;
/// The contact approved the user's request.
pub const XMPP_ROSTER_SUBSCRIBED: u32 = 1;
/// The contact no longer wants the user's presence.
pub const XMPP_ROSTER_UNSUBSCRIBE: u32 = 2;
/// The contact denied or cancelled the user's subscription.
pub const XMPP_ROSTER_UNSUBSCRIBED: u32 = 3;

/// Releases a callback's `userdata`; runs exactly once per registration.
pub type xmpp_roster_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A roster push changed the local roster (already updated when this runs). `change` is one of
/// `XMPP_ROSTER_CHANGE_*`; `item` (for REMOVED: the item as it was) and `version` (the roster
/// version after the change, NULL if none) are valid only during the call. Return 0 to go on,
/// non-zero to make the running call return `XMPP_ROSTER_ERR_CALLBACK_ABORTED`.
pub type xmpp_roster_roster_change_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, change: u32, item: *const xmpp_roster_item, version: *const c_char) -> c_int>;

/// A contact sent a subscription-related presence: `kind` is one of `XMPP_ROSTER_SUBSCRIBE`,
/// `_SUBSCRIBED`, `_UNSUBSCRIBE`, `_UNSUBSCRIBED`; `from_bare_jid` is the contact's bare JID;
/// `status` is NULL if none. Strings are valid only during the call. Non-zero aborts.
pub type xmpp_roster_subscription_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, kind: u32, from_bare_jid: *const c_char, status: *const c_char) -> c_int>;

/// A contact's resource became available, changed its presence, or left (`available` false).
/// `show` is one of `XMPP_ROSTER_SHOW_*`; `status` NULL if none. Strings valid only during the
/// call. Non-zero aborts.
pub type xmpp_roster_presence_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, from_full_jid: *const c_char, available: bool, show: u32, status: *const c_char, priority: i8) -> c_int>;

/// The connection ended. `reason` is `XMPP_ROSTER_OK` when `xmpp_roster_client_disconnect` asked
/// for it, else the failure's code; `message` (never NULL) is valid only during the call.
/// When `reason` is not OK, this thread's last error has already been set to the error that
/// ended the connection (code `reason`, message, condition, `<text/>`), so the callback can read
/// `xmpp_roster_last_error_condition` / `_text` (these are not client calls: allowed here). A
/// requested disconnect leaves the last error as it was.
pub type xmpp_roster_disconnect_cb = Option<unsafe extern "C" fn(userdata: *mut c_void, reason: xmpp_roster_result, message: *const c_char)>;

/// One registration: the callback, its userdata, and the finalizer that `Drop` runs once.
pub(crate) struct Registration<F: Copy> {
    callback: F,
    userdata: *mut c_void,
    free_userdata: xmpp_roster_free_fn,
}

impl<F: Copy> Drop for Registration<F> {
    fn drop(&mut self) {
        if let Some(free) = self.free_userdata {
            // SAFETY: the caller registered `free` for this `userdata`; it runs once (here).
            unsafe { free(self.userdata) };
        }
    }
}

/// Every registration of one client.
#[derive(Default)]
pub(crate) struct Callbacks {
    roster_change: Option<Registration<unsafe extern "C" fn(*mut c_void, u32, *const xmpp_roster_item, *const c_char) -> c_int>>,
    subscription: Option<Registration<unsafe extern "C" fn(*mut c_void, u32, *const c_char, *const c_char) -> c_int>>,
    presence: Option<Registration<unsafe extern "C" fn(*mut c_void, *const c_char, bool, u32, *const c_char, i8) -> c_int>>,
    disconnect: Option<Registration<unsafe extern "C" fn(*mut c_void, xmpp_roster_result, *const c_char)>>,
}

// SAFETY: the userdata pointers are only handed back to the C callbacks and finalizers, on the
// threads the caller drives its client from (the documented contract); the library itself never
// reads through them. The client may move between threads, so its callbacks must too.
unsafe impl Send for Callbacks {}

pub(crate) fn lock(m: &Mutex<Callbacks>) -> MutexGuard<'_, Callbacks> {
    // A panic cannot leave `Callbacks` half-updated (replacement is one assignment).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn opt_cstring(s: Option<&str>) -> Option<CString> {
    s.map(to_cstring)
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

fn flow(rc: c_int) -> ControlFlow<()> {
    if rc == 0 {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}

/// The core event handler of every FFI client: calls the matching C callback, if registered.
/// The lock is released before C runs, so a callback can never deadlock on it.
pub(crate) fn dispatch(callbacks: &Mutex<Callbacks>, event: &Event) -> ControlFlow<()> {
    match event {
        Event::RosterChanged { change, item, version } => {
            let Some((f, ud)) = lock(callbacks).roster_change.as_ref().map(|r| (r.callback, r.userdata)) else {
                return ControlFlow::Continue(());
            };
            let version = opt_cstring(version.as_deref());
            // SAFETY: a C callback the caller registered; the pointers live until it returns.
            flow(unsafe { f(ud, change_code(*change), item_handle(item), opt_ptr(&version)) })
        }
        Event::Subscription { kind, from, status } => {
            let Some((f, ud)) = lock(callbacks).subscription.as_ref().map(|r| (r.callback, r.userdata)) else {
                return ControlFlow::Continue(());
            };
            let kind = match kind {
                SubscriptionKind::Subscribe => XMPP_ROSTER_SUBSCRIBE,
                SubscriptionKind::Subscribed => XMPP_ROSTER_SUBSCRIBED,
                SubscriptionKind::Unsubscribe => XMPP_ROSTER_UNSUBSCRIBE,
                SubscriptionKind::Unsubscribed => XMPP_ROSTER_UNSUBSCRIBED,
            };
            let from = to_cstring(from);
            let status = opt_cstring(status.as_deref());
            // SAFETY: as above.
            flow(unsafe { f(ud, kind, from.as_ptr(), opt_ptr(&status)) })
        }
        Event::Presence(p) => {
            let Some((f, ud)) = lock(callbacks).presence.as_ref().map(|r| (r.callback, r.userdata)) else {
                return ControlFlow::Continue(());
            };
            let from = to_cstring(&p.from);
            let status = opt_cstring(p.status.as_deref());
            // SAFETY: as above.
            flow(unsafe { f(ud, from.as_ptr(), p.available, show_code(p.show), opt_ptr(&status), p.priority) })
        }
        Event::Disconnected { reason } => {
            let Some((f, ud)) = lock(callbacks).disconnect.as_ref().map(|r| (r.callback, r.userdata)) else {
                return ControlFlow::Continue(());
            };
            let (code, message) = disconnect_reason(reason.as_ref());
            // SAFETY: as above.
            unsafe { f(ud, code, message.as_ptr()) };
            ControlFlow::Continue(())
        }
    }
}

/// The disconnect callback's `reason` and `message`. For a connection that ended with an error,
/// also records that error as this thread's last error, so that the callback can read its
/// condition and text (the failing call would record it afterwards anyway); a requested
/// disconnect (`None`) leaves the last error alone.
fn disconnect_reason(reason: Option<&crate::Error>) -> (xmpp_roster_result, CString) {
    match reason {
        None => (XMPP_ROSTER_OK, to_cstring("disconnected on request")),
        Some(e) => (record_error(e), to_cstring(&e.to_string())),
    }
}

/// Replaces one registration slot; the old finalizer runs after the lock is released.
fn register<F: Copy>(client: *mut xmpp_roster_client, callback: Option<F>, userdata: *mut c_void, free_userdata: xmpp_roster_free_fn, slot: impl FnOnce(&mut Callbacks) -> &mut Option<Registration<F>>) -> Result<(), Failed> {
    with_client(client, |inner| {
        let new = match callback {
            Some(callback) => Some(Registration { callback, userdata, free_userdata }),
            None => {
                // Removal: nothing will ever use this userdata, so release it now (exactly once).
                drop(Registration { callback: (), userdata, free_userdata });
                None
            }
        };
        let old = std::mem::replace(slot(&mut lock(&inner.callbacks)), new);
        drop(old);
        Ok(())
    })
}

/// Registers the roster-change callback, replacing (and finalizing) any earlier one. `fn` NULL
/// removes it (and, if given, `free_userdata(userdata)` runs at once). `free_userdata` (may be
/// NULL) runs exactly once: on replacement, removal, or `xmpp_roster_client_free`. If this call
/// fails (NULL_PARAMETER, BUSY) nothing is registered and `free_userdata` is NOT called.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_on_roster_change(client: *mut xmpp_roster_client, callback: xmpp_roster_roster_change_cb, userdata: *mut c_void, free_userdata: xmpp_roster_free_fn) -> xmpp_roster_result {
    ffi_result! {
        register(client, callback, userdata, free_userdata, |c| &mut c.roster_change)
    }
}

/// Registers the subscription callback; same rules as `xmpp_roster_client_on_roster_change`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_on_subscription(client: *mut xmpp_roster_client, callback: xmpp_roster_subscription_cb, userdata: *mut c_void, free_userdata: xmpp_roster_free_fn) -> xmpp_roster_result {
    ffi_result! {
        register(client, callback, userdata, free_userdata, |c| &mut c.subscription)
    }
}

/// Registers the presence callback; same rules as `xmpp_roster_client_on_roster_change`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_on_presence(client: *mut xmpp_roster_client, callback: xmpp_roster_presence_cb, userdata: *mut c_void, free_userdata: xmpp_roster_free_fn) -> xmpp_roster_result {
    ffi_result! {
        register(client, callback, userdata, free_userdata, |c| &mut c.presence)
    }
}

/// Registers the disconnect callback; same rules as `xmpp_roster_client_on_roster_change`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_on_disconnect(client: *mut xmpp_roster_client, callback: xmpp_roster_disconnect_cb, userdata: *mut c_void, free_userdata: xmpp_roster_free_fn) -> xmpp_roster_result {
    ffi_result! {
        register(client, callback, userdata, free_userdata, |c| &mut c.disconnect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, StanzaError};
    use crate::ffi::error::{set_last_error, xmpp_roster_last_error, xmpp_roster_last_error_code, xmpp_roster_last_error_condition, xmpp_roster_last_error_text, xmpp_roster_last_error_type, XMPP_ROSTER_ERR_NOT_FOUND, XMPP_ROSTER_ERR_STANZA, XMPP_ROSTER_ERR_STREAM};

    fn read(f: unsafe extern "C" fn(*mut c_char, usize) -> usize) -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: a 256-byte buffer.
        let n = unsafe { f(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: NUL-terminated by the call.
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_string();
        assert_eq!(n, s.len());
        s
    }

    // `dispatch` calls the disconnect callback with what `disconnect_reason` returns, after it
    // returned; tests/c/test_c_api.c checks the whole path against a real server.
    #[test]
    fn an_error_disconnect_sets_the_last_error_before_the_callback() {
        set_last_error(XMPP_ROSTER_ERR_NOT_FOUND, "stale".into(), "stale-condition".into(), String::new());
        let err = Error::Stream { condition: "conflict".into(), text: Some("Replaced by new connection".into()), by_server: true };
        let (code, message) = disconnect_reason(Some(&err));
        assert_eq!(code, XMPP_ROSTER_ERR_STREAM);
        assert_eq!(message.to_str().unwrap(), err.to_string());
        assert_eq!(xmpp_roster_last_error_code(), XMPP_ROSTER_ERR_STREAM);
        assert_eq!(read(xmpp_roster_last_error), err.to_string());
        assert_eq!(read(xmpp_roster_last_error_condition), "conflict");
        assert_eq!(read(xmpp_roster_last_error_text), "Replaced by new connection");
        assert_eq!(read(xmpp_roster_last_error_type), "");
    }

    #[test]
    fn a_requested_disconnect_leaves_the_last_error_alone() {
        set_last_error(XMPP_ROSTER_ERR_NOT_FOUND, "earlier failure".into(), "earlier-condition".into(), String::new());
        let (code, message) = disconnect_reason(None);
        assert_eq!(code, XMPP_ROSTER_OK);
        assert_eq!(message.to_str().unwrap(), "disconnected on request");
        assert_eq!(xmpp_roster_last_error_code(), XMPP_ROSTER_ERR_NOT_FOUND);
        assert_eq!(read(xmpp_roster_last_error), "earlier failure");
        assert_eq!(read(xmpp_roster_last_error_condition), "earlier-condition");
        assert_eq!(read(xmpp_roster_last_error_text), "");
    }

    #[test]
    fn last_error_text_is_the_text_alone() {
        let text = "Duplicated groups are not allowed by RFC6121";
        let stanza = Error::Stanza(StanzaError { condition: "bad-request".into(), error_type: "modify".into(), text: Some(text.into()) });
        assert_eq!(record_error(&stanza), XMPP_ROSTER_ERR_STANZA);
        assert_eq!(read(xmpp_roster_last_error_text), text);
        assert_eq!(read(xmpp_roster_last_error_condition), "bad-request");
        assert_eq!(read(xmpp_roster_last_error_type), "modify");
        assert!(read(xmpp_roster_last_error).ends_with(&format!(": {text}")));
        // snprintf semantics
        let mut small = [b'x' as c_char; 4];
        // SAFETY: NULL with 0; a 4-byte buffer.
        unsafe {
            assert_eq!(xmpp_roster_last_error_text(std::ptr::null_mut(), 0), text.len());
            assert_eq!(xmpp_roster_last_error_text(small.as_mut_ptr(), small.len()), text.len());
        }
        assert_eq!(small.map(|c| c as u8), *b"Dup\0");
        // A stanza error without <text/>, an error with no error element, an argument error: "".
        record_error(&Error::Stanza(StanzaError { condition: "item-not-found".into(), error_type: "cancel".into(), text: None }));
        assert_eq!(read(xmpp_roster_last_error_text), "");
        record_error(&Error::Timeout);
        assert_eq!(read(xmpp_roster_last_error_text), "");
        record_error(&Error::Auth { condition: "not-authorized".into(), text: Some("Invalid username or password".into()) });
        assert_eq!(read(xmpp_roster_last_error_text), "Invalid username or password");
        set_last_error(XMPP_ROSTER_ERR_NOT_FOUND, "x".into(), String::new(), String::new());
        assert_eq!(read(xmpp_roster_last_error_text), "");
    }
}
