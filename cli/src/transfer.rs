//! `export` and `import`: the JSON file, and the plan that turns a file into roster changes.
//!
//! Moving a contact list to another account must lose nothing the new account can have:
//! names and groups are set as they were; a subscription the old account had or had asked for
//! (`to`, `both`, `ask`) is asked for again, because only the contact can grant it; a contact who
//! saw the old account's presence (`from`, `both`, `approved`) is pre-approved, so their own
//! request is granted at once.

use crate::failure::{CliResult, Failure};
use crate::output::{clean, quoted, ItemJson};
use crate::session::contact_jid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use xmpp_roster::{RosterItem, Subscription};

/// The value of the `format` field.
pub const FORMAT: &str = "xmpp-roster-export";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportFile {
    pub format: String,
    pub format_version: u32,
    /// The account the list was exported from.
    #[serde(default)]
    pub account: Option<String>,
    /// The server's roster version at export time (informational).
    #[serde(default)]
    pub roster_version: Option<String>,
    pub items: Vec<ItemJson>,
}

/// Accepted on import: an export file, or a bare array of items.
#[derive(Deserialize)]
#[serde(untagged)]
enum ImportShape {
    File(ExportFile),
    Items(Vec<ItemJson>),
}

pub fn export_json(account: &str, version: Option<&str>, items: &[RosterItem]) -> String {
    let file = ExportFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        account: Some(account.into()),
        roster_version: version.map(Into::into),
        items: items.iter().map(ItemJson::from).collect(),
    };
    let mut s = serde_json::to_string_pretty(&file).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes `text` to `path` ('-' = stdout) through a temporary file and a rename, so a failure
/// never leaves half a file; the file is readable by its owner only (a contact list is private).
pub fn write_file(path: &Path, text: &str) -> CliResult<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Failure::other(format!("writing to standard output: {e}")));
    }
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        Failure::other(format!(
            "cannot write {}: {e}: check the directory exists and is writable",
            path.display()
        ))
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{}: not a file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// One contact as the file wants it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub jid: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub subscription: Subscription,
    pub ask: bool,
    pub approved: bool,
}

/// Reads and checks an import file; every problem is reported with the item's position.
pub fn read_import(path: &Path) -> CliResult<Vec<Wanted>> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)
            .map_err(|e| Failure::other(format!("reading standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::other(format!("cannot read {}: {e}", path.display())))?
    };
    parse_import(&text).map_err(|m| Failure::other(format!("{}: {m}", path.display())))
}

pub fn parse_import(text: &str) -> Result<Vec<Wanted>, String> {
    let shape: ImportShape = serde_json::from_str(text).map_err(|e| {
        format!("not an xmpp-roster export file ({e}); it must be the JSON that `xmpp-roster export` writes, or an array of items like {{\"jid\": \"romeo@example.net\", \"name\": \"Romeo\", \"groups\": [\"Friends\"]}}")
    })?;
    let items = match shape {
        ImportShape::Items(items) => items,
        ImportShape::File(f) => {
            if f.format != FORMAT {
                return Err(format!("\"format\" is {:?}, expected {FORMAT:?}", f.format));
            }
            if f.format_version > FORMAT_VERSION {
                return Err(format!(
                    "format_version {} is newer than this xmpp-roster understands ({FORMAT_VERSION}); upgrade xmpp-roster",
                    f.format_version
                ));
            }
            f.items
        }
    };
    let mut out: Vec<Wanted> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        let at = |m: String| format!("item {} ({}): {m}", n + 1, clean(&item.jid));
        let jid = contact_jid(&item.jid).map_err(|f| at(f.message))?;
        let subscription = Subscription::parse(&item.subscription).ok_or_else(|| {
            at(format!(
                "subscription {:?} is not one of none, to, from, both",
                item.subscription
            ))
        })?;
        let mut groups: Vec<String> = Vec::with_capacity(item.groups.len());
        for g in item.groups {
            if g.is_empty() {
                return Err(at("an empty group name".into()));
            }
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        let name = item.name.filter(|n| !n.is_empty());
        let wanted = Wanted {
            jid: jid.clone(),
            name,
            groups,
            subscription,
            ask: item.ask,
            approved: item.approved,
        };
        match seen.get(&jid) {
            Some(&k) => out[k] = wanted, // the last entry for a JID wins
            None => {
                seen.insert(jid, out.len());
                out.push(wanted);
            }
        }
    }
    Ok(out)
}

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Add {
        jid: String,
        name: Option<String>,
        groups: Vec<String>,
    },
    Update {
        jid: String,
        name: Option<String>,
        groups: Vec<String>,
        old: RosterItem,
    },
    Subscribe {
        jid: String,
    },
    Preapprove {
        jid: String,
    },
    Remove {
        jid: String,
    },
}

#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Items skipped, with why.
    pub skipped: Vec<String>,
}

