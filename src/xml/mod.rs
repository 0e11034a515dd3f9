//! The XML layer: cutting the incoming stream into stanzas, decoding a stanza into a small
//! element tree, and escaping text for what we send.
//!
//! The stream is read in two cheap steps instead of one stateful parser that blocks on the socket:
//! [`framer::Framer`] finds where each top-level stanza ends (a byte scanner that keeps its state
//! across reads, so XML split at any byte is fine), then quick-xml decodes the complete stanza from
//! memory. Restricted XML (RFC 6120 §11.1: DTDs, comments, processing instructions) is refused by
//! the framer before any parsing happens, so no entity is ever expanded.

pub mod element;
pub mod framer;
pub mod scan;
pub mod utf8;
pub mod writer;

pub use element::Element;
pub use framer::{Frame, Framer};

/// Namespaces used by the client.
pub mod ns {
    pub const CLIENT: &str = "jabber:client";
    pub const STREAM: &str = "http://etherx.jabber.org/streams";
    pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
    pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
    pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
    pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    pub const ROSTER: &str = "jabber:iq:roster";
    pub const ROSTERVER: &str = "urn:xmpp:features:rosterver";
    pub const PREAPPROVAL: &str = "urn:xmpp:features:pre-approval";
    pub const PING: &str = "urn:xmpp:ping";
}
