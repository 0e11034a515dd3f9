//! Faults a real server never produces, driven by the scripted fake server: each ends as a clear
//! error (never a panic or a hang) and the local roster keeps its last good state.

mod support;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use support::fake_server::{client_for, fake_config, FakeServer, HEADER};
use support::{record_events, roster_jids};
use xmpp_roster::{Client, Config, Error, Event, Mechanism, RosterChange, Subscription, SubscriptionKind, TlsMode};

const T: Duration = Duration::from_secs(5);
const TWO_ITEMS: &str = "<item jid='romeo@localhost' name='Romeo' subscription='both'><group>Friends</group></item><item jid='nurse@localhost'/>";

fn assert_stream_error(result: xmpp_roster::Result<impl std::fmt::Debug>, want: &str) {
    match result {
        Err(Error::Stream { condition, by_server: false, .. }) => assert_eq!(condition, want),
        other => panic!("expected a local stream error {want}, got {other:?}"),
    }
}

/// Logs in, serves one good roster fetch, then runs `after` for the second fetch.
fn second_fetch_gets(after: impl FnOnce(&mut support::fake_server::FakeConn) + Send + 'static) -> (Client, xmpp_roster::Result<xmpp_roster::Fetched>, String) {
    let server = FakeServer::start(move |c| {
        c.login();
        c.answer_roster_get("1", TWO_ITEMS);
        c.expect_iq("get");
        after(c);
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let second = client.fetch_roster();
    let transcript = server.finish();
    (client, second, transcript)
}

#[test]
fn roster_result_split_into_tiny_writes_is_read_whole() {
    let server = FakeServer::start(|c| {
        c.login();
        let id = c.expect_iq("get");
        let result = format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='9'>{TWO_ITEMS}</query></iq>");
        for chunk in result.as_bytes().chunks(3) {
            c.send(chunk);
            std::thread::sleep(Duration::from_micros(300));
        }
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    assert_eq!(client.fetch_roster().unwrap(), xmpp_roster::Fetched::Full);
    server.finish();
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
    let romeo = client.roster().get("romeo@localhost").unwrap();
    assert_eq!(romeo.subscription, Subscription::Both);
    assert_eq!(romeo.groups, ["Friends"]);
    assert_eq!(client.roster().version(), Some("9"));
}

#[test]
fn billion_laughs_doctype_closes_the_stream_without_expanding_anything() {
    let (client, second, transcript) = second_fetch_gets(|c| {
        c.send("<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]><iq>&lol2;</iq>");
        // The transcript must hold the client's stream error: read until the client closes (at
        // once, normally), not for a fixed 300 ms that a loaded machine can overrun.
        c.drain_for(T);
    });
    assert_stream_error(second, "restricted-xml");
    assert!(transcript.contains("<restricted-xml"), "client must tell the server why: {transcript}");
    assert!(!client.is_connected());
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"], "roster keeps its last good state");
}

#[test]
fn comments_and_processing_instructions_are_restricted_xml() {
    for evil in ["<iq type='result'><!-- comment --></iq>", "<?php evil() ?>"] {
        let (client, second, _) = second_fetch_gets(move |c| {
            c.send(evil);
            c.drain_for(Duration::from_millis(200));
        });
        assert_stream_error(second, "restricted-xml");
        assert_eq!(client.roster().len(), 2);
    }
}

#[test]
fn undefined_entity_reference_is_refused() {
    let (client, second, _) = second_fetch_gets(|c| {
        c.send("<message from='a@b'><body>&xxe;</body></message>");
        c.drain_for(Duration::from_millis(200));
    });
    assert_stream_error(second, "restricted-xml");
    assert_eq!(client.roster().len(), 2);
}

#[test]
fn oversized_stanza_is_a_policy_violation() {
    let server = FakeServer::start(|c| {
        c.login();
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster'>"));
        let item = "<item jid='x@localhost' name='padding padding padding padding'/>";
        for _ in 0..200 {
            c.send(item);
        }
        // Until the client closes (the transcript must hold its stream error), not a fixed 300 ms.
        c.drain_for(T);
    });
    let mut config = fake_config(server.port, T);
    config.set_max_stanza_size(4096).unwrap();
    let mut client = Client::new(config).unwrap();
    client.connect().unwrap();
    assert_stream_error(client.fetch_roster(), "policy-violation");
    assert!(server.finish().contains("<policy-violation"));
}

#[test]
fn ten_thousand_deep_nesting_is_a_policy_violation() {
    let (_, second, _) = second_fetch_gets(|c| {
        c.send("<message>".to_string() + &"<a>".repeat(10_000));
        c.drain_for(Duration::from_millis(200));
    });
    assert_stream_error(second, "policy-violation");
}

#[test]
fn reset_in_the_middle_of_a_stanza_is_a_disconnect_and_keeps_the_roster() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("1", TWO_ITEMS);
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='2'><item jid='tybalt@loc"));
        std::thread::sleep(Duration::from_millis(50));
    });
    let mut client = client_for(server.port, T);
    let events = record_events(&mut client);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let port = server.port;
    let result = client.fetch_roster();
    server.finish();
    match result {
        Err(Error::Disconnected(msg)) => assert!(msg.contains("middle of a stanza"), "{msg}"),
        other => panic!("expected Disconnected, got {other:?} (port {port})"),
    }
    assert!(!client.is_connected());
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
    assert_eq!(client.roster().version(), Some("1"));
    let ev = events.lock().unwrap();
    assert!(matches!(ev.last(), Some(Event::Disconnected { reason: Some(Error::Disconnected(_)) })), "{ev:?}");
}

#[test]
fn a_silent_server_times_out_and_the_connection_stays_usable() {
    let server = FakeServer::start(|c| {
        c.login();
        c.expect_iq("get"); // never answered
        c.answer_roster_get("5", TWO_ITEMS); // the retry is
    });
    let mut client = client_for(server.port, Duration::from_millis(400));
    client.connect().unwrap();
    let started = Instant::now();
    assert_eq!(client.fetch_roster(), Err(Error::Timeout));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350) && took < Duration::from_secs(5), "{took:?}");
    assert!(client.is_connected());
    assert_eq!(client.fetch_roster().unwrap(), xmpp_roster::Fetched::Full);
    assert_eq!(client.roster().len(), 2);
    server.finish();
}