fn sees(s: Subscription) -> bool {
    matches!(s, Subscription::To | Subscription::Both)
}
fn seen_by(s: Subscription) -> bool {
    matches!(s, Subscription::From | Subscription::Both)
}

/// Works out what to change so the roster holds what `wanted` lists.
/// `current` looks up the account's item; `all` lists them (for `prune`).
pub fn plan(
    account: &str,
    wanted: &[Wanted],
    current: &dyn Fn(&str) -> Option<RosterItem>,
    all: &[RosterItem],
    prune: bool,
    subscriptions: bool,
    preapproval_supported: bool,
) -> Plan {
    let mut p = Plan::default();
    let mut subs = Vec::new();
    let mut pre = Vec::new();
    for w in wanted {
        if w.jid == account {
            p.skipped.push(format!(
                "{}: the account itself cannot be its own contact",
                w.jid
            ));
            continue;
        }
        let cur = current(&w.jid);
        let mut changed = false;
        match &cur {
            None => {
                p.actions.push(Action::Add {
                    jid: w.jid.clone(),
                    name: w.name.clone(),
                    groups: w.groups.clone(),
                });
                changed = true;
            }
            Some(c) => {
                let same_groups = c.groups.len() == w.groups.len()
                    && w.groups.iter().all(|g| c.groups.iter().any(|cg| cg == g));
                if c.name.as_deref() != w.name.as_deref() || !same_groups {
                    p.actions.push(Action::Update {
                        jid: w.jid.clone(),
                        name: w.name.clone(),
                        groups: w.groups.clone(),
                        old: c.clone(),
                    });
                    changed = true;
                }
            }
        }
        if subscriptions {
            let has_to = cur.as_ref().is_some_and(|c| sees(c.subscription) || c.ask);
            if (sees(w.subscription) || w.ask) && !has_to {
                subs.push(Action::Subscribe { jid: w.jid.clone() });
                changed = true;
            }
            let has_from = cur
                .as_ref()
                .is_some_and(|c| seen_by(c.subscription) || c.approved);
            if (seen_by(w.subscription) || w.approved) && !has_from {
                if preapproval_supported {
                    pre.push(Action::Preapprove { jid: w.jid.clone() });
                    changed = true;
                } else {
                    p.skipped.push(format!(
                        "{}: saw the old account's presence, but this server cannot pre-approve; approve their request when it comes",
                        w.jid
                    ));
                }
            }
        }
        if !changed {
            p.unchanged += 1;
        }
    }
    if prune {
        let keep: std::collections::HashSet<&str> = wanted.iter().map(|w| w.jid.as_str()).collect();
        for c in all {
            if !keep.contains(c.jid.as_str()) {
                p.actions.push(Action::Remove { jid: c.jid.to_string() });
            }
        }
    }
    // Names and groups first (a subscription request adds the contact if needed, but without them).
    p.actions.extend(subs);
    p.actions.extend(pre);
    p
}

fn opt_name<S: AsRef<str>>(n: &Option<S>) -> String {
    n.as_ref()
        .map(|n| quoted(n.as_ref()))
        .unwrap_or_else(|| "(no name)".into())
}

fn group_list(g: &[String]) -> String {
    if g.is_empty() {
        "(no groups)".into()
    } else {
        g.iter().map(|g| quoted(g)).collect::<Vec<_>>().join(", ")
    }
}

