//! The blocking roster client.
//!
//! # Thread rules
//! A [`Client`] is used by one thread at a time (`&mut self` everywhere; it is `Send`, so it may
//! move between threads). Every call that talks to the server blocks the calling thread until it
//! is done, its timeout passes ([`Error::Timeout`]), or another thread cuts it short through an
//! [`Interrupter`] ([`Error::Interrupted`]). Timeouts and interrupts leave the connection usable.
//!
//! # Events
//! The event handler runs on the caller's thread, inside whichever call is reading from the
//! server when the event arrives: [`Client::poll`], or any blocking call that is waiting for its
//! answer (a roster push can arrive while `set_item` waits). The local roster is already updated
//! when the handler sees a roster event. Returning [`ControlFlow::Break`] from the handler makes
//! the running call return [`Error::CallbackAborted`] once the stanza is fully handled.

use crate::config::{Config, TlsMode};
use crate::error::{Error, Result, StanzaError};
use crate::event::{Event, PresenceInfo, Show, SubscriptionKind};
use crate::jid::{normalize_bare, Jid};
use crate::nul_string::NulString;
use crate::roster::{BatchSink, Roster, RosterBuilder, RosterChange, RosterItem, RosterSnapshot};
use crate::roster_decode::{self, RosterIq, WireItem};
use crate::sasl::{self, Mechanism, Scram};
use crate::transport::{self, Conn, Interrupter, TlsSettings, Waker};
use crate::xml::element::{parse_element, parse_start_tag, Scope};
use crate::xml::writer::{escape, escape_into, is_xml_safe};
use crate::xml::{ns, Element, Frame, Framer};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// The event handler: called with each [`Event`]; `Break` aborts the running call.
pub type EventHandler = Box<dyn FnMut(&Event) -> ControlFlow<()> + Send>;

/// The presence this client announces (RFC 6121 §4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnPresence {
    /// False sends `type='unavailable'`.
    pub available: bool,
    pub show: Show,
    pub status: Option<String>,
    /// -128..=127; negative keeps messages from being routed to this resource.
    pub priority: i8,
}

/// What [`Client::fetch_roster`] got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The server sent the whole roster; the local roster was replaced.
    Full,
    /// The server said our version is current (RFC 6121 §2.6.3); changes, if any, come as pushes.
    Unchanged,
}

/// What [`Client::fetch_roster_in_batches`] got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchedFetch {
    pub fetched: Fetched,
    /// True when the batches handed out are the new roster exactly, in the order of its items.
    /// False after an unchanged versioned fetch (no batches; the roster was kept) and when the
    /// result listed a JID twice (the last one wins, so an earlier batch holds an item the
    /// roster no longer has): then read the roster itself.
    pub batches_exact: bool,
}

/// Longest wait for the server's `</stream:stream>` on disconnect.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The live connection: socket, incoming stream scanner, and the stream's namespace bindings.
struct Session {
    conn: Conn,
    framer: Framer,
    scope: Scope,
}

/// One decoded incoming unit.
enum Incoming {
    Header(Vec<(String, String)>),
    Roster(RosterIq),
    /// The head of a roster `<iq/>` whose items are still arriving (see `Framer::want_heads`).
    RosterHead(RosterIq),
    /// A fetch result decoded item by item as it arrived: the head and the new roster.
    RosterItems(RosterIq, RosterBuilder),
    Element(Element),
    End,
}

/// Who a response must come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpectFrom {
    /// The user's own account: `from` absent or the user's bare JID (RFC 6121 §2.1.6).
    Account,
    /// Stream set-up (bind, session): also the server's domain, which some servers use.
    Server,
}

/// A blocking XMPP roster client. See the module docs for thread rules and events.
pub struct Client {
    config: Config,
    waker: Waker,
    session: Option<Session>,
    roster: Roster,
    /// True once the roster was fetched on this connection: the server then sends us pushes.
    roster_interested: bool,
    /// Contacts' resources that are available: bare JID -> one entry per resource.
    presences: HashMap<String, Vec<PresenceInfo>>,
    handler: Option<EventHandler>,
    abort_requested: bool,
    bound_jid: Option<Jid>,
    mechanism: Option<Mechanism>,
    rosterver: bool,
    preapproval: bool,
    /// While `set_item`/`remove_item` waits: the change it asked for, to recognise its push.
    awaited: Option<AwaitedPush>,
    /// True while `disconnect` waits for the server's end of stream.
    closing: bool,
    /// Answers to server requests not written yet (see `queue_reply`).
    replies: String,
    /// During `fetch_roster_in_batches`, until the result's items start: where they go.
    batch_sink: Option<BatchSink>,
}

/// A fresh stanza id: 72 random bits from the kernel (`getrandom`), so that no one can guess the
/// id of a request and forge its answer. Not from OpenSSL: a plaintext session would otherwise
/// initialise OpenSSL (read its configuration, seed its generator) for its first id, about a
/// millisecond of its connect.
fn random_id() -> String {
    let mut raw = [0u8; 9];
    // SAFETY: `raw` is writable for its length; getrandom writes at most that many bytes.
    let filled = unsafe { libc::getrandom(raw.as_mut_ptr().cast(), raw.len(), 0) };
    if usize::try_from(filled).ok() != Some(raw.len()) {
        // Only before the kernel's generator is seeded at boot, or on a kernel without the call
        // (before 3.17): the clock, rather than fail the call.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        raw[..8].copy_from_slice(&(t as u64).to_le_bytes());
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let t = text.trim();
    if t.is_empty() || t == "=" {
        return Ok(Vec::new());
    }
    openssl::base64::decode_block(t).map_err(|_| Error::Auth { condition: "malformed-request".into(), text: Some("server sent invalid base64".into()) })
}

fn encode_base64(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_string()
    } else {
        openssl::base64::encode_block(data)
    }
}

/// The stanza error inside an `<iq type='error'/>` (or any stanza).
fn stanza_error_of(el: &Element) -> StanzaError {
    let err = el.child("error", ns::CLIENT).or_else(|| el.children.iter().find(|c| c.name == "error"));
    let Some(err) = err else {
        return StanzaError { condition: "undefined-condition".into(), error_type: "cancel".into(), text: None };
    };
    let condition = err.children.iter().find(|c| c.ns == ns::STANZAS && c.name != "text").map(|c| c.name.clone());
    StanzaError {
        condition: condition.unwrap_or_else(|| "undefined-condition".into()),
        error_type: err.attr("type").unwrap_or("cancel").to_string(),
        text: err.child("text", ns::STANZAS).map(|t| t.text.clone()),
    }
}

