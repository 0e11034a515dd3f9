//! Incremental framing of an XMPP stream into the stream header, complete stanzas, and the end.
//!
//! Bytes are appended with [`Framer::fill_from`] (or [`Framer::push`]); [`Framer::next_frame`]
//! returns the next complete unit, if any. The scanner remembers where it stopped, so each byte is
//! examined once however the data was split across reads: framing is linear in the input.
//!
//! Big stanzas can be taken apart as they arrive instead of being buffered whole (a 50,000-item
//! roster result is megabytes): with [`Framer::want_heads`] on, the framer hands out the *head* of
//! an `<iq>` (its start tag and its first child's start tag) as soon as it is complete; the
//! reader may then call [`Framer::split_children`], after which each child of that first child
//! comes out as a [`Frame::Child`] when it is complete and the end as a [`Frame::Tail`]. Handed-out
//! bytes are dropped from the buffer, so it holds about one child, not the whole stanza.

use crate::error::{Error, Result};
use std::io::{self, Read};
use std::ops::Range;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The deepest element nesting accepted inside a stanza.
pub const MAX_DEPTH: u32 = 256;

/// One unit of the incoming stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The opening `<stream:stream ...>` tag, as text.
    StreamStart(&'a str),
    /// One complete top-level element (a stanza, `<stream:features/>`, `<stream:error/>`, ...).
    Stanza(&'a [u8]),
    /// `</stream:stream>`: the server closed its stream.
    StreamEnd,
    /// With [`Framer::want_heads`]: the start of an `<iq>` whose first child has just opened,
    /// `<iq ...>` up to the end of that child's start tag (e.g. `<query xmlns=...>`). Advisory: if
    /// the reader does nothing, the whole stanza still comes later as a `Stanza`.
    Head(&'a [u8]),
    /// After [`Framer::split_children`]: one complete child of the head's child, with the
    /// character data before it (e.g. white space and one `<item/>`).
    Child(&'a [u8]),
    /// After [`Framer::split_children`]: what follows the last child, up to and including the
    /// stanza's end tag (e.g. `</query></iq>`). The stanza is done; the framer is back to normal.
    Tail(&'a [u8]),
}

/// A complete frame found by the scanner, as a range of the buffer.
enum Found {
    Header(Range<usize>),
    Stanza(Range<usize>),
    Head(Range<usize>),
    Child(Range<usize>),
    Tail(Range<usize>),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data between tags.
    Text,
    /// Just read `<`.
    Open,
    /// Inside `<name ...` or `</name ...`, outside attribute values.
    Tag { end: bool },
    /// Inside a quoted attribute value of a tag.
    Quoted { end: bool, quote: u8 },
    /// Inside `<?...`.
    Pi { last: u8 },
    /// Read `<!`, deciding between CDATA and the restricted forms.
    Bang,
    /// Inside `<![CDATA[...`: counts the `]` just seen.
    CData { brackets: u8 },
}

/// The stream scanner. See the module docs.
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    start: usize,
    /// Bytes before this have been scanned.
    pos: usize,
    /// Position of the `<` of the markup being scanned.
    markup_start: usize,
    state: State,
    /// Element depth: 0 outside the stream, 1 inside `<stream:stream>`, 2+ inside a stanza.
    depth: u32,
    /// Start of the stanza being scanned (depth >= 2); when split, of its part not yet handed out.
    stanza_start: Option<usize>,
    /// Bytes of the stanza being scanned already handed out (split mode).
    stanza_handed_out: usize,
    max_stanza: usize,
    /// Hand out heads (see [`Frame::Head`]).
    want_heads: bool,
    /// The current stanza's head was handed out (once per stanza).
    head_given: bool,
    /// The current stanza is being handed out child by child.
    split: bool,
    /// How much was handed out by the last `next_frame`, released on the next call.
    consumed_to: usize,
    ended: bool,
}

impl Framer {
    /// A framer refusing stanzas larger than `max_stanza` bytes.
    pub fn new(max_stanza: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            markup_start: 0,
            state: State::Text,
            depth: 0,
            stanza_start: None,
            stanza_handed_out: 0,
            max_stanza,
            want_heads: false,
            head_given: false,
            split: false,
            consumed_to: 0,
            ended: false,
        }
    }

    /// Forgets everything: used when the stream restarts (after STARTTLS and SASL).
    pub fn reset(&mut self) {
        let max = self.max_stanza;
        *self = Framer::new(max);
    }

    /// True when bytes that are not yet a complete frame are buffered.
    pub fn has_partial(&self) -> bool {
        self.split || self.buf[self.start.max(self.consumed_to)..].iter().any(|b| !b.is_ascii_whitespace())
    }

    /// Whether to hand out [`Frame::Head`]s (off by default).
    pub fn want_heads(&mut self, on: bool) {
        self.want_heads = on;
    }

    /// While splitting, between two children (nothing of the next one scanned yet): the bytes
    /// buffered after the last child, for a reader that decodes complete children straight from
    /// the buffer and then reports with [`take_children`](Self::take_children) how many bytes it
    /// took. The framer scans what the reader leaves (an incomplete or unusual child) as usual.
    pub fn children_ahead(&self) -> Option<&[u8]> {
        (self.split && self.depth == 3 && self.state == State::Text && self.stanza_start == Some(self.pos)).then(|| &self.buf[self.pos..])
    }

    /// Takes the first `n` bytes of [`children_ahead`](Self::children_ahead) as handed out: they
    /// must be complete children, which the reader decoded itself. They count against the limit.
    pub fn take_children(&mut self, n: usize) -> Result<()> {
        if self.children_ahead().map_or(true, |ahead| n > ahead.len()) {
            return Err(Error::local_stream("internal-server-error", "children taken outside of a split stanza"));
        }
        self.stanza_handed_out += n;
        if self.stanza_handed_out > self.max_stanza {
            return Err(too_big(self.max_stanza));
        }
        self.pos += n;
        self.stanza_start = Some(self.pos);
        self.consumed_to = self.pos;
        Ok(())
    }

    /// Right after a [`Frame::Head`]: hand out the rest of that stanza as [`Frame::Child`]ren
    /// and a [`Frame::Tail`], dropping the head from the buffer. Does nothing at any other time.
    pub fn split_children(&mut self) {
        if !self.head_given || self.split || self.depth != 3 {
            return;
        }
        let Some(s) = self.stanza_start else { return };
        self.split = true;
        self.stanza_handed_out += self.pos - s;
        self.stanza_start = Some(self.pos);
        self.consumed_to = self.pos;
    }

    /// Appends bytes (used by tests and by anything not reading from a socket).
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Reads once from `r` into the buffer. Returns what `read` returned (0 is end of stream).
    pub fn fill_from<R: Read>(&mut self, r: &mut R) -> io::Result<usize> {
        self.compact();
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let result = r.read(&mut self.buf[old..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        result
    }

    /// Drops the bytes already handed out, so the buffer holds at most one partial stanza.
    fn compact(&mut self) {
        self.release();
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        let shift = self.start;
        self.pos -= shift;
        self.markup_start = self.markup_start.saturating_sub(shift);
        self.stanza_start = self.stanza_start.map(|s| s - shift);
        self.consumed_to = 0;
        self.start = 0;
    }

    fn release(&mut self) {
        if self.consumed_to > self.start {
            self.start = self.consumed_to;
        }
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the stream error this
    /// client must send (not-well-formed, restricted-xml, policy-violation).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        Ok(match self.scan()? {
            None => None,
            Some(Found::Header(r)) => Some(Frame::StreamStart(
                std::str::from_utf8(&self.buf[r]).map_err(|_| Error::local_stream("not-well-formed", "stream header is not UTF-8"))?,
            )),
            Some(Found::Stanza(r)) => Some(Frame::Stanza(&self.buf[r])),
            Some(Found::Head(r)) => Some(Frame::Head(&self.buf[r])),
            Some(Found::Child(r)) => Some(Frame::Child(&self.buf[r])),
            Some(Found::Tail(r)) => Some(Frame::Tail(&self.buf[r])),
            Some(Found::End) => Some(Frame::StreamEnd),
        })
    }

    /// Scans on from where the last call stopped, up to the end of the next complete frame.
    fn scan(&mut self) -> Result<Option<Found>> {
        self.release();
        if self.ended {
            return Ok(None);
        }
        while self.pos < self.buf.len() {
            match self.state {
                State::Text => {
                    // Jump to the next '<'; between stanzas only whitespace is allowed.
                    let rest = &self.buf[self.pos..];
                    let skip = memchr::memchr(b'<', rest).unwrap_or(rest.len());
                    if self.depth <= 1 && !rest[..skip].iter().all(u8::is_ascii_whitespace) {
                        return Err(Error::local_stream("not-well-formed", "text outside of any stanza"));
                    }
                    self.pos += skip;
                    if self.pos < self.buf.len() {
                        self.markup_start = self.pos;
                        self.pos += 1;
                        self.state = State::Open;
                    }
                }
                State::Open => {
                    let b = self.buf[self.pos];
                    self.pos += 1;
                    self.state = match b {
                        b'/' => State::Tag { end: true },
                        // Only the XML declaration, before the stream header, is allowed (RFC 6120 §11.1).
                        b'?' if self.depth > 0 => {
                            return Err(Error::local_stream("restricted-xml", "processing instructions are not allowed in XMPP"));
                        }
                        b'?' => State::Pi { last: b },
                        b'!' => State::Bang,
                        _ => State::Tag { end: false },
                    };
                }
                State::Tag { end } => {
                    // Tags are short: a plain byte loop beats a vectorised search call per quote.
                    let rest = &self.buf[self.pos..];
                    match rest.iter().position(|&b| matches!(b, b'>' | b'"' | b'\'')) {
                        None => self.pos = self.buf.len(),
                        Some(off) => {
                            let at = self.pos + off;
                            self.pos = at + 1;
                            let b = self.buf[at];
                            if b == b'>' {
                                self.state = State::Text;
                                // In XML the '/' of an empty-element tag stands right before '>'.
                                let empty = !end && at > self.markup_start + 1 && self.buf[at - 1] == b'/';
                                if let Some(found) = self.tag_closed(end, empty, at)? {
                                    return Ok(Some(found));
                                }
                            } else {
                                self.state = State::Quoted { end, quote: b };
                            }
                        }
                    }
                }
                State::Quoted { end, quote } => {
                    let rest = &self.buf[self.pos..];
                    match rest.iter().position(|&b| b == quote) {
                        None => self.pos = self.buf.len(),
                        Some(off) => {
                            self.pos += off + 1;
                            self.state = State::Tag { end };
                        }
                    }
                }
                State::Pi { last } => {
                    let b = self.buf[self.pos];
                    self.pos += 1;
                    let seen = &self.buf[self.markup_start..self.pos];
                    let decl = b"<?xml ";
                    let n = seen.len().min(decl.len());
                    // `<?xml` followed by any white space; anything else is a real PI.
                    let matches = seen[..n.min(5)] == decl[..n.min(5)] && (n < 6 || seen[5].is_ascii_whitespace());
                    if !matches {
                        return Err(Error::local_stream("restricted-xml", "processing instructions are not allowed in XMPP"));
                    }
                    if last == b'?' && b == b'>' {
                        if seen.len() < 8 {
                            return Err(Error::local_stream("restricted-xml", "processing instructions are not allowed in XMPP"));
                        }
                        self.state = State::Text;
                        self.start = self.pos;
                        self.consumed_to = self.pos;
                    } else {
                        self.state = State::Pi { last: b };
                    }
                }
                State::Bang => {
                    self.pos += 1;
                    let seen = &self.buf[self.markup_start..self.pos];
                    if seen.len() < 9 {
                        let want: &[u8] = if seen.get(2) == Some(&b'[') { b"<![CDATA[" } else { b"<!--" };
                        let n = seen.len().min(want.len());
                        if seen[..n] != want[..n] {
                            return Err(restricted_bang(seen));
                        }
                        if seen.starts_with(b"<!--") {
                            return Err(Error::local_stream("restricted-xml", "comments are not allowed in XMPP"));
                        }
                        continue;
                    }
                    if seen.starts_with(b"<![CDATA[") && self.depth >= 2 {
                        self.state = State::CData { brackets: 0 };
                    } else {
                        return Err(restricted_bang(seen));
                    }
                }
                State::CData { brackets } => {
                    let b = self.buf[self.pos];
                    self.pos += 1;
                    self.state = match (brackets, b) {
                        (2.., b'>') => State::Text,
                        (n, b']') => State::CData { brackets: (n + 1).min(2) },
                        _ => State::CData { brackets: 0 },
                    };
                }
            }
        }
        self.check_size()?;
        Ok(None)
    }

    /// Refuses a stanza (or stream header) that grew past its limit. Checked once per scan, so a
    /// stanza can overshoot by at most one read before it is refused.
    fn check_size(&self) -> Result<()> {
        if let Some(s) = self.stanza_start {
            if self.stanza_handed_out + (self.pos - s) > self.max_stanza {
                return Err(too_big(self.max_stanza));
            }
        } else if self.state != State::Text && self.pos - self.markup_start > 64 * 1024 {
            return Err(Error::local_stream("policy-violation", "stream header larger than 64 KiB"));
        }
        Ok(())
    }

    /// Updates the depth when a tag ends at `gt` (the index of its '>') and says what completed.
    fn tag_closed(&mut self, end: bool, empty: bool, gt: usize) -> Result<Option<Found>> {
        let tag = self.markup_start..gt + 1;
        if end {
            match self.depth {
                0 => return Err(Error::local_stream("not-well-formed", "end tag before the stream started")),
                1 => {
                    self.depth = 0;
                    self.ended = true;
                    self.consumed_to = self.pos;
                    return Ok(Some(Found::End));
                }
                2 => {
                    self.depth = 1;
                    self.head_given = false;
                    let s = self.stanza_start.take().unwrap_or(tag.start);
                    if std::mem::take(&mut self.split) {
                        return self.hand_out_part(s..tag.end, true).map(Some);
                    }
                    return self.hand_out(s..tag.end).map(Some);
                }
                4 if self.split => {
                    self.depth = 3;
                    let s = self.stanza_start.unwrap_or(tag.start);
                    return self.hand_out_part(s..tag.end, false).map(Some);
                }
                _ => self.depth -= 1,
            }
            return Ok(None);
        }
        match self.depth {
            0 => {
                if empty {
                    return Err(Error::local_stream("not-well-formed", "empty stream element"));
                }
                self.depth = 1;
                self.consumed_to = tag.end;
                Ok(Some(Found::Header(tag)))
            }
            1 if empty => self.hand_out(tag).map(Some),
            1 => {
                self.depth = 2;
                self.stanza_start = Some(tag.start);
                Ok(None)
            }
            3 if empty && self.split => {
                let s = self.stanza_start.unwrap_or(tag.start);
                self.hand_out_part(s..tag.end, false).map(Some)
            }
            d => {
                if !empty {
                    if d > MAX_DEPTH {
                        return Err(Error::local_stream("policy-violation", format!("elements nested deeper than {MAX_DEPTH}")));
                    }
                    self.depth += 1;
                    if d == 2 && self.want_heads && !self.head_given {
                        self.head_given = true;
                        let s = self.stanza_start.unwrap_or(tag.start);
                        if self.buf[s..].starts_with(b"<iq") {
                            return Ok(Some(Found::Head(s..tag.end)));
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    /// Hands out a child or the tail of a split stanza (see [`Framer::split_children`]).
    fn hand_out_part(&mut self, range: Range<usize>, tail: bool) -> Result<Found> {
        self.stanza_handed_out += range.len();
        if self.stanza_handed_out > self.max_stanza {
            return Err(too_big(self.max_stanza));
        }
        self.consumed_to = range.end;
        if tail {
            self.stanza_handed_out = 0;
            return Ok(Found::Tail(range));
        }
        self.stanza_start = Some(range.end);
        Ok(Found::Child(range))
    }

    /// Hands out a complete stanza, refusing it if it is over the limit (a stanza that arrived
    /// within a single read is measured here, not only by the per-scan check).
    fn hand_out(&mut self, range: Range<usize>) -> Result<Found> {
        if range.len() > self.max_stanza {
            return Err(too_big(self.max_stanza));
        }
        self.consumed_to = range.end;
        Ok(Found::Stanza(range))
    }
}

fn too_big(max: usize) -> Error {
    Error::local_stream("policy-violation", format!("stanza larger than the limit of {max} bytes"))
}

fn restricted_bang(seen: &[u8]) -> Error {
    if seen.starts_with(b"<!D") || seen.starts_with(b"<!d") {
        Error::local_stream("restricted-xml", "DTDs are not allowed in XMPP")
    } else if seen.starts_with(b"<![") {
        Error::local_stream("not-well-formed", "CDATA outside of a stanza")
    } else {
        Error::local_stream("restricted-xml", "markup declarations are not allowed in XMPP")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' version='1.0'>";

    fn frames(input: &[u8], chunk: usize) -> Result<Vec<String>> {
        let mut f = Framer::new(1 << 20);
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            f.push(piece);
            while let Some(frame) = f.next_frame()? {
                out.push(match frame {
                    Frame::StreamStart(h) => format!("START {}", h.len()),
                    Frame::Stanza(s) => String::from_utf8_lossy(s).into_owned(),
                    Frame::StreamEnd => "END".to_string(),
                    Frame::Head(_) | Frame::Child(_) | Frame::Tail(_) => unreachable!("heads were not asked for"),
                });
            }
        }
        Ok(out)
    }

    /// Frames with heads on; splits the stanzas whose head `split` accepts. Also returns the
    /// largest buffer seen.
    fn split_frames(input: &[u8], chunk: usize, max: usize, split: impl Fn(&[u8]) -> bool) -> Result<(Vec<String>, usize)> {
        let mut f = Framer::new(max);
        f.want_heads(true);
        let (mut out, mut biggest) = (Vec::new(), 0);
        for piece in input.chunks(chunk.max(1)) {
            f.push(piece);
            biggest = biggest.max(f.buf.len());
            loop {
                let (text, wants_split) = match f.next_frame()? {
                    None => break,
                    Some(Frame::StreamStart(_)) => ("START".to_string(), false),
                    Some(Frame::Stanza(s)) => (String::from_utf8_lossy(s).into_owned(), false),
                    Some(Frame::StreamEnd) => ("END".to_string(), false),
                    Some(Frame::Head(h)) => (format!("HEAD {}", String::from_utf8_lossy(h)), split(h)),
                    Some(Frame::Child(c)) => (format!("CHILD {}", String::from_utf8_lossy(c)), false),
                    Some(Frame::Tail(t)) => (format!("TAIL {}", String::from_utf8_lossy(t)), false),
                };
                out.push(text);
                if wants_split {
                    f.split_children();
                }
            }
        }
        Ok((out, biggest))
    }

    #[test]
    fn a_split_stanza_comes_out_child_by_child_at_every_split_point() {
        let body = "<iq type='result' id='a'><query xmlns='jabber:iq:roster' ver='3'> <item jid='a@b' name='x &gt; y'><group>G</group></item>\n<item jid='c@d'/></query></iq><presence><show>away</show></presence></stream:stream>";
        let input = format!("{HEADER}{body}");
        let want = [
            "START",
            "HEAD <iq type='result' id='a'><query xmlns='jabber:iq:roster' ver='3'>",
            "CHILD  <item jid='a@b' name='x &gt; y'><group>G</group></item>",
            "CHILD \n<item jid='c@d'/>",
            "TAIL </query></iq>",
            "<presence><show>away</show></presence>",
            "END",
        ];
        for chunk in 1..input.len() + 1 {
            let (got, _) = split_frames(input.as_bytes(), chunk, 1 << 20, |_| true).unwrap();
            assert_eq!(got, want, "chunk {chunk}");
            // A head nobody splits: the whole stanza follows, unchanged.
            let (got, _) = split_frames(input.as_bytes(), chunk, 1 << 20, |_| false).unwrap();
            assert_eq!(got[1], want[1]);
            assert_eq!(got[2], body[..body.find("<presence>").unwrap()], "chunk {chunk}");
        }
    }

    #[test]
    fn a_split_stanza_is_never_buffered_whole_but_still_counts_against_the_limit() {
        let item = "<item jid='someone@example.com' name='Someone'><group>Friends</group></item>";
        let stanza = format!("<iq type='result' id='a'><query xmlns='jabber:iq:roster'>{}</query></iq>", item.repeat(10_000));
        let input = format!("{HEADER}{stanza}");
        let (got, biggest) = split_frames(input.as_bytes(), 4096, 1 << 20, |_| true).unwrap();
        assert_eq!(got.len(), 1 + 1 + 10_000 + 1);
        assert!(biggest < 3 * 4096, "buffer grew to {biggest} for a {}-byte stanza", stanza.len());
        let over = split_frames(input.as_bytes(), 4096, stanza.len() - 1, |_| true).unwrap_err();
        assert!(matches!(over, Error::Stream { ref condition, .. } if condition == "policy-violation"), "{over:?}");
        assert!(split_frames(input.as_bytes(), 4096, stanza.len(), |_| true).is_ok());
    }

    #[test]
    fn frames_the_same_at_every_split_point() {
        let body = "<iq type='result' id='a'><query xmlns='jabber:iq:roster' ver='3'><item jid='a@b' name='x &gt; y'><group>G</group></item></query></iq> \n<presence/><message><body><![CDATA[a]]>b</body></message></stream:stream>";
        let input = format!("{HEADER}{body}");
        let whole = frames(input.as_bytes(), input.len()).unwrap();
        assert_eq!(whole.len(), 5, "{whole:?}");
        assert_eq!(whole[2], "<presence/>");
        assert_eq!(whole[4], "END");
        for chunk in 1..40 {
            assert_eq!(frames(input.as_bytes(), chunk).unwrap(), whole, "chunk size {chunk}");
        }
    }

    #[test]
    fn quoted_gt_and_slash_do_not_end_tags() {
        let input = format!("{HEADER}<a x='1>2' y=\"/\"><b z='/>'/></a>");
        assert_eq!(frames(input.as_bytes(), 3).unwrap()[1], "<a x='1>2' y=\"/\"><b z='/>'/></a>");
    }

    #[test]
    fn refuses_doctype_comments_and_processing_instructions() {
        for (evil, cond) in [
            ("<!DOCTYPE lolz [<!ENTITY lol 'lol'>]>", "restricted-xml"),
            ("<iq><!-- hi --></iq>", "restricted-xml"),
            ("<iq><?pi x?></iq>", "restricted-xml"),
            ("<iq><!ELEMENT x></iq>", "restricted-xml"),
        ] {
            let input = format!("{HEADER}{evil}");
            for chunk in [1, 5, 1000] {
                match frames(input.as_bytes(), chunk) {
                    Err(Error::Stream { condition, by_server: false, .. }) => assert_eq!(condition, cond, "{evil}"),
                    other => panic!("{evil}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn processing_instructions_of_any_length_are_refused_at_every_split() {
        for evil in ["<message><?></message>", "<message><?x?></message>", "<?>", "<?xm?>", "<?xmlfoo?>"] {
            let input = format!("{}{evil}", if evil.starts_with("<message") { HEADER } else { "" });
            for chunk in 1..12 {
                match frames(input.as_bytes(), chunk) {
                    Err(Error::Stream { condition, .. }) => assert_eq!(condition, "restricted-xml", "{evil} / {chunk}"),
                    other => panic!("{evil} / {chunk}: {other:?}"),
                }
            }
        }
        // The XML declaration itself, split anywhere, is fine.
        for chunk in 1..12 {
            assert!(frames(HEADER.as_bytes(), chunk).is_ok());
        }
    }

    #[test]
    fn a_stanza_over_the_limit_is_refused_even_when_it_arrives_whole() {
        let mut f = Framer::new(4096);
        f.push(HEADER.as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::StreamStart(_)))));
        f.push(format!("<message><body>{}</body></message>", "x".repeat(5000)).as_bytes());
        assert!(matches!(f.next_frame(), Err(Error::Stream { ref condition, .. }) if condition == "policy-violation"));
        let mut f = Framer::new(4096);
        f.push(HEADER.as_bytes());
        let _ = f.next_frame();
        f.push(format!("<presence a='{}'/>", "x".repeat(5000)).as_bytes());
        assert!(matches!(f.next_frame(), Err(Error::Stream { ref condition, .. }) if condition == "policy-violation"));
    }

    #[test]
    fn doctype_before_the_stream_header_is_refused() {
        let input = "<?xml version='1.0'?><!DOCTYPE x><stream:stream>";
        assert!(matches!(frames(input.as_bytes(), 7), Err(Error::Stream { ref condition, .. }) if condition == "restricted-xml"));
    }

    #[test]
    fn garbage_instead_of_xml_is_not_well_formed() {
        assert!(matches!(frames(b"HTTP/1.1 400 Bad Request\r\n", 4), Err(Error::Stream { ref condition, .. }) if condition == "not-well-formed"));
    }

    #[test]
    fn oversized_stanza_is_a_policy_violation() {
        let mut f = Framer::new(100);
        f.push(HEADER.as_bytes());
        assert!(matches!(f.next_frame(), Ok(Some(Frame::StreamStart(_)))));
        f.push(b"<message><body>");
        f.push(&[b'a'; 200]);
        assert!(matches!(f.next_frame(), Err(Error::Stream { ref condition, .. }) if condition == "policy-violation"));
    }

    #[test]
    fn deep_nesting_is_a_policy_violation() {
        let input = format!("{HEADER}{}", "<a>".repeat(10_000));
        assert!(matches!(frames(input.as_bytes(), 4096), Err(Error::Stream { ref condition, .. }) if condition == "policy-violation"));
    }

    #[test]
    fn buffer_holds_only_the_partial_stanza_after_many_frames() {
        let mut f = Framer::new(1 << 20);
        f.push(HEADER.as_bytes());
        while f.next_frame().unwrap().is_some() {}
        for _ in 0..1000 {
            f.push(b"<presence/><presence/>");
            while f.next_frame().unwrap().is_some() {}
        }
        f.push(b"<pres");
        assert!(f.next_frame().unwrap().is_none());
        assert!(f.buf.len() < 64, "buffer grew to {}", f.buf.len());
        assert!(f.has_partial());
    }
}
