//! `xmpp_roster_client`: the blocking client behind a busy flag.
//!
//! A C caller may call the client from a callback, or from two threads at once. The core client
//! takes `&mut self`, so each call first claims the client's busy flag (an `AtomicBool`
//! compare-exchange). A call that finds it taken returns `XMPP_ROSTER_ERR_BUSY` at once: two
//! `&mut` never alias, and nothing ever waits, so nothing can deadlock. Only
//! `xmpp_roster_client_interrupt` skips the flag; it touches nothing but the thread-safe
//! interrupter.

use super::callbacks::{dispatch, lock, Callbacks};
use super::config::{config_ref, xmpp_roster_config};
use super::error::{set_last_error, xmpp_roster_result, XMPP_ROSTER_ERR_BUSY, XMPP_ROSTER_ERR_INVALID_ARGUMENT};
use super::snapshot::{snapshot_ref, xmpp_roster_snapshot, SnapshotData};
use super::{arg_slice, arg_str, copy_out, non_null, opt_str, Failed};
use crate::{Client, Fetched, Interrupter, OwnPresence, Roster, Show};
use std::cell::UnsafeCell;
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection to one account (opaque). Create with `xmpp_roster_client_new`, free with
/// `xmpp_roster_client_free`.
///
/// Threads: a client may be used from any thread, but by one call at a time. A call made while
/// another call on the same client is running (from inside one of its callbacks, or from another
/// thread) returns `XMPP_ROSTER_ERR_BUSY` without doing anything; functions returning bool or
/// size_t return false or 0 then. The exception is `xmpp_roster_client_interrupt`, which may be
/// called from any thread at any time, even from a callback. Callbacks run only on the thread
/// inside a blocking call of their client (including `xmpp_roster_client_poll`).
pub struct xmpp_roster_client {
    _private: [u8; 0],
}

/// `<show/>` values for `xmpp_roster_client_send_presence` and the presence callback: plain
/// availability (no `<show/>`).
pub const XMPP_ROSTER_SHOW_AVAILABLE: u32 = 0;
/// Temporarily away.
pub const XMPP_ROSTER_SHOW_AWAY: u32 = 1;
/// Free for chat.
pub const XMPP_ROSTER_SHOW_CHAT: u32 = 2;
/// Do not disturb.
pub const XMPP_ROSTER_SHOW_DND: u32 = 3;
/// Extended away.
pub const XMPP_ROSTER_SHOW_XA: u32 = 4;

pub(crate) fn show_code(s: Show) -> u32 {
    match s {
        Show::Available => XMPP_ROSTER_SHOW_AVAILABLE,
        Show::Away => XMPP_ROSTER_SHOW_AWAY,
        Show::Chat => XMPP_ROSTER_SHOW_CHAT,
        Show::Dnd => XMPP_ROSTER_SHOW_DND,
        Show::Xa => XMPP_ROSTER_SHOW_XA,
    }
}

fn show_from_code(code: u32) -> Result<Show, Failed> {
    Ok(match code {
        XMPP_ROSTER_SHOW_AVAILABLE => Show::Available,
        XMPP_ROSTER_SHOW_AWAY => Show::Away,
        XMPP_ROSTER_SHOW_CHAT => Show::Chat,
        XMPP_ROSTER_SHOW_DND => Show::Dnd,
        XMPP_ROSTER_SHOW_XA => Show::Xa,
        other => return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("unknown show value {other}"))),
    })
}

/// What the busy flag guards.
pub(crate) struct ClientInner {
    pub(crate) client: Client,
    /// Shared with the core client's event handler (`callbacks::dispatch`).
    pub(crate) callbacks: Arc<Mutex<Callbacks>>,
}

/// The real `xmpp_roster_client`.
struct ClientState {
    busy: AtomicBool,
    interrupter: Interrupter,
    inner: UnsafeCell<ClientInner>,
}

// SAFETY: `inner` is reached only through `with_client`, which holds the busy flag, so at most one
// thread has it at a time; `ClientInner` is `Send`. The other fields are thread-safe themselves.
unsafe impl Sync for ClientState {}

/// Releases the busy flag when the call ends, also when it unwinds from a panic.
struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn state_ref<'a>(p: *const xmpp_roster_client) -> Result<&'a ClientState, Failed> {
    non_null(p, "client")?;
    // SAFETY: a non-NULL client pointer came from `xmpp_roster_client_new` and is not freed yet
    // (the caller's contract).
    Ok(unsafe { &*p.cast::<ClientState>() })
}

fn busy_error() -> Failed {
    Failed::new(XMPP_ROSTER_ERR_BUSY, "another call on this client is in progress (re-entrant call from a callback, or a concurrent call from another thread)")
}