/// One line per change, like a diff.
pub fn describe(a: &Action) -> String {
    match a {
        Action::Add { jid, name, groups } => format!(
            "+ {}  name {}  groups {}",
            clean(jid),
            opt_name(name),
            group_list(groups)
        ),
        Action::Update {
            jid,
            name,
            groups,
            old,
        } => {
            let mut parts = Vec::new();
            if old.name.as_deref() != name.as_deref() {
                parts.push(format!(
                    "name {} -> {}",
                    opt_name(&old.name),
                    opt_name(name)
                ));
            }
            let added: Vec<String> = groups
                .iter()
                .filter(|g| !old.groups.iter().any(|o| o == *g))
                .map(|g| format!("+{}", quoted(g)))
                .collect();
            let removed: Vec<String> = old
                .groups
                .iter()
                .filter(|g| !groups.iter().any(|n| n == *g))
                .map(|g| format!("-{}", quoted(g)))
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                parts.push(format!(
                    "groups {}",
                    added
                        .into_iter()
                        .chain(removed)
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            format!("~ {}  {}", clean(jid), parts.join("; "))
        }
        Action::Subscribe { jid } => format!(
            "> {}  ask again to see their presence (subscription request)",
            clean(jid)
        ),
        Action::Preapprove { jid } => format!(
            "< {}  pre-approve: they may see your presence when they ask",
            clean(jid)
        ),
        Action::Remove { jid } => format!("- {}  not in the file (--prune)", clean(jid)),
    }
}

pub fn summary(p: &Plan) -> String {
    let count = |f: fn(&Action) -> bool| p.actions.iter().filter(|a| f(a)).count();
    format!(
        "{} to add, {} to change, {} subscription requests, {} pre-approvals, {} to remove, {} unchanged",
        count(|a| matches!(a, Action::Add { .. })),
        count(|a| matches!(a, Action::Update { .. })),
        count(|a| matches!(a, Action::Subscribe { .. })),
        count(|a| matches!(a, Action::Preapprove { .. })),
        count(|a| matches!(a, Action::Remove { .. })),
        p.unchanged,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have(
        jid: &str,
        sub: Subscription,
        ask: bool,
        name: Option<&str>,
        groups: &[&str],
    ) -> RosterItem {
        RosterItem {
            jid: jid.into(),
            name: name.map(Into::into),
            subscription: sub,
            ask,
            approved: false,
            groups: groups.iter().copied().collect(),
        }
    }

    #[test]
    fn export_then_parse_gives_back_every_field() {
        let items = vec![
            have(
                "romeo@x",
                Subscription::Both,
                false,
                Some("Romeo"),
                &["A", "B"],
            ),
            have("nurse@x", Subscription::None, true, None, &[]),
        ];
        let back = parse_import(&export_json("juliet@x", Some("7"), &items)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].name.as_deref(), Some("Romeo"));
        assert_eq!(back[0].groups, vec!["A", "B"]);
        assert_eq!(back[0].subscription, Subscription::Both);
        assert!(back[1].ask);
    }

    #[test]
    fn moving_to_an_empty_account_adds_asks_and_preapproves() {
        let wanted = parse_import(
            r#"[{"jid":"romeo@x","name":"Romeo","subscription":"both","groups":["A"]},
                {"jid":"nurse@x","ask":true},{"jid":"tybalt@x","subscription":"from"},{"jid":"new@x"}]"#,
        )
        .unwrap();
        let p = plan("juliet@y", &wanted, &|_| None, &[], false, true, true);
        let lines: Vec<String> = p.actions.iter().map(describe).collect();
        assert_eq!(
            p.actions
                .iter()
                .filter(|a| matches!(a, Action::Add { .. }))
                .count(),
            4,
            "{lines:#?}"
        );
        assert_eq!(
            p.actions
                .iter()
                .filter_map(|a| if let Action::Subscribe { jid } = a {
                    Some(jid.as_str())
                } else {
                    None
                })
                .collect::<Vec<_>>(),
            vec!["romeo@x", "nurse@x"]
        );
        assert_eq!(
            p.actions
                .iter()
                .filter_map(|a| if let Action::Preapprove { jid } = a {
                    Some(jid.as_str())
                } else {
                    None
                })
                .collect::<Vec<_>>(),
            vec!["romeo@x", "tybalt@x"]
        );
        assert!(
            matches!(p.actions[0], Action::Add { .. }),
            "names and groups go first"
        );
    }

    #[test]
    fn importing_what_is_there_changes_nothing_and_prune_removes_the_rest() {
        let cur = vec![
            have(
                "romeo@x",
                Subscription::To,
                false,
                Some("Romeo"),
                &["B", "A"],
            ),
            have("paris@x", Subscription::None, false, None, &[]),
        ];
        let wanted = parse_import(
            r#"[{"jid":"Romeo@X","name":"Romeo","subscription":"to","groups":["A","B"]}]"#,
        )
        .unwrap();
        let find = |j: &str| cur.iter().find(|c| c.jid == j).cloned();
        let p = plan("juliet@x", &wanted, &find, &cur, false, true, true);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.unchanged, 1);
        let p = plan("juliet@x", &wanted, &find, &cur, true, true, true);
        assert_eq!(
            p.actions,
            vec![Action::Remove {
                jid: "paris@x".into()
            }]
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_item_named() {
        assert!(parse_import("{}").is_err());
        assert!(
            parse_import(r#"{"format":"other","format_version":1,"items":[]}"#)
                .unwrap_err()
                .contains("format")
        );
        assert!(parse_import(r#"[{"jid":"a@b/res"}]"#)
            .unwrap_err()
            .starts_with("item 1 (a@b/res)"));
        assert!(
            parse_import(r#"[{"jid":"a@b"},{"jid":"c@d","subscription":"sometimes"}]"#)
                .unwrap_err()
                .starts_with("item 2")
        );
        assert!(parse_import(r#"[{"jid":"a@b","groups":[""]}]"#).is_err());
    }

    #[test]
    fn the_account_itself_is_skipped() {
        let wanted = parse_import(r#"[{"jid":"juliet@x"}]"#).unwrap();
        let p = plan("juliet@x", &wanted, &|_| None, &[], false, true, true);
        assert!(p.actions.is_empty());
        assert_eq!(p.skipped.len(), 1);
    }
}
