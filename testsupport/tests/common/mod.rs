//! A minimal raw XMPP client for checking the servers without the project's client library:
//! read features, log in with PLAIN over plaintext (the harness allows it), exchange stanzas.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
     xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to c2s port");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).expect("send");
    }

    /// Reads more into the buffer; false on timeout. Panics on EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!(
                "connection closed; buffered: {}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Reads until `needle` arrives; returns everything up to and including it (and consumes it).
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = find(&self.buf, needle.as_bytes()) {
                let rest = self.buf.split_off(i + needle.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            if Instant::now() > deadline {
                panic!(
                    "waiting for {needle:?}, got only: {}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill();
        }
    }

    /// The next top-level `<iq>`, `<presence>` or `<message>` (self-closing or not), or `None`
    /// if none arrives within `wait`. Assumes stanzas do not nest an element of their own name
    /// (true of the roster traffic these tests exchange).
    pub fn next_stanza(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(stanza) = self.take_stanza() {
                return Some(stanza);
            }
            if Instant::now() > deadline {
                return None;
            }
            self.fill();
        }
    }

    /// Every stanza arriving within `wait`.
    pub fn stanzas_for(&mut self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(stanza) =
            self.next_stanza(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(stanza);
        }
        out
    }

    fn take_stanza(&mut self) -> Option<String> {
        let buf = &self.buf;
        // The earliest `<iq`, `<presence` or `<message` followed by a space, '>' or '/'.
        let (start, name) = [&b"iq"[..], b"presence", b"message"]
            .into_iter()
            .filter_map(|name| {
                (0..buf.len()).find_map(|at| {
                    let after = at + 1 + name.len();
                    let hit = buf[at] == b'<'
                        && buf.get(at + 1..after) == Some(name)
                        && matches!(buf.get(after), Some(b' ' | b'>' | b'/'));
                    hit.then_some((at, name))
                })
            })
            .min()?;
        let gt = start + find(&buf[start..], b">")?;
        let end = if buf[gt - 1] == b'/' {
            gt + 1
        } else {
            let close = [&b"</"[..], name, b">"].concat();
            gt + find(&buf[gt..], &close)? + close.len()
        };
        let stanza = String::from_utf8_lossy(&buf[start..end]).into_owned();
        self.buf.drain(..end);
        Some(stanza)
    }

    /// Opens a stream, authenticates with SASL PLAIN and binds `resource`.
    pub fn login_as(port: u16, user: &str, password: &str, resource: &str) -> RawClient {
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
        let outcome = client.expect("xmpp-sasl'");
        let outcome = outcome + &client.expect(">");
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
        client.send(&format!(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>{resource}</resource></bind></iq>"
        ));
        let bound = client.expect("</iq>");
        assert!(bound.contains("type='result'"), "{bound}");
        client
    }

    pub fn login(port: u16, user: &str, password: &str) -> RawClient {
        RawClient::login_as(port, user, password, "harness")
    }

    /// Whether PLAIN login succeeds (without panicking when it does not).
    pub fn can_login(port: u16, user: &str, password: &str) -> bool {
        let mut client = RawClient::connect(port);
        client.send(STREAM_HEADER);
        client.expect("</stream:features>");
        let credentials = base64(format!("\0{user}\0{password}").as_bytes());
        client.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        ));
        let outcome = client.expect("xmpp-sasl'");
        outcome.contains("<success")
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn base64(bytes: &[u8]) -> String {
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

pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn accepts_tcp(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Live (non-zombie) processes whose command line or environment mentions `needle` (e.g. a
/// server's private dir: ejabberd's launcher, VM and anything they start have HOME set to it).
pub fn live_processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let read = |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
        let stat = String::from_utf8_lossy(&read("stat")).into_owned();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
        if state.as_deref() == Some("Z") || state.is_none() {
            continue;
        }
        let cmdline = read("cmdline");
        let environ = read("environ");
        if find(&cmdline, needle.as_bytes()).is_some()
            || find(&environ, needle.as_bytes()).is_some()
        {
            let comm = String::from_utf8_lossy(&read("comm")).trim().to_string();
            found.push(format!(
                "{pid} {comm} {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// `openssl s_client` with the CA, server name and hostname check for "localhost"; returns its
/// output, asserting that verification succeeded. `extra` is e.g. `["-starttls", "xmpp",
/// "-xmpphost", "localhost"]`.
pub fn openssl_verify(ca: &Path, port: u16, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let ca = ca.to_str().expect("UTF-8 path");
    let mut args = vec![
        "s_client",
        "-brief",
        "-CAfile",
        ca,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-connect",
        &connect,
    ];
    args.extend(extra);
    let output = std::process::Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "openssl {args:?}: {text}");
    assert!(
        text.contains("Verification: OK"),
        "openssl {args:?}: {text}"
    );
    text
}