/// The stream error a server sent (`<stream:error/>`).
fn stream_error_of(el: &Element) -> Error {
    let condition = el.children.iter().find(|c| c.ns == ns::STREAMS && c.name != "text").map(|c| c.name.clone());
    Error::Stream {
        condition: condition.unwrap_or_else(|| "undefined-condition".into()),
        text: el.child("text", ns::STREAMS).map(|t| t.text.clone()),
        by_server: true,
    }
}

/// Decodes one stanza: roster results and pushes straight into items, the rest into a tree.
/// A `set_item`/`remove_item` waiting for the push of its change.
struct AwaitedPush {
    /// The change asked for.
    change: WireItem,
    /// The server answered it: pushes for its contact from then on are this change or newer.
    answered: bool,
    /// Its push arrived.
    seen: bool,
}

/// The contact a roster item or removal is about.
fn wire_jid(item: &WireItem) -> &str {
    match item {
        WireItem::Item(i) => &i.jid,
        WireItem::Remove(j) => j,
        WireItem::Invalid(_) => "",
    }
}

/// True if `pushed` carries the change `expected` asked for: a removal for a removal; for an
/// item, the same groups and name. Names compare as servers may store them: with tabs and line
/// ends as spaces (XML attribute normalisation), and an empty name as none.
fn push_matches(expected: &WireItem, pushed: &WireItem) -> bool {
    fn name(n: &Option<NulString>) -> Option<String> {
        n.as_deref().filter(|n| !n.is_empty()).map(|n| n.replace(['\t', '\n', '\r'], " "))
    }
    match (expected, pushed) {
        (WireItem::Remove(a), WireItem::Remove(b)) => a == b,
        (WireItem::Item(a), WireItem::Item(b)) => a.jid == b.jid && a.groups == b.groups && name(&a.name) == name(&b.name),
        _ => false,
    }
}

fn decode(bytes: &[u8], scope: &Scope) -> Result<Incoming> {
    let is_roster = |iq: &RosterIq| iq.iq_type == "result" || iq.iq_type == "set";
    if bytes.starts_with(b"<iq") {
        if let Some(iq) = roster_decode::decode_common_shape(bytes).filter(is_roster) {
            return Ok(Incoming::Roster(iq));
        }
    }
    let el = parse_element(bytes, scope)?;
    match roster_decode::from_element(&el).filter(is_roster) {
        Some(iq) => Ok(Incoming::Roster(iq)),
        None => Ok(Incoming::Element(el)),
    }
}

impl Client {
    /// A client for `config`. Nothing is sent until [`connect`](Self::connect).
    pub fn new(config: Config) -> Result<Client> {
        Ok(Client {
            config,
            waker: Waker::new()?,
            session: None,
            roster: Roster::default(),
            roster_interested: false,
            presences: HashMap::new(),
            handler: None,
            abort_requested: false,
            bound_jid: None,
            mechanism: None,
            rosterver: false,
            preapproval: false,
            awaited: None,
            closing: false,
            replies: String::new(),
            batch_sink: None,
        })
    }

    /// Sets (or, with `None`, removes) the event handler. Replacing a handler drops the old one.
    pub fn set_event_handler(&mut self, handler: Option<EventHandler>) {
        self.handler = handler;
    }