/// Runs `f` with exclusive access to the client, or fails with BUSY.
pub(crate) fn with_client<R>(p: *const xmpp_roster_client, f: impl FnOnce(&mut ClientInner) -> Result<R, Failed>) -> Result<R, Failed> {
    let state = state_ref(p)?;
    if state.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return Err(busy_error());
    }
    let _guard = BusyGuard(&state.busy);
    // SAFETY: the busy flag is ours until `_guard` drops, so this is the only reference.
    let inner = unsafe { &mut *state.inner.get() };
    f(inner)
}

/// Creates a client from `config` (copied: free or change the config whenever you like). Nothing
/// is sent until `xmpp_roster_client_connect`. On success writes the client to `*out`; free it
/// with `xmpp_roster_client_free`. Errors: NULL_PARAMETER, IO (no interrupt pipe).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_new(config: *const xmpp_roster_config, out: *mut *mut xmpp_roster_client) -> xmpp_roster_result {
    ffi_result! {
        let config = config_ref(config)?.clone();
        non_null(out, "out")?;
        let mut client = Client::new(config)?;
        let callbacks = Arc::new(Mutex::new(Callbacks::default()));
        let for_handler = Arc::clone(&callbacks);
        client.set_event_handler(Some(Box::new(move |event| dispatch(&for_handler, event))));
        let state = ClientState { busy: AtomicBool::new(false), interrupter: client.interrupter(), inner: UnsafeCell::new(ClientInner { client, callbacks }) };
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(state)).cast::<xmpp_roster_client>() };
        Ok(())
    }
}

/// Closes the connection (if any, without waiting for the server) and frees the client. No event
/// callback runs; every registered `free_userdata` runs once, on this thread. NULL is ignored.
/// Must not be called from inside one of the client's callbacks or while another thread is in a
/// call on it: if it detects that (the client is busy), it frees nothing, records
/// `XMPP_ROSTER_ERR_BUSY` as the last error and returns (a leak rather than a use after free).
/// Snapshots taken from the client stay valid.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_free(client: *mut xmpp_roster_client) {
    ffi_value!((); {
        if client.is_null() {
            return;
        }
        // SAFETY: non-NULL and live per the contract.
        let state = unsafe { &*client.cast::<ClientState>() };
        if state.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            set_last_error(XMPP_ROSTER_ERR_BUSY, "xmpp_roster_client_free called while a call on the client is in progress; the client was not freed".into(), String::new(), String::new());
            return;
        }
        // We hold the busy flag for good: a finalizer that calls back into the client gets BUSY.
        // SAFETY: exclusive through the busy flag.
        let inner = unsafe { &mut *state.inner.get() };
        inner.client.set_event_handler(None);
        let registrations = std::mem::take(&mut *lock(&inner.callbacks));
        drop(registrations);
        // SAFETY: came from `Box::into_raw` in `xmpp_roster_client_new`; freed once.
        drop(unsafe { Box::from_raw(client.cast::<ClientState>()) });
    })
}

/// Connects, secures the stream as configured, authenticates and binds a resource; blocks up to
/// the configured timeout in all. Errors: NULL_PARAMETER, BUSY, INVALID_ARGUMENT (already
/// connected), IO (unreachable), TLS, AUTH (condition: the SASL condition, e.g.
/// "not-authorized"), STREAM, TIMEOUT, INTERRUPTED, CALLBACK_ABORTED, DISCONNECTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_connect(client: *mut xmpp_roster_client) -> xmpp_roster_result {
    ffi_result! {
        with_client(client, |c| Ok(c.client.connect()?))
    }
}

/// Fetches the roster (with roster versioning when the server offers it). On success, if
/// `unchanged` is not NULL, writes true there when the server said the local roster is current
/// (RFC 6121 §2.6.3), false when it sent the whole roster. Take an `xmpp_roster_client_snapshot`
/// to read it. After a fetch, the server pushes roster changes to this client (see the
/// roster-change callback). Errors: NULL_PARAMETER, BUSY, NOT_CONNECTED, STANZA, TIMEOUT,
/// INTERRUPTED, DISCONNECTED, STREAM, IO, CALLBACK_ABORTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_fetch(client: *mut xmpp_roster_client, unchanged: *mut bool) -> xmpp_roster_result {
    ffi_result! {
        let fetched = with_client(client, |c| Ok(c.client.fetch_roster()?))?;
        if !unchanged.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *unchanged = fetched == Fetched::Unchanged };
        }
        Ok(())
    }
}

