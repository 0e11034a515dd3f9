//! Specifications of the ejabberd harness, of the common `XmppServer` interface and of
//! `xmpp-test-server --server ejabberd`, against a real ejabberd 23.01. The library tests share
//! one ejabberd (`Ejabberd::shared`); the binary tests start their own.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use xmpp_roster_testsupport::{server_tests, Ejabberd, Prosody, ServerKind, XmppServer};

const BIN: &str = env!("CARGO_BIN_EXE_xmpp-test-server");

fn shared() -> &'static Ejabberd {
    Ejabberd::shared().unwrap_or_else(|e| panic!("Ejabberd::shared failed: {e}"))
}

/// (IPv4 address as in /proc/net/tcp, port) of every listening TCP socket of `pid`, plus the
/// number of listening IPv6 sockets.
fn listening_sockets(pid: u32) -> (Vec<(String, u16)>, usize) {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fds")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let listening = |table: &str| -> Vec<(String, u16)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (addr, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
                if *state != "0A" || !inodes.iter().any(|i| i == inode) {
                    return None;
                }
                let (ip, port) = addr.split_once(':')?;
                Some((ip.to_string(), u16::from_str_radix(port, 16).ok()?))
            })
            .collect()
    };
    (listening("tcp"), listening("tcp6").len())
}

// ---------------------------------------------------------------------------------------------
// The library

#[test]
fn shared_server_is_one_loopback_instance_whose_ports_accept_tcp() {
    let started = Instant::now();
    let server = shared();
    eprintln!("Ejabberd::shared() returned after {:?}", started.elapsed());
    // Every caller, from any thread, gets the same instance.
    let addresses: Vec<usize> = (0..8)
        .map(|_| thread::spawn(|| shared() as *const Ejabberd as usize))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(addresses
        .iter()
        .all(|&a| a == server as *const Ejabberd as usize));
    assert!(std::ptr::eq(server, shared()));

    assert_eq!(XmppServer::kind(server), ServerKind::Ejabberd);
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.domain(), "localhost");
    let ports = [server.c2s_port(), server.tls_port(), server.api_port()];
    assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    for port in ports {
        assert!(accepts_tcp(port), "port {port}");
    }
    let ca = std::fs::read_to_string(server.ca_file()).expect("read CA file");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // SQL is up before start returns (ejabberd creates the SQLite file on the first query).
    assert!(server.db_file().is_file());

    // The VM listens on loopback only: c2s, TLS, API and the Erlang distribution port, no IPv6.
    let pid = server.pid().expect("running server has a VM pid");
    assert!(process_exists(pid));
    let (listening, v6) = listening_sockets(pid);
    assert_eq!(v6, 0, "IPv6 listeners: {listening:?}");
    assert_eq!(listening.len(), 4, "{listening:?}");
    for (ip, port) in &listening {
        assert_eq!(ip, "0100007F", "port {port} is not on 127.0.0.1");
    }
    for port in ports {
        assert!(
            listening.iter().any(|(_, p)| *p == port),
            "{port} {listening:?}"
        );
    }
    let config = std::fs::read_to_string(server.config_file()).expect("read config");
    let listener_ips: Vec<&str> = config
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ip: "))
        .collect();
    // Three listeners on 127.0.0.1; the admin API admits 127.0.0.0/8 clients.
    assert_eq!(
        listener_ips,
        [
            "ip: \"127.0.0.1\"",
            "ip: \"127.0.0.1\"",
            "ip: \"127.0.0.1\"",
            "ip: \"127.0.0.0/8\""
        ],
        "{config}"
    );
    // No epmd: nothing but the launcher, the VM and the watchdog belongs to this server.
    let dir = server.dir().to_str().unwrap();
    let ours = live_processes_mentioning(dir);
    let command_names: Vec<&str> = ours
        .iter()
        .filter_map(|p| p.split_whitespace().nth(1))
        .collect();
    assert!(
        !command_names.contains(&"epmd"),
        "an epmd of ours: {ours:?}"
    );
    assert!(command_names.contains(&"beam.smp"), "{ours:?}");
}

