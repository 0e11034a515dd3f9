//! The client against real servers: every behaviour test runs on Prosody 0.12 (a private server
//! per test) and on ejabberd 23.01 (one shared server per test process, unique users per test),
//! both started by testsupport on 127.0.0.1. Where the servers legitimately differ, the test
//! says how.

mod support;

use std::time::{Duration, Instant};
use support::raw_client::RawClient;
use support::{record_events, roster_jids};
use xmpp_roster::{Client, Config, Error, Event, Fetched, Mechanism, OwnPresence, Roster, RosterChange, Show, Subscription, SubscriptionKind, TlsMode};
use xmpp_roster_testsupport::{server_tests, Prosody, ProsodyOptions, ServerKind, XmppServer};

/// Registers a fresh user; returns its bare JID and password.
fn account(p: &dyn XmppServer, prefix: &str) -> (String, String) {
    account_on(p, prefix, "localhost")
}

fn account_on(p: &dyn XmppServer, prefix: &str, domain: &str) -> (String, String) {
    let user = p.unique_user(prefix);
    let password = format!("pw-{user}");
    p.register(&user, domain, &password).expect("register");
    (format!("{user}@{domain}"), password)
}

fn config(p: &dyn XmppServer, jid: &str, password: &str, mode: TlsMode) -> Config {
    let mut c = Config::new(jid, password).unwrap();
    let port = if mode == TlsMode::DirectTls { p.tls_port() } else { p.c2s_port() };
    c.set_server(Some(p.host()), Some(port)).unwrap();
    c.set_tls(mode);
    c.set_ca_file(Some(p.ca_file().to_path_buf()));
    c.set_tls_server_name(Some("localhost"));
    c.set_timeout(Duration::from_secs(10)).unwrap();
    c
}

fn connected(p: &dyn XmppServer, jid: &str, password: &str) -> Client {
    let mut c = Client::new(config(p, jid, password, TlsMode::StartTls)).unwrap();
    c.connect().unwrap();
    c
}

/// Polls until `done` holds (fails the test after 10 s).
fn poll_until(client: &mut Client, what: &str, mut done: impl FnMut(&Client) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(client) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        client.poll(Duration::from_millis(100)).unwrap();
    }
}

fn subscription_of(client: &Client, jid: &str) -> Option<(Subscription, bool)> {
    client.roster().get(jid).map(|i| (i.subscription, i.ask))
}

fn saw_subscription(events: &std::sync::Mutex<Vec<Event>>, kind: SubscriptionKind, who: &str) -> bool {
    events.lock().unwrap().iter().any(|e| matches!(e, Event::Subscription { kind: k, from, .. } if *k == kind && from == who))
}

