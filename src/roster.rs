//! The roster model (RFC 6121 §2): items, the local roster with its version, and the decoding of
//! `jabber:iq:roster` queries straight from a stanza's bytes.
//!
//! The local roster is copy-on-write: [`Roster::snapshot`] is O(1) and the snapshot stays valid and
//! unchanged while the client goes on applying pushes. Lookups by JID are O(1) through an index
//! that stores positions only (no second copy of each JID).

use crate::error::{Error, Result};
use crate::jid::normalize_bare;
use crate::xml::element::push_reference;
use hashbrown::{DefaultHashBuilder, HashTable};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::hash::BuildHasher;
use std::sync::Arc;

/// The subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subscription {
    #[default]
    None,
    To,
    From,
    Both,
}

impl Subscription {
    /// The wire value: `none`, `to`, `from` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Parses a wire value; `None` for anything else (including `remove`).
    pub fn parse(s: &str) -> Option<Subscription> {
        match s {
            "none" => Some(Subscription::None),
            "to" => Some(Subscription::To),
            "from" => Some(Subscription::From),
            "both" => Some(Subscription::Both),
            _ => None,
        }
    }
}

/// One contact in the roster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterItem {
    /// The contact's bare JID, normalised (lower-case local and domain parts).
    pub jid: String,
    /// The name the user gave the contact, if any.
    pub name: Option<String>,
    pub subscription: Subscription,
    /// True when a subscription request to the contact is pending (`ask='subscribe'`).
    pub ask: bool,
    /// True when the user pre-approved the contact's subscription (`approved='true'`).
    pub approved: bool,
    /// The groups the contact is in: sorted, without duplicates (groups are a set; servers
    /// differ in the order they send them).
    pub groups: Vec<String>,
}

/// What a roster push or change did to the local roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterChange {
    Added,
    Updated,
    Removed,
}

#[derive(Debug, Clone, Default)]
struct RosterData {
    items: Vec<RosterItem>,
    /// Positions into `items`, hashed by the item's JID.
    index: HashTable<usize>,
    version: Option<String>,
}

/// The local roster: items in fetch order (a removal moves the last item into the hole),
/// plus the roster version the server last reported.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    data: Arc<RosterData>,
    hasher: DefaultHashBuilder,
}

/// An immutable view of the roster at one moment. Cheap to make and to clone.
#[derive(Debug, Clone)]
pub struct RosterSnapshot {
    data: Arc<RosterData>,
    hasher: DefaultHashBuilder,
}

fn find_in(data: &RosterData, hasher: &DefaultHashBuilder, jid: &str) -> Option<usize> {
    let hash = hasher.hash_one(jid);
    data.index.find(hash, |&i| data.items[i].jid == jid).copied()
}

impl RosterSnapshot {
    pub fn len(&self) -> usize {
        self.data.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.items.is_empty()
    }
    pub fn items(&self) -> &[RosterItem] {
        &self.data.items
    }
    /// The item for `jid` (any case; resource not allowed).
    pub fn get(&self, jid: &str) -> Option<&RosterItem> {
        let key = normalize_bare(jid)?;
        find_in(&self.data, &self.hasher, &key).map(|i| &self.data.items[i])
    }
    /// The position of `jid` in [`items`](Self::items).
    pub fn position(&self, jid: &str) -> Option<usize> {
        let key = normalize_bare(jid)?;
        find_in(&self.data, &self.hasher, &key)
    }
    pub fn version(&self) -> Option<&str> {
        self.data.version.as_deref()
    }
}

impl Roster {
    /// A roster holding `items` at `version`, e.g. restored from a cache for a versioned fetch.
    /// Items with invalid JIDs are dropped; for duplicate JIDs the last one wins.
    pub fn from_items(version: Option<String>, items: Vec<RosterItem>) -> Roster {
        let mut r = Roster::default();
        r.replace(version, items);
        r
    }

    pub fn len(&self) -> usize {
        self.data.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.items.is_empty()
    }
    pub fn items(&self) -> &[RosterItem] {
        &self.data.items
    }
    pub fn version(&self) -> Option<&str> {
        self.data.version.as_deref()
    }
    /// The item for `jid` (any case).
    pub fn get(&self, jid: &str) -> Option<&RosterItem> {
        let key = normalize_bare(jid)?;
        find_in(&self.data, &self.hasher, &key).map(|i| &self.data.items[i])
    }

