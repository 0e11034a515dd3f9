//! A small element tree for stanzas, built from one complete stanza's bytes with quick-xml.
//!
//! Namespaces are resolved (default and prefixed) so code can match on `(name, ns)` as RFC 6120
//! requires. Mixed content is flattened: an element keeps the concatenation of its text children.

use crate::error::{Error, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element: local name, resolved namespace, attributes (raw names, unescaped values),
/// child elements and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub ns: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The value of attribute `name` (matched on the raw name, e.g. `xml:lang`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first child named `name` in namespace `ns`.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name && c.ns == ns)
    }

    /// True if `self` is `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }
}

/// Namespace bindings in scope: `(prefix, uri)`; the empty prefix is the default namespace.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    bindings: Vec<(String, String)>,
}

impl Scope {
    /// The bindings a client stream starts with.
    pub fn client_stream() -> Scope {
        Scope {
            bindings: vec![
                ("".to_string(), super::ns::CLIENT.to_string()),
                ("stream".to_string(), super::ns::STREAM.to_string()),
                ("xml".to_string(), "http://www.w3.org/XML/1998/namespace".to_string()),
            ],
        }
    }

    /// Adds the declarations of a start tag (e.g. the stream header's) to this scope.
    pub fn declare_from(&mut self, attrs: &[(String, String)]) {
        for (k, v) in attrs {
            if k == "xmlns" {
                self.bindings.push((String::new(), v.clone()));
            } else if let Some(p) = k.strip_prefix("xmlns:") {
                self.bindings.push((p.to_string(), v.clone()));
            }
        }
    }

    /// The default namespace in scope (`jabber:client` on a client stream).
    pub fn default_ns(&self) -> Option<&str> {
        self.resolve("")
    }

    fn resolve(&self, prefix: &str) -> Option<&str> {
        self.bindings.iter().rev().find(|(p, _)| p == prefix).map(|(_, u)| u.as_str())
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::local_stream("not-well-formed", msg)
}

/// Reads the attributes of a start tag, unescaped.
pub fn read_attrs(start: &BytesStart<'_>) -> Result<Vec<(String, String)>> {
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| bad(format!("bad attribute: {e}")))?;
        let key: &str = a.key.as_ref();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| Error::local_stream("restricted-xml", format!("bad attribute value: {e}")))?;
        attrs.push((key.to_string(), value.into_owned()));
    }
    Ok(attrs)
}

/// Parses a lone start tag such as the stream header `<stream:stream ...>`.
pub fn parse_start_tag(tag: &str) -> Result<(String, Vec<(String, String)>)> {
    let mut reader = Reader::from_str(tag);
    loop {
        match reader.read_event().map_err(|e| bad(format!("malformed stream header: {e}")))? {
            Event::Start(s) | Event::Empty(s) => {
                let name = s.name().as_ref().to_string();
                return Ok((name, read_attrs(&s)?));
            }
            Event::Decl(_) | Event::Text(_) => continue,
            _ => return Err(bad("expected a stream header")),
        }
    }
}

/// Splits `prefix:local` (or `local`).
pub fn split_qname(q: &str) -> (&str, &str) {
    match q.find(':') {
        Some(i) => (&q[..i], &q[i + 1..]),
        None => ("", q),
    }
}

/// Appends a general reference (`&amp;`, `&#x41;`) to `out`, refusing anything but the predefined
/// entities and character references: no entity is ever expanded (RFC 6120 §11.1).
pub fn push_reference(out: &mut String, r: &quick_xml::events::BytesRef<'_>) -> Result<()> {
    if r.is_char_ref() {
        match r.resolve_char_ref() {
            Ok(Some(c)) => out.push(c),
            _ => return Err(bad("invalid character reference")),
        }
    } else {
        match quick_xml::escape::resolve_predefined_entity(r) {
            Some(s) => out.push_str(s),
            None => return Err(Error::local_stream("restricted-xml", format!("undefined entity &{};", &**r))),
        }
    }
    Ok(())
}

