//! Decoding `<iq/>` stanzas that carry a `jabber:iq:roster` query: fetch results and pushes.
//!
//! Two decoders give the same result. The fast one reads the shape every server sends (the
//! elements `iq`, `query`, `item`, `group`, unprefixed, with the attributes RFC 6121 defines) in a
//! single pass straight into [`RosterItem`]s: no element tree, no per-attribute allocation, about
//! one allocation per string kept. Anything else (namespace prefixes, extension attributes or
//! children, CDATA, malformed markup) makes it step aside, and the general element tree decodes
//! the stanza with full XML and namespace checks. A test holds the two to identical output.

use crate::error::{Error, Result};
use crate::groups::{GroupInterner, Groups};
use crate::jid::normalize_bare;
use crate::nul_string::{NulString, StringArena};
use crate::roster::{RosterItem, Subscription};
use crate::xml::element::{parse_element, Scope};
use crate::xml::scan::{find_special, Special};
use crate::xml::{ns, Element};
use std::borrow::Cow;

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

/// Decodes `bytes` if it is an `<iq/>` with a roster query; `Ok(None)` for any other stanza.
/// Errors are the stream errors malformed XML calls for.
pub fn decode_roster_iq(bytes: &[u8], scope: &Scope) -> Result<Option<RosterIq>> {
    // The fast decoder reads unprefixed elements as jabber:client, which holds on a client stream.
    if scope.default_ns() == Some(ns::CLIENT) {
        if let Some(iq) = decode_common_shape(bytes) {
            return Ok(Some(iq));
        }
    }
    let el = parse_element(bytes, scope)?;
    Ok(from_element(&el))
}

/// The fast decoder alone: `None` when the stanza is not of the common shape (which includes
/// every malformed one); the caller then decodes the element tree. Only for a stream whose
/// default namespace is `jabber:client` (the client checks the server's stream header).
pub fn decode_common_shape(bytes: &[u8]) -> Option<RosterIq> {
    fast::decode(bytes)
}

/// The start of a roster `<iq/>`, `<iq ...><query xmlns='jabber:iq:roster' ...>`, of the common
/// shape: what the client needs to know whether this is the fetch result it waits for, before the
/// items arrive. `None` for anything else (the stanza is then decoded whole when complete).
pub fn decode_roster_head(bytes: &[u8]) -> Option<RosterIq> {
    fast::decode_head(bytes)
}

/// Decodes one child of a roster query whose head [`decode_roster_head`] accepted, e.g. one
/// `<item/>` of a fetch result decoded as it arrives. `stream_scope` is the stream's scope.
/// `Ok(None)` for a child that is not a roster `<item/>` (ignored, as in a whole stanza).
pub fn decode_roster_child(bytes: &[u8], stream_scope: &Scope) -> Result<Option<WireItem>> {
    // The character data before the child (white space, in practice) is checked, then ignored.
    let lt = memchr::memchr(b'<', bytes).unwrap_or(bytes.len());
    let (text, bytes) = bytes.split_at(lt);
    if !text.iter().all(u8::is_ascii_whitespace) {
        fast::text_ok(text).ok_or_else(|| Error::local_stream("not-well-formed", "bad character data in a roster query"))?;
    }
    if let Some(item) = fast::decode_item(bytes) {
        return Ok(Some(item));
    }
    let mut scope = stream_scope.clone();
    scope.declare_from(&[("xmlns".to_string(), ns::ROSTER.to_string())]);
    let el = parse_element(bytes, &scope)?;
    Ok(el.is("item", ns::ROSTER).then(|| item_from_element(&el)))
}

/// Decodes the complete `<item/>`s at the start of `bytes` (children of a split roster result
/// buffered by the framer, see `Framer::children_ahead`) and hands each usable one to `push`.
/// Returns how many bytes they took: it stops before the first child that is incomplete (more
/// bytes must come), not of the common shape, or not an item; the framer then takes over from
/// there. Decodes exactly as [`decode_roster_child`] does for each child it takes.
pub fn decode_items_ahead(bytes: &[u8], scratch: &mut DecodeScratch, mut push: impl FnMut(RosterItem)) -> usize {
    fast::decode_items_ahead(bytes, scratch, &mut push)
}