    /// An immutable copy of the roster now, in O(1): later changes copy the data instead.
    pub fn snapshot(&self) -> RosterSnapshot {
        RosterSnapshot { data: Arc::clone(&self.data), hasher: self.hasher.clone() }
    }

    /// Replaces the whole roster (a full fetch result).
    pub(crate) fn replace(&mut self, version: Option<String>, items: Vec<RosterItem>) {
        let mut data = RosterData { items: Vec::with_capacity(items.len()), index: HashTable::with_capacity(items.len()), version };
        for item in items {
            upsert(&mut data, &self.hasher, item);
        }
        self.data = Arc::new(data);
    }

    pub(crate) fn set_version(&mut self, version: Option<String>) {
        if version.is_some() && version != self.data.version {
            Arc::make_mut(&mut self.data).version = version;
        }
    }

    /// Applies one pushed item. Returns the change, or `None` when the item was already there
    /// exactly as pushed (servers repeat pushes; no event is due).
    pub(crate) fn apply(&mut self, item: RosterItem) -> Option<RosterChange> {
        match find_in(&self.data, &self.hasher, &item.jid) {
            Some(i) if self.data.items[i] == item => None,
            Some(i) => {
                Arc::make_mut(&mut self.data).items[i] = item;
                Some(RosterChange::Updated)
            }
            None => {
                upsert(Arc::make_mut(&mut self.data), &self.hasher, item);
                Some(RosterChange::Added)
            }
        }
    }

    /// Removes `jid`. Returns the removed item, if it was there.
    pub(crate) fn remove(&mut self, jid: &str) -> Option<RosterItem> {
        let i = find_in(&self.data, &self.hasher, jid)?;
        let hasher = self.hasher.clone();
        let data = Arc::make_mut(&mut self.data);
        let hash = hasher.hash_one(jid);
        if let Ok(entry) = data.index.find_entry(hash, |&x| x == i) {
            entry.remove();
        }
        let removed = data.items.swap_remove(i);
        if i < data.items.len() {
            // The former last item now lives at `i`: repoint its index entry.
            let moved_from = data.items.len();
            let moved_hash = hasher.hash_one(data.items[i].jid.as_str());
            if let Some(slot) = data.index.find_mut(moved_hash, |&x| x == moved_from) {
                *slot = i;
            }
        }
        Some(removed)
    }
}

fn upsert(data: &mut RosterData, hasher: &DefaultHashBuilder, item: RosterItem) {
    if let Some(i) = find_in(data, hasher, &item.jid) {
        data.items[i] = item;
        return;
    }
    let hash = hasher.hash_one(item.jid.as_str());
    let pos = data.items.len();
    data.items.push(item);
    let items = &data.items;
    data.index.insert_unique(hash, pos, |&i| hasher.hash_one(items[i].jid.as_str()));
}

/// One `<item/>` as received: an item, or a removal (`subscription='remove'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireItem {
    Item(RosterItem),
    Remove(String),
    /// An item this client cannot use (bad JID, unknown subscription); the reason is given.
    Invalid(String),
}

/// A decoded `<iq/>` carrying a `jabber:iq:roster` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterIq {
    pub iq_type: String,
    pub id: String,
    pub from: Option<String>,
    /// The query's `ver` attribute.
    pub ver: Option<String>,
    pub items: Vec<WireItem>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::local_stream("not-well-formed", msg)
}

fn qname_str<'a>(s: &'a BytesStart<'_>) -> Result<&'a str> {
    Ok(s.name().into_inner())
}