/// Adds `jid` (a bare JID) to the roster or replaces its name and groups; blocks until the
/// server accepted it and the local roster shows it (the roster-change callback runs from inside
/// this call). `name` may be NULL (no name); `groups` is an array of `group_count` strings (NULL
/// allowed when `group_count` is 0; duplicates are sent once). All strings are copied.
/// Errors: NULL_PARAMETER, INVALID_UTF8, INVALID_JID, INVALID_ARGUMENT (empty group, characters
/// XML cannot carry), BUSY, NOT_CONNECTED, STANZA (e.g. "not-allowed" for the user's own JID),
/// TIMEOUT, INTERRUPTED, DISCONNECTED, CALLBACK_ABORTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_set_item(client: *mut xmpp_roster_client, jid: *const c_char, name: *const c_char, groups: *const *const c_char, group_count: usize) -> xmpp_roster_result {
    ffi_result! {
        with_client(client, |c| {
            // SAFETY (all): C strings and arrays per the contract.
            let jid = unsafe { arg_str(jid, "jid") }?;
            let name = unsafe { opt_str(name, "name") }?;
            let group_ptrs = unsafe { arg_slice(groups, group_count, "groups") }?;
            let mut group_strs = Vec::with_capacity(group_ptrs.len());
            for &g in group_ptrs {
                group_strs.push(unsafe { arg_str(g, "group") }?);
            }
            Ok(c.client.set_item(jid, name, &group_strs)?)
        })
    }
}

/// Removes `jid` from the roster (the server also cancels subscriptions both ways); blocks like
/// `xmpp_roster_client_set_item`. Removing a JID that is not in the roster is a server error:
/// STANZA with condition "item-not-found" (Prosody). Errors: as `_set_item`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_remove_item(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        with_client(client, |c| {
            // SAFETY: C string per the contract.
            let jid = unsafe { arg_str(jid, "jid") }?;
            Ok(c.client.remove_item(jid)?)
        })
    }
}

fn subscription_call(client: *mut xmpp_roster_client, jid: *const c_char, op: fn(&mut Client, &str) -> crate::Result<()>) -> Result<(), Failed> {
    with_client(client, |c| {
        // SAFETY: C string per the contract.
        let jid = unsafe { arg_str(jid, "jid") }?;
        Ok(op(&mut c.client, jid)?)
    })
}

/// Asks `jid` (bare) for a subscription to its presence (sends `subscribe`). Returns once sent.
/// Errors: NULL_PARAMETER, INVALID_UTF8, INVALID_JID, BUSY, NOT_CONNECTED, IO, TIMEOUT,
/// INTERRUPTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_subscribe(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        subscription_call(client, jid, Client::subscribe)
    }
}

/// Cancels the user's subscription to `jid` (sends `unsubscribe`). Errors: as `_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_unsubscribe(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        subscription_call(client, jid, Client::unsubscribe)
    }
}

/// Approves `jid`'s request to see the user's presence (sends `subscribed`). Errors: as
/// `_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_approve(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        subscription_call(client, jid, Client::approve)
    }
}

/// Denies `jid`'s request, or cancels its existing subscription (sends `unsubscribed`).
/// Errors: as `_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_deny(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        subscription_call(client, jid, Client::deny)
    }
}

/// Approves `jid` before it asks (RFC 6121 §3.4). Errors: as `_subscribe`, plus UNSUPPORTED when
/// the server does not offer pre-approval (see `xmpp_roster_client_supports_preapproval`).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_preapprove(client: *mut xmpp_roster_client, jid: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        subscription_call(client, jid, Client::preapprove)
    }
}

/// Sends the user's own presence: available (with `show`, one of `XMPP_ROSTER_SHOW_*`, and
/// `priority`) or unavailable; `status` (may be NULL) is copied. Contacts' presence arrives
/// through the presence callback only after the user sent available presence.
/// Errors: NULL_PARAMETER, INVALID_UTF8, INVALID_ARGUMENT (unknown show, bad status), BUSY,
/// NOT_CONNECTED, IO, TIMEOUT, INTERRUPTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_send_presence(client: *mut xmpp_roster_client, available: bool, show: u32, status: *const c_char, priority: i8) -> xmpp_roster_result {
    ffi_result! {
        with_client(client, |c| {
            let show = show_from_code(show)?;
            // SAFETY: C string per the contract.
            let status = unsafe { opt_str(status, "status") }?;
            let presence = OwnPresence { available, show, status: status.map(str::to_string), priority };
            Ok(c.client.send_presence(&presence)?)
        })
    }
}