    /// A handle that can cut this client's blocking calls short from another thread.
    pub fn interrupter(&self) -> Interrupter {
        self.waker.interrupter()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// The full JID the server bound for this session.
    pub fn bound_jid(&self) -> Option<&Jid> {
        self.bound_jid.as_ref()
    }

    /// The SASL mechanism the last successful login used.
    pub fn sasl_mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The local roster as it is now.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// An immutable copy of the local roster (O(1)).
    pub fn snapshot(&self) -> RosterSnapshot {
        self.roster.snapshot()
    }

    /// Replaces the local roster, e.g. with one saved from an earlier run, so that the next
    /// [`fetch_roster`](Self::fetch_roster) sends its version and may get "unchanged" back.
    pub fn load_roster(&mut self, roster: Roster) {
        self.roster = roster;
    }

    /// True if the server advertised roster versioning (`urn:xmpp:features:rosterver`).
    pub fn supports_roster_versioning(&self) -> bool {
        self.rosterver
    }

    /// True if the server advertised subscription pre-approval (`urn:xmpp:features:pre-approval`).
    pub fn supports_preapproval(&self) -> bool {
        self.preapproval
    }

    /// The available resources of contact `jid`, as last reported by presence.
    pub fn presence_of(&self, jid: &str) -> Vec<PresenceInfo> {
        normalize_bare(jid).and_then(|k| self.presences.get(k.as_ref()).cloned()).unwrap_or_default()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.config.timeout
    }

    // ----------------------------------------------------------------------------------------
    // Connecting

    /// Connects, secures the stream as configured, authenticates and binds a resource.
    /// Waits at most the configured timeout in all.
    pub fn connect(&mut self) -> Result<()> {
        if self.session.is_some() {
            return Err(Error::InvalidArgument("already connected".into()));
        }
        let deadline = self.deadline();
        let result = self.negotiate(deadline);
        if result.is_err() {
            if let Some(mut s) = self.session.take() {
                s.conn.shutdown();
            }
        }
        result
    }

    fn tls_settings(&self) -> Result<TlsSettings> {
        let ca_pem = match &self.config.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| Error::Tls(format!("cannot read the CA file {}: {e}", path.display())))?),
            None => None,
        };
        Ok(TlsSettings {
            ca_pem,
            server_name: self.config.tls_server_name.clone().unwrap_or_else(|| self.config.jid.domain().to_string()),
            danger_accept_invalid_certs: self.config.danger_accept_invalid_certs,
        })
    }

    fn negotiate(&mut self, deadline: Instant) -> Result<()> {
        self.roster_interested = false;
        self.presences.clear();
        self.bound_jid = None;
        self.mechanism = None;
        let host = self.config.host.clone().unwrap_or_else(|| self.config.jid.domain().to_string());
        let port = self.config.port.unwrap_or_else(|| self.config.default_port());
        let tls = self.tls_settings()?;
        let tcp = transport::connect_tcp(&host, port, deadline, &self.waker)?;
        let conn = match self.config.tls {
            TlsMode::DirectTls => transport::start_tls(tcp, &tls, true, deadline, &self.waker)?,
            _ => Conn::Plain(tcp),
        };
        self.session = Some(Session { conn, framer: Framer::new(self.config.max_stanza_size), scope: Scope::client_stream() });
        let mut features = self.open_stream(deadline)?;

        let encrypted = self.session.as_ref().is_some_and(|s| s.conn.is_tls());
        let starttls = features.child("starttls", ns::TLS);
        match self.config.tls {
            TlsMode::StartTls if !encrypted => {
                if starttls.is_none() {
                    return Err(Error::Tls("the server does not offer STARTTLS; refusing to send credentials in the clear".into()));
                }
                self.send_raw(&format!("<starttls xmlns='{}'/>", ns::TLS), deadline)?;
                let answer = self.read_element(deadline)?;
                if !answer.is("proceed", ns::TLS) {
                    return Err(Error::Tls(format!("the server refused STARTTLS (<{}/>)", answer.name)));
                }
                let session = self.session.take().ok_or(Error::NotConnected)?;
                let Conn::Plain(tcp) = session.conn else {
                    return Err(Error::Tls("STARTTLS on a stream that is already encrypted".into()));
                };
                let conn = transport::start_tls(tcp, &tls, false, deadline, &self.waker)?;
                self.session = Some(Session { conn, framer: Framer::new(self.config.max_stanza_size), scope: Scope::client_stream() });
                features = self.open_stream(deadline)?;
            }
            TlsMode::Plaintext if starttls.is_some_and(|s| s.child("required", ns::TLS).is_some()) => {
                return Err(Error::Tls("the server requires TLS but the client was configured for plaintext".into()));
            }
            _ => {}
        }

        self.authenticate(&features, deadline)?;
        let features = self.open_stream(deadline)?;
        if features.child("bind", ns::BIND).is_none() {
            return Err(Error::local_stream("unsupported-feature", "the server offers no resource binding"));
        }
        self.bind(deadline)?;
        if let Some(session) = features.child("session", ns::SESSION) {
            if session.child("optional", ns::SESSION).is_none() {
                let id = random_id();
                self.send_raw(&format!("<iq type='set' id='{id}'><session xmlns='{}'/></iq>", ns::SESSION), deadline)?;
                let el = self.wait_response_element(&id, ExpectFrom::Server, deadline)?;
                if el.attr("type") == Some("error") {
                    return Err(Error::Stanza(stanza_error_of(&el)));
                }
            }
        }
        self.rosterver = features.child("ver", ns::ROSTERVER).is_some();
        self.preapproval = features.child("sub", ns::PREAPPROVAL).is_some();
        Ok(())
    }

    /// Sends our stream header, reads the server's and its `<stream:features/>`.
    fn open_stream(&mut self, deadline: Instant) -> Result<Element> {
        let domain = escape(self.config.jid.domain());
        self.send_raw(
            &format!("<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' xmlns='{}' xmlns:stream='{}'>", ns::CLIENT, ns::STREAM),
            deadline,
        )?;
        match self.read_incoming(deadline)? {
            Incoming::Header(attrs) => {
                if let Some(s) = self.session.as_mut() {
                    s.scope = Scope::client_stream();
                    s.scope.declare_from(&attrs);
                }
                let declared = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
                if declared("xmlns") != Some(ns::CLIENT) || declared("xmlns:stream") != Some(ns::STREAM) {
                    return Err(self.fail_stream(Error::local_stream("invalid-namespace", "the server's stream is not a jabber:client stream")));
                }
                if attrs.iter().any(|(k, v)| k == "version" && !v.starts_with('1')) {
                    return Err(self.fail_stream(Error::local_stream("unsupported-version", "the server does not speak XMPP 1.0")));
                }
            }
            _ => return Err(self.fail_stream(Error::local_stream("not-well-formed", "expected the server's stream header"))),
        }
        let features = self.read_element(deadline)?;
        if !features.is("features", ns::STREAM) {
            return Err(self.fail_stream(Error::local_stream("not-well-formed", format!("expected stream features, got <{}/>", features.name))));
        }
        Ok(features)
    }

    fn authenticate(&mut self, features: &Element, deadline: Instant) -> Result<()> {
        let offered: Vec<String> = features
            .child("mechanisms", ns::SASL)
            .map(|m| m.children.iter().filter(|c| c.is("mechanism", ns::SASL)).map(|c| c.text.trim().to_string()).collect())
            .unwrap_or_default();
        let encrypted = self.session.as_ref().is_some_and(|s| s.conn.is_tls());
        let plain_allowed = encrypted || self.config.tls == TlsMode::Plaintext;
        let Some(mechanism) = sasl::choose(&offered, &self.config.mechanisms, plain_allowed) else {
            let mut text = format!("the server offers [{}]", offered.join(", "));
            if offered.iter().any(|o| o == "PLAIN") && !plain_allowed {
                text.push_str("; PLAIN is refused on an unencrypted stream");
            }
            return Err(Error::Auth { condition: "no-acceptable-mechanism".into(), text: Some(text) });
        };
        let username = self.config.jid.local().unwrap_or_default().to_string();
        let password = self.config.password.clone();
        let mut scram = match mechanism {
            Mechanism::Plain => None,
            m => Some(Scram::new(m, &username, &password)?),
        };
        let initial = match &scram {
            Some(s) => s.client_first(),
            None => sasl::plain_initial(&username, &password),
        };
        self.send_raw(&format!("<auth xmlns='{}' mechanism='{}'>{}</auth>", ns::SASL, mechanism.name(), encode_base64(&initial)), deadline)?;
        let mut verified = scram.is_none();
        loop {
            let el = self.read_element(deadline)?;
            if el.is("challenge", ns::SASL) {
                let data = decode_base64(&el.text)?;
                let reply = match scram.as_mut() {
                    Some(s) if !verified && data.starts_with(b"v=") => {
                        s.verify_server_final(&data)?;
                        verified = true;
                        Vec::new()
                    }
                    Some(s) => s.client_final(&data)?,
                    None => return Err(Error::Auth { condition: "malformed-request".into(), text: Some("unexpected challenge for PLAIN".into()) }),
                };
                self.send_raw(&format!("<response xmlns='{}'>{}</response>", ns::SASL, encode_base64(&reply)), deadline)?;
            } else if el.is("success", ns::SASL) {
                let data = decode_base64(&el.text)?;
                if let Some(s) = &scram {
                    if !verified {
                        s.verify_server_final(&data)?;
                    }
                }
                if let Some(s) = self.session.as_mut() {
                    s.framer.reset();
                }
                self.mechanism = Some(mechanism);
                return Ok(());
            } else if el.is("failure", ns::SASL) {
                let condition = el.children.iter().find(|c| c.ns == ns::SASL && c.name != "text").map(|c| c.name.clone());
                return Err(Error::Auth {
                    condition: condition.unwrap_or_else(|| "not-authorized".into()),
                    text: el.child("text", ns::SASL).map(|t| t.text.clone()),
                });
            } else {
                return Err(self.fail_stream(Error::local_stream("not-well-formed", format!("unexpected <{}/> during authentication", el.name))));
            }
        }
    }

    fn bind(&mut self, deadline: Instant) -> Result<()> {
        let id = random_id();
        let mut iq = format!("<iq type='set' id='{id}'><bind xmlns='{}'>", ns::BIND);
        if let Some(r) = &self.config.resource {
            iq.push_str("<resource>");
            escape_into(&mut iq, r);
            iq.push_str("</resource>");
        }
        iq.push_str("</bind></iq>");
        self.send_raw(&iq, deadline)?;
        let el = self.wait_response_element(&id, ExpectFrom::Server, deadline)?;
        if el.attr("type") == Some("error") {
            return Err(Error::Stanza(stanza_error_of(&el)));
        }
        let jid_text = el.child("bind", ns::BIND).and_then(|b| b.child("jid", ns::BIND)).map(|j| j.text.trim().to_string());
        let jid = jid_text.as_deref().map(Jid::parse).transpose().ok().flatten();
        match jid {
            Some(j) if j.bare_str() == self.config.jid.bare_str() && !j.is_bare() => {
                self.bound_jid = Some(j);
                Ok(())
            }
            _ => Err(self.fail_stream(Error::local_stream("undefined-condition", format!("the server bound an unusable JID {jid_text:?}")))),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Reading and writing

    /// Writes `data` now, after any queued replies (order is kept).
    fn send_raw(&mut self, data: &str, deadline: Instant) -> Result<()> {
        self.replies.push_str(data);
        self.flush(deadline)
    }

    /// Queues an answer to a server request (a push acknowledgement, a ping reply). Queued
    /// answers go out in one write before the client next waits for the network, sends anything
    /// else, or returns from a call: a burst of pushes costs one write, not one per push.
    fn queue_reply(&mut self, data: &str) {
        self.replies.push_str(data);
    }

    /// Writes the queued replies.
    fn flush(&mut self, deadline: Instant) -> Result<()> {
        if self.replies.is_empty() {
            return Ok(());
        }
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        let result = session.conn.write_all(self.replies.as_bytes(), deadline, &self.waker);
        self.replies.clear();
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.lose_connection(e)),
        }
    }

    /// Reads the next unit, or `Ok(None)` at the deadline.
    fn try_read_incoming(&mut self, deadline: Instant) -> Result<Option<Incoming>> {
        loop {
            let session = self.session.as_mut().ok_or(Error::NotConnected)?;
            let client_ns = session.scope.default_ns() == Some(ns::CLIENT);
            let decoded = match session.framer.next_frame() {
                // The start of a roster iq: the fetch that waits for it reads its items as they
                // come (`read_roster_items`); anyone else lets the framer deliver it whole.
                Ok(Some(Frame::Head(bytes))) => match roster_decode::decode_roster_head(bytes).filter(|_| client_ns) {
                    Some(head) => Ok(Some(Incoming::RosterHead(head))),
                    None => continue,
                },
                // The rest of a fetch result whose call ended early (timeout, interrupt): checked
                // like any stanza, then dropped, as any late result is.
                Ok(Some(Frame::Child(bytes))) => match roster_decode::decode_roster_child(bytes, &session.scope) {
                    Ok(_) => continue,
                    Err(e) => Err(e),
                },
                Ok(Some(Frame::Tail(bytes))) => match roster_decode::check_roster_tail(bytes) {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
                Ok(Some(Frame::StreamStart(tag))) => parse_start_tag(tag).map(|(name, attrs)| {
                    if crate::xml::element::split_qname(&name).1 == "stream" {
                        Some(Incoming::Header(attrs))
                    } else {
                        None
                    }
                }),
                Ok(Some(Frame::Stanza(bytes))) => decode(bytes, &session.scope).map(Some),
                Ok(Some(Frame::StreamEnd)) => Ok(Some(Incoming::End)),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            match decoded {
                Err(e) => return Err(self.fail_stream(e)),
                Ok(Some(Incoming::Element(el))) if el.is("error", ns::STREAM) => {
                    let err = stream_error_of(&el);
                    return Err(self.lose_connection(err));
                }
                Ok(Some(Incoming::End)) if self.closing => {
                    // The answer to our own `</stream:stream>`: a clean, requested close.
                    if let Some(mut s) = self.session.take() {
                        s.conn.shutdown();
                        self.emit(Event::Disconnected { reason: None });
                    }
                    return Err(Error::NotConnected);
                }
                Ok(Some(Incoming::End)) => {
                    let _ = self.send_raw("</stream:stream>", Instant::now() + Duration::from_millis(200));
                    return Err(self.lose_connection(Error::Disconnected("the server closed the stream".into())));
                }
                Ok(Some(incoming)) => return Ok(Some(incoming)),
                Ok(None) => {}
            }
            if !self.read_more(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Reads from the network into the framer once. `Ok(false)` at the deadline.
    fn read_more(&mut self, deadline: Instant) -> Result<bool> {
        // Nothing complete is buffered: answer what was handled before waiting for more.
        self.flush(deadline)?;
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        match session.conn.read_into(&mut session.framer, deadline, &self.waker) {
            Ok(0) => {
                let why = if session.framer.has_partial() {
                    "the connection was reset in the middle of a stanza"
                } else {
                    "the server closed the connection"
                };
                Err(self.lose_connection(Error::Disconnected(why.into())))
            }
            Ok(_) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(Error::Interrupted) => Err(Error::Interrupted),
            Err(e) => Err(self.lose_connection(e)),
        }
    }

    /// Reads the items of the fetch result whose head just arrived, each decoded and indexed as
    /// soon as it is complete: the result is never buffered whole, and decoding overlaps with
    /// the server still sending.
    fn read_roster_items(&mut self, deadline: Instant) -> Result<RosterBuilder> {
        let mut builder = self.roster.builder(self.batch_sink.take());
        let mut scratch = roster_decode::DecodeScratch::default();
        self.session.as_mut().ok_or(Error::NotConnected)?.framer.split_children();
        loop {
            let session = self.session.as_mut().ok_or(Error::NotConnected)?;
            // The common case: whole items decoded straight from the buffer, in one pass.
            if let Some(ahead) = session.framer.children_ahead() {
                let taken = roster_decode::decode_items_ahead(ahead, &mut scratch, |item| {
                    builder.push(item);
                });
                if taken > 0 {
                    if let Err(e) = session.framer.take_children(taken) {
                        return Err(self.fail_stream(e));
                    }
                }
            }
            let session = self.session.as_mut().ok_or(Error::NotConnected)?;
            // The rest: a child the fast decoder left (incomplete, or of an unusual shape), the
            // tail, or the need for more bytes.
            let step = match session.framer.next_frame() {
                Ok(Some(Frame::Child(bytes))) => roster_decode::decode_roster_child(bytes, &session.scope).map(|item| {
                    if let Some(WireItem::Item(item)) = item {
                        builder.push(item);
                    }
                    false
                }),
                Ok(Some(Frame::Tail(bytes))) => roster_decode::check_roster_tail(bytes).map(|()| true),
                // After `split_children` the framer hands out only children, then the tail.
                Ok(Some(_)) => Err(Error::local_stream("internal-server-error", "roster result framing lost")),
                Ok(None) => {
                    if !self.read_more(deadline)? {
                        return Err(Error::Timeout);
                    }
                    continue;
                }
                Err(e) => Err(e),
            };
            match step {
                Ok(true) => return Ok(builder),
                Ok(false) => {}
                Err(e) => return Err(self.fail_stream(e)),
            }
        }
    }

    fn read_incoming(&mut self, deadline: Instant) -> Result<Incoming> {
        self.try_read_incoming(deadline)?.ok_or(Error::Timeout)
    }

    /// Reads the next element during stream set-up.
    fn read_element(&mut self, deadline: Instant) -> Result<Element> {
        match self.read_incoming(deadline)? {
            Incoming::Element(el) => Ok(el),
            Incoming::Roster(_) => Err(self.fail_stream(Error::local_stream("not-well-formed", "roster IQ during stream set-up"))),
            _ => Err(self.fail_stream(Error::local_stream("not-well-formed", "unexpected stream header"))),
        }
    }

    /// Closes the stream with a stream error this client detected, then drops the connection.
    fn fail_stream(&mut self, err: Error) -> Error {
        if let Error::Stream { condition, by_server: false, .. } = &err {
            let text = format!("<stream:error><{condition} xmlns='{}'/></stream:error></stream:stream>", ns::STREAMS);
            if let Some(s) = self.session.as_mut() {
                let _ = s.conn.write_all(text.as_bytes(), Instant::now() + Duration::from_millis(200), &self.waker);
            }
        }
        self.lose_connection(err)
    }

    /// Drops the connection after `err` and reports it. Returns `err` for the caller to return.
    fn lose_connection(&mut self, err: Error) -> Error {
        self.replies.clear();
        if let Some(mut s) = self.session.take() {
            s.conn.shutdown();
            self.roster_interested = false;
            self.presences.clear();
            self.emit(Event::Disconnected { reason: Some(err.clone()) });
            // The call fails anyway: an abort request from this event changes nothing.
            self.abort_requested = false;
        }
        err
    }

    fn emit(&mut self, event: Event) {
        if let Some(h) = self.handler.as_mut() {
            if h(&event).is_break() {
                self.abort_requested = true;
            }
        }
    }

    fn check_abort(&mut self) -> Result<()> {
        if std::mem::take(&mut self.abort_requested) {
            // The call ends here: what was handled gets its answers now.
            self.flush(self.deadline())?;
            return Err(Error::CallbackAborted);
        }
        Ok(())
    }

    /// True if a stanza with `from` may answer a request sent to `expect`.
    fn sender_ok(&self, from: Option<&str>, expect: ExpectFrom) -> bool {
        let Some(from) = from else { return true };
        let Ok(j) = Jid::parse(from) else { return false };
        if j.is_bare() && j.as_str() == self.config.jid.bare_str() {
            return true;
        }
        expect == ExpectFrom::Server && j.as_str() == self.config.jid.domain()
    }

    /// Waits for the response to IQ `id`, handling everything else that arrives meanwhile.
    fn wait_response(&mut self, id: &str, expect: ExpectFrom, deadline: Instant) -> Result<Incoming> {
        loop {
            let incoming = self.read_incoming(deadline)?;
            let is_response = match &incoming {
                Incoming::Roster(iq) | Incoming::RosterHead(iq) => iq.iq_type == "result" && iq.id == id && self.sender_ok(iq.from.as_deref(), expect),
                Incoming::Element(el) => {
                    el.is("iq", ns::CLIENT)
                        && matches!(el.attr("type"), Some("result") | Some("error"))
                        && el.attr("id") == Some(id)
                        && self.sender_ok(el.attr("from"), expect)
                }
                _ => false,
            };
            if is_response {
                let incoming = match incoming {
                    Incoming::RosterHead(head) => {
                        let builder = self.read_roster_items(deadline)?;
                        Incoming::RosterItems(head, builder)
                    }
                    other => other,
                };
                self.flush(deadline)?;
                return Ok(incoming);
            }
            self.handle(incoming)?;
            self.check_abort()?;
        }
    }

    fn wait_response_element(&mut self, id: &str, expect: ExpectFrom, deadline: Instant) -> Result<Element> {
        match self.wait_response(id, expect, deadline)? {
            Incoming::Element(el) => Ok(el),
            // A roster-shaped answer to a non-roster request: treat as an empty result.
            _ => Ok(Element { name: "iq".into(), ns: ns::CLIENT.into(), ..Default::default() }),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Handling what the server sends on its own

    fn handle(&mut self, incoming: Incoming) -> Result<()> {
        match incoming {
            Incoming::Roster(iq) if iq.iq_type == "set" => self.handle_push(iq),
            Incoming::Element(el) if el.is("iq", ns::CLIENT) => self.handle_iq(&el),
            Incoming::Element(el) if el.is("presence", ns::CLIENT) => self.handle_presence(&el),
            Incoming::Header(_) => return Err(self.fail_stream(Error::local_stream("not-well-formed", "a second stream header"))),
            // Results nobody waits for (late, or timed out), messages, unknown top-level elements;
            // a head nobody waits for: the whole stanza follows.
            Incoming::Roster(_) | Incoming::RosterHead(_) | Incoming::RosterItems(..) | Incoming::Element(_) | Incoming::End => {}
        }
        Ok(())
    }

    /// `<iq type='TYPE' id='ID' to='TO'` (no closing `>`): the start of a reply to a request.
    fn reply_head(iq_type: &str, id: &str, to: Option<&str>) -> String {
        let mut s = format!("<iq type='{iq_type}' id='");
        escape_into(&mut s, id);
        s.push('\'');
        if let Some(to) = to {
            s.push_str(" to='");
            escape_into(&mut s, to);
            s.push('\'');
        }
        s
    }

    fn reply_error(&mut self, id: &str, to: Option<&str>, error_type: &str, condition: &str) {
        let mut s = Self::reply_head("error", id, to);
        s.push_str(&format!("><error type='{error_type}'><{condition} xmlns='{}'/></error></iq>", ns::STANZAS));
        self.queue_reply(&s);
    }

    fn reply_result(&mut self, id: &str, to: Option<&str>) {
        let mut s = Self::reply_head("result", id, to);
        s.push_str("/>");
        self.queue_reply(&s);
    }

    /// A roster push (RFC 6121 §2.1.6): only from our own account, exactly one item.
    fn handle_push(&mut self, iq: RosterIq) {
        let from = iq.from.as_deref();
        if !self.sender_ok(from, ExpectFrom::Account) {
            // Someone else trying to edit our roster (CVE-2015-8688, CVE-2016-9928): refuse.
            self.reply_error(&iq.id, from, "cancel", "service-unavailable");
            return;
        }
        let mut items = iq.items;
        let single = if items.len() == 1 { items.pop() } else { None };
        let Some(item) = single.filter(|i| !matches!(i, WireItem::Invalid(_))) else {
            // RFC 6121 §2.1.6: a push carries exactly one usable item.
            self.reply_error(&iq.id, from, "modify", "bad-request");
            return;
        };
        self.reply_result(&iq.id, from);
        if let Some(awaited) = self.awaited.as_mut() {
            // Before the server's answer, a push for the contact may be an older change (e.g. the
            // `ask` of a subscription request): only the push of this change counts. After the
            // answer, any push for the contact is this change or newer (Prosody answers first).
            if wire_jid(&awaited.change) == wire_jid(&item) && (awaited.answered || push_matches(&awaited.change, &item)) {
                awaited.seen = true;
            }
        }
        self.roster.set_version(iq.ver.as_deref());
        self.apply_change(item, iq.ver);
    }

    /// Applies an item or a removal to the local roster and reports what changed.
    fn apply_change(&mut self, change: WireItem, version: Option<String>) {
        match change {
            WireItem::Item(item) => {
                // The event needs its own copy only when someone listens.
                let for_event = self.handler.is_some().then(|| item.clone());
                if let (Some(change), Some(item)) = (self.roster.apply(item), for_event) {
                    self.emit(Event::RosterChanged { change, item, version });
                }
            }
            WireItem::Remove(jid) => {
                if let Some(item) = self.roster.remove(&jid) {
                    self.emit(Event::RosterChanged { change: RosterChange::Removed, item, version });
                }
            }
            WireItem::Invalid(_) => {}
        }
    }

    fn handle_iq(&mut self, el: &Element) {
        let id = el.attr("id").unwrap_or_default().to_string();
        let from = el.attr("from").map(str::to_string);
        match el.attr("type") {
            Some("get") if el.child("ping", ns::PING).is_some() => self.reply_result(&id, from.as_deref()),
            Some("get") | Some("set") => {
                // RFC 6120 §8.2.3: every get/set gets an answer; we offer nothing else.
                let condition = if el.child("query", ns::ROSTER).is_some() { "bad-request" } else { "service-unavailable" };
                self.reply_error(&id, from.as_deref(), "cancel", condition)
            }
            _ => {}
        }
    }

    fn handle_presence(&mut self, el: &Element) {
        let Some(from) = el.attr("from").and_then(|f| Jid::parse(f).ok()) else { return };
        if self.bound_jid.as_ref() == Some(&from) {
            // The server's echo of our own presence: nothing the caller does not know.
            return;
        }
        let status = el.child("status", ns::CLIENT).map(|s| s.text.clone());
        let kind = match el.attr("type") {
            None => None,
            Some("unavailable") => None,
            Some("subscribe") => Some(SubscriptionKind::Subscribe),
            Some("subscribed") => Some(SubscriptionKind::Subscribed),
            Some("unsubscribe") => Some(SubscriptionKind::Unsubscribe),
            Some("unsubscribed") => Some(SubscriptionKind::Unsubscribed),
            Some(_) => return, // error, probe: nothing for the roster
        };
        if let Some(kind) = kind {
            let bare = from.bare_str().to_string();
            if kind == SubscriptionKind::Subscribe && self.config.auto_approve {
                let approval = Self::subscription_stanza(&bare, "subscribed");
                self.queue_reply(&approval);
            }
            self.emit(Event::Subscription { kind, from: bare, status });
            return;
        }
        let available = el.attr("type").is_none();
        let info = PresenceInfo {
            from: from.to_string(),
            available,
            show: el.child("show", ns::CLIENT).map_or(Show::Available, |s| Show::from_wire(&s.text)),
            status,
            priority: el.child("priority", ns::CLIENT).and_then(|p| p.text.trim().parse::<i32>().ok()).map_or(0, |p| p.clamp(-128, 127) as i8),
        };
        let resources = self.presences.entry(from.bare_str().to_string()).or_default();
        resources.retain(|p| p.from != info.from);
        if available {
            resources.push(info.clone());
        } else if resources.is_empty() {
            self.presences.remove(from.bare_str());
        }
        self.emit(Event::Presence(info));
    }

    // ----------------------------------------------------------------------------------------
    // The public operations

    /// Waits up to `timeout` for the server to send something, handles everything that has
    /// arrived (events fire from here), and returns how many stanzas were handled (0 when the
    /// timeout passed quietly).
    pub fn poll(&mut self, timeout: Duration) -> Result<usize> {
        let mut deadline = Instant::now() + timeout;
        let mut handled = 0;
        while let Some(incoming) = self.try_read_incoming(deadline)? {
            self.handle(incoming)?;
            handled += 1;
            self.check_abort()?;
            // Once something arrived, only drain what is already here.
            deadline = Instant::now();
        }
        self.flush(self.deadline())?;
        Ok(handled)
    }

    /// Fetches the roster (RFC 6121 §2.1.3), with versioning when the server offers it.
    pub fn fetch_roster(&mut self) -> Result<Fetched> {
        self.fetch(None).map(|f| f.fetched)
    }

    /// Like [`fetch_roster`](Self::fetch_roster), and hands the new items to `each` while they
    /// arrive, `size` at a time (the last batch may be smaller; `size` 0 counts as 1), in the
    /// order of the new roster. It runs on this thread, inside this call, before the new roster
    /// is installed: a binding can turn the first items into its own objects on another thread
    /// while the rest still arrive. The batches are the roster only if
    /// [`BatchedFetch::batches_exact`] says so; a failed fetch may have handed out some.
    pub fn fetch_roster_in_batches(&mut self, size: usize, each: impl FnMut(&[RosterItem]) + Send + 'static) -> Result<BatchedFetch> {
        self.fetch(Some(BatchSink::new(size, Box::new(each))))
    }

    fn fetch(&mut self, sink: Option<BatchSink>) -> Result<BatchedFetch> {
        if self.session.is_none() {
            return Err(Error::NotConnected);
        }
        let deadline = self.deadline();
        let id = random_id();
        let mut iq = format!("<iq type='get' id='{id}'><query xmlns='{}'", ns::ROSTER);
        if self.rosterver {
            iq.push_str(" ver='");
            escape_into(&mut iq, self.roster.version().unwrap_or(""));
            iq.push('\'');
        }
        iq.push_str("/></iq>");
        self.send_raw(&iq, deadline)?;
        // Big results are decoded while they arrive (see `read_roster_items`).
        self.set_want_heads(true);
        // `read_roster_items` takes the sink if the result comes in pieces.
        self.batch_sink = sink;
        let response = self.wait_response(&id, ExpectFrom::Account, deadline);
        let sink = self.batch_sink.take();
        self.set_want_heads(false);
        let full = |batches_exact| BatchedFetch { fetched: Fetched::Full, batches_exact };
        match response? {
            Incoming::RosterItems(head, builder) => {
                let exact = self.roster.install(builder, head.ver.map(NulString::from));
                self.roster_interested = true;
                Ok(full(exact))
            }
            Incoming::Roster(result) => {
                let mut builder = self.roster.builder(sink);
                for item in result.items {
                    if let WireItem::Item(item) = item {
                        builder.push(item);
                    }
                }
                let exact = self.roster.install(builder, result.ver.map(NulString::from));
                self.roster_interested = true;
                Ok(full(exact))
            }
            Incoming::Element(el) if el.attr("type") == Some("error") => Err(Error::Stanza(stanza_error_of(&el))),
            Incoming::Element(_) => {
                self.roster_interested = true;
                Ok(BatchedFetch { fetched: Fetched::Unchanged, batches_exact: false })
            }
            _ => Err(Error::NotConnected),
        }
    }

    fn set_want_heads(&mut self, on: bool) {
        if let Some(s) = self.session.as_mut() {
            s.framer.want_heads(on);
        }
    }

    fn roster_jid(jid: &str) -> Result<Jid> {
        let j = Jid::parse(jid)?;
        if !j.is_bare() {
            return Err(Error::InvalidJid(format!("{jid}: roster items are bare JIDs (no resource)")));
        }
        Ok(j)
    }

    /// Adds `jid` to the roster or updates its name and groups (RFC 6121 §2.1.5, §2.1.6).
    /// Returns once the server accepted it and the local roster shows it.
    pub fn set_item(&mut self, jid: &str, name: Option<&str>, groups: &[&str]) -> Result<()> {
        let jid = Self::roster_jid(jid)?;
        if let Some(n) = name {
            if !is_xml_safe(n) {
                return Err(Error::InvalidArgument("name contains characters XML cannot carry".into()));
            }
        }
        if let Some(g) = groups.iter().find(|g| g.is_empty() || !is_xml_safe(g)) {
            return Err(Error::InvalidArgument(format!("bad group name {g:?}")));
        }
        let mut unique: Vec<&str> = groups.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut payload = String::from("<item jid='");
        escape_into(&mut payload, jid.as_str());
        payload.push('\'');
        if let Some(n) = name {
            payload.push_str(" name='");
            escape_into(&mut payload, n);
            payload.push('\'');
        }
        payload.push('>');
        for g in &unique {
            payload.push_str("<group>");
            escape_into(&mut payload, g);
            payload.push_str("</group>");
        }
        payload.push_str("</item>");
        let local = {
            let old = self.roster.get(jid.as_str()).cloned().unwrap_or_default();
            RosterItem {
                jid: jid.as_str().into(),
                name: name.map(NulString::from),
                groups: unique.iter().map(|g| NulString::from(*g)).collect(),
                ..old
            }
        };
        self.roster_set(jid.as_str(), &payload, WireItem::Item(local))
    }

    /// Removes `jid` from the roster (RFC 6121 §2.5); the server also cancels subscriptions.
    pub fn remove_item(&mut self, jid: &str) -> Result<()> {
        let jid = Self::roster_jid(jid)?;
        let mut payload = String::from("<item jid='");
        escape_into(&mut payload, jid.as_str());
        payload.push_str("' subscription='remove'/>");
        self.roster_set(jid.as_str(), &payload, WireItem::Remove(jid.as_str().to_string()))
    }

    /// Sends a roster set and waits for its result, then for the push that applies it.
    fn roster_set(&mut self, jid: &str, item_xml: &str, expected: WireItem) -> Result<()> {
        if self.session.is_none() {
            return Err(Error::NotConnected);
        }
        let deadline = self.deadline();
        let id = random_id();
        let iq = format!("<iq type='set' id='{id}'><query xmlns='{}'>{item_xml}</query></iq>", ns::ROSTER);
        debug_assert_eq!(wire_jid(&expected), jid);
        self.awaited = Some(AwaitedPush { change: expected, answered: false, seen: false });
        let result = self.roster_set_inner(&id, &iq, deadline);
        self.awaited = None;
        result?;
        self.flush(deadline)
    }

    fn roster_set_inner(&mut self, id: &str, iq: &str, deadline: Instant) -> Result<()> {
        self.send_raw(iq, deadline)?;
        if let Incoming::Element(el) = self.wait_response(id, ExpectFrom::Account, deadline)? {
            if el.attr("type") == Some("error") {
                return Err(Error::Stanza(stanza_error_of(&el)));
            }
        }
        if let Some(awaited) = self.awaited.as_mut() {
            awaited.answered = true;
        }
        let seen = |c: &Client| c.awaited.as_ref().is_some_and(|a| a.seen);
        // Servers push to resources that fetched the roster, before (ejabberd) or after (Prosody)
        // the result. Wait for it so the local roster is true when we return.
        while self.roster_interested && !seen(self) {
            match self.try_read_incoming(deadline)? {
                Some(incoming) => {
                    self.handle(incoming)?;
                    self.check_abort()?;
                }
                None => break,
            }
        }
        if !seen(self) {
            // No push (the roster was never fetched, or the server did not send one): the server
            // accepted the change, so apply what it said it did.
            if let Some(awaited) = self.awaited.take() {
                let version = self.roster.version().map(str::to_string);
                self.apply_change(awaited.change, version);
                self.check_abort()?;
            }
        }
        Ok(())
    }

    fn subscription_stanza(bare: &str, kind: &str) -> String {
        let mut s = String::from("<presence to='");
        escape_into(&mut s, bare);
        s.push_str(&format!("' type='{kind}'/>"));
        s
    }

    fn subscription_op(&mut self, jid: &str, kind: &str) -> Result<()> {
        let jid = Self::roster_jid(jid)?;
        if self.session.is_none() {
            return Err(Error::NotConnected);
        }
        let deadline = self.deadline();
        self.send_raw(&Self::subscription_stanza(jid.as_str(), kind), deadline)
    }

    /// Asks `jid` for a subscription to its presence (`subscribe`, RFC 6121 §3.1).
    pub fn subscribe(&mut self, jid: &str) -> Result<()> {
        self.subscription_op(jid, "subscribe")
    }

    /// Cancels the user's subscription to `jid` (`unsubscribe`, RFC 6121 §3.3).
    pub fn unsubscribe(&mut self, jid: &str) -> Result<()> {
        self.subscription_op(jid, "unsubscribe")
    }

    /// Approves `jid`'s request to see the user's presence (`subscribed`, RFC 6121 §3.1.4).
    pub fn approve(&mut self, jid: &str) -> Result<()> {
        self.subscription_op(jid, "subscribed")
    }

    /// Denies `jid`'s request, or cancels its existing subscription (`unsubscribed`, §3.2).
    pub fn deny(&mut self, jid: &str) -> Result<()> {
        self.subscription_op(jid, "unsubscribed")
    }

    /// Approves `jid` before it asks (RFC 6121 §3.4). Needs the server's pre-approval feature.
    pub fn preapprove(&mut self, jid: &str) -> Result<()> {
        if self.session.is_some() && !self.preapproval {
            return Err(Error::Unsupported("the server does not offer subscription pre-approval".into()));
        }
        self.subscription_op(jid, "subscribed")
    }

    /// Sends the user's own presence (RFC 6121 §4.2, §4.5).
    pub fn send_presence(&mut self, presence: &OwnPresence) -> Result<()> {
        if let Some(status) = &presence.status {
            if !is_xml_safe(status) {
                return Err(Error::InvalidArgument("status contains characters XML cannot carry".into()));
            }
        }
        if self.session.is_none() {
            return Err(Error::NotConnected);
        }
        let mut s = String::from(if presence.available { "<presence>" } else { "<presence type='unavailable'>" });
        if presence.available {
            if let Some(show) = presence.show.as_wire() {
                s.push_str(&format!("<show>{show}</show>"));
            }
        }
        if let Some(status) = &presence.status {
            s.push_str("<status>");
            escape_into(&mut s, status);
            s.push_str("</status>");
        }
        if presence.available && presence.priority != 0 {
            s.push_str(&format!("<priority>{}</priority>", presence.priority));
        }
        s.push_str("</presence>");
        let deadline = self.deadline();
        self.send_raw(&s, deadline)
    }

    /// Closes the stream politely and the connection. Does nothing when not connected.
    /// The disconnect event fires with no reason.
    pub fn disconnect(&mut self) -> Result<()> {
        if self.session.is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + CLOSE_WAIT.min(self.config.timeout);
        self.closing = true;
        if self.send_raw("</stream:stream>", deadline).is_ok() {
            // Wait for the server's end tag, still handling what arrives before it.
            while let Ok(Some(incoming)) = self.try_read_incoming(deadline) {
                let _ = self.handle(incoming);
            }
        }
        self.closing = false;
        if let Some(mut s) = self.session.take() {
            s.conn.shutdown();
            self.emit(Event::Disconnected { reason: None });
        }
        self.roster_interested = false;
        self.presences.clear();
        self.abort_requested = false;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.conn.write_all(b"</stream:stream>", Instant::now() + Duration::from_millis(100), &self.waker);
            s.conn.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::random_id;

    #[test]
    fn stanza_ids_are_72_random_bits_in_hex_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 18 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        // Random, not the clock fallback: the last byte (never set by the fallback) varies.
        let last_bytes: std::collections::HashSet<&str> = ids.iter().map(|id| &id[16..]).collect();
        assert!(last_bytes.len() > 200, "{} distinct last bytes", last_bytes.len());
    }
}
