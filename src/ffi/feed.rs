//! `xmpp_roster_feed`: the items of a running fetch, handed to a second thread in batches.
//!
//! A binding that turns the roster into its own objects (Python's `fetch_roster`) can do that
//! work on one thread while the fetch still reads and decodes on another, instead of after it.
//! `xmpp_roster_client_fetch_feed` fetches like `xmpp_roster_client_fetch` and, on its own
//! thread, lays out each batch of new items in export format 3 and queues it in the feed; the
//! consumer thread takes them with `xmpp_roster_feed_next`. When the fetch returns, the feed has
//! ended, and `xmpp_roster_feed_complete` says whether the batches are the new roster exactly.

use super::error::{xmpp_roster_result, XMPP_ROSTER_ERR_INVALID_ARGUMENT, XMPP_ROSTER_ERR_TIMEOUT};
use super::snapshot::export_items;
use super::{client::with_client, client::xmpp_roster_client, non_null, Failed};
use crate::Fetched;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The items of one fetch, handed from the thread running `xmpp_roster_client_fetch_feed` to
/// another thread in batches (opaque). Create with `xmpp_roster_feed_new`, free with
/// `xmpp_roster_feed_free`. A feed serves one fetch.
///
/// Threads: a feed is used by two threads at once, the one inside
/// `xmpp_roster_client_fetch_feed` and one consumer calling `xmpp_roster_feed_next` and
/// `xmpp_roster_feed_complete`. Only one thread may call `xmpp_roster_feed_next` at a time. Free
/// the feed once neither runs.
pub struct xmpp_roster_feed {
    _private: [u8; 0],
}

/// Where a feed is in its one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No fetch has started with it.
    Fresh,
    Running,
    /// The fetch returned; `complete` says how.
    Ended { complete: bool },
}

struct State {
    stage: Stage,
    /// Batches laid out and not taken yet.
    queued: VecDeque<Vec<u8>>,
    /// The batch `xmpp_roster_feed_next` handed out last: the consumer reads it in place until
    /// its next call.
    taken: Vec<u8>,
    /// A batch could not be laid out (too large for format 3): the batches have a gap.
    gap: bool,
}

/// The real `xmpp_roster_feed`, shared by the handle and the running fetch.
struct Feed {
    batch_items: usize,
    state: Mutex<State>,
    /// Signalled when a batch is queued and when the feed ends.
    changed: Condvar,
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of `State` is complete before anything that could panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fresh -> Running; a feed serves only one fetch.
    fn start(&self) -> Result<(), Failed> {
        let mut state = self.lock();
        if state.stage != Stage::Fresh {
            return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, "this feed already served a fetch: create one feed per fetch"));
        }
        state.stage = Stage::Running;
        Ok(())
    }

    /// On the fetch's thread: lays out `items` and queues them. After a gap nothing more is laid
    /// out: the batches cannot be the roster any more, and the consumer reads the snapshot.
    fn queue(&self, items: &[crate::RosterItem]) {
        if self.lock().gap {
            return;
        }
        let batch = export_items(items);
        let mut state = self.lock();
        match batch {
            Ok(batch) if !state.gap => state.queued.push_back(batch),
            _ => state.gap = true,
        }
        drop(state);
        self.changed.notify_all();
    }

    fn end(&self, exact: bool) {
        let mut state = self.lock();
        let complete = exact && !state.gap;
        state.stage = Stage::Ended { complete };
        drop(state);
        self.changed.notify_all();
    }
}

/// Ends the feed when the fetch call returns, however it returns (also by a panic).
struct EndOnReturn {
    feed: Arc<Feed>,
    exact: bool,
}

impl Drop for EndOnReturn {
    fn drop(&mut self) {
        self.feed.end(self.exact);
    }
}

/// The feed behind a handle. The handle holds one reference of an `Arc<Feed>`.
fn feed_ref<'a>(p: *const xmpp_roster_feed) -> Result<&'a Feed, Failed> {
    non_null(p, "feed")?;
    // SAFETY: a non-NULL feed pointer came from `Arc::into_raw` in `xmpp_roster_feed_new` and is
    // not freed yet (the caller's contract).
    Ok(unsafe { &*p.cast::<Feed>() })
}

