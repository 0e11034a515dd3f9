//! How contacts look on screen, in CSV and in JSON.
//!
//! Names, groups and status texts come from other people (through the server). Before they reach
//! a terminal their control characters are escaped, so a contact cannot move the cursor, change
//! colours or retitle the window. JSON and CSV carry them unchanged (JSON escapes controls itself).

use serde::{Deserialize, Serialize};
use xmpp_roster::{RosterItem, Subscription};

/// One contact as JSON: the shape of `list --json`, `show --json`, `watch --json` and export files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemJson {
    pub jid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "subscription_none")]
    pub subscription: String,
    /// A subscription request to the contact is pending.
    #[serde(default)]
    pub ask: bool,
    /// The contact is pre-approved to see the account's presence.
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub groups: Vec<String>,
}

fn subscription_none() -> String {
    "none".to_string()
}

impl From<&RosterItem> for ItemJson {
    fn from(i: &RosterItem) -> ItemJson {
        ItemJson {
            jid: i.jid.to_string(),
            name: i.name.as_deref().map(str::to_string),
            subscription: i.subscription.as_str().to_string(),
            ask: i.ask,
            approved: i.approved,
            groups: i.groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// Escapes control characters (and nothing else) for display on a terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `"text"` with quotes and backslashes escaped and controls made visible.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// "to", "none (asked)", "from, pre-approved"...
pub fn subscription_text(i: &RosterItem) -> String {
    let mut s = i.subscription.as_str().to_string();
    if i.ask {
        s.push_str(" (asked)");
    }
    if i.approved {
        s.push_str(" (pre-approved)");
    }
    s
}

/// What a subscription state means, in words.
pub fn subscription_meaning(i: &RosterItem) -> &'static str {
    match (i.subscription, i.ask) {
        (Subscription::Both, _) => "you see each other's presence",
        (Subscription::To, _) => "you see their presence; they do not see yours",
        (Subscription::From, true) => {
            "they see your presence; your request to see theirs is pending"
        }
        (Subscription::From, false) => "they see your presence; you do not see theirs",
        (Subscription::None, true) => "your request to see their presence is pending",
        (Subscription::None, false) => "no presence is shared",
    }
}

fn groups_text<S: AsRef<str>>(groups: &[S]) -> String {
    groups
        .iter()
        .map(|g| clean(g.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An aligned table with a header, for people.
pub fn table(items: &[&RosterItem]) -> String {
    let rows: Vec<[String; 4]> = items
        .iter()
        .map(|i| {
            [
                clean(&i.jid),
                clean(i.name.as_deref().unwrap_or("")),
                subscription_text(i),
                groups_text(&i.groups),
            ]
        })
        .collect();
    let header = ["JID", "NAME", "SUBSCRIPTION", "GROUPS"].map(str::to_string);
    let mut width = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (k, cell) in r.iter().enumerate() {
            if k + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(width[k] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV with a header line, quoted as RFC 4180 says, with Unix line ends; groups joined by ";".
pub fn csv(items: &[&RosterItem]) -> String {
    let mut out = String::from("jid,name,subscription,ask,approved,groups\n");
    for i in items {
        let fields = [
            csv_field(&i.jid),
            csv_field(i.name.as_deref().unwrap_or("")),
            i.subscription.as_str().to_string(),
            i.ask.to_string(),
            i.approved.to_string(),
            csv_field(&i.groups.join(";")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The `show` text: one field a line.
pub fn details(i: &RosterItem) -> String {
    format!(
        "jid:          {}\nname:         {}\nsubscription: {} ({})\ngroups:       {}\n",
        clean(&i.jid),
        i.name
            .as_deref()
            .map(quoted)
            .unwrap_or_else(|| "(none)".into()),
        subscription_text(i),
        subscription_meaning(i),
        if i.groups.is_empty() {
            "(none)".to_string()
        } else {
            groups_text(&i.groups)
        },
    )
}

/// `name="Romeo" groups="A, B"` fragments for one-line summaries.
pub fn summary(i: &RosterItem) -> String {
    let mut s = format!("subscription={}", i.subscription.as_str());
    if i.ask {
        s.push_str(" asked");
    }
    if i.approved {
        s.push_str(" pre-approved");
    }
    if let Some(n) = &i.name {
        s.push_str(&format!(" name={}", quoted(n)));
    }
    if !i.groups.is_empty() {
        s.push_str(&format!(" groups={}", quoted(&i.groups.join(", "))));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(jid: &str, name: Option<&str>, groups: &[&str]) -> RosterItem {
        RosterItem {
            jid: jid.into(),
            name: name.map(Into::into),
            groups: groups.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn terminal_output_cannot_carry_escape_sequences() {
        let evil = item("e@x", Some("\x1b]0;pwned\x07Eve"), &["\x1b[31mred"]);
        let t = table(&[&evil]);
        assert!(!t.contains('\x1b') && !t.contains('\x07'), "{t:?}");
        assert!(!details(&evil).contains('\x1b'));
        assert!(!summary(&evil).contains('\x1b'));
    }

    #[test]
    fn table_aligns_columns() {
        let a = item("romeo@example.net", Some("Romeo"), &["Friends", "Verona"]);
        let b = item("n@x", None, &[]);
        assert_eq!(
            table(&[&a, &b]),
            "JID                NAME   SUBSCRIPTION  GROUPS\n\
             romeo@example.net  Romeo  none          Friends, Verona\n\
             n@x                       none\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let a = item("a@x", Some("Doe, \"J\""), &["G1", "G2"]);
        assert_eq!(csv(&[&a]), "jid,name,subscription,ask,approved,groups\na@x,\"Doe, \"\"J\"\"\",none,false,false,G1;G2\n");
    }
}