server_tests! {
    fn connects_in_each_tls_mode(p) {
        let (jid, pw) = account(p, "juliet");
        for mode in [TlsMode::StartTls, TlsMode::DirectTls, TlsMode::Plaintext] {
            let mut c = config(p, &format!("{jid}/mode-test"), &pw, mode);
            c.set_timeout(Duration::from_secs(10)).unwrap();
            let mut client = Client::new(c).unwrap();
            client.connect().unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            assert_eq!(client.bound_jid().unwrap().as_str(), format!("{jid}/mode-test"));
            assert_eq!(client.fetch_roster().unwrap(), Fetched::Full);
            client.disconnect().unwrap();
        }
    }

    fn server_assigns_a_resource_when_none_is_asked_for(p) {
        let (jid, pw) = account(p, "juliet");
        let client = connected(p, &jid, &pw);
        let bound = client.bound_jid().unwrap();
        assert_eq!(bound.bare_str(), jid);
        assert!(bound.resource().is_some_and(|r| !r.is_empty()));
    }

    fn tls_certificates_are_verified_unless_explicitly_disabled(p) {
        let (jid, pw) = account(p, "juliet");
        for mode in [TlsMode::StartTls, TlsMode::DirectTls] {
            // Self-signed certificate without the CA: refused.
            let mut c = config(p, &jid, &pw, mode);
            c.set_ca_file(None);
            assert!(matches!(Client::new(c).unwrap().connect(), Err(Error::Tls(_))), "{mode:?} without CA");
            // Right CA, wrong host name: refused.
            let mut c = config(p, &jid, &pw, mode);
            c.set_tls_server_name(Some("example.com"));
            assert!(matches!(Client::new(c).unwrap().connect(), Err(Error::Tls(_))), "{mode:?} wrong name");
            // The loudly named test-only opt-out.
            let mut c = config(p, &jid, &pw, mode);
            c.set_ca_file(None);
            c.set_danger_accept_invalid_certs(true);
            Client::new(c).unwrap().connect().unwrap();
        }
        let mut c = config(p, &jid, &pw, TlsMode::StartTls);
        c.set_ca_file(Some("/nonexistent/ca.pem".into()));
        assert!(matches!(Client::new(c).unwrap().connect(), Err(Error::Tls(m)) if m.contains("CA file")));
    }

    fn wrong_password_is_an_auth_error(p) {
        let (jid, _) = account(p, "juliet");
        let mut client = Client::new(config(p, &jid, "not-the-password", TlsMode::StartTls)).unwrap();
        match client.connect() {
            Err(Error::Auth { condition, .. }) => assert_eq!(condition, "not-authorized"),
            other => panic!("{other:?}"),
        }
        assert!(!client.is_connected());
    }

    fn roster_life_cycle_add_rename_regroup_remove(p) {
        let (jid, pw) = account(p, "juliet");
        let (romeo, _) = account(p, "romeo");
        let mut client = connected(p, &jid, &pw);
        let events = record_events(&mut client);
        assert_eq!(client.fetch_roster().unwrap(), Fetched::Full);
        assert!(client.roster().is_empty());

        client.set_item(&romeo, Some("Romeo Montague"), &["Verona", "Friends", "Verona"]).unwrap();
        let item = client.roster().get(&romeo).unwrap().clone();
        assert_eq!(item.name.as_deref(), Some("Romeo Montague"));
        assert_eq!(item.groups, ["Friends", "Verona"]);
        assert_eq!(item.subscription, Subscription::None);

        client.set_item(&romeo, Some("R. & M. <3 ünïcode"), &["Friends", "Verona"]).unwrap();
        assert_eq!(client.roster().get(&romeo).unwrap().name.as_deref(), Some("R. & M. <3 ünïcode"));
        client.set_item(&romeo, Some("R. & M. <3 ünïcode"), &["Lovers"]).unwrap();
        assert_eq!(client.roster().get(&romeo).unwrap().groups, ["Lovers"]);

        // The server agrees: a fresh session sees the same.
        let mut other = Client::new(config(p, &jid, &pw, TlsMode::DirectTls)).unwrap();
        other.connect().unwrap();
        other.fetch_roster().unwrap();
        assert_eq!(other.roster().items(), client.roster().items());

        client.remove_item(&romeo).unwrap();
        assert!(client.roster().get(&romeo).is_none());
        let changes: Vec<RosterChange> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| if let Event::RosterChanged { change, .. } = e { Some(*change) } else { None })
            .collect();
        assert_eq!(changes, [RosterChange::Added, RosterChange::Updated, RosterChange::Updated, RosterChange::Removed]);
    }

    fn removing_an_unknown_item(p) {
        let (jid, pw) = account(p, "juliet");
        let mut client = connected(p, &jid, &pw);
        client.fetch_roster().unwrap();
        match p.kind() {
            // Prosody refuses with item-not-found (RFC 6121 §2.5.3).
            ServerKind::Prosody => match client.remove_item("nobody@localhost") {
                Err(Error::Stanza(e)) => assert_eq!(e.condition, "item-not-found"),
                other => panic!("{other:?}"),
            },
            // ejabberd answers with a result (and a push removing nothing).
            ServerKind::Ejabberd => client.remove_item("nobody@localhost").unwrap(),
        }
        assert!(client.roster().is_empty());
        assert!(client.is_connected());
    }

    fn own_jid_as_an_item(p) {
        let (jid, pw) = account(p, "juliet");
        let mut client = connected(p, &jid, &pw);
        client.fetch_roster().unwrap();
        match p.kind() {
            // Prosody refuses the user's own JID as a contact.
            ServerKind::Prosody => {
                assert!(matches!(client.set_item(&jid, None, &[]), Err(Error::Stanza(e)) if e.condition == "not-allowed"));
                assert!(client.roster().is_empty());
            }
            // ejabberd accepts it like any other contact.
            ServerKind::Ejabberd => {
                client.set_item(&jid, Some("me"), &[]).unwrap();
                assert_eq!(client.roster().get(&jid).unwrap().name.as_deref(), Some("me"));
            }
        }
    }

    fn versioned_fetch_returns_unchanged_for_a_current_cache(p) {
        let (jid, pw) = account(p, "juliet");
        let mut first = connected(p, &jid, &pw);
        assert!(first.supports_roster_versioning());
        first.fetch_roster().unwrap();
        first.set_item("a@localhost", Some("A"), &["G"]).unwrap();
        first.set_item("b@localhost", None, &[]).unwrap();
        let saved = first.snapshot();
        let version = saved.version().map(str::to_string);
        assert!(version.is_some());
        first.disconnect().unwrap();

        // A new process restores its cache: the server answers "unchanged".
        let mut client = Client::new(config(p, &jid, &pw, TlsMode::StartTls)).unwrap();
        client.load_roster(Roster::from_items(version.clone(), saved.items().to_vec()));
        client.connect().unwrap();
        assert_eq!(client.fetch_roster().unwrap(), Fetched::Unchanged);
        assert_eq!(roster_jids(&client), ["a@localhost", "b@localhost"]);
        assert_eq!(client.roster().version(), version.as_deref());

        // A stale cache gets the full roster.
        let mut stale = Client::new(config(p, &jid, &pw, TlsMode::StartTls)).unwrap();
        stale.load_roster(Roster::from_items(Some("0".into()), vec![]));
        stale.connect().unwrap();
        assert_eq!(stale.fetch_roster().unwrap(), Fetched::Full);
        assert_eq!(roster_jids(&stale), ["a@localhost", "b@localhost"]);
    }

    fn a_fetch_in_batches_hands_out_the_roster_the_server_sent(p) {
        let (jid, pw) = account(p, "juliet");
        let mut first = connected(p, &jid, &pw);
        first.fetch_roster().unwrap();
        for n in 0..5 {
            first.set_item(&format!("c{n}@localhost"), Some(&format!("Ç {n}")), &["G"]).unwrap();
        }
        first.disconnect().unwrap();

        let mut client = connected(p, &jid, &pw);
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&batches);
        let got = client.fetch_roster_in_batches(2, move |items| seen.lock().unwrap().push(items.to_vec())).unwrap();
        assert_eq!(got, xmpp_roster::BatchedFetch { fetched: Fetched::Full, batches_exact: true });
        let batches = batches.lock().unwrap();
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        assert_eq!(batches.concat(), client.roster().items(), "the batches are the roster, in its order, item for item");
        assert_eq!(client.roster().get("c3@localhost").unwrap().name.as_deref(), Some("Ç 3"));
    }

    fn a_change_by_a_second_session_arrives_as_a_push(p) {
        let (jid, pw) = account(p, "juliet");
        let mut watcher = connected(p, &format!("{jid}/watcher"), &pw);
        let events = record_events(&mut watcher);
        watcher.fetch_roster().unwrap();
        let mut editor = connected(p, &format!("{jid}/editor"), &pw);
        editor.set_item("nurse@localhost", Some("Nurse"), &["Household"]).unwrap();
        poll_until(&mut watcher, "the push", |c| c.roster().get("nurse@localhost").is_some());
        assert_eq!(watcher.roster().get("nurse@localhost").unwrap().groups, ["Household"]);
        let ev = events.lock().unwrap();
        assert!(matches!(&ev[..], [Event::RosterChanged { change: RosterChange::Added, item, version: Some(_) }] if item.jid == "nurse@localhost"), "{ev:?}");
        drop(ev);
        editor.remove_item("nurse@localhost").unwrap();
        poll_until(&mut watcher, "the removal push", |c| c.roster().get("nurse@localhost").is_none());
    }

    fn subscription_handshake_in_both_directions(p) {
        let (juliet_jid, jpw) = account(p, "juliet");
        let (romeo_jid, rpw) = account(p, "romeo");
        let mut juliet = connected(p, &juliet_jid, &jpw);
        let mut romeo = connected(p, &romeo_jid, &rpw);
        let juliet_events = record_events(&mut juliet);
        let romeo_events = record_events(&mut romeo);
        juliet.fetch_roster().unwrap();
        romeo.fetch_roster().unwrap();
        // Presence subscriptions reach only available resources.
        juliet.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();
        romeo.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();

        // Juliet asks; her roster shows the pending request.
        juliet.subscribe(&romeo_jid).unwrap();
        poll_until(&mut juliet, "ask=subscribe", |c| subscription_of(c, &romeo_jid) == Some((Subscription::None, true)));
        // Romeo is asked, and approves.
        poll_until(&mut romeo, "the request", |_| {
            romeo_events.lock().unwrap().iter().any(|e| matches!(e, Event::Subscription { kind: SubscriptionKind::Subscribe, from, .. } if *from == juliet_jid))
        });
        romeo.approve(&juliet_jid).unwrap();
        poll_until(&mut romeo, "romeo: from", |c| subscription_of(c, &juliet_jid).map(|s| s.0) == Some(Subscription::From));
        poll_until(&mut juliet, "juliet: to", |c| subscription_of(c, &romeo_jid) == Some((Subscription::To, false)));
        // The roster push and the presence stanza are separate stanzas: either may come first.
        poll_until(&mut juliet, "juliet: told 'subscribed'", |_| saw_subscription(&juliet_events, SubscriptionKind::Subscribed, &romeo_jid));

        // The other direction.
        romeo.subscribe(&juliet_jid).unwrap();
        poll_until(&mut juliet, "the request back", |_| {
            juliet_events.lock().unwrap().iter().any(|e| matches!(e, Event::Subscription { kind: SubscriptionKind::Subscribe, from, .. } if *from == romeo_jid))
        });
        juliet.approve(&romeo_jid).unwrap();
        poll_until(&mut juliet, "juliet: both", |c| subscription_of(c, &romeo_jid).map(|s| s.0) == Some(Subscription::Both));
        poll_until(&mut romeo, "romeo: both", |c| subscription_of(c, &juliet_jid) == Some((Subscription::Both, false)));

        // Juliet unsubscribes from Romeo's presence: both -> from for her, both -> to for him.
        juliet.unsubscribe(&romeo_jid).unwrap();
        poll_until(&mut juliet, "juliet: from", |c| subscription_of(c, &romeo_jid).map(|s| s.0) == Some(Subscription::From));
        poll_until(&mut romeo, "romeo: to", |c| subscription_of(c, &juliet_jid).map(|s| s.0) == Some(Subscription::To));
        poll_until(&mut romeo, "romeo: told 'unsubscribe'", |_| saw_subscription(&romeo_events, SubscriptionKind::Unsubscribe, &juliet_jid));
    }

    fn set_item_right_after_a_subscription_request_returns_with_its_own_change(p) {
        // The request's `ask` push for the same contact arrives while set_item waits: it must not
        // be taken for the push of the rename (Prosody sends it before the set's answer).
        let (juliet_jid, jpw) = account(p, "juliet");
        let (romeo_jid, _) = account(p, "romeo");
        let mut juliet = connected(p, &juliet_jid, &jpw);
        juliet.fetch_roster().unwrap();
        juliet.subscribe(&romeo_jid).unwrap();
        juliet.set_item(&romeo_jid, Some("Romeo"), &["Lovers"]).unwrap();
        let romeo = juliet.roster().get(&romeo_jid).expect("romeo in the roster");
        assert_eq!(romeo.name.as_deref(), Some("Romeo"));
        assert_eq!(romeo.groups, ["Lovers"]);
    }

    fn a_denied_request_clears_the_pending_ask(p) {
        let (juliet_jid, jpw) = account(p, "juliet");
        let (tybalt_jid, tpw) = account(p, "tybalt");
        let mut juliet = connected(p, &juliet_jid, &jpw);
        let mut tybalt = connected(p, &tybalt_jid, &tpw);
        let tybalt_events = record_events(&mut tybalt);
        juliet.fetch_roster().unwrap();
        tybalt.fetch_roster().unwrap();
        juliet.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();
        tybalt.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();
        tybalt.subscribe(&juliet_jid).unwrap();
        poll_until(&mut tybalt, "ask", |c| subscription_of(c, &juliet_jid) == Some((Subscription::None, true)));
        juliet.poll(Duration::from_millis(300)).unwrap();
        juliet.deny(&tybalt_jid).unwrap();
        poll_until(&mut tybalt, "ask cleared", |c| subscription_of(c, &juliet_jid) == Some((Subscription::None, false)));
        // ejabberd pushes the roster change before it routes the presence: wait for both.
        poll_until(&mut tybalt, "tybalt: told 'unsubscribed'", |_| saw_subscription(&tybalt_events, SubscriptionKind::Unsubscribed, &juliet_jid));
    }

    fn preapproval_lets_the_contact_subscribe_without_asking(p) {
        let (juliet_jid, jpw) = account(p, "juliet");
        let (romeo_jid, rpw) = account(p, "romeo");
        let mut juliet = connected(p, &juliet_jid, &jpw);
        if !juliet.supports_preapproval() {
            // ejabberd 23.01 does not advertise pre-approval: the call says so instead of sending.
            assert_eq!(p.kind(), ServerKind::Ejabberd, "Prosody 0.12 offers pre-approval");
            assert!(matches!(juliet.preapprove(&romeo_jid), Err(Error::Unsupported(_))));
            return;
        }
        juliet.fetch_roster().unwrap();
        juliet.set_item(&romeo_jid, Some("Romeo"), &[]).unwrap();
        juliet.preapprove(&romeo_jid).unwrap();
        // Prosody 0.12 stores the pre-approval but never reports approved='true' to clients
        // (mod_roster leaves the attribute out); the decoder's handling of it is unit-tested.
        let juliet_events = record_events(&mut juliet);
        let mut romeo = connected(p, &romeo_jid, &rpw);
        romeo.fetch_roster().unwrap();
        romeo.subscribe(&juliet_jid).unwrap();
        poll_until(&mut romeo, "romeo: to", |c| subscription_of(c, &juliet_jid) == Some((Subscription::To, false)));
        poll_until(&mut juliet, "juliet: from", |c| subscription_of(c, &romeo_jid).map(|s| s.0) == Some(Subscription::From));
        assert!(
            !juliet_events.lock().unwrap().iter().any(|e| matches!(e, Event::Subscription { kind: SubscriptionKind::Subscribe, .. })),
            "a pre-approved request is never shown to the user"
        );
    }

    fn a_spoofed_push_from_another_user_is_refused(p) {
        let (juliet_jid, jpw) = account(p, "juliet");
        let (mallory_jid, mpw) = account(p, "mallory");
        let mut juliet = connected(p, &format!("{juliet_jid}/balcony"), &jpw);
        let events = record_events(&mut juliet);
        juliet.fetch_roster().unwrap();
        juliet.set_item("romeo@localhost", Some("Romeo"), &[]).unwrap();
        let before = juliet.roster().items().to_vec();
        let version_before = juliet.roster().version().map(str::to_string);
        events.lock().unwrap().clear();

        let mallory_user = mallory_jid.split('@').next().unwrap();
        let mut mallory = RawClient::login(p.c2s_port(), mallory_user, &mpw, "evil");
        mallory.send(&format!(
            "<iq type='set' id='spoof1' to='{juliet_jid}/balcony'><query xmlns='jabber:iq:roster' ver='999'><item jid='romeo@localhost' subscription='remove'/></query></iq>"
        ));
        mallory.send(&format!(
            "<iq type='set' id='spoof2' to='{juliet_jid}/balcony'><query xmlns='jabber:iq:roster'><item jid='evil@localhost' name='Trust me' subscription='both'/></query></iq>"
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(mallory.received.contains("spoof1") && mallory.received.contains("spoof2")) {
            juliet.poll(Duration::from_millis(50)).unwrap();
            assert!(Instant::now() < deadline, "no answer to the spoofed pushes: {}", mallory.received);
            mallory.wait_for_briefly();
        }
        let answers = mallory.received.clone();
        assert_eq!(answers.matches("service-unavailable").count(), 2, "{answers}");
        assert_eq!(juliet.roster().items(), &before[..]);
        assert_eq!(juliet.roster().version().map(str::to_string), version_before);
        assert!(events.lock().unwrap().iter().all(|e| !matches!(e, Event::RosterChanged { .. })));
    }

    fn presence_of_a_contacts_two_resources(p) {
        let (juliet_jid, jpw) = account(p, "juliet");
        let (romeo_jid, rpw) = account(p, "romeo");
        // Juliet subscribes to Romeo's presence and he approves.
        let mut romeo1 = connected(p, &format!("{romeo_jid}/orchard"), &rpw);
        let romeo_events = record_events(&mut romeo1);
        romeo1.fetch_roster().unwrap();
        romeo1.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();
        let mut juliet = connected(p, &juliet_jid, &jpw);
        let events = record_events(&mut juliet);
        juliet.fetch_roster().unwrap();
        juliet.subscribe(&romeo_jid).unwrap();
        poll_until(&mut romeo1, "the request", |_| saw_subscription(&romeo_events, SubscriptionKind::Subscribe, &juliet_jid));
        romeo1.approve(&juliet_jid).unwrap();
        poll_until(&mut juliet, "juliet: to", |c| subscription_of(c, &romeo_jid).map(|s| s.0) == Some(Subscription::To));
        juliet.send_presence(&OwnPresence { available: true, ..Default::default() }).unwrap();

        romeo1.send_presence(&OwnPresence { available: true, show: Show::Away, status: Some("under the balcony".into()), priority: 5 }).unwrap();
        let mut romeo2 = connected(p, &format!("{romeo_jid}/phone"), &rpw);
        romeo2.send_presence(&OwnPresence { available: true, show: Show::Dnd, status: None, priority: -1 }).unwrap();
        // Wait for the state asserted below, not just for two resources: the orchard's presence
        // can reach Juliet more than once (the answer to her probe, the "away" update), and how those
        // interleave with the phone's presence, a different session, is up to the server.
        let sorted = |c: &Client| {
            let mut now = c.presence_of(&romeo_jid);
            now.sort_by(|a, b| a.from.cmp(&b.from));
            now
        };
        poll_until(&mut juliet, "two resources, away and dnd", |c| {
            matches!(&sorted(c)[..], [orchard, phone] if orchard.show == Show::Away && phone.show == Show::Dnd)
        });
        let now = sorted(&juliet);
        assert_eq!(now[0].from, format!("{romeo_jid}/orchard"));
        assert_eq!((now[0].show, now[0].status.as_deref(), now[0].priority), (Show::Away, Some("under the balcony"), 5));
        assert_eq!((now[1].show, now[1].priority), (Show::Dnd, -1));

        romeo2.disconnect().unwrap();
        poll_until(&mut juliet, "one resource left", |c| c.presence_of(&romeo_jid).len() == 1);
        assert!(events.lock().unwrap().iter().any(|e| matches!(e, Event::Presence(pi) if !pi.available && pi.from.ends_with("/phone"))));
    }

    fn interrupt_and_disconnect_on_a_real_connection(p) {
        let (jid, pw) = account(p, "juliet");
        let mut client = connected(p, &jid, &pw);
        let events = record_events(&mut client);
        let interrupter = client.interrupter();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            interrupter.interrupt();
        });
        let started = Instant::now();
        assert_eq!(client.poll(Duration::from_secs(30)), Err(Error::Interrupted));
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        client.fetch_roster().unwrap();
        client.disconnect().unwrap();
        assert!(!client.is_connected());
        assert_eq!(client.fetch_roster(), Err(Error::NotConnected));
        assert!(matches!(events.lock().unwrap().last(), Some(Event::Disconnected { reason: None })));
        // Reconnecting with the same client works.
        client.connect().unwrap();
        client.fetch_roster().unwrap();
    }

    fn each_sasl_mechanism_logs_in(p) {
        let (jid, pw) = account(p, "juliet");
        for (only, want) in [(Some(Mechanism::Plain), Mechanism::Plain), (Some(Mechanism::ScramSha1), Mechanism::ScramSha1), (None, Mechanism::ScramSha256)] {
            let mut c = config(p, &jid, &pw, TlsMode::StartTls);
            if let Some(m) = only {
                c.set_mechanisms(&[m]).unwrap();
            }
            let mut client = Client::new(c).unwrap();
            client.connect().unwrap_or_else(|e| panic!("{want:?}: {e}"));
            assert_eq!(client.sasl_mechanism(), Some(want));
        }
    }
}

/// Prosody hosts whose hashed password storage offers exactly one SCRAM variant: the client
/// picks what is offered, by preference, whatever the order.
#[test]
fn a_host_offering_a_single_scram_variant() {
    let p = Prosody::start_with(ProsodyOptions { hashed_vhosts: true, ..Default::default() }).unwrap();
    for (domain, want) in [("sha1.localhost", Mechanism::ScramSha1), ("sha256.localhost", Mechanism::ScramSha256)] {
        let (jid, pw) = account_on(&p, "romeo", domain);
        let mut client = Client::new(config(&p, &jid, &pw, TlsMode::StartTls)).unwrap();
        client.connect().unwrap_or_else(|e| panic!("{domain}: {e}"));
        assert_eq!(client.sasl_mechanism(), Some(want), "{domain}");
        client.fetch_roster().unwrap();
    }
}