#[test]
fn c2s_port_answers_stream_header_with_starttls_and_plain_and_scram() {
    let server = shared();
    let mut client = RawClient::connect(server.c2s_port());
    client.send(STREAM_HEADER);
    let reply = client.expect("</stream:features>");
    assert!(reply.contains("<stream:stream"), "{reply}");
    assert!(reply.contains("from='localhost'"), "{reply}");
    assert!(
        reply.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        "starttls must be offered and not required: {reply}"
    );
    for mechanism in ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        assert!(
            reply.contains(&format!("<mechanism>{mechanism}</mechanism>")),
            "{mechanism}: {reply}"
        );
    }
    for absent in ["DIGEST-MD5", "X-OAUTH2"] {
        assert!(!reply.contains(absent), "{absent}: {reply}");
    }
}

#[test]
fn registration_works_at_once_even_after_a_failed_login_and_resets_passwords() {
    let server = shared();
    let port = server.c2s_port();
    let user = server.unique_user("Juliet");
    assert!(user.starts_with("juliet"), "{user}");
    // A failed attempt first: ejabberd caches it, and registration must clear that.
    assert!(!RawClient::can_login(port, &user, "s3cret"));
    let started = Instant::now();
    server
        .register(&user, server.domain(), "s3cret")
        .expect("register");
    eprintln!("one registration took {:?}", started.elapsed());
    RawClient::login(port, &user, "s3cret");

    // Registering an existing account sets the new password, as prosodyctl does.
    server
        .register(&user, "localhost", "n3w")
        .expect("register again");
    assert!(RawClient::can_login(port, &user, "n3w"));
    assert!(!RawClient::can_login(port, &user, "s3cret"));

    let err = server
        .register("romeo", "unknown.example", "x")
        .expect_err("unknown host");
    assert!(err.to_string().contains("Unknown virtual host"), "{err}");

    let users = server
        .api("registered_users", r#"{"host":"localhost"}"#)
        .expect("api registered_users");
    assert!(users.contains(&format!("\"{user}\"")), "{users}");
}

#[test]
fn many_threads_register_in_parallel() {
    let server = shared();
    const THREADS: usize = 16;
    const PER_THREAD: usize = 5;
    let started = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(move || {
                let mut made = Vec::new();
                for _ in 0..PER_THREAD {
                    let user = server.unique_user("crowd");
                    let password = format!("pw-{user}");
                    server
                        .register(&user, "localhost", &password)
                        .unwrap_or_else(|e| panic!("register {user}: {e}"));
                    made.push((user, password));
                }
                made
            })
        })
        .collect();
    let users: Vec<(String, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("registering thread"))
        .collect();
    let elapsed = started.elapsed();
    eprintln!(
        "{} registrations from {THREADS} threads took {elapsed:?} ({:?} each on average)",
        users.len(),
        elapsed / users.len() as u32
    );
    let mut names: Vec<&str> = users.iter().map(|(u, _)| u.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), THREADS * PER_THREAD);
    // Every account logs in.
    let logins: Vec<_> = users
        .chunks(PER_THREAD)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            thread::spawn(move || {
                for (user, password) in chunk {
                    assert!(
                        RawClient::can_login(server.c2s_port(), &user, &password),
                        "{user} cannot log in"
                    );
                }
            })
        })
        .collect();
    for login in logins {
        login.join().expect("login thread");
    }
}

#[test]
fn ca_file_verifies_direct_tls_and_starttls_for_localhost() {
    let server = shared();
    openssl_verify(server.ca_file(), server.tls_port(), &[]);
    openssl_verify(
        server.ca_file(),
        server.c2s_port(),
        &["-starttls", "xmpp", "-xmpphost", "localhost"],
    );
}

