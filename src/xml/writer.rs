//! Escaping for the XML this client writes. Every string from the caller goes through here.

/// Appends `s` to `out`, escaped for use in text or in a quoted attribute value.
pub fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            // Escaped so the receiving parser's line-end and attribute white-space
            // normalisation cannot change what the caller set.
            b'\t' => "&#9;",
            b'\n' => "&#10;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `s` escaped for text or attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// True when `s` can be carried in XML 1.0 at all (no NUL or other forbidden control characters).
pub fn is_xml_safe(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')) && !s.contains(['\u{FFFE}', '\u{FFFF}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_five_special_characters() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape("a\tb\nc\r"), "a&#9;b&#10;c&#13;");
    }

    #[test]
    fn control_characters_are_not_xml_safe() {
        assert!(is_xml_safe("tab\tand newline\n"));
        assert!(!is_xml_safe("nul\0"));
        assert!(!is_xml_safe("bell\u{7}"));
    }
}