/// What [`decode_items_ahead`] keeps from one call to the next while a roster is decoded: the
/// group lists seen so far, so that items with equal groups share one copy, the arena the items'
/// JIDs and names are cut from, and room to decode a value with references in it.
pub struct DecodeScratch {
    groups: GroupInterner,
    /// `None` when decoding a single stanza (a push): its strings get their own allocations.
    strings: Option<StringArena>,
    text: String,
}

impl Default for DecodeScratch {
    /// For a whole roster: strings are cut from an arena.
    fn default() -> DecodeScratch {
        DecodeScratch { groups: GroupInterner::default(), strings: Some(StringArena::default()), text: String::new() }
    }
}

impl DecodeScratch {
    fn for_one_stanza() -> DecodeScratch {
        DecodeScratch { groups: GroupInterner::default(), strings: None, text: String::new() }
    }
}

/// Checks the end of a roster `<iq/>` decoded child by child: `</query>` then `</iq>`, with only
/// character data around them (anything else after the items is refused with `bad-format`).
pub fn check_roster_tail(bytes: &[u8]) -> Result<()> {
    fast::check_tail(bytes).ok_or_else(|| Error::local_stream("bad-format", "a roster result must end with </query></iq> after its items"))
}

/// Decodes an element tree that is an `<iq/>` with a roster query.
pub fn from_element(el: &Element) -> Option<RosterIq> {
    if !el.is("iq", ns::CLIENT) {
        return None;
    }
    let query = el.child("query", ns::ROSTER)?;
    let items = query.children.iter().filter(|c| c.is("item", ns::ROSTER)).map(item_from_element).collect();
    Some(RosterIq {
        iq_type: el.attr("type").unwrap_or_default().to_string(),
        id: el.attr("id").unwrap_or_default().to_string(),
        from: el.attr("from").map(str::to_string),
        ver: query.attr("ver").map(str::to_string),
        items,
    })
}

fn item_from_element(it: &Element) -> WireItem {
    let groups = it.children.iter().filter(|c| c.is("group", ns::ROSTER)).map(|g| NulString::from(&g.text)).collect();
    make_item(
        it.attr("jid"),
        it.attr("name").map(NulString::from),
        it.attr("subscription"),
        it.attr("ask") == Some("subscribe"),
        matches!(it.attr("approved"), Some("true") | Some("1")),
        groups,
        None,
    )
}

/// Turns an item's decoded attributes into what it means for the roster (both decoders).
/// `strings`: where to keep the JID (a fetch's arena), or `None` for its own allocation.
fn make_item(jid: Option<&str>, name: Option<NulString>, subscription: Option<&str>, ask: bool, approved: bool, groups: Groups, strings: Option<&mut StringArena>) -> WireItem {
    let Some(raw_jid) = jid else {
        return WireItem::Invalid("item without a jid".into());
    };
    let Some(jid) = normalize_bare(raw_jid) else {
        return WireItem::Invalid(format!("item with an invalid JID {raw_jid:?}"));
    };
    let subscription = match subscription {
        None => Subscription::None,
        Some("remove") => return WireItem::Remove(jid.into_owned()),
        Some(s) => match Subscription::parse(s) {
            Some(sub) => sub,
            None => return WireItem::Invalid(format!("item with an unknown subscription {s:?}")),
        },
    };
    // A valid JID holds no control character, so no NUL.
    let jid = match strings {
        Some(arena) => arena.copy_without_nul(&jid),
        None => NulString::from_text_without_nul(&jid),
    };
    WireItem::Item(RosterItem { jid, name, subscription, ask, approved, groups })
}

/// The single-pass decoder for the common shape. Every function returns `None` to mean "not the
/// common shape": the caller then uses the element tree, which also reports real errors.
mod fast {
    use super::*;