#[test]
fn admin_api_seeds_a_roster_that_the_user_then_fetches() {
    let server = shared();
    let user = server.unique_user("capulet");
    server.register(&user, "localhost", "pw").expect("register");
    let added = server
        .api(
            "add_rosteritem",
            &format!(
                r#"{{"localuser":"{user}","localhost":"localhost","user":"romeo","host":"localhost","nick":"Romeo","group":"Friends","subs":"both"}}"#
            ),
        )
        .expect("api add_rosteritem");
    assert_eq!(added.trim(), "0", "{added}");
    let mut client = RawClient::login(server.c2s_port(), &user, "pw");
    client.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
    let roster = client
        .next_stanza(Duration::from_secs(10))
        .expect("roster result");
    for part in [
        "jid='romeo@localhost'",
        "name='Romeo'",
        "subscription='both'",
        "<group>Friends</group>",
    ] {
        assert!(roster.contains(part), "{part}: {roster}");
    }
    let err = server
        .api("no_such_command", "{}")
        .expect_err("unknown command");
    assert!(err.to_string().contains("no_such_command"), "{err}");
}

#[test]
fn server_kinds_have_names() {
    assert_eq!(ServerKind::ALL, [ServerKind::Prosody, ServerKind::Ejabberd]);
    assert_eq!("ejabberd".parse::<ServerKind>(), Ok(ServerKind::Ejabberd));
    assert_eq!("Prosody".parse::<ServerKind>(), Ok(ServerKind::Prosody));
    assert!("openfire".parse::<ServerKind>().is_err());
    assert_eq!(ServerKind::Ejabberd.to_string(), "ejabberd");
}

// One body, one test per server: `common_interface::prosody` and `common_interface::ejabberd`.
server_tests! {
    fn common_interface(server) {
        let user = server.unique_user("Mercutio");
        assert_eq!(user, user.to_lowercase());
        assert_ne!(user, server.unique_user("Mercutio"));
        server.register(&user, server.domain(), "pw").expect("register");
        let mut client = RawClient::login(server.c2s_port(), &user, "pw");
        client.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
        let result = client.next_stanza(Duration::from_secs(10)).expect("roster result");
        assert!(result.contains("type='result'") && result.contains("id='r1'"), "{result}");
        openssl_verify(server.ca_file(), server.tls_port(), &[]);
    }
}

// ---------------------------------------------------------------------------------------------
// What the client tests must respect: the two servers differ on the wire (see the README).

/// One roster session's worth of observations on one server.
struct Observed {
    get_without_ver: String,
    get_with_empty_ver: String,
    /// Everything the fetching resource received after a roster set, in order.
    after_set: Vec<String>,
    /// What a second resource that never fetched the roster received meanwhile.
    idle_resource: Vec<String>,
    get_current_ver: String,
    own_jid: Vec<String>,
    duplicate_groups: Vec<String>,
    remove_unknown: Vec<String>,
}

fn observe(server: &dyn XmppServer) -> Observed {
    let user = server.unique_user("wire");
    server.register(&user, "localhost", "pw").expect("register");
    let port = server.c2s_port();
    let mut idle = RawClient::login_as(port, &user, "pw", "idle");
    let mut client = RawClient::login_as(port, &user, "pw", "fetcher");
    let ask = |client: &mut RawClient, id: &str, xml: &str| {
        client.send(xml);
        until_answer(client, id).pop().expect("the answer")
    };
    let get_without_ver = ask(
        &mut client,
        "g1",
        "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>",
    );
    let get_with_empty_ver = ask(
        &mut client,
        "g2",
        "<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver=''/></iq>",
    );
    client.send(
        "<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>\
         <item jid='romeo@localhost' name='Romeo'><group>G</group></item></query></iq>",
    );
    let mut after_set = until_answer(&mut client, "s1");
    if !after_set.iter().any(|s| is_push(s)) {
        after_set.push(
            client
                .next_stanza(ANSWER_WAIT)
                .expect("a push after the result"),
        );
    }
    // ejabberd pushes to the idle resource too: wait for it there; Prosody must stay silent.
    let idle_resource = match server.kind() {
        ServerKind::Ejabberd => idle.next_stanza(ANSWER_WAIT).into_iter().collect(),
        ServerKind::Prosody => idle.stanzas_for(Duration::from_millis(500)),
    };
    let current = ask(
        &mut client,
        "g3",
        "<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver=''/></iq>",
    );
    let ver = attribute(&current, "ver").expect("ver after ver=''");
    let get_current_ver = ask(
        &mut client,
        "g4",
        &format!("<iq type='get' id='g4'><query xmlns='jabber:iq:roster' ver='{ver}'/></iq>"),
    );
    client.send(&format!(
        "<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='{user}@localhost'/></query></iq>"
    ));
    let own_jid = until_answer(&mut client, "s2");
    client.send(
        "<iq type='set' id='s3'><query xmlns='jabber:iq:roster'>\
         <item jid='tybalt@localhost'><group>A</group><group>A</group></item></query></iq>",
    );
    let duplicate_groups = until_answer(&mut client, "s3");
    client.send(
        "<iq type='set' id='s4'><query xmlns='jabber:iq:roster'>\
         <item jid='nobody@localhost' subscription='remove'/></query></iq>",
    );
    let remove_unknown = until_answer(&mut client, "s4");
    Observed {
        get_without_ver,
        get_with_empty_ver,
        after_set,
        idle_resource,
        get_current_ver,
        own_jid,
        duplicate_groups,
        remove_unknown,
    }
}

