//! Shared pieces of the benchmarks: a deterministic generator of realistic rosters, written as the
//! XML a server sends (for the replay server and the micro-benchmarks) or as SQL rows for
//! ejabberd's SQLite schema (for the real-server series), so every series sees the same content.
//!
//! Realistic means: names on most items, some with XML escapes (`&`, `<`, `'`, `"`) and many with
//! non-ASCII letters; 0 to 3 groups drawn from a small set (some with escapes and non-ASCII);
//! subscriptions mostly `both`, then `to`, `from`, `none`, some with a pending `ask`.

use std::fmt::Write as _;

/// One generated roster item, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenItem {
    pub jid: String,
    pub name: Option<String>,
    /// `none`, `to`, `from` or `both`.
    pub subscription: &'static str,
    pub ask: bool,
    pub groups: Vec<&'static str>,
}

const FIRST: &[&str] = &[
    "Anna", "Zoë", "Łukasz", "José", "Mårten", "Ольга", "Jürgen", "Siobhán", "Thomas", "Chloé", "李", "Ahmed", "Søren",
    "Nguyễn", "Émile", "Ørjan", "Kateřina", "Dmitri", "Fatima", "Hiroshi", "Grace", "Peter", "Mia", "Noah",
];
const LAST: &[&str] = &[
    "Smith", "O'Brien", "Müller", "Ångström", "Żółć", "García", "Иванов", "Dupont", "van der Berg", "Nakamura", "小龙",
    "Jones", "Brown & Sons", "\"The Boss\"", "<admin>", "Øvergaard", "Kovács", "Johansson", "Rossi", "Novák",
];
const LOCAL: &[&str] = &[
    "anna", "zoe", "lukasz", "jose", "marten", "olga", "juergen", "siobhan", "thomas", "chloe", "li", "ahmed", "soren",
    "nguyen", "emile", "orjan", "katerina", "dmitri", "fatima", "hiroshi", "grace", "peter", "mia", "noah",
];
const DOMAINS: &[&str] = &[
    "example.net", "jabber.example.org", "chat.example.com", "xmpp.example.de", "im.example.fr", "talk.example.jp",
];
/// Group names: plain, with escapes, non-ASCII.
pub const GROUPS: &[&str] = &[
    "Friends", "Family", "Work", "Work & Co", "Colleagues", "Football", "Uni <2009>", "Ünïcödé", "中文", "Ελληνικά",
    "Book club", "Neighbours", "Projects/alpha", "Projects/beta", "Climbing", "Choir", "Old \"school\"", "Ops'n'Dev",
    "Travel", "Gaming", "Board", "Investors", "Kinder", "Cousins",
];

/// A small deterministic PRNG (xorshift64*): the same size always gives the same roster.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The roster of `n` items (distinct JIDs, deterministic).
pub fn roster(n: usize) -> Vec<GenItem> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| {
            let jid = format!("{}.{}{}@{}", LOCAL[rng.below(LOCAL.len())], LOCAL[rng.below(LOCAL.len())], i, DOMAINS[rng.below(DOMAINS.len())]);
            let name = if rng.below(100) < 85 {
                Some(format!("{} {}", FIRST[rng.below(FIRST.len())], LAST[rng.below(LAST.len())]))
            } else {
                None
            };
            let subscription = match rng.below(100) {
                0..=59 => "both",
                60..=74 => "to",
                75..=89 => "from",
                _ => "none",
            };
            let ask = matches!(subscription, "none" | "from") && rng.below(100) < 20;
            let mut groups: Vec<&'static str> = Vec::new();
            for _ in 0..rng.below(4) {
                let g = GROUPS[rng.below(GROUPS.len())];
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            GenItem { jid, name, subscription, ask, groups }
        })
        .collect()
}

/// Escapes text for an attribute value in single or double quotes, or element text.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// One `<item/>` as ejabberd writes it.
pub fn item_xml(out: &mut String, it: &GenItem) {
    out.push_str("<item subscription='");
    out.push_str(it.subscription);
    out.push('\'');
    if let Some(name) = &it.name {
        out.push_str(" name='");
        escape_into(out, name);
        out.push('\'');
    }
    if it.ask {
        out.push_str(" ask='subscribe'");
    }
    out.push_str(" jid='");
    escape_into(out, &it.jid);
    out.push('\'');
    if it.groups.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for g in &it.groups {
        out.push_str("<group>");
        escape_into(out, g);
        out.push_str("</group>");
    }
    out.push_str("</item>");
}

