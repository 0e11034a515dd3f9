//! JIDs (RFC 7622): parsing, validation and the simple normalisation this client applies.
//!
//! Localpart and domainpart are compared case-insensitively: they are lower-cased when parsed
//! (the servers we target do the same). Full PRECIS profiles are not applied; strings that PRECIS
//! would reject for the characters listed in RFC 7622 §3.3.1 (`"&'/:<>@`, spaces, controls) are.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::fmt;

const MAX_PART: usize = 1023;

/// A parsed, normalised JID: `[localpart@]domainpart[/resourcepart]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    full: String,
    at: Option<usize>,    // index of '@' in `full`
    slash: Option<usize>, // index of '/' in `full`
}

impl Jid {
    /// Parses and normalises `s`. Fails with [`Error::InvalidJid`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Jid> {
        let (bare, resource) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (local, domain) = match bare.find('@') {
            Some(i) => (Some(&bare[..i]), &bare[i + 1..]),
            None => (None, bare),
        };
        let domain = normalize_domain(domain).map_err(|m| Error::InvalidJid(format!("{s:?}: {m}")))?;
        let local = match local {
            Some(l) => Some(normalize_local(l).map_err(|m| Error::InvalidJid(format!("{s:?}: {m}")))?),
            None => None,
        };
        if let Some(r) = resource {
            check_resource(r).map_err(|m| Error::InvalidJid(format!("{s:?}: {m}")))?;
        }
        let mut full = String::with_capacity(s.len());
        let mut at = None;
        if let Some(l) = &local {
            full.push_str(l);
            at = Some(full.len());
            full.push('@');
        }
        full.push_str(&domain);
        let mut slash = None;
        if let Some(r) = resource {
            slash = Some(full.len());
            full.push('/');
            full.push_str(r);
        }
        Ok(Jid { full, at, slash })
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.at.map(|i| &self.full[..i])
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        let start = self.at.map_or(0, |i| i + 1);
        let end = self.slash.unwrap_or(self.full.len());
        &self.full[start..end]
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.slash.map(|i| &self.full[i + 1..])
    }

    /// `localpart@domainpart` (or `domainpart`) as a string slice.
    pub fn bare_str(&self) -> &str {
        &self.full[..self.slash.unwrap_or(self.full.len())]
    }

    /// The bare JID (resource removed).
    pub fn to_bare(&self) -> Jid {
        Jid { full: self.bare_str().to_string(), at: self.at, slash: None }
    }

    /// True when the JID has no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.slash.is_none()
    }

    /// The whole JID as a string.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// This JID with `resource` as its resourcepart.
    pub fn with_resource(&self, resource: &str) -> Result<Jid> {
        Jid::parse(&format!("{}/{}", self.bare_str(), resource))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jid({})", self.full)
    }
}

impl std::str::FromStr for Jid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Jid> {
        Jid::parse(s)
    }
}

/// Normalises a bare JID string as roster keys are stored: lower-cased local and domain parts.
/// Returns `None` for anything that is not a valid bare JID. Borrows when nothing changes,
/// which is the common case for what servers send.
pub fn normalize_bare(s: &str) -> Option<Cow<'_, str>> {
    if is_plain_bare(s) {
        return Some(Cow::Borrowed(s));
    }
    if s.contains('/') {
        return None;
    }
    let (local, domain) = match s.find('@') {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    };
    let domain_n = normalize_domain(domain).ok()?;
    let local_n = match local {
        Some(l) => Some(normalize_local(l).ok()?),
        None => None,
    };
    // Borrowed and as long as the input: nothing was lower-cased and no trailing dot was cut.
    let unchanged = matches!(domain_n, Cow::Borrowed(d) if d.len() == domain.len()) && matches!(local_n, None | Some(Cow::Borrowed(_)));
    if unchanged {
        return Some(Cow::Borrowed(s));
    }
    Some(Cow::Owned(match local_n {
        Some(l) => format!("{l}@{domain_n}"),
        None => domain_n.into_owned(),
    }))
}

/// The fast path for what servers send almost always: `local@domain` in lower-case ASCII letters,
/// digits and `.-_+`, with sane lengths. Anything else takes the full checks.
fn is_plain_bare(s: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s.len() <= 64 {
        return sse2::is_plain_bare(s.as_bytes());
    }
    is_plain_bare_bytewise(s)
}