/// How long to wait for an answer or an expected push (generous: the machine may be loaded).
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The stanzas received until the answer (result or error) to `id`, that answer last.
fn until_answer(client: &mut RawClient, id: &str) -> Vec<String> {
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(stanza) = client.next_stanza(left) else {
            panic!("no answer to {id} within {ANSWER_WAIT:?}; got {got:?}");
        };
        let done = stanza.starts_with("<iq")
            && (stanza.contains("type='result'") || stanza.contains("type='error'"))
            && stanza.contains(&format!("id='{id}'"));
        got.push(stanza);
        if done {
            return got;
        }
    }
}

/// The value of the first `name='...'` attribute in `xml`.
fn attribute(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!(" {name}='"))? + name.len() + 3;
    let end = start + xml[start..].find('\'')?;
    Some(xml[start..end].to_string())
}

fn is_result(stanza: &str, id: &str) -> bool {
    stanza.starts_with("<iq")
        && stanza.contains("type='result'")
        && stanza.contains(&format!("id='{id}'"))
}

fn is_push(stanza: &str) -> bool {
    stanza.starts_with("<iq")
        && stanza.contains("type='set'")
        && stanza.contains("jabber:iq:roster")
}

#[test]
fn the_servers_differ_on_the_wire_as_documented() {
    // Both at once: each observation waits for stanzas that must not come.
    let (p, e) = thread::scope(|scope| {
        let p = scope.spawn(|| observe(&Prosody::start().expect("start Prosody")));
        let e = scope.spawn(|| observe(shared()));
        (p.join().expect("Prosody"), e.join().expect("ejabberd"))
    });
    let bare = |s: &str| attribute(s, "from");

    // A get without `ver`: Prosody answers with a version, ejabberd without.
    assert!(
        attribute(&p.get_without_ver, "ver").is_some(),
        "{}",
        p.get_without_ver
    );
    assert_eq!(
        attribute(&e.get_without_ver, "ver"),
        None,
        "{}",
        e.get_without_ver
    );
    // With ver='': Prosody's version is an integer, ejabberd's a 40-hex content hash.
    let pv = attribute(&p.get_with_empty_ver, "ver").expect("Prosody ver");
    assert!(pv.parse::<u64>().is_ok(), "{pv}");
    let ev = attribute(&e.get_with_empty_ver, "ver").expect("ejabberd ver");
    assert!(
        ev.len() == 40 && ev.bytes().all(|b| b.is_ascii_hexdigit()),
        "{ev}"
    );
    // Results and pushes: ejabberd's come from the bare JID; Prosody's have no `from`.
    assert_eq!(
        bare(&p.get_with_empty_ver),
        None,
        "{}",
        p.get_with_empty_ver
    );
    assert!(bare(&e.get_with_empty_ver).is_some_and(|f| !f.contains('/')));

    // After a set: Prosody sends the result, then the push; ejabberd the push, then the result.
    let order = |stanzas: &[String]| -> Vec<&'static str> {
        stanzas
            .iter()
            .map(|s| {
                if is_result(s, "s1") {
                    "result"
                } else if is_push(s) {
                    "push"
                } else {
                    "other"
                }
            })
            .collect()
    };
    assert_eq!(order(&p.after_set), ["result", "push"], "{:?}", p.after_set);
    assert_eq!(order(&e.after_set), ["push", "result"], "{:?}", e.after_set);
    let e_push = &e.after_set[0];
    assert!(
        bare(e_push).is_some_and(|f| f.starts_with("wire") && f.ends_with("@localhost")),
        "{e_push}"
    );
    assert_eq!(bare(&p.after_set[1]), None, "{}", p.after_set[1]);
    assert!(
        attribute(e_push, "ver").is_some_and(|v| v.len() == 40),
        "{e_push}"
    );

    // A resource that never fetched the roster: no push from Prosody, a push from ejabberd.
    assert!(p.idle_resource.is_empty(), "{:?}", p.idle_resource);
    assert!(
        e.idle_resource.iter().any(|s| is_push(s)),
        "{:?}",
        e.idle_resource
    );

    // The current version: an empty result (no <query/>) from both.
    for got in [&p.get_current_ver, &e.get_current_ver] {
        assert!(is_result(got, "g4") && !got.contains("<query"), "{got}");
    }

    // The user's own JID as an item: Prosody refuses (not-allowed), ejabberd accepts.
    assert!(
        p.own_jid
            .iter()
            .any(|s| s.contains("type='error'") && s.contains("not-allowed")),
        "{:?}",
        p.own_jid
    );
    assert!(
        e.own_jid.iter().any(|s| is_result(s, "s2")),
        "{:?}",
        e.own_jid
    );
    assert!(e.own_jid.iter().any(|s| is_push(s)), "{:?}", e.own_jid);

    // Duplicate groups: Prosody accepts, ejabberd answers bad-request.
    assert!(
        p.duplicate_groups.iter().any(|s| is_result(s, "s3")),
        "{:?}",
        p.duplicate_groups
    );
    assert!(
        e.duplicate_groups
            .iter()
            .any(|s| s.contains("type='error'") && s.contains("bad-request")),
        "{:?}",
        e.duplicate_groups
    );

    // Removing an unknown JID: Prosody item-not-found; ejabberd a result plus a push that
    // carries the same ver as the push before it.
    assert!(
        p.remove_unknown
            .iter()
            .any(|s| s.contains("item-not-found")),
        "{:?}",
        p.remove_unknown
    );
    assert!(
        e.remove_unknown.iter().any(|s| is_result(s, "s4")),
        "{:?}",
        e.remove_unknown
    );
    let removal_push = e
        .remove_unknown
        .iter()
        .find(|s| is_push(s))
        .expect("a removal push");
    let own_push = e.own_jid.iter().find(|s| is_push(s)).unwrap();
    assert_eq!(
        attribute(removal_push, "ver"),
        attribute(own_push, "ver"),
        "{removal_push} / {own_push}"
    );
}

