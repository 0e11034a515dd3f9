//! A scripted XMPP server on 127.0.0.1 for faults a real server never produces (malformed XML,
//! spoofed or truncated stanzas, resets mid-stanza, silence). Each test writes the server's side
//! as a closure over a [`FakeConn`]; the client side is the real library.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xmpp_roster::{Client, Config, Mechanism, TlsMode};

pub const FULL_JID: &str = "juliet@localhost/balcony";

/// The server side of one connection.
pub struct FakeConn {
    stream: TcpStream,
    /// Everything the client sent that was not consumed by `expect` yet.
    pending: String,
    /// Everything the client ever sent.
    pub transcript: String,
}

impl FakeConn {
    /// Sends raw bytes to the client.
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(data.as_ref());
        let _ = self.stream.flush();
    }

    /// Reads until the client's output contains `needle`; returns everything up to and including it.
    /// Panics (failing the test) after 10 s.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.pending.find(needle) {
                let upto = self.pending[..i + needle.len()].to_string();
                self.pending.drain(..i + needle.len());
                return upto;
            }
            assert!(Instant::now() < deadline, "fake server: client never sent {needle:?}; got {:?}", self.pending);
            let mut buf = [0u8; 65536];
            self.stream.set_read_timeout(Some(Duration::from_millis(100))).ok();
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("fake server: client closed while waiting for {needle:?}; got {:?}", self.pending),
                Ok(n) => {
                    let s = String::from_utf8_lossy(&buf[..n]);
                    self.pending.push_str(&s);
                    self.transcript.push_str(&s);
                }
                Err(_) => {}
            }
        }
    }

    /// Reads the next IQ of `kind` the client sends and returns its id.
    /// The client writes `type` first and always closes its requests with `</iq>`.
    pub fn expect_iq(&mut self, kind: &str) -> String {
        self.expect(&format!("<iq type='{kind}'"));
        id_of(&self.expect("</iq>"))
    }

    /// Reads until `needle` has been seen, then for `linger` more; returns all of it.
    pub fn collect(&mut self, needle: &str, linger: Duration) -> String {
        let mut got = self.expect(needle);
        got.push_str(&self.drain_for(linger));
        got
    }

    /// Reads whatever the client sends for `dur` (to see what it answered).
    pub fn drain_for(&mut self, dur: Duration) -> String {
        let deadline = Instant::now() + dur;
        let mut got = std::mem::take(&mut self.pending);
        while Instant::now() < deadline {
            let mut buf = [0u8; 65536];
            self.stream.set_read_timeout(Some(Duration::from_millis(50))).ok();
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let s = String::from_utf8_lossy(&buf[..n]);
                    got.push_str(&s);
                    self.transcript.push_str(&s);
                }
                Err(_) => {}
            }
        }
        got
    }

    /// Closes the connection abruptly.
    pub fn reset(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// A plaintext login with PLAIN, binding `juliet@localhost/balcony`, advertising roster
    /// versioning and pre-approval.
    pub fn login(&mut self) {
        self.expect("<stream:stream");
        self.expect(">");
        self.send(HEADER);
        self.send("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        self.expect("</auth>");
        self.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        self.expect("<stream:stream");
        self.expect(">");
        self.send(HEADER);
        self.send("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><ver xmlns='urn:xmpp:features:rosterver'/><sub xmlns='urn:xmpp:features:pre-approval'/></stream:features>");
        let id = self.expect_iq("set");
        self.send(format!("<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{FULL_JID}</jid></bind></iq>"));
    }

    /// Answers the client's roster get with `items_xml` inside the query, at version `ver`.
    pub fn answer_roster_get(&mut self, ver: &str, items_xml: &str) {
        let id = self.expect_iq("get");
        self.send(format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='{ver}'>{items_xml}</query></iq>"));
    }
}

pub const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0' xml:lang='en'>";

/// The value of the first `id='...'` in `s`.
pub fn id_of(s: &str) -> String {
    let i = s.find("id='").expect("an id attribute") + 4;
    let j = s[i..].find('\'').expect("closing quote") + i;
    s[i..j].to_string()
}

/// A fake server handling exactly one connection with `script`.
pub struct FakeServer {
    pub port: u16,
    handle: Option<JoinHandle<String>>,
}

impl FakeServer {
    pub fn start<F>(script: F) -> FakeServer
    where
        F: FnOnce(&mut FakeConn) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_nodelay(true).ok();
            let mut conn = FakeConn { stream, pending: String::new(), transcript: String::new() };
            script(&mut conn);
            // Keep the socket open a little so the client reads everything before the close.
            std::thread::sleep(Duration::from_millis(50));
            conn.transcript
        });
        FakeServer { port, handle: Some(handle) }
    }

    /// Waits for the script to finish; returns everything the client sent. Panics in the script
    /// fail the test here.
    pub fn finish(mut self) -> String {
        match self.handle.take().expect("finished once").join() {
            Ok(t) => t,
            Err(e) => std::panic::resume_unwind(e),
        }
    }
}

/// A configuration for the fake server: plaintext, PLAIN, the given timeout.
pub fn fake_config(port: u16, timeout: Duration) -> Config {
    let mut config = Config::new(FULL_JID, "secret").expect("config");
    config.set_server(Some("127.0.0.1"), Some(port)).expect("server");
    config.set_tls(TlsMode::Plaintext);
    config.set_mechanisms(&[Mechanism::Plain]).expect("mechanisms");
    config.set_timeout(timeout).expect("timeout");
    config
}

/// A client for the fake server with [`fake_config`].
pub fn client_for(port: u16, timeout: Duration) -> Client {
    Client::new(fake_config(port, timeout)).expect("client")
}