#[test]
fn interrupt_from_another_thread_cuts_a_wait_short() {
    // The server keeps the connection open until the test is done with it: closed after a fixed
    // time instead, a late interrupt (or a late final poll) on a loaded machine would see the
    // close (Disconnected) rather than what the test checks.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let server = FakeServer::start(move |c| {
        c.login();
        c.expect_iq("get");
        let _ = released.recv_timeout(Duration::from_secs(30));
    });
    let mut client = client_for(server.port, Duration::from_secs(30));
    client.connect().unwrap();
    let interrupter = client.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        interrupter.interrupt();
    });
    let started = Instant::now();
    assert_eq!(client.fetch_roster(), Err(Error::Interrupted));
    assert!(started.elapsed() < Duration::from_secs(5));
    t.join().unwrap();
    assert!(client.is_connected(), "an interrupt does not drop the connection");
    // The interrupt was consumed: the next wait runs normally (and times out quietly here).
    assert_eq!(client.poll(Duration::from_millis(50)), Ok(0));
    let _ = release.send(());
    server.finish();
}

#[test]
fn an_interrupt_before_the_call_is_not_lost() {
    // Open until released (see interrupt_from_another_thread_cuts_a_wait_short).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let server = FakeServer::start(move |c| {
        c.login();
        let _ = released.recv_timeout(Duration::from_secs(30));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    client.interrupter().interrupt();
    assert_eq!(client.poll(Duration::from_secs(10)), Err(Error::Interrupted));
    let _ = release.send(());
    server.finish();
}

#[test]
fn garbage_instead_of_xml_fails_the_connect() {
    let server = FakeServer::start(|c| {
        c.expect("<stream:stream");
        c.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        c.drain_for(Duration::from_millis(200));
    });
    let mut client = client_for(server.port, T);
    assert_stream_error(client.connect(), "not-well-formed");
    assert!(!client.is_connected());
    server.finish();
}

#[test]
fn invalid_utf8_in_a_stanza_is_not_well_formed() {
    let (client, second, _) = second_fetch_gets(|c| {
        c.send(b"<message from='a@b'><body>\xff\xfe</body></message>");
        c.drain_for(Duration::from_millis(200));
    });
    assert_stream_error(second, "not-well-formed");
    assert_eq!(client.roster().len(), 2);
}

