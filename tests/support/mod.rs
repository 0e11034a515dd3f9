//! Shared test support: the scripted fake server, a raw XMPP sender, and small helpers.
#![allow(dead_code)]

pub mod fake_server;
pub mod raw_client;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use xmpp_roster::{Client, Event};

/// Records every event the client reports.
pub fn record_events(client: &mut Client) -> Arc<Mutex<Vec<Event>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    client.set_event_handler(Some(Box::new(move |e| {
        sink.lock().unwrap().push(e.clone());
        ControlFlow::Continue(())
    })));
    events
}

/// The roster's JIDs, sorted.
pub fn roster_jids(client: &Client) -> Vec<String> {
    let mut v: Vec<String> = client.roster().items().iter().map(|i| i.jid.to_string()).collect();
    v.sort();
    v
}