fn is_plain_bare_bytewise(s: &str) -> bool {
    let b = s.as_bytes();
    // The local part: plain bytes up to the '@' (which is not one of them).
    let at = b.iter().position(|&c| !PLAIN_LOCAL[c as usize]).unwrap_or(b.len());
    if at == 0 || at > MAX_PART || b.get(at) != Some(&b'@') {
        return false;
    }
    let domain = &b[at + 1..];
    if domain.is_empty() || domain.len() > 253 {
        return false;
    }
    // One pass over the domain: labels of 1 to 63 lower-case letters, digits and '-'.
    let mut label = 0;
    for &c in domain {
        if c == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if PLAIN_DOMAIN[c as usize] && label < 63 {
            label += 1;
        } else {
            return false;
        }
    }
    label > 0
}

/// `is_plain_bare` for JIDs of at most 64 bytes (nearly all), 16 bytes at a time: each byte is
/// classified in vector registers, then the rules are checked on bit masks (bit k: byte k).
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    pub(super) fn is_plain_bare(b: &[u8]) -> bool {
        debug_assert!(b.len() <= 64);
        let mut padded = [0u8; 64];
        padded[..b.len()].copy_from_slice(b);
        let (mut plain, mut at, mut dot, mut local_only) = (0u64, 0u64, 0u64, 0u64);
        // SAFETY: SSE2 is always available on x86_64; the loads read `padded`, at most 4 x 16 bytes.
        unsafe {
            let eq = |v: __m128i, c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            // Signed compares: bytes >= 0x80 are negative, so never in these ASCII ranges.
            let within = |v: __m128i, lo: u8, hi: u8| _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)));
            for k in 0..b.len().div_ceil(16) {
                let v = _mm_loadu_si128(padded.as_ptr().add(16 * k).cast());
                let (a, d, u, p, h) = (eq(v, b'@'), eq(v, b'.'), eq(v, b'_'), eq(v, b'+'), eq(v, b'-'));
                let alnum = _mm_or_si128(within(v, b'a', b'z'), within(v, b'0', b'9'));
                let ok = _mm_or_si128(_mm_or_si128(alnum, _mm_or_si128(a, d)), _mm_or_si128(_mm_or_si128(u, p), h));
                let shift = 16 * k as u32;
                plain |= u64::from(_mm_movemask_epi8(ok) as u16) << shift;
                at |= u64::from(_mm_movemask_epi8(a) as u16) << shift;
                dot |= u64::from(_mm_movemask_epi8(d) as u16) << shift;
                local_only |= u64::from(_mm_movemask_epi8(_mm_or_si128(u, p)) as u16) << shift;
            }
        }
        let len = b.len() as u32;
        let all = if len == 64 { !0 } else { (1u64 << len) - 1 };
        // Every byte plain, exactly one '@', not first.
        if plain & all != all || at.count_ones() != 1 || at == 1 {
            return false;
        }
        let at_pos = at.trailing_zeros();
        let domain = if at_pos + 1 >= 64 { 0 } else { all & (!0u64 << (at_pos + 1)) };
        let dots = dot & domain;
        // A domain of lower-case letters, digits, '-' and '.', whose labels are not empty (no
        // dot first, last or next to another); a label of 64+ bytes cannot fit in 64 bytes.
        domain != 0 && local_only & domain == 0 && dots & (at << 1) == 0 && dots & (1u64 << (len - 1)) == 0 && dots & (dots >> 1) == 0
    }
}

/// The bytes of a plain local part (see `is_plain_bare`): lower-case ASCII letters, digits, `.-_+`.
static PLAIN_LOCAL: [bool; 256] = byte_class(b".-_+");
/// The bytes of a plain domain label: lower-case ASCII letters, digits, `-`.
static PLAIN_DOMAIN: [bool; 256] = byte_class(b"-");

const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_lowercase() || (c as u8).is_ascii_digit();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

fn lowercase(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_uppercase()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn normalize_local(l: &str) -> std::result::Result<Cow<'_, str>, &'static str> {
    if l.is_empty() {
        return Err("empty localpart");
    }
    if l.chars().any(|c| matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@') || c.is_whitespace() || c.is_control()) {
        return Err("localpart contains a forbidden character");
    }
    // Limits apply to the normal form: lower-casing can lengthen a string (U+0130 -> "i̇").
    let lower = lowercase(l);
    if lower.len() > MAX_PART {
        return Err("localpart longer than 1023 bytes");
    }
    Ok(lower)
}

fn normalize_domain(d: &str) -> std::result::Result<Cow<'_, str>, &'static str> {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() {
        return Err("empty domainpart");
    }
    if d.starts_with('[') {
        // IPv6 literal: [hex and colons and dots]
        let inner = d.strip_prefix('[').and_then(|x| x.strip_suffix(']')).ok_or("unterminated IPv6 literal")?;
        if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("malformed IPv6 literal");
        }
        return Ok(lowercase(d));
    }
    if d.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '"' | '&' | '\'' | '<' | '>' | ':' | '[' | ']' | '\\')) {
        return Err("domainpart contains a forbidden character");
    }
    // Limits apply to the normal form: lower-casing can lengthen a string (U+0130 -> "i̇").
    let lower = lowercase(d);
    if lower.len() > MAX_PART {
        return Err("domainpart longer than 1023 bytes");
    }
    for label in lower.split('.') {
        if label.is_empty() {
            return Err("empty label in domainpart");
        }
        if label.len() > 63 {
            return Err("domain label longer than 63 bytes");
        }
    }
    Ok(lower)
}