// ---------------------------------------------------------------------------------------------
// The binary

#[test]
fn binary_runs_command_against_ejabberd_and_leaves_nothing_behind() {
    let script = r#"
        echo "$XMPP_TEST_SERVER_DIR $(cat "$XMPP_TEST_SERVER_DIR/ejabberd.pid") $XMPP_TEST_PORT $XMPP_TEST_TLS_PORT $XMPP_TEST_EJABBERD_API_PORT"
        test "$XMPP_TEST_HOST" = 127.0.0.1 || exit 10
        test "$XMPP_TEST_DOMAIN" = localhost || exit 11
        test -f "$XMPP_TEST_CA_FILE" || exit 12
        test -z "$XMPP_TEST_PROSODY_CONFIG" || exit 13
        $XMPP_TEST_REGISTER_CMD carol localhost 'pw' || exit 14
        $XMPP_TEST_REGISTER_CMD dave unknown.example pw 2>/dev/null && exit 15
        $XMPP_TEST_EJABBERDCTL registered_users localhost > "$XMPP_TEST_SERVER_DIR/users.txt" || exit 16
        grep -qx alice "$XMPP_TEST_SERVER_DIR/users.txt" || exit 17
        grep -qx carol "$XMPP_TEST_SERVER_DIR/users.txt" || exit 18
        test "$XMPP_TEST_SERVER_KIND" = ejabberd && exit 3
    "#;
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["--server", "ejabberd", "--user", "alice:pa:ss"])
        .args(["--", "sh", "-c", script])
        .output()
        .expect("run xmpp-test-server");
    eprintln!(
        "xmpp-test-server --server ejabberd took {:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(3),
        "stdout: {stdout} stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let dir = fields[0];
    let pid: u32 = fields[1].parse().expect("beam pid");
    let ports: Vec<u16> = fields[2..5]
        .iter()
        .map(|p| p.parse().expect("port"))
        .collect();
    assert!(!process_exists(pid), "beam.smp {pid} outlived the harness");
    let left = live_processes_mentioning(dir);
    assert!(left.is_empty(), "processes of the server left: {left:?}");
    for port in ports {
        assert!(!accepts_tcp(port), "port {port} still open");
    }
    assert!(!Path::new(dir).exists(), "server dir not removed");
}

