//! Faults in a fetch result that the client decodes item by item as it arrives (the framer hands
//! out each `<item/>` instead of buffering the whole stanza): a fetch cut short, bad items, bad
//! text between items, anything after the query. Each ends as a clear error or a dropped late
//! result, and the local roster keeps its last good state.

mod support;

use std::sync::mpsc;
use std::time::Duration;
use support::fake_server::{client_for, FakeConn, FakeServer};
use support::{record_events, roster_jids};
use xmpp_roster::{Client, Error, Event, RosterChange};

const T: Duration = Duration::from_secs(5);
const TWO_ITEMS: &str = "<item jid='romeo@localhost' name='Romeo' subscription='both'><group>Friends</group></item><item jid='nurse@localhost'/>";

/// Logs in and serves one good fetch (two items); the second fetch is answered by `second`,
/// which gets the request's id.
fn second_fetch(timeout: Duration, second: impl FnOnce(&mut FakeConn, &str) + Send + 'static) -> (Client, xmpp_roster::Result<xmpp_roster::Fetched>, FakeServer) {
    let server = FakeServer::start(move |c| {
        c.login();
        c.answer_roster_get("1", TWO_ITEMS);
        let id = c.expect_iq("get");
        second(c, &id);
    });
    let mut client = client_for(server.port, timeout);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let result = client.fetch_roster();
    (client, result, server)
}

fn head(id: &str) -> String {
    format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='2'>")
}

fn local_stream_error(result: &xmpp_roster::Result<xmpp_roster::Fetched>) -> String {
    match result {
        Err(Error::Stream { condition, by_server: false, .. }) => condition.clone(),
        other => panic!("expected a local stream error, got {other:?}"),
    }
}

#[test]
fn a_fetch_cut_short_keeps_the_roster_and_the_late_rest_is_dropped() {
    let (go_on, wait) = mpsc::channel::<()>();
    let (mut client, result, server) = second_fetch(Duration::from_millis(500), move |c, id| {
        // Half the result, then silence past the client's timeout.
        c.send(format!("{}<item jid='tybalt@localhost'/><item jid='mercutio@", head(id)));
        wait.recv().unwrap();
        // The rest arrives late, followed by a push: the late items are dropped, the push applied.
        c.send("localhost'/><item jid='benvolio@localhost'/></query></iq>");
        c.send("<iq type='set' id='push1'><query xmlns='jabber:iq:roster' ver='3'><item jid='paris@localhost' subscription='none'/></query></iq>");
        c.expect("push1");
    });
    assert_eq!(result, Err(Error::Timeout));
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"], "roster keeps its last good state");
    assert_eq!(client.roster().version(), Some("1"));
    let events = record_events(&mut client);
    go_on.send(()).unwrap();
    let deadline = std::time::Instant::now() + T;
    while client.roster().get("paris@localhost").is_none() {
        assert!(std::time::Instant::now() < deadline, "the push after the late result never applied");
        client.poll(Duration::from_millis(100)).unwrap();
    }
    server.finish();
    assert_eq!(roster_jids(&client), ["nurse@localhost", "paris@localhost", "romeo@localhost"]);
    assert_eq!(client.roster().version(), Some("3"));
    let changes: Vec<_> = events.lock().unwrap().iter().filter_map(|e| if let Event::RosterChanged { change, item, .. } = e { Some((*change, item.jid.to_string())) } else { None }).collect();
    assert_eq!(changes, [(RosterChange::Added, "paris@localhost".to_string())]);
    assert!(client.is_connected());
}

#[test]
fn a_bad_item_in_the_middle_closes_the_stream_and_keeps_the_roster() {
    let (client, result, server) = second_fetch(T, |c, id| {
        c.send(format!("{}<item jid='tybalt@localhost'/>", head(id)));
        c.send("<item jid='mercutio@localhost' name='&bogus;'/><item jid='benvolio@localhost'/></query></iq>");
        c.drain_for(T);
    });
    let condition = local_stream_error(&result);
    assert!(["restricted-xml", "not-well-formed"].contains(&condition.as_str()), "{condition}");
    assert!(server.finish().contains(&format!("<{condition}")), "the client tells the server why");
    assert!(!client.is_connected());
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
}

#[test]
fn bad_text_between_items_is_not_well_formed() {
    let (client, result, server) = second_fetch(T, |c, id| {
        c.send(format!("{}<item jid='tybalt@localhost'/> stray &bogus; text <item jid='benvolio@localhost'/></query></iq>", head(id)));
        c.drain_for(T);
    });
    assert_eq!(local_stream_error(&result), "not-well-formed");
    server.finish();
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
}

#[test]
fn plain_text_between_items_is_ignored_as_in_any_xml() {
    let (client, result, server) = second_fetch(T, |c, id| {
        c.send(format!("{}\n  text &amp; more\n<item jid='tybalt@localhost'/>tail text</query>\n</iq>", head(id)));
    });
    assert_eq!(result, Ok(xmpp_roster::Fetched::Full));
    server.finish();
    assert_eq!(roster_jids(&client), ["tybalt@localhost"]);
    assert_eq!(client.roster().version(), Some("2"));
}

#[test]
fn anything_but_the_end_tags_after_the_items_is_bad_format() {
    let (client, result, server) = second_fetch(T, |c, id| {
        c.send(format!("{}<item jid='tybalt@localhost'/></query><extra xmlns='urn:x'/></iq>", head(id)));
        c.drain_for(T);
    });
    assert_eq!(local_stream_error(&result), "bad-format");
    server.finish();
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
}

#[test]
fn items_of_an_unusual_shape_in_a_streamed_result_take_the_element_tree() {
    let (client, result, server) = second_fetch(T, |c, id| {
        c.send(format!(
            "{}<item jid='a@localhost'><ext xmlns='urn:x'/><group>G</group></item><r:item xmlns:r='jabber:iq:roster' jid='b@localhost'/><other xmlns='urn:x' jid='c@localhost'/><item jid='d@localhost'><group><![CDATA[C&D]]></group></item></query></iq>",
            head(id)
        ));
    });
    assert_eq!(result, Ok(xmpp_roster::Fetched::Full));
    server.finish();
    assert_eq!(roster_jids(&client), ["a@localhost", "b@localhost", "d@localhost"], "a child that is not a roster item is ignored");
    assert_eq!(client.roster().get("a@localhost").unwrap().groups, ["G"]);
    assert_eq!(client.roster().get("d@localhost").unwrap().groups, ["C&D"]);
}