/// Builds the tree of one complete stanza. `scope` holds the stream's namespace bindings.
pub fn parse_element(bytes: &[u8], scope: &Scope) -> Result<Element> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("stanza is not valid UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut scope = scope.clone();
    // Stack of open elements and, for each, how many bindings it added.
    let mut stack: Vec<(Element, usize)> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| bad(format!("{e}")))?;
        match event {
            Event::Start(s) => {
                let (el, added) = open_element(&s, &mut scope)?;
                stack.push((el, added));
            }
            Event::Empty(s) => {
                let (el, added) = open_element(&s, &mut scope)?;
                let keep = scope.bindings.len() - added;
                scope.bindings.truncate(keep);
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let (el, added) = stack.pop().ok_or_else(|| bad("unexpected end tag"))?;
                let keep = scope.bindings.len() - added;
                scope.bindings.truncate(keep);
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some((el, _)) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some((el, _)) = stack.last_mut() {
                    el.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((el, _)) = stack.last_mut() {
                    push_reference(&mut el.text, &r)?;
                }
            }
            Event::Eof => return Err(bad("stanza ended early")),
            Event::Comment(_) | Event::DocType(_) | Event::PI(_) | Event::Decl(_) => {
                return Err(Error::local_stream("restricted-xml", "restricted XML inside a stanza"));
            }
        }
    }
}

/// Starts an element: reads its attributes, adds its namespace declarations to `scope`, resolves
/// its name. Returns the element and how many bindings it added (removed again at its end).
fn open_element(s: &BytesStart<'_>, scope: &mut Scope) -> Result<(Element, usize)> {
    let attrs = read_attrs(s)?;
    let before = scope.bindings.len();
    scope.declare_from(&attrs);
    let qname: &str = s.name().into_inner();
    let (prefix, local) = split_qname(qname);
    let ns = scope.resolve(prefix).ok_or_else(|| bad(format!("undeclared prefix {prefix:?}")))?.to_string();
    let el = Element { name: local.to_string(), ns, attrs, children: Vec::new(), text: String::new() };
    Ok((el, scope.bindings.len() - before))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::ns;

    #[test]
    fn resolves_default_and_prefixed_namespaces() {
        let scope = Scope::client_stream();
        let el = parse_element(
            b"<iq type='result' id='1'><q:query xmlns:q='jabber:iq:roster'><q:item jid='a@b'/></q:query><x xmlns='urn:x'><y/></x></iq>",
            &scope,
        )
        .unwrap();
        assert!(el.is("iq", ns::CLIENT));
        let q = el.child("query", ns::ROSTER).unwrap();
        assert_eq!(q.children[0].ns, ns::ROSTER);
        assert_eq!(q.children[0].attr("jid"), Some("a@b"));
        assert_eq!(el.child("x", "urn:x").unwrap().children[0].ns, "urn:x");
    }

    #[test]
    fn stream_prefix_comes_from_the_stream_scope() {
        let el = parse_element(b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", &Scope::client_stream()).unwrap();
        assert!(el.is("error", ns::STREAM));
        assert!(el.child("conflict", ns::STREAMS).is_some());
    }

    #[test]
    fn text_references_and_cdata_are_decoded() {
        let el = parse_element(b"<m>a &amp; b &#x263A; <![CDATA[<c>]]></m>", &Scope::client_stream()).unwrap();
        assert_eq!(el.text, "a & b \u{263A} <c>");
    }

    #[test]
    fn undefined_entities_are_refused_not_expanded() {
        let r = parse_element(b"<m>&lol;</m>", &Scope::client_stream());
        assert!(matches!(r, Err(Error::Stream { ref condition, .. }) if condition == "restricted-xml"), "{r:?}");
        let r = parse_element(b"<m a='&lol;'/>", &Scope::client_stream());
        assert!(r.is_err());
    }

    #[test]
    fn malformed_stanzas_are_errors() {
        for bad in [&b"<a><b></a>"[..], b"<a x='1' x='2'/>", b"<p:a/>", b"<a>\xff</a>"] {
            assert!(parse_element(bad, &Scope::client_stream()).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