#[test]
fn stream_error_from_the_server_is_reported_with_condition_and_text() {
    let (client, second, _) = second_fetch_gets(|c| {
        c.send("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:error></stream:stream>");
    });
    assert_eq!(
        second,
        Err(Error::Stream { condition: "conflict".into(), text: Some("Replaced by new connection".into()), by_server: true })
    );
    assert!(!client.is_connected());
    assert_eq!(client.roster().len(), 2);
}

/// Runs a script after login + first fetch, with events recorded, then polls.
fn push_scenario(script: impl FnOnce(&mut support::fake_server::FakeConn) -> String + Send + 'static) -> (Client, Vec<Event>, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    // The server keeps the connection open until the client has stopped polling, so that the
    // client never sees the close (which would clear what the test inspects).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let server = FakeServer::start(move |c| {
        c.login();
        c.answer_roster_get("1", TWO_ITEMS);
        let answer = script(c);
        tx.send(answer).unwrap();
        let _ = released.recv_timeout(Duration::from_secs(10));
    });
    let mut client = client_for(server.port, T);
    let events = record_events(&mut client);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let answer = loop {
        let _ = client.poll(Duration::from_millis(50));
        if let Ok(a) = rx.try_recv() {
            break a;
        }
        assert!(Instant::now() < deadline, "script did not finish");
    };
    let _ = release.send(());
    server.finish();
    let ev = events.lock().unwrap().clone();
    (client, ev, answer)
}

fn roster_events(events: &[Event]) -> Vec<&Event> {
    events.iter().filter(|e| matches!(e, Event::RosterChanged { .. })).collect()
}

#[test]
fn spoofed_pushes_are_refused_and_never_touch_the_roster() {
    for from in ["mallory@localhost", "localhost", "juliet@localhost/balcony", "juliet@evil.example"] {
        let push_from = from.to_string();
        let (client, events, answer) = push_scenario(move |c| {
            c.send(format!("<iq type='set' id='spoof1' from='{push_from}'><query xmlns='jabber:iq:roster'><item jid='evil@localhost' subscription='both'/></query></iq>"));
            c.collect("spoof1", Duration::from_millis(100))
        });
        assert!(answer.contains("service-unavailable") && answer.contains("type='error'"), "from {from}: {answer}");
        assert!(client.roster().get("evil@localhost").is_none(), "from {from}");
        assert_eq!(client.roster().len(), 2);
        assert!(roster_events(&events).is_empty(), "from {from}: {events:?}");
    }
}

#[test]
fn pushes_from_the_account_itself_or_without_from_are_applied() {
    for from in ["", " from='juliet@localhost'", " from='Juliet@LOCALHOST'"] {
        let attr = from.to_string();
        let (client, events, answer) = push_scenario(move |c| {
            c.send(format!("<iq type='set' id='p1'{attr}><query xmlns='jabber:iq:roster' ver='2'><item jid='tybalt@localhost' name='T'/></query></iq>"));
            c.collect("p1", Duration::from_millis(100))
        });
        assert!(answer.contains("type='result'"), "{answer}");
        assert_eq!(client.roster().get("tybalt@localhost").unwrap().name.as_deref(), Some("T"));
        assert_eq!(client.roster().version(), Some("2"));
        let ev = roster_events(&events);
        assert!(matches!(ev[..], [Event::RosterChanged { change: RosterChange::Added, ref version, .. }] if version.as_deref() == Some("2")), "{ev:?}");
    }
}

#[test]
fn push_with_two_items_or_a_malformed_jid_gets_bad_request() {
    for body in [
        "<item jid='a@localhost'/><item jid='b@localhost'/>",
        "<item jid='not a jid@localhost'/>",
        "<item jid='a@localhost/resource'/>",
        "",
    ] {
        let b = body.to_string();
        let (client, events, answer) = push_scenario(move |c| {
            c.send(format!("<iq type='set' id='p2'><query xmlns='jabber:iq:roster' ver='3'>{b}</query></iq>"));
            c.collect("p2", Duration::from_millis(100))
        });
        assert!(answer.contains("bad-request"), "{body}: {answer}");
        assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"], "{body}");
        assert_eq!(client.roster().version(), Some("1"), "{body}");
        assert!(roster_events(&events).is_empty());
    }
}