/// Decodes an `<iq/>` whose payload is `<query xmlns='jabber:iq:roster'>` in one pass over the
/// stanza, building items directly (no element tree). Returns `Ok(None)` when the stanza is not of
/// that exact shape (another payload, namespace prefixes, ...): the caller then uses the generic
/// element tree.
pub fn decode_roster_iq(bytes: &[u8]) -> Result<Option<RosterIq>> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("stanza is not valid UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let (iq_attrs, iq_empty) = match reader.read_event().map_err(|e| bad(e.to_string()))? {
        Event::Start(s) if qname_str(&s)? == "iq" => (s, false),
        Event::Empty(s) if qname_str(&s)? == "iq" => (s, true),
        _ => return Ok(None),
    };
    if iq_empty {
        return Ok(None);
    }
    let mut out = RosterIq { iq_type: String::new(), id: String::new(), from: None, ver: None, items: Vec::new() };
    for a in iq_attrs.attributes() {
        let a = a.map_err(|e| bad(e.to_string()))?;
        let v = || a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|c| c.into_owned()).map_err(|e| bad(e.to_string()));
        match a.key.as_ref() {
            "type" => out.iq_type = v()?,
            "id" => out.id = v()?,
            "from" => out.from = Some(v()?),
            "xmlns" if a.value != crate::xml::ns::CLIENT => return Ok(None),
            _ => {}
        }
    }
    // The first child must be the roster query, unprefixed, in the roster namespace.
    let (query, query_empty) = loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(s) => break (s, false),
            Event::Empty(s) => break (s, true),
            Event::Text(t) if t.trim().is_empty() => continue,
            _ => return Ok(None),
        }
    };
    if qname_str(&query)? != "query" {
        return Ok(None);
    }
    let mut roster_ns = false;
    for a in query.attributes() {
        let a = a.map_err(|e| bad(e.to_string()))?;
        match a.key.as_ref() {
            "xmlns" => roster_ns = a.value == crate::xml::ns::ROSTER,
            "ver" => {
                out.ver = Some(a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| bad(e.to_string()))?.into_owned())
            }
            k if k.starts_with("xmlns:") => return Ok(None),
            _ => {}
        }
    }
    if !roster_ns {
        return Ok(None);
    }
    if !query_empty {
        decode_items(&mut reader, &mut out.items)?;
    }
    // The rest must close cleanly: `</iq>` and nothing else of substance.
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::End(_) => {}
            Event::Eof => break,
            Event::Text(t) if t.trim().is_empty() => {}
            // A second payload next to the query: let the generic path judge it.
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Reads `<item/>` children until `</query>`.
fn decode_items(reader: &mut Reader<&[u8]>, items: &mut Vec<WireItem>) -> Result<()> {
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(s) if s.name().as_ref() == "item" => {
                let item = item_from_attrs(&s, reader, true)?;
                items.push(item);
            }
            Event::Empty(s) if s.name().as_ref() == "item" => {
                let item = item_from_attrs(&s, reader, false)?;
                items.push(item);
            }
            Event::Start(_) => skip_element(reader)?,
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(bad("roster query ended early")),
            Event::Comment(_) | Event::DocType(_) | Event::PI(_) => return Err(Error::local_stream("restricted-xml", "restricted XML")),
            _ => {}
        }
    }
}

/// Skips an element whose start tag was just read, with everything inside it.
fn skip_element(reader: &mut Reader<&[u8]>) -> Result<()> {
    let mut depth = 1usize;
    while depth > 0 {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth -= 1,
            Event::Eof => return Err(bad("element ended early")),
            _ => {}
        }
    }
    Ok(())
}

/// An attribute's value with references resolved and whitespace normalised; borrowed (no copy,
/// no scan by quick-xml) in the common case where there is nothing to resolve.
fn attr_value<'a>(a: &quick_xml::events::attributes::Attribute<'a>) -> Result<std::borrow::Cow<'a, str>> {
    if let std::borrow::Cow::Borrowed(raw) = a.value {
        if !raw.bytes().any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r')) {
            return Ok(std::borrow::Cow::Borrowed(raw));
        }
    }
    a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| bad(e.to_string()))
}

fn item_from_attrs(s: &BytesStart<'_>, reader: &mut Reader<&[u8]>, has_children: bool) -> Result<WireItem> {
    let mut jid = None;
    let mut name = None;
    let mut subscription = None;
    let mut ask = false;
    let mut approved = false;
    for a in s.attributes() {
        let a = a.map_err(|e| bad(e.to_string()))?;
        let value = attr_value(&a)?;
        match a.key.as_ref() {
            "jid" => jid = Some(value),
            "name" => name = Some(value.into_owned()),
            "subscription" => subscription = Some(value),
            "ask" => ask = value == "subscribe",
            "approved" => approved = value == "true" || value == "1",
            _ => {}
        }
    }
    let mut groups = Vec::new();
    if has_children {
        read_groups(reader, &mut groups)?;
    }
    let Some(raw_jid) = jid else {
        return Ok(WireItem::Invalid("item without a jid".into()));
    };
    let Some(jid) = normalize_bare(&raw_jid) else {
        return Ok(WireItem::Invalid(format!("item with an invalid JID {raw_jid:?}")));
    };
    let subscription = match subscription.as_deref() {
        None => Subscription::None,
        Some("remove") => return Ok(WireItem::Remove(jid.into_owned())),
        Some(s) => match Subscription::parse(s) {
            Some(sub) => sub,
            None => return Ok(WireItem::Invalid(format!("item with an unknown subscription {s:?}"))),
        },
    };
    Ok(WireItem::Item(RosterItem { jid: jid.into_owned(), name, subscription, ask, approved, groups }))
}