    /// A position in the bytes of a stanza. Bytes, not `str`: UTF-8 is checked only in the
    /// values kept (most are ASCII, which the value scan sees on its way), the rest is ASCII
    /// markup that the decoder checks byte by byte anyway.
    struct Cursor<'a> {
        b: &'a [u8],
        i: usize,
    }

    /// The ASCII bytes that may continue an XML name here: letters, digits, `.-_:`.
    static NAME_CHAR: [bool; 256] = {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' || b == b':';
            c += 1;
        }
        t
    };

    fn is_ws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r')
    }

    impl<'a> Cursor<'a> {
        #[inline(always)]
        fn skip_ws(&mut self) -> bool {
            let start = self.i;
            while self.i < self.b.len() && is_ws(self.b[self.i]) {
                self.i += 1;
            }
            self.i > start
        }
        #[inline(always)]
        fn eat(&mut self, lit: &[u8]) -> bool {
            if self.b[self.i..].starts_with(lit) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }
        /// An ASCII XML name (prefixes included: the caller rejects them).
        fn name(&mut self) -> Option<&'a [u8]> {
            let b = self.b;
            let start = self.i;
            if start >= b.len() || !(b[start].is_ascii_alphabetic() || b[start] == b'_' || b[start] == b':') {
                return None;
            }
            let len = b[start + 1..].iter().position(|&c| !NAME_CHAR[c as usize]).unwrap_or(b.len() - start - 1);
            self.i = start + 1 + len;
            Some(&b[start..self.i])
        }
        /// The name of an `<item/>` attribute the roster defines, as its index in `jid`,
        /// `name`, `subscription`, `ask`, `approved`; `None` for any other name.
        #[inline(always)]
        fn item_attribute(&mut self) -> Option<usize> {
            let rest = &self.b[self.i..];
            let (k, len) = match rest.first()? {
                b'j' if rest.starts_with(b"jid") => (0, 3),
                b'n' if rest.starts_with(b"name") => (1, 4),
                b's' if rest.starts_with(b"subscription") => (2, 12),
                b'a' if rest.starts_with(b"ask") => (3, 3),
                b'a' if rest.starts_with(b"approved") => (4, 8),
                _ => return None,
            };
            if rest.get(len).is_some_and(|&c| NAME_CHAR[c as usize]) {
                return None; // a longer name, e.g. `jids`
            }
            self.i += len;
            Some(k)
        }
        /// `<name` of a start tag.
        fn open(&mut self, name: &str) -> Option<()> {
            if !self.eat(b"<") || self.name()? != name.as_bytes() {
                return None;
            }
            Some(())
        }
        /// `</name WS? >`.
        fn close(&mut self, name: &str) -> Option<()> {
            self.skip_ws();
            if !self.eat(b"</") || self.name()? != name.as_bytes() {
                return None;
            }
            self.skip_ws();
            self.eat(b">").then_some(())
        }
        /// Attributes up to `>` or `/>`, each name read by `name` (`None`: not of the common
        /// shape); calls `each(name, raw value)`. Returns true for `/>`.
        #[inline(always)]
        fn attrs<N>(&mut self, mut name: impl FnMut(&mut Self) -> Option<N>, mut each: impl FnMut(N, Raw<'a>) -> Option<()>) -> Option<bool> {
            loop {
                let spaced = self.skip_ws();
                if self.eat(b"/>") {
                    return Some(true);
                }
                if self.eat(b">") {
                    return Some(false);
                }
                if !spaced {
                    return None;
                }
                let n = name(self)?;
                self.skip_ws();
                if !self.eat(b"=") {
                    return None;
                }
                self.skip_ws();
                let raw = self.quoted()?;
                each(n, raw)?;
            }
        }
        /// An attribute value in quotes: the text between them, `plain` when it holds no
        /// reference and no control character (nothing to decode, no NUL). `None` for a `<` in
        /// it or no closing quote (yet).
        #[inline(always)]
        fn quoted(&mut self) -> Option<Raw<'a>> {
            let b = self.b;
            let quote = *b.get(self.i)?;
            if quote != b'\'' && quote != b'"' {
                return None;
            }
            let start = self.i + 1;
            let rest = &b[start..];
            let Special { at: mut end, ascii } = find_special(rest, quote);
            let plain = rest.get(end) == Some(&quote);
            if !plain {
                // A reference or a control character first: the value is decoded; find its end.
                end += memchr::memchr2(quote, b'<', rest.get(end..)?)?;
                if rest[end] == b'<' {
                    return None;
                }
            }
            self.i = start + end + 1;
            Some(Raw { text: &rest[..end], plain, ascii: plain && ascii })
        }
        /// Character data up to the next `<` (or the end), `plain` when it holds no reference,
        /// carriage return or NUL: for the short texts of `<group/>`s and around end tags.
        #[inline(always)]
        fn short_text(&mut self) -> Raw<'a> {
            let start = self.i;
            let rest = &self.b[start..];
            let Special { at: mut len, mut ascii } = find_special(rest, b'<');
            let mut plain = true;
            if len < rest.len() && rest[len] != b'<' {
                // A reference or a control character (tabs and line feeds are kept as they are).
                let lt = memchr::memchr(b'<', &rest[len..]).map_or(rest.len(), |p| len + p);
                plain = !rest[len..lt].iter().any(|&c| c == b'&' || c == b'\r' || c == 0);
                ascii = false; // not known past the first special byte
                len = lt;
            }
            self.i = start + len;
            Raw { text: &rest[..len], plain, ascii }
        }
    }

    /// A value as written (between quotes, or character data); `plain` when there is nothing
    /// to decode in it and it holds no NUL (see `Cursor::quoted`, `Cursor::short_text`).
    #[derive(Clone, Copy)]
    struct Raw<'a> {
        text: &'a [u8],
        plain: bool,
        /// True when the text is known to be ASCII (otherwise it is still to be checked).
        ascii: bool,
    }

    impl<'a> Raw<'a> {
        /// The text as `str`: `None` if it is not UTF-8 (the element tree then reports it).
        #[inline(always)]
        fn utf8(self) -> Option<&'a str> {
            if self.ascii {
                // SAFETY: the value scan saw only ASCII bytes, which are UTF-8 as they are.
                Some(unsafe { std::str::from_utf8_unchecked(self.text) })
            } else {
                crate::xml::utf8::from_utf8(self.text)
            }
        }
    }

    /// A value as text: borrowed when there is nothing to decode, else with line ends (and, in
    /// an attribute, white space) normalised and references resolved (XML 1.0 §2.11, §3.3.3).
    /// `None` if it is not UTF-8 or does not decode.
    #[inline(always)]
    fn decoded(raw: Raw<'_>, attr: bool) -> Option<Cow<'_, str>> {
        let text = raw.utf8()?;
        if raw.plain {
            return Some(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len() + 1);
        decode_into(&mut out, text, attr)?;
        Some(Cow::Owned(out))
    }

    #[inline(always)]
    fn attr_value(raw: Raw<'_>) -> Option<Cow<'_, str>> {
        decoded(raw, true)
    }

    /// Character data that is UTF-8 and decodes (no unknown entity, no bad character reference).
    fn check_text(raw: Raw<'_>) -> Option<()> {
        decoded(raw, false).map(drop)
    }

    /// Character data as bytes, decoded if needed: UTF-8 is checked when there was something to
    /// decode, else left to the caller (see `GroupInterner::intern`).
    fn text_bytes(raw: Raw<'_>) -> Option<Cow<'_, [u8]>> {
        if raw.plain {
            return Some(Cow::Borrowed(raw.text));
        }
        Some(Cow::Owned(decoded(raw, false)?.into_owned().into_bytes()))
    }

    /// One pass over `raw`: `\r\n` and `\r` become `\n` (in attributes, tabs and line ends
    /// become spaces), references are resolved. `None` for an unknown entity or a character
    /// reference XML does not allow: the element tree then reports the stream error.
    fn decode_into(out: &mut String, raw: &str, attr: bool) -> Option<()> {
        let b = raw.as_bytes();
        let (mut i, mut start) = (0, 0);
        while i < b.len() {
            let replacement = match b[i] {
                b'&' => {
                    out.push_str(&raw[start..i]);
                    let (c, len) = reference(&raw[i..])?;
                    out.push(c);
                    i += len;
                    start = i;
                    continue;
                }
                b'\r' => {
                    out.push_str(&raw[start..i]);
                    i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                    start = i;
                    out.push(if attr { ' ' } else { '\n' });
                    continue;
                }
                b'\t' | b'\n' if attr => ' ',
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.push_str(&raw[start..i]);
            out.push(replacement);
            i += 1;
            start = i;
        }
        out.push_str(&raw[start..]);
        Some(())
    }

    /// The character a reference at the start of `s` (`&...;`) stands for, and its length.
    fn reference(s: &str) -> Option<(char, usize)> {
        let semi = s.as_bytes().iter().take(12).position(|&b| b == b';')?;
        let name = &s[1..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    name.strip_prefix('#')?.parse::<u32>().ok()?
                };
                if !name[1..].bytes().skip(usize::from(name.starts_with("#x"))).all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let c = char::from_u32(code)?;
                // XML 1.0 Char: no NUL, no other C0 controls but tab and line ends, no U+FFFE/F.
                if (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}') {
                    return None;
                }
                c
            }
        };
        Some((c, semi + 1))
    }

    /// `<iq ...>` WS? `<query xmlns='jabber:iq:roster' ...>`: the iq's attributes and the
    /// query's version. The bool is true when the query is empty (`<query/>`).
    fn head(c: &mut Cursor<'_>) -> Option<(RosterIq, bool)> {
        c.open("iq")?;
        let mut iq = RosterIq { iq_type: String::new(), id: String::new(), from: None, ver: None, items: Vec::new() };
        let mut seen = [false; 6];
        let iq_empty = c.attrs(Cursor::name, |name, raw| {
            // Every value is decoded, which also checks that it is UTF-8.
            let v = attr_value(raw)?;
            // Each at most once (a duplicate is malformed: the tree says so).
            match [&b"type"[..], b"id", b"from", b"to", b"xmlns", b"xml:lang"].iter().position(|n| *n == name) {
                Some(k) if !seen[k] => seen[k] = true,
                _ => return None,
            }
            match name {
                b"type" => iq.iq_type = v.into_owned(),
                b"id" => iq.id = v.into_owned(),
                b"from" => iq.from = Some(v.into_owned()),
                b"xmlns" if v != ns::CLIENT => return None,
                _ => {}
            }
            Some(())
        })?;
        if iq_empty {
            return None;
        }
        c.skip_ws();
        c.open("query")?;
        let mut query_ns = false;
        let mut ver_seen = false;
        let query_empty = c.attrs(Cursor::name, |name, raw| {
            match name {
                b"xmlns" if !query_ns && raw.text == ns::ROSTER.as_bytes() => query_ns = true,
                b"ver" if !ver_seen => {
                    ver_seen = true;
                    iq.ver = Some(attr_value(raw)?.into_owned());
                }
                _ => return None,
            }
            Some(())
        })?;
        query_ns.then_some((iq, query_empty))
    }

    pub(super) fn decode_head(b: &[u8]) -> Option<RosterIq> {
        let mut c = Cursor { b, i: 0 };
        let (iq, query_empty) = head(&mut c)?;
        (!query_empty && c.i == b.len()).then_some(iq)
    }

    /// Character data that is UTF-8 and decodes (no unknown entity, no bad character reference).
    pub(super) fn text_ok(b: &[u8]) -> Option<()> {
        let mut c = Cursor { b, i: 0 };
        check_text(c.short_text())?;
        (c.i == b.len()).then_some(())
    }

    /// `</query>` and `</iq>`, with character data around them.
    pub(super) fn check_tail(b: &[u8]) -> Option<()> {
        let mut c = Cursor { b, i: 0 };
        check_text(c.short_text())?;
        c.close("query")?;
        check_text(c.short_text())?;
        c.close("iq")?;
        (c.i == b.len()).then_some(())
    }

    pub(super) fn decode_items_ahead(b: &[u8], scratch: &mut DecodeScratch, push: &mut dyn FnMut(RosterItem)) -> usize {
        let mut c = Cursor { b, i: 0 };
        let mut names = Vec::new();
        let mut taken = 0;
        loop {
            c.skip_ws();
            if !c.b[c.i..].starts_with(b"<item") {
                return taken;
            }
            match item(&mut c, &mut names, scratch) {
                Some(WireItem::Item(it)) => push(it),
                // As in a whole result: removals and unusable items are not part of a roster.
                Some(_) => {}
                None => return taken,
            }
            taken = c.i;
        }
    }

    pub(super) fn decode_item(b: &[u8]) -> Option<WireItem> {
        let mut c = Cursor { b, i: 0 };
        // One item (e.g. a push): its strings get their own allocations.
        let item = item(&mut c, &mut Vec::new(), &mut DecodeScratch::for_one_stanza())?;
        (c.i == b.len()).then_some(item)
    }

    pub(super) fn decode(b: &[u8]) -> Option<RosterIq> {
        let mut c = Cursor { b, i: 0 };
        let (mut iq, query_empty) = head(&mut c)?;
        if !query_empty {
            let (mut names, mut scratch) = (Vec::new(), DecodeScratch::for_one_stanza());
            loop {
                c.skip_ws();
                if c.b[c.i..].starts_with(b"</") {
                    c.close("query")?;
                    break;
                }
                iq.items.push(item(&mut c, &mut names, &mut scratch)?);
            }
        }
        c.close("iq")?;
        c.skip_ws();
        (c.i == b.len()).then_some(iq)
    }

    /// One `<item/>`, from its `<`.
    /// `names` is scratch space for the group names (left empty); `scratch` shares equal group
    /// lists between items and says where the JID and name are kept (see `make_item`).
    fn item<'a>(c: &mut Cursor<'a>, names: &mut Vec<Cow<'a, [u8]>>, scratch: &mut DecodeScratch) -> Option<WireItem> {
        if !c.eat(b"<item") {
            return None;
        }
        // jid, name, subscription, ask, approved: each at most once.
        let mut attrs: [Option<Raw<'a>>; 5] = [None; 5];
        // Prefixed names and namespace declarations are none of these: the tree takes them.
        let empty = c.attrs(Cursor::item_attribute, |k, raw| {
            if attrs[k].is_some() {
                return None; // duplicate attribute: malformed, let the tree say so
            }
            attrs[k] = Some(raw);
            Some(())
        })?;
        names.clear();
        if !empty {
            loop {
                c.skip_ws();
                if c.eat(b"</item") {
                    c.skip_ws();
                    c.eat(b">").then_some(())?;
                    break;
                }
                if !c.eat(b"<group") {
                    return None;
                }
                c.skip_ws();
                if c.eat(b"/>") {
                    names.push(Cow::Borrowed(&b""[..]));
                    continue;
                }
                if !c.eat(b">") {
                    return None; // attributes on a group
                }
                names.push(text_bytes(c.short_text())?);
                if !c.eat(b"</group") {
                    return None;
                }
                c.skip_ws();
                c.eat(b">").then_some(())?;
            }
        }
        // Each value decoded (`None`: one does not decode, and the tree says why).
        let jid = match attrs[0] {
            Some(raw) => Some(attr_value(raw)?),
            None => None,
        };
        let subscription = match attrs[2] {
            Some(raw) => Some(attr_value(raw)?),
            None => None,
        };
        let ask = attr_is(attrs[3], &["subscribe"])?;
        let approved = attr_is(attrs[4], &["true", "1"])?;
        let name = match (attrs[1], scratch.strings.as_mut()) {
            (None, _) => None,
            // A plain value holds no NUL (see `quoted`).
            (Some(raw), Some(arena)) if raw.plain => Some(arena.copy_without_nul(raw.utf8()?)),
            (Some(raw), Some(arena)) => {
                scratch.text.clear();
                decode_into(&mut scratch.text, raw.utf8()?, true)?;
                Some(arena.copy(&scratch.text))
            }
            (Some(raw), None) => Some(NulString::from(attr_value(raw)?)),
        };
        let groups = scratch.groups.intern(names)?;
        names.clear();
        Some(make_item(jid.as_deref(), name, subscription.as_deref(), ask, approved, groups, scratch.strings.as_mut()))
    }

    /// Whether an attribute is present with one of `values`: compared as written when there is
    /// nothing to decode and it is ASCII, else decoded first (`None` if it does not decode).
    #[inline(always)]
    fn attr_is(raw: Option<Raw<'_>>, values: &[&str]) -> Option<bool> {
        match raw {
            None => Some(false),
            Some(r) if r.plain && r.ascii => Some(values.iter().any(|v| r.text == v.as_bytes())),
            Some(r) => Some(values.contains(&&*attr_value(r)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::client_stream()
    }

    fn item(jid: &str) -> RosterItem {
        RosterItem { jid: jid.into(), ..Default::default() }
    }

    /// Both decoders, which must agree whenever the fast one takes the stanza.
    fn both(xml: &str) -> (Option<RosterIq>, Option<RosterIq>) {
        let fast = fast::decode(xml.as_bytes());
        let slow = parse_element(xml.as_bytes(), &scope()).ok().and_then(|el| from_element(&el));
        (fast, slow)
    }

    #[test]
    fn decodes_a_full_result_with_every_field() {
        let xml = "<iq type='result' id='r1' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver7'>
            <item jid='Nurse@Example.com'/>
            <item jid='romeo@example.net' name='Romeo &amp; &#x263A;' subscription='both' approved='true' ask='subscribe'><group>Lovers</group><group>Friends</group><group>Lovers</group></item>
            </query></iq>";
        let (fast, slow) = both(xml);
        let iq = fast.expect("the common shape takes the fast path");
        assert_eq!(Some(&iq), slow.as_ref());
        assert_eq!(iq.iq_type, "result");
        assert_eq!(iq.id, "r1");
        assert_eq!(iq.ver.as_deref(), Some("ver7"));
        assert_eq!(iq.items[0], WireItem::Item(item("nurse@example.com")));
        let WireItem::Item(romeo) = &iq.items[1] else { panic!() };
        assert_eq!(romeo.name.as_deref(), Some("Romeo & \u{263A}"));
        assert_eq!(romeo.subscription, Subscription::Both);
        assert!(romeo.ask && romeo.approved);
        assert_eq!(romeo.groups, vec!["Friends", "Lovers"]);
    }

    #[test]
    fn many_groups_are_sorted_and_deduplicated_in_n_log_n() {
        let many: String = (0..20_000).rev().map(|i| format!("<group>g{}</group>", i % 10_000)).collect();
        let xml = format!("<iq type='result' id='x'><query xmlns='jabber:iq:roster'><item jid='a@b'>{many}</item></query></iq>");
        let iq = fast::decode(xml.as_bytes()).unwrap();
        let WireItem::Item(a) = &iq.items[0] else { panic!() };
        assert_eq!(a.groups.len(), 10_000);
        assert!(a.groups.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn removals_and_unusable_items_are_reported_the_same_by_both() {
        let xml = "<iq type='set' id='p' from='a@b'><query xmlns='jabber:iq:roster' ver='2'><item jid='x@y' subscription='remove'/><item jid='bad jid@y'/><item jid='z@y' subscription='weird'/><item name='no jid'/><item jid='q@y' name='Q'><group>G</group></item></query></iq>";
        let (fast, slow) = both(xml);
        let fast = fast.unwrap();
        assert_eq!(Some(&fast), slow.as_ref());
        assert_eq!(fast.items[0], WireItem::Remove("x@y".into()));
        assert!(matches!(fast.items[1], WireItem::Invalid(_)));
        assert!(matches!(fast.items[2], WireItem::Invalid(_)));
        assert!(matches!(fast.items[3], WireItem::Invalid(_)));
    }

    #[test]
    fn unusual_shapes_fall_back_to_the_element_tree_with_the_same_meaning() {
        for xml in [
            "<iq type='result' id='1'><r:query xmlns:r='jabber:iq:roster'><r:item jid='a@b'/></r:query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' xmlns:x='urn:x' x:extra='1'/></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group><![CDATA[G]]></group></item></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'><ext xmlns='urn:x'/></item></query></iq>",
            "<iq type='result' id='1' custom='x'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>",
        ] {
            let (fast, slow) = both(xml);
            assert_eq!(fast, None, "{xml}");
            let slow = slow.unwrap_or_else(|| panic!("{xml}"));
            assert!(matches!(&slow.items[0], WireItem::Item(i) if i.jid == "a@b"), "{xml}: {slow:?}");
        }
    }

    #[test]
    fn malformed_input_is_never_accepted_by_the_fast_path() {
        for xml in [
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' jid='c@d'/></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='&bogus;'/></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>&bogus;</group></item></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq><trailing/>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid=a@b/></query></iq>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><itemjid='a@b'/></query></iq>",
            "<iq type='result' id='1' xml:lang='en' xml:lang='de'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>",
        ] {
            assert_eq!(fast::decode(xml.as_bytes()), None, "{xml}");
        }
        // Not UTF-8: in a value, in a group, after a control character or a line feed.
        for xml in [
            &b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='\xff'/></query></iq>"[..],
            b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='x&amp;\xff'/></query></iq>",
            b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query>\x03\xff</iq>",
            b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G\n\xff</group></item></query></iq>",
            b"<iq type='result' id='1' xml:lang='\xc3'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>",
        ] {
            assert_eq!(fast::decode(xml), None, "{}", String::from_utf8_lossy(xml));
            assert!(parse_element(xml, &scope()).is_err(), "{}", String::from_utf8_lossy(xml));
        }
        assert!(check_roster_tail(b"</query>\x03\xff</iq>").is_err(), "the tail of a result decoded item by item");
        assert!(check_roster_tail(b"\n</query>\n</iq>").is_ok());
    }

    #[test]
    fn escapes_and_white_space_are_decoded_as_xml_says() {
        let xml = "<iq type=\"result\" id=\"1\"><query xmlns=\"jabber:iq:roster\"><item jid=\"a@b\" name=\"tab\there&#10;nl &lt;&gt;&quot;&apos;\r\nend\"><group>line\r\nbreak &amp; &#233;</group></item ></query ></iq >";
        let (fast, slow) = both(xml);
        let fast = fast.unwrap();
        assert_eq!(Some(&fast), slow.as_ref());
        let WireItem::Item(a) = &fast.items[0] else { panic!() };
        assert_eq!(a.name.as_deref(), Some("tab here\nnl <>\"' end"));
        assert_eq!(a.groups, ["line\nbreak & \u{e9}"]);
    }

    /// A small deterministic generator of roster stanzas with random escapes, quotes, white space
    /// and item shapes: the two decoders must agree on every one the fast path accepts.
    #[test]
    fn fast_and_generic_decoders_agree_on_generated_stanzas() {
        let mut seed: u64 = 0x9E3779B97F4A7C15;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let pieces = [
            "a", "B", " ", "\t", "\r\n", "\r", "\n", "&amp;", "&lt;", "&#65;", "&#x1F600;", "&#0;", "&#x7;", "&#xD800;", "&#9;", "&#+5;", "&#x-1;",
            "&bogus;", "&", "&#;", "&#x;", "é", "\"", "'", ">", "x@y", "ü",
        ];
        let mut fast_taken = 0;
        for _ in 0..2000 {
            let mut xml = String::from("<iq type='result' id='g'><query xmlns='jabber:iq:roster' ver='1'>");
            for _ in 0..rand(4) {
                let q = if rand(2) == 0 { '\'' } else { '"' };
                let text = |rand: &mut dyn FnMut(u64) -> u64| -> String {
                    (0..rand(6)).map(|_| pieces[rand(pieces.len() as u64) as usize]).filter(|p| !p.contains(q)).collect()
                };
                let jid = ["a@b", "A@B", "bad jid@x", "x@y/r", "c@d."][rand(5) as usize];
                xml.push_str(&format!("{}<item jid={q}{jid}{q}", ["", " ", "\n"][rand(3) as usize]));
                if rand(2) == 0 {
                    xml.push_str(&format!(" name={q}{}{q}", text(&mut rand)));
                }
                if rand(2) == 0 {
                    xml.push_str(&format!(" subscription={q}{}{q}", ["none", "to", "from", "both", "remove", "bogus"][rand(6) as usize]));
                }
                if rand(3) == 0 {
                    xml.push_str(" ask='subscribe'");
                }
                if rand(2) == 0 {
                    xml.push_str("/>");
                } else {
                    xml.push('>');
                    for _ in 0..rand(4) {
                        let g: String = text(&mut rand).replace(['<'], "");
                        xml.push_str(&format!("<group>{}</group>", g.replace('>', "&gt;")));
                    }
                    xml.push_str("</item>");
                }
            }
            xml.push_str("</query></iq>");
            let (fast, slow) = both(&xml);
            if let Some(f) = fast {
                fast_taken += 1;
                assert_eq!(Some(f), slow, "{xml}");
            }
        }
        assert!(fast_taken > 500, "the fast path should take many generated stanzas, took {fast_taken}");
    }

    #[test]
    fn other_payloads_are_not_roster_iqs() {
        assert_eq!(decode_roster_iq(b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", &scope()).unwrap(), None);
        assert_eq!(decode_roster_iq(b"<iq type='result' id='1'/>", &scope()).unwrap(), None);
        assert!(decode_roster_iq(b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='&bogus;'/></query></iq>", &scope()).is_err());
    }
}