#[test]
fn a_response_with_the_right_id_from_the_wrong_sender_is_ignored() {
    let server = FakeServer::start(|c| {
        c.login();
        let id = c.expect_iq("get");
        c.send(format!("<iq type='result' id='{id}' from='mallory@localhost'><query xmlns='jabber:iq:roster' ver='66'><item jid='evil@localhost'/></query></iq>"));
        c.send(format!("<iq type='result' id='{id}' from='localhost/x'/>"));
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='2'>{TWO_ITEMS}</query></iq>"));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    assert_eq!(client.fetch_roster().unwrap(), xmpp_roster::Fetched::Full);
    server.finish();
    assert_eq!(roster_jids(&client), ["nurse@localhost", "romeo@localhost"]);
    assert_eq!(client.roster().version(), Some("2"));
}

#[test]
fn items_with_malformed_jids_in_a_result_are_skipped() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("4", "<item jid='ok@localhost'/><item jid='bad jid@x'/><item/><item jid='x@y' subscription='bogus'/><item jid='@nolocal'/>");
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    server.finish();
    assert_eq!(roster_jids(&client), ["ok@localhost"]);
}

#[test]
fn set_item_works_whether_the_push_comes_before_or_after_the_result() {
    for push_first in [true, false] {
        let server = FakeServer::start(move |c| {
            c.login();
            c.answer_roster_get("1", "");
            let id = c.expect_iq("set");
            let push = "<iq type='set' id='push9'><query xmlns='jabber:iq:roster' ver='2'><item jid='romeo@localhost' name='Romeo' subscription='none'><group>Friends</group></item></query></iq>";
            let result = format!("<iq type='result' id='{id}'/>");
            if push_first {
                c.send(push);
                c.send(result);
            } else {
                c.send(result);
                std::thread::sleep(Duration::from_millis(100));
                c.send(push);
            }
            c.expect("push9");
        });
        let mut client = client_for(server.port, T);
        let events = record_events(&mut client);
        client.connect().unwrap();
        client.fetch_roster().unwrap();
        client.set_item("romeo@localhost", Some("Romeo"), &["Friends"]).unwrap();
        // The local roster is true as soon as set_item returns.
        let romeo = client.roster().get("romeo@localhost").expect("romeo present");
        assert_eq!(romeo.groups, ["Friends"]);
        assert_eq!(client.roster().version(), Some("2"));
        server.finish();
        assert_eq!(roster_events(&events.lock().unwrap()).len(), 1, "push_first={push_first}");
    }
}

/// An older push for the same contact (here the `ask` that a subscription request caused) that
/// arrives while `set_item` waits is not taken for the push of its own change.
#[test]
fn set_item_waits_for_its_own_push_not_an_older_one_for_the_same_contact() {
    for answer_first in [true, false] {
        let server = FakeServer::start(move |c| {
            c.login();
            c.answer_roster_get("1", TWO_ITEMS);
            let id = c.expect_iq("set");
            // The older change, pushed before the server handled the set.
            c.send("<iq type='set' id='old'><query xmlns='jabber:iq:roster' ver='2'><item jid='romeo@localhost' name='Romeo' subscription='both' ask='subscribe'><group>Friends</group></item></query></iq>");
            let own_push = "<iq type='set' id='own'><query xmlns='jabber:iq:roster' ver='3'><item jid='romeo@localhost' name='Romeo\tMontague' subscription='both'><group>Family</group></item></query></iq>";
            let result = format!("<iq type='result' id='{id}'/>");
            if answer_first {
                // Prosody's order: the answer, then (a little later) the push.
                c.send(result);
                std::thread::sleep(Duration::from_millis(200));
                c.send(own_push);
            } else {
                // ejabberd's order: the push, then the answer.
                std::thread::sleep(Duration::from_millis(200));
                c.send(own_push);
                c.send(result);
            }
            c.expect("id='own'");
        });
        let mut client = client_for(server.port, T);
        client.connect().unwrap();
        client.fetch_roster().unwrap();
        // A tab in the name comes back as a space from a server that stores it raw: still ours.
        client.set_item("romeo@localhost", Some("Romeo\tMontague"), &["Family"]).unwrap();
        let romeo = client.roster().get("romeo@localhost").unwrap();
        assert_eq!(romeo.name.as_deref(), Some("Romeo Montague"), "answer_first={answer_first}");
        assert_eq!(romeo.groups, ["Family"]);
        assert_eq!(client.roster().version(), Some("3"));
        server.finish();
    }
}

#[test]
fn set_item_error_carries_condition_type_and_text() {
    let server = FakeServer::start(|c| {
        c.login();
        let id = c.expect_iq("set");
        c.send(format!("<iq type='error' id='{id}'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>name too long</text></error></iq>"));
    });
    let mut client = client_for(server.port, T);
    client.connect().unwrap();
    let err = client.set_item("romeo@localhost", Some("R"), &[]).unwrap_err();
    server.finish();
    assert_eq!(
        err,
        Error::Stanza(xmpp_roster::StanzaError { condition: "not-acceptable".into(), error_type: "modify".into(), text: Some("name too long".into()) })
    );
    assert!(client.roster().is_empty());
}

#[test]
fn a_callback_that_aborts_ends_the_call_after_the_stanza_is_applied() {
    let server = FakeServer::start(|c| {
        c.login();
        c.answer_roster_get("1", "");
        c.send("<iq type='set' id='pa'><query xmlns='jabber:iq:roster' ver='2'><item jid='a@localhost'/></query></iq>");
        c.send("<iq type='set' id='pb'><query xmlns='jabber:iq:roster' ver='3'><item jid='b@localhost'/></query></iq>");
        c.expect("pb");
    });
    let mut client = client_for(server.port, T);
    client.set_event_handler(Some(Box::new(|e| match e {
        Event::RosterChanged { item, .. } if item.jid == "a@localhost" => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })));
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let first = loop {
        match client.poll(Duration::from_millis(100)) {
            Ok(0) if Instant::now() < deadline => continue,
            other => break other,
        }
    };
    assert_eq!(first, Err(Error::CallbackAborted));
    assert!(client.roster().get("a@localhost").is_some(), "the push that triggered the abort was applied");
    // The next poll goes on with what is left.
    let deadline = Instant::now() + Duration::from_secs(3);
    while client.roster().get("b@localhost").is_none() && Instant::now() < deadline {
        client.poll(Duration::from_millis(100)).unwrap();
    }
    assert!(client.roster().get("b@localhost").is_some());
    server.finish();
}

#[test]
fn pings_are_answered_and_unknown_requests_refused() {
    let (_, _, answer) = push_scenario(|c| {
        c.send("<iq type='get' id='ping1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        c.send("<iq type='get' id='ver1' from='localhost'><query xmlns='jabber:iq:version'/></iq>");
        c.collect("ver1", Duration::from_millis(100))
    });
    let ping_answer = &answer[answer.find("ping1").map(|i| answer[..i].rfind("<iq").unwrap()).unwrap()..];
    assert!(ping_answer.starts_with("<iq type='result' id='ping1'"), "{answer}");
    assert!(answer.contains("service-unavailable"), "{answer}");
}

#[test]
fn presence_and_subscription_requests_become_events() {
    let (client, events, _) = push_scenario(|c| {
        c.send("<presence from='juliet@localhost/balcony'/>"); // the echo of our own presence
        c.send("<presence from='romeo@localhost/orchard'><show>away</show><status>in the orchard</status><priority>5</priority></presence>");
        c.send("<presence from='romeo@localhost/phone'/>");
        c.send("<presence from='romeo@localhost/phone' type='unavailable'/>");
        c.send("<presence from='tybalt@localhost' type='subscribe'><status>let me in</status></presence>");
        c.send("<iq type='get' id='sync' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        c.collect("sync", Duration::from_millis(100))
    });
    let presences: Vec<_> = events.iter().filter_map(|e| if let Event::Presence(p) = e { Some(p) } else { None }).collect();
    assert_eq!(presences.len(), 3, "our own presence echo is not an event: {presences:?}");
    assert_eq!(presences[0].from, "romeo@localhost/orchard");
    assert_eq!(presences[0].show, xmpp_roster::Show::Away);
    assert_eq!(presences[0].status.as_deref(), Some("in the orchard"));
    assert_eq!(presences[0].priority, 5);
    assert!(!presences[2].available);
    let now = client.presence_of("romeo@localhost");
    assert_eq!(now.len(), 1, "only the orchard resource is still available: {now:?}");
    assert!(events.iter().any(|e| matches!(e, Event::Subscription { kind: SubscriptionKind::Subscribe, from, status } if from == "tybalt@localhost" && status.as_deref() == Some("let me in"))));
}

#[test]
fn nothing_is_auto_approved_unless_asked() {
    for auto in [false, true] {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = FakeServer::start(move |c| {
            c.login();
            c.send("<presence from='tybalt@localhost/x' type='subscribe'/>");
            c.send("<iq type='get' id='sync' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
            tx.send(c.collect("sync", Duration::from_millis(150))).unwrap();
        });
        let mut config = fake_config(server.port, T);
        config.set_auto_approve(auto);
        let mut client = Client::new(config).unwrap();
        client.connect().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let answer = loop {
            let _ = client.poll(Duration::from_millis(50));
            if let Ok(a) = rx.try_recv() {
                break a;
            }
            assert!(Instant::now() < deadline);
        };
        server.finish();
        let transcript_has_approval = answer.contains("type='subscribed'");
        assert_eq!(transcript_has_approval, auto, "auto_approve={auto}: {answer}");
    }
}

#[test]
fn starttls_mode_refuses_a_server_without_starttls_before_sending_credentials() {
    let server = FakeServer::start(|c| {
        c.expect("<stream:stream");
        c.expect(">");
        c.send(HEADER);
        c.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        c.drain_for(Duration::from_millis(200));
    });
    let mut config = fake_config(server.port, T);
    config.set_tls(TlsMode::StartTls);
    let mut client = Client::new(config).unwrap();
    assert!(matches!(client.connect(), Err(Error::Tls(_))));
    let transcript = server.finish();
    assert!(!transcript.contains("<auth"), "no credentials may be sent: {transcript}");
}

#[test]
fn plain_is_never_offered_credentials_in_the_clear_unless_plaintext_was_chosen() {
    // The server "downgrades" to plaintext PLAIN; a client in StartTls mode that somehow got
    // past TLS would still refuse. Here: Plaintext mode but PLAIN not among allowed mechanisms.
    let server = FakeServer::start(|c| {
        c.expect("<stream:stream");
        c.expect(">");
        c.send(HEADER);
        c.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        c.drain_for(Duration::from_millis(200));
    });
    let mut config = fake_config(server.port, T);
    config.set_mechanisms(&[Mechanism::ScramSha256, Mechanism::ScramSha1]).unwrap();
    let mut client = Client::new(config).unwrap();
    match client.connect() {
        Err(Error::Auth { condition, .. }) => assert_eq!(condition, "no-acceptable-mechanism"),
        other => panic!("{other:?}"),
    }
    assert!(!server.finish().contains("<auth"));
}

#[test]
fn sasl_failure_is_an_auth_error_with_condition_and_text() {
    let server = FakeServer::start(|c| {
        c.expect("<stream:stream");
        c.expect(">");
        c.send(HEADER);
        c.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        c.expect("</auth>");
        c.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>Wrong password</text></failure>");
    });
    let mut client = client_for(server.port, T);
    assert_eq!(client.connect(), Err(Error::Auth { condition: "not-authorized".into(), text: Some("Wrong password".into()) }));
    server.finish();
}

#[test]
fn a_scram_server_that_cannot_prove_the_password_is_refused() {
    let server = FakeServer::start(|c| {
        c.expect("<stream:stream");
        c.expect(">");
        c.send(HEADER);
        c.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>");
        let auth = c.expect("</auth>");
        let b64 = &auth[auth.find('>').unwrap() + 1..auth.rfind('<').unwrap()];
        let first = String::from_utf8(openssl::base64::decode_block(b64).unwrap()).unwrap();
        let nonce = &first[first.find("r=").unwrap() + 2..];
        let server_first = format!("r={nonce}srv,s=QSXCR+Q6sek8bf92,i=4096");
        c.send(format!("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>", openssl::base64::encode_block(server_first.as_bytes())));
        c.expect("</response>");
        let bogus = openssl::base64::encode_block(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        c.send(format!("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{bogus}</success>"));
        c.drain_for(Duration::from_millis(100));
    });
    let mut config = fake_config(server.port, T);
    config.set_mechanisms(&[Mechanism::ScramSha256]).unwrap();
    let mut client = Client::new(config).unwrap();
    match client.connect() {
        Err(Error::Auth { condition, .. }) => assert_eq!(condition, "server-signature-mismatch"),
        other => panic!("{other:?}"),
    }
    assert!(!client.is_connected());
    server.finish();
}

#[test]
fn connection_refused_is_an_io_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut client = client_for(port, T);
    assert!(matches!(client.connect(), Err(Error::Io(_))));
}

#[test]
fn calls_that_need_a_connection_say_so() {
    let mut client = Client::new(Config::new("juliet@localhost", "x").unwrap()).unwrap();
    assert_eq!(client.fetch_roster(), Err(Error::NotConnected));
    assert_eq!(client.set_item("a@b", None, &[]), Err(Error::NotConnected));
    assert_eq!(client.subscribe("a@b"), Err(Error::NotConnected));
    assert_eq!(client.poll(Duration::from_millis(1)), Err(Error::NotConnected));
    assert_eq!(client.disconnect(), Ok(()));
    assert!(matches!(client.set_item("a@b/res", None, &[]), Err(Error::InvalidJid(_))));
    assert!(matches!(client.set_item("a@b", None, &[""]), Err(Error::InvalidArgument(_))));
    assert!(matches!(client.set_item("a@b", Some("nul\0"), &[]), Err(Error::InvalidArgument(_))));
}

/// A login that advertises `extra_features` after authentication and answers a required session.
fn login_with_features(c: &mut support::fake_server::FakeConn, extra_features: &str) {
    c.expect("<stream:stream");
    c.expect(">");
    c.send(HEADER);
    c.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    c.expect("</auth>");
    c.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    c.expect("<stream:stream");
    c.expect(">");
    c.send(HEADER);
    c.send(format!("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{extra_features}</stream:features>"));
    let id = c.expect_iq("set");
    c.send(format!("<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@localhost/balcony</jid></bind></iq>"));
}

#[test]
fn roster_ver_is_sent_only_when_the_server_advertises_versioning() {
    for (features, want) in [("", None), ("<ver xmlns='urn:xmpp:features:rosterver'/>", Some("ver=''"))] {
        let server = FakeServer::start(move |c| {
            login_with_features(c, features);
            let get = c.expect("</iq>");
            c.send(format!("<iq type='result' id='{}'><query xmlns='jabber:iq:roster'/></iq>", support::fake_server::id_of(&get)));
            // The second fetch carries the version the first one got (none here: still '').
        });
        let mut client = client_for(server.port, T);
        client.connect().unwrap();
        assert_eq!(client.supports_roster_versioning(), want.is_some());
        client.fetch_roster().unwrap();
        let transcript = server.finish();
        let get = &transcript[transcript.find("<iq type='get'").unwrap()..];
        let get = &get[..get.find("</iq>").unwrap()];
        match want {
            Some(attr) => assert!(get.contains(attr), "{get}"),
            None => assert!(!get.contains("ver="), "{get}"),
        }
    }
}

#[test]
fn a_required_session_is_established_and_an_optional_one_skipped() {
    for required in [true, false] {
        let server = FakeServer::start(move |c| {
            let optional = if required { "" } else { "<optional/>" };
            login_with_features(c, &format!("<session xmlns='urn:ietf:params:xml:ns:xmpp-session'>{optional}</session>"));
            if required {
                let id = c.expect_iq("set");
                c.send(format!("<iq type='result' id='{id}' from='localhost'/>"));
            }
            c.drain_for(Duration::from_millis(100));
        });
        let mut client = client_for(server.port, T);
        client.connect().unwrap();
        let transcript = server.finish();
        assert_eq!(transcript.contains("xmpp-session"), required, "{transcript}");
    }
}

#[test]
fn events_fire_from_inside_a_call_that_waits_for_its_own_answer() {
    let server = FakeServer::start(|c| {
        c.login();
        let id = c.expect_iq("get");
        c.send("<presence from='romeo@localhost/orchard'/>");
        c.send("<presence from='nurse@localhost' type='subscribe'/>");
        c.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='1'/></iq>"));
    });
    let mut client = client_for(server.port, T);
    let events = record_events(&mut client);
    client.connect().unwrap();
    client.fetch_roster().unwrap();
    server.finish();
    let ev = events.lock().unwrap();
    assert!(matches!(ev[0], Event::Presence(ref p) if p.from == "romeo@localhost/orchard"), "{ev:?}");
    assert!(matches!(ev[1], Event::Subscription { kind: SubscriptionKind::Subscribe, .. }), "{ev:?}");
}