/// The `<query/>` of a roster result holding `items`: the part of the result after the `<iq>`
/// start tag. The whole result is `<iq ... id='X' type='result'>` + this + `</iq>`.
pub fn query_xml(items: &[GenItem]) -> String {
    let mut out = String::with_capacity(items.len() * 130 + 64);
    out.push_str("<query xmlns='jabber:iq:roster'>");
    for it in items {
        item_xml(&mut out, it);
    }
    out.push_str("</query>");
    out
}

/// A complete roster result stanza as a server would send it to `to`.
pub fn result_stanza(items: &[GenItem], id: &str, to: &str) -> String {
    let bare = to.split('/').next().unwrap_or(to);
    format!("<iq xmlns='jabber:client' from='{bare}' to='{to}' id='{id}' type='result'>{}</iq>", query_xml(items))
}

/// Push number `k` of a series on top of `base` (the fetched roster): 60% update an existing item,
/// 30% add a new contact, 10% remove an item added earlier in the series (or update one).
pub fn push_stanza(out: &mut String, base: &[GenItem], k: usize, to: &str) {
    let bare = to.split('/').next().unwrap_or(to);
    let _ = write!(out, "<iq from='{bare}' to='{to}' id='push{k}' type='set'><query xmlns='jabber:iq:roster' ver='v{k}'>");
    match k % 10 {
        0..=5 if !base.is_empty() => {
            let mut it = base[(k * 7919) % base.len()].clone();
            it.name = Some(format!("Renamed {k} Ünïcödé & co"));
            item_xml(out, &it);
        }
        9 if k >= 10 => {
            // Removes the contact added 3 pushes earlier (k-3 has k % 10 == 6).
            let _ = write!(out, "<item jid='new{}@push.example.net' subscription='remove'/>", k - 3);
        }
        _ => {
            let it = GenItem {
                jid: format!("new{k}@push.example.net"),
                name: Some(format!("New contact {k} <{}>", FIRST[k % FIRST.len()])),
                subscription: "none",
                ask: true,
                groups: vec![GROUPS[k % GROUPS.len()]],
            };
            item_xml(out, &it);
        }
    }
    out.push_str("</query></iq>");
}

fn sql_quote(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

/// SQL for ejabberd's SQLite schema (`/usr/share/ejabberd/sql/lite.sql`, old schema): the roster
/// rows of `user` (its local part) holding `items`, inside one transaction.
pub fn roster_sql(user: &str, items: &[GenItem]) -> String {
    let mut out = String::with_capacity(items.len() * 200);
    out.push_str("BEGIN;\n");
    for it in items {
        let sub = match it.subscription {
            "both" => "B",
            "to" => "T",
            "from" => "F",
            _ => "N",
        };
        let ask = if it.ask { "O" } else { "N" };
        out.push_str("INSERT INTO rosterusers(username,jid,nick,subscription,ask,askmessage,server,subscribe,type) VALUES(");
        sql_quote(&mut out, user);
        out.push(',');
        sql_quote(&mut out, &it.jid);
        out.push(',');
        sql_quote(&mut out, it.name.as_deref().unwrap_or(""));
        let _ = writeln!(out, ",'{sub}','{ask}','','N','','item');");
        for g in &it.groups {
            out.push_str("INSERT INTO rostergroups(username,jid,grp) VALUES(");
            sql_quote(&mut out, user);
            out.push(',');
            sql_quote(&mut out, &it.jid);
            out.push(',');
            sql_quote(&mut out, g);
            out.push_str(");\n");
        }
    }
    out.push_str("COMMIT;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_roster::roster_decode::decode_common_shape;

    #[test]
    fn generated_result_decodes_to_the_generated_items() {
        let items = roster(500);
        let xml = result_stanza(&items, "r1", "bench@localhost/r");
        let iq = decode_common_shape(xml.as_bytes()).expect("the common shape");
        assert_eq!(iq.items.len(), 500);
        let names = items.iter().filter(|i| i.name.as_deref().is_some_and(|n| !n.is_ascii())).count();
        assert!(names > 100, "non-ASCII names: {names}");
        assert!(xml.contains("&apos;") && xml.contains("&amp;") && xml.contains("&lt;"));
    }
}