#[test]
fn binary_sets_kind_and_register_command_for_prosody_too() {
    // Prosody is the default.
    let status = Command::new(BIN)
        .args(["--"])
        .args([
            "sh",
            "-c",
            r#"
            test "$XMPP_TEST_SERVER_KIND" = prosody || exit 10
            $XMPP_TEST_REGISTER_CMD eve localhost pw >/dev/null 2>&1 || exit 11
            test -f "$XMPP_TEST_SERVER_DIR/data/localhost/accounts/eve.dat" || exit 12
            exit 4
        "#,
        ])
        .status()
        .expect("run xmpp-test-server");
    assert_eq!(status.code(), Some(4));
}

#[test]
fn a_killed_harness_takes_its_ejabberd_with_it() {
    let script = r#"echo "$XMPP_TEST_SERVER_DIR $(cat "$XMPP_TEST_SERVER_DIR/ejabberd.pid") $$"; exec sleep 60"#;
    let mut harness = Command::new(BIN)
        .args(["--server", "ejabberd", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run xmpp-test-server");
    let mut line = String::new();
    BufReader::new(harness.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let dir = fields[0].to_string();
    let beam: u32 = fields[1].parse().expect("beam pid");
    let sleep: u32 = fields[2].parse().expect("command pid");
    assert!(process_exists(beam));
    // SIGKILL: no exit handler, no Drop. Only the watchdog can clean up.
    harness.kill().expect("SIGKILL the harness");
    harness.wait().expect("reap the harness");
    // SAFETY: kill(2) on the command the harness left behind (its environment names the dir).
    unsafe { libc::kill(sleep as libc::pid_t, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = live_processes_mentioning(&dir);
    while !left.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        left = live_processes_mentioning(&dir);
    }
    assert!(left.is_empty(), "left running: {left:?}");
    // The directory is left behind, as documented.
    assert!(Path::new(&dir).is_dir());
    std::fs::remove_dir_all(&dir).expect("remove the left-behind dir");
}

#[test]
fn binary_refuses_prosody_only_flags_and_bad_kinds() {
    for args in [
        &["--server", "ejabberd", "--hashed-vhosts", "--", "true"][..],
        &["--server", "ejabberd", "--stanza-debug", "--", "true"][..],
        &["--server", "openfire", "--", "true"][..],
        &["--server"][..],
        &["--ejabberd-register", "1", "a", "b"][..],
        &["--ejabberd-register", "port", "a", "b", "c"][..],
    ] {
        let output = Command::new(BIN).args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage:"),
            "{args:?}"
        );
    }
}
