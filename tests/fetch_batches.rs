//! `Client::fetch_roster_in_batches` against a scripted server: the new items are handed out in
//! batches while the result still arrives, the batches add up to the roster when they can, and
//! say so when they cannot (a repeated JID, an unchanged versioned fetch, a fetch cut short).
//! The same against a real server is in `real_server.rs`.

mod support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fake_server::{client_for, FakeServer};
use support::roster_jids;
use xmpp_roster::{BatchedFetch, Client, Error, Fetched};

const T: Duration = Duration::from_secs(5);

fn item(n: usize) -> String {
    format!("<item jid='u{n}@localhost' name='U &amp; {n}' subscription='both'><group>G{}</group></item>", n % 2)
}

fn items(range: std::ops::Range<usize>) -> String {
    range.map(item).collect()
}

type Batches = Arc<Mutex<Vec<Vec<String>>>>;

/// Fetches in batches of `size`, recording each batch's JIDs; `on_batch` also sees each batch.
fn fetch_recording(client: &mut Client, size: usize, mut on_batch: impl FnMut(usize) + Send + 'static) -> (xmpp_roster::Result<BatchedFetch>, Batches) {
    let batches: Batches = Arc::default();
    let seen = Arc::clone(&batches);
    let result = client.fetch_roster_in_batches(size, move |items| {
        on_batch(items.len());
        seen.lock().unwrap().push(items.iter().map(|i| i.jid.to_string()).collect());
    });
    (result, batches)
}

#[test]
fn batches_come_while_the_result_arrives_and_add_up_to_the_roster() {
    let (first_batch_seen, wait_for_it) = mpsc::channel::<()>();
    let server = FakeServer::start(move |c| {
        c.login();
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='7'>{}", items(0..3)));
        // The rest only once the client handed out a batch: batches come during the fetch.
        wait_for_it.recv_timeout(T).expect("a batch before the result was complete");
        c.send(format!("{}</query></iq>", items(3..7)));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    let (result, batches) = fetch_recording(&mut client, 2, move |_| {
        let _ = first_batch_seen.send(());
    });
    assert_eq!(result.unwrap(), BatchedFetch { fetched: Fetched::Full, batches_exact: true });
    let batches = batches.lock().unwrap().clone();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
    let in_order: Vec<String> = client.roster().items().iter().map(|i| i.jid.to_string()).collect();
    assert_eq!(batches.concat(), in_order, "the batches are the roster, in its order");
    assert_eq!(client.roster().get("u3@localhost").unwrap().name.as_deref(), Some("U & 3"));
    assert_eq!(client.roster().version(), Some("7"));
    server.finish();
}

#[test]
fn a_repeated_jid_makes_the_batches_inexact_and_the_roster_keeps_the_last() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("1", &format!("{}<item jid='u0@localhost' name='Again'/>{}", items(0..3), items(3..5)));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    let (result, batches) = fetch_recording(&mut client, 2, |_| {});
    assert_eq!(result.unwrap(), BatchedFetch { fetched: Fetched::Full, batches_exact: false });
    assert_eq!(*batches.lock().unwrap(), [vec!["u0@localhost", "u1@localhost"]], "no batch after the repeat");
    assert_eq!(client.roster().len(), 5);
    assert_eq!(client.roster().get("u0@localhost").unwrap().name.as_deref(), Some("Again"), "last one wins");
    server.finish();
}

#[test]
fn an_unchanged_versioned_fetch_hands_out_nothing_and_is_not_exact() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("1", &items(0..3));
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}'/>"));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    assert_eq!(client.fetch_roster().unwrap(), Fetched::Full);
    let (result, batches) = fetch_recording(&mut client, 2, |_| {});
    assert_eq!(result.unwrap(), BatchedFetch { fetched: Fetched::Unchanged, batches_exact: false });
    assert!(batches.lock().unwrap().is_empty());
    assert_eq!(roster_jids(&client), ["u0@localhost", "u1@localhost", "u2@localhost"], "the roster is kept");
    server.finish();
}

#[test]
fn a_fetch_cut_short_fails_after_its_first_batches_and_keeps_the_old_roster() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("1", &items(0..1));
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='2'>{}<item jid='u9@", items(0..4)));
        std::thread::sleep(Duration::from_millis(100));
        c.reset();
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let (result, batches) = fetch_recording(&mut client, 2, |_| {});
    assert!(matches!(result, Err(Error::Disconnected(_))), "{result:?}");
    assert_eq!(batches.lock().unwrap().concat(), ["u0@localhost", "u1@localhost", "u2@localhost", "u3@localhost"], "what came was handed out");
    assert_eq!(roster_jids(&client), ["u0@localhost"], "the old roster stays");
    assert_eq!(client.roster().version(), Some("1"));
    server.finish();
}