fn check_resource(r: &str) -> std::result::Result<(), &'static str> {
    if r.is_empty() {
        return Err("empty resourcepart");
    }
    if r.len() > MAX_PART {
        return Err("resourcepart longer than 1023 bytes");
    }
    if r.chars().any(|c| c.is_control()) {
        return Err("resourcepart contains a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_jid_check_is_the_same_at_every_length_and_shape() {
        let pieces = ["a", "z", "0", "9", ".", "-", "_", "+", "@", "A", "é", " ", "/", "\0", "x@y", "..", "ab.cd"];
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut checked = 0;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut s = String::new();
            let mut r = seed;
            for _ in 0..(r % 40) {
                r = r.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
                s.push_str(pieces[(r % pieces.len() as u64) as usize]);
            }
            if s.len() > 64 {
                continue;
            }
            assert_eq!(is_plain_bare(&s), is_plain_bare_bytewise(&s), "{s:?}");
            checked += 1;
        }
        assert!(checked > 100_000);
        for s in ["a@b", "a.b-c_d+e@x-y.z0", "a@b.c", &format!("{}@{}", "l".repeat(31), "d".repeat(32)), &format!("{}@{}", "l".repeat(31), "d".repeat(33))] {
            assert!(is_plain_bare(s), "{s}");
        }
        for s in ["@b", "a@", "a@.b", "a@b.", "a@b..c", "a@b@c", "a@b_c", "a@b+c", "A@b", "a@B", "a b@c", "a@b/c", "é@b", &format!("a@{}", "d".repeat(64))] {
            assert!(!is_plain_bare(s), "{s}");
        }
    }

    #[test]
    fn parses_full_jid_into_parts() {
        let j = Jid::parse("Juliet@Example.COM/Balcony Room").unwrap();
        assert_eq!(j.local(), Some("juliet"));
        assert_eq!(j.domain(), "example.com");
        assert_eq!(j.resource(), Some("Balcony Room"));
        assert_eq!(j.bare_str(), "juliet@example.com");
        assert_eq!(j.to_string(), "juliet@example.com/Balcony Room");
        assert!(j.to_bare().is_bare());
    }

    #[test]
    fn resource_may_contain_at_and_slash() {
        let j = Jid::parse("a@b/c@d/e").unwrap();
        assert_eq!(j.local(), Some("a"));
        assert_eq!(j.domain(), "b");
        assert_eq!(j.resource(), Some("c@d/e"));
    }

    #[test]
    fn domain_only_and_trailing_dot() {
        let j = Jid::parse("example.com.").unwrap();
        assert_eq!(j.local(), None);
        assert_eq!(j.as_str(), "example.com");
    }

    #[test]
    fn rejects_malformed_jids() {
        for bad in ["", "@example.com", "a@", "a@b/", "a b@c", "a@b..c", "a\"b@c", "a@[zz]", "a@b/\u{7}", "a@b c"] {
            assert!(matches!(Jid::parse(bad), Err(Error::InvalidJid(_))), "{bad:?} accepted");
        }
        let long = "x".repeat(1024);
        assert!(Jid::parse(&format!("{long}@b")).is_err());
    }

    #[test]
    fn normalize_bare_borrows_when_already_normal() {
        assert!(matches!(normalize_bare("romeo@localhost"), Some(Cow::Borrowed(_))));
        assert_eq!(normalize_bare("Romeo@LocalHost").as_deref(), Some("romeo@localhost"));
        assert_eq!(normalize_bare("romeo@localhost/res"), None);
        assert_eq!(normalize_bare("bad jid@x"), None);
        // The ASCII fast path agrees with the full checks.
        for s in ["a@b", "a.b-c_d+e@x-y.z9", "a@b.", "a@.b", "a@b..c", "a@-b", "@b", "a@", "a@b/c", "A@b", "a@B"] {
            let slow = Jid::parse(s).ok().filter(|j| j.is_bare()).map(|j| j.to_string());
            assert_eq!(normalize_bare(s).map(|c| c.into_owned()), slow, "{s}");
        }
    }
}