/// Waits up to `timeout_ms` for the server to send something, handles everything that has
/// arrived (callbacks run from here), and, if `handled` is not NULL, writes how many stanzas were
/// handled (0 when the time passed quietly: that is success, not TIMEOUT).
/// Errors: NULL_PARAMETER, BUSY, NOT_CONNECTED, DISCONNECTED, STREAM, IO, INTERRUPTED,
/// CALLBACK_ABORTED.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_poll(client: *mut xmpp_roster_client, timeout_ms: u32, handled: *mut usize) -> xmpp_roster_result {
    ffi_result! {
        let n = with_client(client, |c| Ok(c.client.poll(Duration::from_millis(u64::from(timeout_ms)))?))?;
        if !handled.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *handled = n };
        }
        Ok(())
    }
}

/// Makes the client's blocking call that is running now (on another thread) return
/// `XMPP_ROSTER_ERR_INTERRUPTED`; if none is running, the next call that would wait on the
/// network returns it instead. The connection stays usable. The only client function that may be
/// called from any thread at any time (up to `xmpp_roster_client_free`, which must not race with
/// it), including from a callback; it never blocks and never returns BUSY. Errors:
/// NULL_PARAMETER.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_interrupt(client: *const xmpp_roster_client) -> xmpp_roster_result {
    ffi_result! {
        state_ref(client)?.interrupter.interrupt();
        Ok(())
    }
}

/// Closes the stream politely (waiting up to 2 s for the server's end of stream) and the
/// connection; the disconnect callback runs with `XMPP_ROSTER_OK`. Does nothing when not
/// connected. The client can connect again later. Errors: NULL_PARAMETER, BUSY.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_disconnect(client: *mut xmpp_roster_client) -> xmpp_roster_result {
    ffi_result! {
        with_client(client, |c| Ok(c.client.disconnect()?))
    }
}

/// True while connected. False for NULL or when the client is busy.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_is_connected(client: *const xmpp_roster_client) -> bool {
    ffi_value!(false;
        with_client(client, |c| Ok(c.client.is_connected())).unwrap_or(false)
    )
}

/// Copies the full JID the server bound for this session ("user@domain/resource") into `buf`
/// with snprintf semantics (see `xmpp_roster_last_error`). Returns 0 when not bound (never
/// connected), for NULL, or when busy.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_bound_jid(client: *const xmpp_roster_client, buf: *mut c_char, len: usize) -> usize {
    ffi_value!(0;
        with_client(client, |c| {
            let jid = c.client.bound_jid().map(|j| j.as_str().to_string()).unwrap_or_default();
            // SAFETY: the caller gives `len` writable bytes at `buf` (or NULL).
            Ok(unsafe { copy_out(jid.as_bytes(), buf, len) })
        })
        .unwrap_or(0)
    )
}

/// True if the server advertised subscription pre-approval (known after connect). False for
/// NULL or busy.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_supports_preapproval(client: *const xmpp_roster_client) -> bool {
    ffi_value!(false;
        with_client(client, |c| Ok(c.client.supports_preapproval())).unwrap_or(false)
    )
}

/// True if the server advertised roster versioning (known after connect). False for NULL or
/// busy.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_supports_roster_versioning(client: *const xmpp_roster_client) -> bool {
    ffi_value!(false;
        with_client(client, |c| Ok(c.client.supports_roster_versioning())).unwrap_or(false)
    )
}

/// Takes the local roster as it is now as a new snapshot and writes it to `*out`. The snapshot is
/// owned by the caller (free with `xmpp_roster_snapshot_free`) and is independent of the client:
/// later changes do not show in it, and it outlives the client. O(1): the snapshot shares the
/// client's data, which the client copies if it changes while snapshots share it.
/// Errors: NULL_PARAMETER, BUSY.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_snapshot(client: *mut xmpp_roster_client, out: *mut *mut xmpp_roster_snapshot) -> xmpp_roster_result {
    ffi_result! {
        non_null(out, "out")?;
        let data = with_client(client, |c| Ok(SnapshotData::new(c.client.roster().snapshot())))?;
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = data.into_raw() };
        Ok(())
    }
}

/// Replaces the client's local roster with the items and version of `snapshot` (shared in O(1);
/// the snapshot stays the caller's and never changes), typically one saved by an earlier run and rebuilt with
/// `xmpp_roster_snapshot_import`. The next `xmpp_roster_client_fetch` then sends that version, and
/// a server with roster versioning answers "unchanged" when nothing changed since. Allowed before
/// connecting and between calls. Errors: NULL_PARAMETER, BUSY.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_load_snapshot(client: *mut xmpp_roster_client, snapshot: *const xmpp_roster_snapshot) -> xmpp_roster_result {
    ffi_result! {
        non_null(snapshot, "snapshot")?;
        let data = snapshot_ref(snapshot).ok_or(Failed(0))?;
        let roster = Roster::from_snapshot(data.roster().clone());
        with_client(client, |c| {
            c.client.load_roster(roster);
            Ok(())
        })
    }
}