/// Sorts and de-duplicates groups in O(k log k) (a contains() check per group would let a
/// hostile item with many groups cost quadratic time).
pub(crate) fn canonical_groups(groups: &mut Vec<String>) {
    if groups.len() > 1 {
        groups.sort_unstable();
        groups.dedup();
    }
}

/// Reads an item's children until `</item>`, collecting `<group/>` texts.
fn read_groups(reader: &mut Reader<&[u8]>, groups: &mut Vec<String>) -> Result<()> {
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(s) if s.name().as_ref() == "group" => {
                let mut text = String::new();
                loop {
                    match reader.read_event().map_err(|e| bad(e.to_string()))? {
                        Event::Text(t) => text.push_str(&t.xml10_content()),
                        Event::CData(c) => text.push_str(&c.xml10_content()),
                        Event::GeneralRef(r) => push_reference(&mut text, &r)?,
                        Event::End(_) => break,
                        Event::Start(_) => skip_element(reader)?,
                        Event::Eof => return Err(bad("group ended early")),
                        _ => {}
                    }
                }
                groups.push(text);
            }
            Event::Empty(s) if s.name().as_ref() == "group" => groups.push(String::new()),
            Event::Start(_) => skip_element(reader)?,
            Event::End(_) => {
                canonical_groups(groups);
                return Ok(());
            }
            Event::Eof => return Err(bad("item ended early")),
            _ => {}
        }
    }
}

/// Kept for callers holding an element tree (stanzas that were not of the fast shape).
pub fn decode_roster_element(el: &crate::xml::Element) -> Option<RosterIq> {
    let query = el.child("query", crate::xml::ns::ROSTER)?;
    let mut items = Vec::new();
    for it in query.children.iter().filter(|c| c.is("item", crate::xml::ns::ROSTER)) {
        let raw_jid = it.attr("jid");
        let item = match raw_jid.map(|raw| (raw, normalize_bare(raw))) {
            None => WireItem::Invalid("item without a jid".into()),
            Some((raw, None)) => WireItem::Invalid(format!("item with an invalid JID {raw:?}")),
            Some((_, Some(jid))) => match it.attr("subscription") {
                Some("remove") => WireItem::Remove(jid.into_owned()),
                sub => match sub.map_or(Some(Subscription::None), Subscription::parse) {
                    None => WireItem::Invalid(format!("item with an unknown subscription {:?}", sub.unwrap_or_default())),
                    Some(subscription) => {
                        let mut groups: Vec<String> =
                            it.children.iter().filter(|c| c.is("group", crate::xml::ns::ROSTER)).map(|g| g.text.clone()).collect();
                        canonical_groups(&mut groups);
                        WireItem::Item(RosterItem {
                            jid: jid.into_owned(),
                            name: it.attr("name").map(str::to_string),
                            subscription,
                            ask: it.attr("ask") == Some("subscribe"),
                            approved: matches!(it.attr("approved"), Some("true") | Some("1")),
                            groups,
                        })
                    }
                },
            },
        };
        items.push(item);
    }
    Some(RosterIq {
        iq_type: el.attr("type").unwrap_or_default().to_string(),
        id: el.attr("id").unwrap_or_default().to_string(),
        from: el.attr("from").map(str::to_string),
        ver: query.attr("ver").map(str::to_string),
        items,
    })
}

