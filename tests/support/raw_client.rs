//! A bare-bones XMPP client over a raw socket (plaintext, SASL PLAIN), for sending stanzas the
//! library never sends, such as a roster push from another user.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct RawClient {
    stream: TcpStream,
    pub received: String,
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

impl RawClient {
    /// Logs `user@localhost` in over plaintext with PLAIN and binds `resource`.
    pub fn login(port: u16, user: &str, password: &str, resource: &str) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut c = RawClient { stream, received: String::new() };
        c.send(HEADER);
        c.wait_for("</stream:features>");
        let creds = openssl::base64::encode_block(format!("\0{user}\0{password}").as_bytes());
        c.send(&format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"));
        c.wait_for("<success");
        c.received.clear();
        c.send(HEADER);
        c.wait_for("</stream:features>");
        c.send(&format!("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"));
        c.wait_for("</iq>");
        c.received.clear();
        c
    }

    pub fn send(&mut self, data: &str) {
        self.stream.write_all(data.as_bytes()).expect("write");
    }

    /// Reads whatever arrives within 50 ms.
    pub fn wait_for_briefly(&mut self) {
        self.stream.set_read_timeout(Some(Duration::from_millis(50))).ok();
        let mut buf = [0u8; 16384];
        if let Ok(n) = self.stream.read(&mut buf) {
            self.received.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// Reads until `needle` was received (panics after 10 s); returns everything received so far.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.stream.set_read_timeout(Some(Duration::from_millis(100))).ok();
        while !self.received.contains(needle) {
            assert!(Instant::now() < deadline, "raw client never received {needle:?}; got {:?}", self.received);
            let mut buf = [0u8; 16384];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("raw client: server closed; got {:?}", self.received),
                Ok(n) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
        self.received.clone()
    }
}