/// A new reference to the feed behind a handle, for the fetch to keep while it runs.
fn feed_arc(p: *const xmpp_roster_feed) -> Result<Arc<Feed>, Failed> {
    feed_ref(p)?;
    let p = p.cast::<Feed>();
    // SAFETY: `p` came from `Arc::into_raw` and the handle's reference is alive (contract), so
    // adding one and taking it back as an `Arc` is balanced.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

/// Creates a feed that hands out the items of one fetch `batch_items` at a time (the last
/// batch may be smaller). On success writes it to `*out`; free it with `xmpp_roster_feed_free`.
/// Errors: NULL_PARAMETER, INVALID_ARGUMENT (`batch_items` is 0).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_feed_new(batch_items: usize, out: *mut *mut xmpp_roster_feed) -> xmpp_roster_result {
    ffi_result! {
        non_null(out, "out")?;
        if batch_items == 0 {
            return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, "batch_items must be at least 1"));
        }
        let state = State { stage: Stage::Fresh, queued: VecDeque::new(), taken: Vec::new(), gap: false };
        let feed = Arc::new(Feed { batch_items, state: Mutex::new(state), changed: Condvar::new() });
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = Arc::into_raw(feed).cast_mut().cast() };
        Ok(())
    }
}

/// Frees a feed, with the batches nobody took and the one `xmpp_roster_feed_next` handed out
/// last. NULL is ignored. Not while another thread uses the feed.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_feed_free(feed: *mut xmpp_roster_feed) {
    ffi_value!((); {
        if !feed.is_null() {
            // SAFETY: came from `Arc::into_raw` in `xmpp_roster_feed_new`; the handle's reference
            // is given back once (contract). A fetch still running keeps its own.
            drop(unsafe { Arc::from_raw(feed.cast_const().cast::<Feed>()) });
        }
    })
}

/// Fetches the roster like `xmpp_roster_client_fetch` (same `unchanged`, same errors) and,
/// while the items arrive, queues them in `feed` in batches for another thread to take with
/// `xmpp_roster_feed_next`. The batches are laid out on this thread, inside this call. When
/// this call returns, the feed has ended, whatever the result; `xmpp_roster_feed_complete` then
/// says whether the batches are the new roster exactly. Errors: those of
/// `xmpp_roster_client_fetch`, and INVALID_ARGUMENT when `feed` already served a fetch (that
/// feed is left as it was).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_client_fetch_feed(client: *mut xmpp_roster_client, feed: *mut xmpp_roster_feed, unchanged: *mut bool) -> xmpp_roster_result {
    ffi_result! {
        let feed = feed_arc(feed)?;
        feed.start()?;
        let mut end = EndOnReturn { feed: Arc::clone(&feed), exact: false };
        let batch_items = feed.batch_items;
        let got = with_client(client, |c| Ok(c.client.fetch_roster_in_batches(batch_items, move |items| feed.queue(items))?))?;
        end.exact = got.batches_exact;
        if !unchanged.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *unchanged = got.fetched == Fetched::Unchanged };
        }
        Ok(())
    }
}

/// Takes the next batch, waiting up to `timeout_ms` for one. On success either writes a batch
/// (export format 3, see `xmpp_roster_snapshot_export`; never empty) to `*data` and `*len`,
/// owned by the feed and valid until the next `xmpp_roster_feed_next` or
/// `xmpp_roster_feed_free`; or, once the fetch has returned and every batch was taken, writes
/// NULL and 0: the feed has ended. A feed no fetch has started yet is waited on like a running
/// one. Errors: NULL_PARAMETER, TIMEOUT (no batch and no end within `timeout_ms`; call again).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_feed_next(feed: *mut xmpp_roster_feed, timeout_ms: u32, data: *mut *const u8, len: *mut usize) -> xmpp_roster_result {
    ffi_result! {
        let feed = feed_ref(feed)?;
        non_null(data, "data")?;
        non_null(len, "len")?;
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let mut state = feed.lock();
        let batch = loop {
            if let Some(batch) = state.queued.pop_front() {
                break Some(batch);
            }
            if matches!(state.stage, Stage::Ended { .. }) {
                break None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failed::new(XMPP_ROSTER_ERR_TIMEOUT, format!("no batch within {timeout_ms} ms")));
            }
            state = feed.changed.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        };
        state.taken = batch.unwrap_or_default();
        let (p, n) = if state.taken.is_empty() { (std::ptr::null(), 0) } else { (state.taken.as_ptr(), state.taken.len()) };
        // SAFETY: `data` and `len` are non-NULL and writable per the contract.
        unsafe {
            *data = p;
            *len = n;
        }
        Ok(())
    }
}

/// True once the feed has ended (its fetch returned) and the batches it handed out are the new
/// roster exactly, in the order of the snapshot's items. False before that, and when the fetch
/// failed, when the server said the roster was unchanged (no batches: the roster was kept), or
/// when its result listed a JID twice (the last one wins): then take a snapshot of the client
/// instead. False for NULL.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_feed_complete(feed: *const xmpp_roster_feed) -> bool {
    ffi_value!(false;
        feed_ref(feed).is_ok_and(|f| f.lock().stage == Stage::Ended { complete: true })
    )
}