/// Decodes a roster IQ by the fast path, or by the element tree when the stanza is unusual.
pub fn decode_roster_any(bytes: &[u8], scope: &crate::xml::element::Scope) -> Result<Option<RosterIq>> {
    if let Some(iq) = decode_roster_iq(bytes)? {
        return Ok(Some(iq));
    }
    let el = crate::xml::element::parse_element(bytes, scope)?;
    if !el.is("iq", crate::xml::ns::CLIENT) {
        return Ok(None);
    }
    Ok(decode_roster_element(&el))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::element::Scope;

    fn item(jid: &str) -> RosterItem {
        RosterItem { jid: jid.into(), ..Default::default() }
    }

    #[test]
    fn decodes_a_full_result_with_every_field() {
        let xml = br#"<iq type='result' id='r1' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver7'>
            <item jid='Nurse@Example.com'/>
            <item jid='romeo@example.net' name='Romeo &amp; &#x263A;' subscription='both' approved='true' ask='subscribe'><group>Lovers</group><group>Friends</group><group>Lovers</group></item>
            </query></iq>"#;
        let iq = decode_roster_iq(xml).unwrap().unwrap();
        assert_eq!(iq.iq_type, "result");
        assert_eq!(iq.id, "r1");
        assert_eq!(iq.ver.as_deref(), Some("ver7"));
        assert_eq!(iq.items[0], WireItem::Item(item("nurse@example.com")));
        let WireItem::Item(romeo) = &iq.items[1] else { panic!() };
        assert_eq!(romeo.name.as_deref(), Some("Romeo & \u{263A}"));
        assert_eq!(romeo.subscription, Subscription::Both);
        assert!(romeo.ask && romeo.approved);
        assert_eq!(romeo.groups, vec!["Friends", "Lovers"]);
        let many: String = (0..20_000).rev().map(|i| format!("<group>g{}</group>", i % 10_000)).collect();
        let xml = format!("<iq type='result' id='x'><query xmlns='jabber:iq:roster'><item jid='a@b'>{many}</item></query></iq>");
        let iq = decode_roster_iq(xml.as_bytes()).unwrap().unwrap();
        let WireItem::Item(a) = &iq.items[0] else { panic!() };
        assert_eq!(a.groups.len(), 10_000);
        assert!(a.groups.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn fast_and_generic_decoders_agree() {
        let xml = br#"<iq type='set' id='p' from='a@b'><query xmlns='jabber:iq:roster' ver='2'><item jid='x@y' subscription='remove'/><item jid='bad jid@y'/><item jid='z@y' subscription='weird'/><item jid='q@y' name='Q'><group>G</group></item></query></iq>"#;
        let fast = decode_roster_iq(xml).unwrap().unwrap();
        let el = crate::xml::element::parse_element(xml, &Scope::client_stream()).unwrap();
        assert_eq!(decode_roster_element(&el).unwrap(), fast);
        assert_eq!(fast.items[0], WireItem::Remove("x@y".into()));
        assert!(matches!(fast.items[1], WireItem::Invalid(_)));
        assert!(matches!(fast.items[2], WireItem::Invalid(_)));
    }

    #[test]
    fn prefixed_queries_fall_back_to_the_generic_decoder() {
        let xml = br#"<iq type='result' id='1'><r:query xmlns:r='jabber:iq:roster'><r:item jid='a@b'/></r:query></iq>"#;
        assert_eq!(decode_roster_iq(xml).unwrap(), None);
        let iq = decode_roster_any(xml, &Scope::client_stream()).unwrap().unwrap();
        assert_eq!(iq.items, vec![WireItem::Item(item("a@b"))]);
    }

    #[test]
    fn other_payloads_are_not_roster_iqs() {
        assert_eq!(decode_roster_any(b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", &Scope::client_stream()).unwrap(), None);
        assert_eq!(decode_roster_any(b"<iq type='result' id='1'/>", &Scope::client_stream()).unwrap(), None);
    }

    #[test]
    fn apply_remove_and_lookup_keep_the_index_true() {
        let mut r = Roster::default();
        for i in 0..100 {
            assert_eq!(r.apply(item(&format!("u{i}@x"))), Some(RosterChange::Added));
        }
        assert_eq!(r.apply(item("u5@x")), None, "identical push is not a change");
        let mut named = item("u5@x");
        named.name = Some("Five".into());
        assert_eq!(r.apply(named), Some(RosterChange::Updated));
        for i in (0..100).step_by(3) {
            assert!(r.remove(&format!("u{i}@x")).is_some());
        }
        assert!(r.remove("u0@x").is_none());
        for i in 0..100 {
            let present = r.get(&format!("U{i}@X")).is_some();
            assert_eq!(present, i % 3 != 0, "u{i}");
        }
        assert_eq!(r.get("u5@x").unwrap().name.as_deref(), Some("Five"));
        assert_eq!(r.len(), 66);
    }

    #[test]
    fn snapshot_is_unaffected_by_later_changes() {
        let mut r = Roster::from_items(Some("1".into()), vec![item("a@x"), item("b@x")]);
        let snap = r.snapshot();
        r.remove("a@x");
        r.apply(item("c@x"));
        r.set_version(Some("2".into()));
        assert_eq!(snap.len(), 2);
        assert!(snap.get("a@x").is_some() && snap.get("c@x").is_none());
        assert_eq!(snap.version(), Some("1"));
        assert_eq!(r.version(), Some("2"));
    }
}
