//! Specifications of the Prosody test harness and of the `xmpp-test-server` binary, against a
//! real Prosody. Each test starts its own server(s); they run in parallel.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xmpp_roster_testsupport::{Prosody, ProsodyOptions, RosterFileItem};

const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
     xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
const BIN: &str = env!("CARGO_BIN_EXE_xmpp-test-server");

// ---------------------------------------------------------------------------------------------
// A minimal raw XMPP client: just enough to read features, log in with PLAIN over plaintext
// (the harness allows it) and fetch a roster, so the harness can be checked without the
// project's client library.

struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to c2s port");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).expect("send");
    }

    /// Reads until `needle` arrives; returns everything up to and including it (and consumes it).
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = find(&self.buf, needle.as_bytes()) {
                let rest = self.buf.split_off(i + needle.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).unwrap_or(0);
            if n == 0 || Instant::now() > deadline {
                panic!(
                    "waiting for {needle:?}, got only: {}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Opens a stream, authenticates with SASL PLAIN and binds a resource.
    fn login(port: u16, user: &str, password: &str) -> RawClient {
        let mut client = RawClient::connect(port);
        client.send(STREAM_HEADER);
        let features = client.expect("</stream:features>");
        assert!(
            features.contains("<mechanism>PLAIN</mechanism>"),
            "{features}"
        );
        let credentials = base64(format!("\0{user}\0{password}").as_bytes());
        client.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        ));
        let outcome = client.expect("xmpp-sasl");
        assert!(
            outcome.contains("<success"),
            "login of {user} failed: {outcome}"
        );
        client.send(STREAM_HEADER);
        let features = client.expect("</stream:features>");
        assert!(
            features.contains("urn:ietf:params:xml:ns:xmpp-bind"),
            "{features}"
        );
        client.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>harness</resource></bind></iq>",
        );
        let bound = client.expect("</iq>");
        assert!(bound.contains("type='result'"), "{bound}");
        client
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn accepts_tcp(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn start() -> Prosody {
    Prosody::start().unwrap_or_else(|e| panic!("Prosody::start failed: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The library

#[test]
fn base64_helper_matches_rfc4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn server_starts_on_loopback_and_both_ports_accept_tcp() {
    let server = start();
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.domain(), "localhost");
    assert_ne!(server.c2s_port(), server.tls_port());
    assert!(accepts_tcp(server.c2s_port()), "c2s port");
    assert!(accepts_tcp(server.tls_port()), "direct TLS port");
    assert!(process_exists(
        server.pid().expect("running server has a pid")
    ));
    assert!(server.dir().is_dir());
    assert!(server.config_file().starts_with(server.dir()));

    let ca = std::fs::read_to_string(server.ca_file()).expect("read CA file");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    let config = std::fs::read_to_string(server.config_file()).expect("read config");
    assert!(config.contains("run_as_root = true"), "{config}");
    let interface_lines: Vec<&str> = config
        .lines()
        .filter(|l| l.contains("interfaces"))
        .collect();
    assert!(interface_lines.len() >= 4, "{config}");
    for line in interface_lines {
        assert!(
            line.ends_with("= { \"127.0.0.1\" }"),
            "not loopback-only: {line}"
        );
    }
}

#[test]
fn c2s_port_answers_stream_header_with_starttls_feature() {
    let server = start();
    let mut client = RawClient::connect(server.c2s_port());
    client.send(STREAM_HEADER);
    let reply = client.expect("</stream:features>");
    assert!(reply.contains("<stream:stream"), "{reply}");
    assert!(reply.contains("from='localhost'"), "{reply}");
    assert!(
        reply.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'"),
        "{reply}"
    );
}

#[test]
fn ca_file_verifies_direct_tls_and_starttls_for_localhost() {
    let server = start();
    let ca = server.ca_file().to_str().expect("UTF-8 path").to_string();
    let tls_port = server.tls_port().to_string();
    let c2s_port = server.c2s_port().to_string();
    let runs: [Vec<&str>; 2] = [
        vec!["-connect", &tls_port],
        vec![
            "-connect",
            &c2s_port,
            "-starttls",
            "xmpp",
            "-xmpphost",
            "localhost",
        ],
    ];
    for extra in runs {
        let mut args = vec![
            "s_client",
            "-brief",
            "-CAfile",
            &ca,
            "-servername",
            "localhost",
        ];
        args.extend(["-verify_hostname", "localhost", "-verify_return_error"]);
        let connect = format!("127.0.0.1:{}", extra[1]);
        args.extend(["-connect", &connect]);
        args.extend(&extra[2..]);
        let output = Command::new("openssl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl s_client");
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "openssl {args:?}: {text}");
        assert!(
            text.contains("Verification: OK"),
            "openssl {args:?}: {text}"
        );
    }
}

#[test]
fn register_works_while_running_on_every_vhost() {
    let server = Prosody::start_with(ProsodyOptions {
        hashed_vhosts: true,
        ..Default::default()
    })
    .expect("start with hashed vhosts");
    let user = server.unique_user("Juliet");
    for domain in ["localhost", "sha1.localhost", "sha256.localhost"] {
        server
            .register(&user, domain, "s3cret")
            .expect("register while running");
    }
    let data = server.dir().join("data");
    let plain = std::fs::read_to_string(data.join(format!("localhost/accounts/{user}.dat")))
        .expect("account file of localhost");
    assert!(plain.contains("\"s3cret\""), "{plain}");
    // Prosody percent-encodes the host directory: '.' becomes %2e.
    for dir in ["sha1%2elocalhost", "sha256%2elocalhost"] {
        let hashed = std::fs::read_to_string(data.join(format!("{dir}/accounts/{user}.dat")))
            .unwrap_or_else(|e| panic!("account file under {dir}: {e}"));
        assert!(
            hashed.contains("stored_key") && !hashed.contains("s3cret"),
            "{hashed}"
        );
    }
    assert_eq!(
        server.account_file(&user, "sha1.localhost"),
        data.join(format!("sha1%2elocalhost/accounts/{user}.dat"))
    );

    // The running server accepts the new account at once.
    RawClient::login(server.c2s_port(), &user, "s3cret");

    let err = server
        .register("romeo", "unknown.example", "x")
        .expect_err("unknown host");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn roster_written_while_stopped_is_served_after_restart() {
    let mut server = start();
    let user = server.unique_user("juliet");
    server
        .register(&user, "localhost", "secret")
        .expect("register");
    let (c2s_port, tls_port) = (server.c2s_port(), server.tls_port());

    server.stop().expect("stop");
    assert_eq!(server.pid(), None);
    assert!(
        !accepts_tcp(c2s_port),
        "stopped server still accepts connections"
    );
    assert!(server.dir().is_dir(), "stop must keep the dir");

    let items = vec![
        RosterFileItem {
            jid: "romeo@localhost".into(),
            name: Some("Romeo \"R\" & <M> \\ é".into()),
            subscription: "both".into(),
            ask: None,
            groups: vec!["Friends".into(), "Ver]]ona".into()],
        },
        RosterFileItem {
            jid: "nurse@localhost".into(),
            name: None,
            subscription: "none".into(),
            ask: Some("subscribe".into()),
            groups: vec![],
        },
    ];
    server
        .write_roster(&user, "localhost", 1000, &items)
        .expect("write_roster");
    let file = server.roster_file(&user, "localhost");
    assert_eq!(
        file,
        server
            .dir()
            .join(format!("data/localhost/roster/{user}.dat"))
    );

    // Prosody's own storage code reads the file back exactly (lua5.4 is a Prosody dependency).
    let script = format!(
        "package.path = '/usr/lib/prosody/?.lua;' .. package.path \
         package.cpath = '/usr/lib/prosody/?.so;' .. package.cpath \
         local dm = require 'util.datamanager' \
         dm.set_data_path({data:?}) \
         local r = assert(dm.load({user:?}, 'localhost', 'roster')) \
         local romeo, nurse = r['romeo@localhost'], r['nurse@localhost'] \
         assert(r[false].version == 1000 and next(r[false].pending) == nil) \
         assert(romeo.name == 'Romeo \"R\" & <M> \\\\ \\u{{e9}}', romeo.name) \
         assert(romeo.subscription == 'both' and romeo.ask == nil) \
         assert(romeo.groups['Friends'] and romeo.groups['Ver]]ona']) \
         assert(nurse.name == nil and nurse.ask == 'subscribe' and next(nurse.groups) == nil) \
         print('ok')",
        data = server.dir().join("data").to_str().expect("UTF-8 path"),
    );
    let lua = Command::new("lua5.4")
        .args(["-e", &script])
        .output()
        .expect("run lua5.4");
    assert!(
        lua.status.success() && lua.stdout == b"ok\n",
        "lua: {} {}",
        String::from_utf8_lossy(&lua.stdout),
        String::from_utf8_lossy(&lua.stderr)
    );

    server.restart().expect("restart");
    assert_eq!((server.c2s_port(), server.tls_port()), (c2s_port, tls_port));
    assert!(accepts_tcp(tls_port));

    let mut client = RawClient::login(server.c2s_port(), &user, "secret");
    client.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
    let roster = client.expect("</iq>");
    assert!(roster.contains("ver='1000'"), "{roster}");
    assert!(roster.contains("jid='romeo@localhost'"), "{roster}");
    assert!(roster.contains("subscription='both'"), "{roster}");
    assert!(roster.contains("<group>Friends</group>"), "{roster}");
    assert!(roster.contains("<group>Ver]]ona</group>"), "{roster}");
    assert!(roster.contains("&amp; &lt;M&gt; \\ é"), "{roster}");
    assert!(roster.contains("jid='nurse@localhost'"), "{roster}");
    assert!(roster.contains("ask='subscribe'"), "{roster}");

    let log = server.log_contents();
    assert!(!log.contains("\terror\t"), "errors in the log:\n{log}");
    assert_eq!(
        log.matches("Hello and welcome to Prosody").count(),
        2,
        "{log}"
    );
}

#[test]
fn write_roster_refuses_while_running() {
    let server = start();
    let err = server
        .write_roster("juliet", "localhost", 5, &[])
        .expect_err("server runs");
    assert!(err.to_string().contains("stop"), "{err}");
    assert!(!server.roster_file("juliet", "localhost").exists());
}

#[test]
fn unique_user_names_are_unique_and_lowercase() {
    let server = start();
    let names: Vec<String> = (0..50).map(|_| server.unique_user("Juliet")).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "{names:?}");
    for name in &names {
        assert!(
            name.starts_with("juliet") && *name == name.to_lowercase(),
            "{name}"
        );
    }
}

#[test]
fn stop_and_restart_repeatedly_keep_data_and_ports() {
    let mut server = start();
    let user = server.unique_user("romeo");
    server.register(&user, "localhost", "pw").expect("register");
    for _ in 0..2 {
        server.restart().expect("restart");
        RawClient::login(server.c2s_port(), &user, "pw");
    }
    server.stop().expect("stop");
    server.stop().expect("stopping twice is fine");
    assert!(server.account_file(&user, "localhost").is_file());
}

#[test]
fn drop_kills_the_server_and_removes_its_dir() {
    let server = start();
    let pid = server.pid().expect("pid");
    let dir = server.dir().to_path_buf();
    let port = server.c2s_port();
    assert!(process_exists(pid));
    drop(server);
    assert!(
        !process_exists(pid),
        "prosody {pid} still exists (or is a zombie)"
    );
    assert!(!dir.exists(), "{} not removed", dir.display());
    assert!(!accepts_tcp(port));
}

#[test]
fn stanza_debug_logs_stanzas() {
    let server = Prosody::start_with(ProsodyOptions {
        stanza_debug: true,
        ..Default::default()
    })
    .expect("start with stanza_debug");
    let user = server.unique_user("mercutio");
    server.register(&user, "localhost", "pw").expect("register");
    let mut client = RawClient::login(server.c2s_port(), &user, "pw");
    client.send("<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>");
    client.expect("id='ping1'");
    // The log is written as stanzas pass; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log_contents().contains("RECV: <iq") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.log_contents();
    assert!(
        log.contains("RECV: <iq") && log.contains("SEND: <iq"),
        "{log}"
    );
}

#[test]
fn parallel_servers_are_independent() {
    let handles: Vec<_> = (0..4).map(|_| std::thread::spawn(start)).collect();
    let servers: Vec<Prosody> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = servers
        .iter()
        .flat_map(|s| [s.c2s_port(), s.tls_port()])
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 8, "ports shared between servers");
    for server in &servers {
        assert!(accepts_tcp(server.c2s_port()));
    }
}

// ---------------------------------------------------------------------------------------------
// The binary

#[test]
fn binary_runs_command_and_exits_with_its_code() {
    let status = Command::new(BIN)
        .args(["--", "sh", "-c", "test -n \"$XMPP_TEST_PORT\" && exit 3"])
        .status()
        .expect("run xmpp-test-server");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn binary_sets_env_registers_users_and_cleans_up() {
    let script = r#"
        echo "$(cat "$XMPP_TEST_SERVER_DIR/prosody.pid") $XMPP_TEST_PORT $XMPP_TEST_TLS_PORT $XMPP_TEST_SERVER_DIR"
        test "$XMPP_TEST_HOST" = 127.0.0.1 || exit 10
        test "$XMPP_TEST_DOMAIN" = localhost || exit 11
        test -f "$XMPP_TEST_CA_FILE" || exit 12
        test -f "$XMPP_TEST_PROSODY_CONFIG" || exit 13
        test -n "$XMPP_TEST_TLS_PORT" || exit 14
        test -f "$XMPP_TEST_SERVER_DIR/data/localhost/accounts/alice.dat" || exit 15
        grep -q '"pa:ss"' "$XMPP_TEST_SERVER_DIR/data/localhost/accounts/alice.dat" || exit 16
        test -f "$XMPP_TEST_SERVER_DIR/data/sha1%2elocalhost/accounts/bob.dat" && exit 17
        prosodyctl --config "$XMPP_TEST_PROSODY_CONFIG" register carol localhost pw >/dev/null 2>&1 || exit 18
        test -f "$XMPP_TEST_SERVER_DIR/data/localhost/accounts/carol.dat" || exit 19
        exit 3
    "#;
    let output = Command::new(BIN)
        .args([
            "--user",
            "alice:pa:ss",
            "--user",
            "bob:pw",
            "--hashed-vhosts",
        ])
        .args(["--", "sh", "-c", script])
        .output()
        .expect("run xmpp-test-server");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(3),
        "stdout: {stdout} stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let pid: u32 = fields[0].parse().expect("prosody pid");
    let c2s_port: u16 = fields[1].parse().expect("port");
    let tls_port: u16 = fields[2].parse().expect("tls port");
    assert!(!process_exists(pid), "prosody {pid} outlived the harness");
    assert!(!accepts_tcp(c2s_port) && !accepts_tcp(tls_port));
    assert!(!Path::new(fields[3]).exists(), "server dir not removed");
}

#[test]
fn binary_reports_signals_that_killed_the_command() {
    let status = Command::new(BIN)
        .args(["--", "sh", "-c", "kill -KILL $$"])
        .status()
        .expect("run xmpp-test-server");
    assert_eq!(status.code(), Some(128 + 9));
}

#[test]
fn binary_forwards_sigterm_and_kills_the_server() {
    let script = r#"echo "$(cat "$XMPP_TEST_SERVER_DIR/prosody.pid") $$ $XMPP_TEST_SERVER_DIR"; exec sleep 60"#;
    let mut harness = Command::new(BIN)
        .args(["--keep", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run xmpp-test-server");
    let mut line = String::new();
    BufReader::new(harness.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let prosody_pid: u32 = fields[0].parse().expect("prosody pid");
    let sleep_pid: u32 = fields[1].parse().expect("command pid");
    let dir = Path::new(fields[2]).to_path_buf();
    assert!(process_exists(prosody_pid) && process_exists(sleep_pid));

    let started = Instant::now();
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(harness.id() as libc::pid_t, libc::SIGTERM) };
    let status = harness.wait().expect("wait for harness");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(!process_exists(prosody_pid), "prosody survived the harness");
    assert!(
        !process_exists(sleep_pid),
        "the command survived the harness"
    );
    // --keep kept the dir.
    assert!(dir.join("prosody.log").is_file());
    std::fs::remove_dir_all(&dir).expect("remove kept dir");
}

#[test]
fn binary_without_prosody_fails_clearly() {
    let output = Command::new(BIN)
        .args(["--", "true"])
        .env("PATH", "/nonexistent-for-xmpp-test-server")
        .output()
        .expect("run xmpp-test-server");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("prosody is not installed"), "{stderr}");
}

#[test]
fn binary_usage_errors_exit_2() {
    for args in [
        &[][..],
        &["true"][..],
        &["--user", "nopassword", "--", "true"][..],
        &["--"][..],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .output()
            .expect("run xmpp-test-server");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage:"),
            "{args:?}"
        );
    }
}
