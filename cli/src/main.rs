//! `xmpp-roster`: manage an XMPP account's contact list from the command line.
//!
//! Every subcommand connects, does its work with the blocking [`xmpp_roster::Client`] and closes
//! the stream. Output for programs (`--json`, `--csv`, `export -`) goes to stdout; progress,
//! warnings and errors go to stderr. See docs/CLI.md for the exit codes.

mod args;
mod failure;
mod output;
mod progress;
mod session;
mod transfer;
mod watch;

use args::{Cli, Command, GroupCommand, ListArgs, SubscriptionArg};
use clap::Parser;
use failure::{CliResult, Exit, Failure};
use output::ItemJson;
use progress::Progress;
use session::{connect, contact_jid, Session};
use std::io::Write;
use std::path::Path;
use transfer::Action;
use xmpp_roster::{RosterItem, Subscription};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version with exit 0 and usage errors with exit 2.
        Err(e) => e.exit(),
    };
    session::install_interrupt_handler();
    if let Err(f) = run(cli) {
        eprintln!("xmpp-roster: {}", f.message);
        std::process::exit(f.exit as i32);
    }
}

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
fn out(text: &str) -> CliResult<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::other(format!("writing to standard output: {e}"))),
    }
}

fn run(cli: Cli) -> CliResult<()> {
    // Check everything that needs no server before connecting.
    match &cli.command {
        Command::Show { jid, .. }
        | Command::Add { jid, .. }
        | Command::Rename { jid, .. }
        | Command::Remove { jid }
        | Command::Subscribe { jid }
        | Command::Approve { jid }
        | Command::Deny { jid }
        | Command::Unsubscribe { jid }
        | Command::Group(GroupCommand::Add { jid, .. })
        | Command::Group(GroupCommand::Remove { jid, .. }) => {
            contact_jid(jid)?;
        }
        _ => {}
    }
    if let Command::Add { groups, .. } | Command::Group(GroupCommand::Add { groups, .. }) =
        &cli.command
    {
        if groups.iter().any(|g| g.is_empty()) {
            return Err(Failure::usage("a group name cannot be empty"));
        }
    }
    let import = match &cli.command {
        Command::Import { file, .. } => Some(transfer::read_import(file)?),
        _ => None,
    };

    let mut s = connect(&cli.conn)?;
    let result = match cli.command {
        Command::List(a) => list(&mut s, &a),
        Command::Show { jid, json } => show(&mut s, &jid, json),
        Command::Add { jid, name, groups } => add(&mut s, &jid, name, groups),
        Command::Rename { jid, name } => rename(&mut s, &jid, name),
        Command::Group(GroupCommand::Add { jid, groups }) => {
            change_groups(&mut s, &jid, &groups, true)
        }
        Command::Group(GroupCommand::Remove { jid, groups }) => {
            change_groups(&mut s, &jid, &groups, false)
        }
        Command::Remove { jid } => remove(&mut s, &jid),
        Command::Subscribe { jid } => presence_op(&mut s, &jid, PresenceOp::Subscribe),
        Command::Approve { jid } => presence_op(&mut s, &jid, PresenceOp::Approve),
        Command::Deny { jid } => presence_op(&mut s, &jid, PresenceOp::Deny),
        Command::Unsubscribe { jid } => presence_op(&mut s, &jid, PresenceOp::Unsubscribe),
        Command::Watch(a) => return watch::run(s, &a),
        Command::Export { file } => export(&mut s, &file),
        Command::Import {
            yes,
            prune,
            no_subscribe,
            ..
        } => import_plan(
            &mut s,
            import.unwrap_or_default(),
            yes,
            prune,
            !no_subscribe,
        ),
    };
    s.close();
    result
}

/// "1 contact", "2 contacts".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn sorted(items: &[RosterItem]) -> Vec<&RosterItem> {
    let mut v: Vec<&RosterItem> = items.iter().collect();
    v.sort_by(|a, b| a.jid.cmp(&b.jid));
    v
}

fn list(s: &mut Session, a: &ListArgs) -> CliResult<()> {
    s.fetch()?;
    let roster = s.client.snapshot();
    let wanted_sub = a.subscription.map(|x| match x {
        SubscriptionArg::None => Subscription::None,
        SubscriptionArg::To => Subscription::To,
        SubscriptionArg::From => Subscription::From,
        SubscriptionArg::Both => Subscription::Both,
    });
    let items: Vec<&RosterItem> = sorted(roster.items())
        .into_iter()
        .filter(|i| a.group.as_ref().map_or(true, |g| i.groups.iter().any(|x| x == g)))
        .filter(|i| wanted_sub.map_or(true, |w| i.subscription == w))
        .collect();
    if a.json {
        let v: Vec<ItemJson> = items.iter().map(|i| ItemJson::from(*i)).collect();
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ))
    } else if a.csv {
        out(&output::csv(&items))
    } else if items.is_empty() {
        let filtered = a.group.is_some() || a.subscription.is_some();
        out(if filtered {
            "(no contacts match)\n"
        } else {
            "(no contacts)\n"
        })
    } else {
        out(&output::table(&items))
    }
}

fn current(s: &Session, jid: &str) -> CliResult<RosterItem> {
    s.client
        .roster()
        .get(jid)
        .cloned()
        .ok_or_else(|| Failure::not_in_roster(jid, &s.ctx.account))
}

fn show(s: &mut Session, jid: &str, json: bool) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    s.fetch()?;
    let item = current(s, &jid)?;
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&ItemJson::from(&item)).unwrap_or_default()
        ))
    } else {
        out(&output::details(&item))
    }
}

fn strings(groups: &[xmpp_roster::NulString]) -> Vec<String> {
    groups.iter().map(|g| g.to_string()).collect()
}

/// Sets name and groups and reports what the roster now says.
fn set(
    s: &mut Session,
    jid: &str,
    name: Option<&str>,
    groups: &[String],
    verb: &str,
) -> CliResult<()> {
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    s.client
        .set_item(jid, name, &refs)
        .map_err(|e| s.ctx.fail(e, &format!("{verb} {jid}"), Some(jid)))?;
    let now = s
        .client
        .roster()
        .get(jid)
        .cloned()
        .unwrap_or_else(|| RosterItem {
            jid: jid.into(),
            name: name.map(Into::into),
            groups: groups.iter().collect(),
            ..Default::default()
        });
    out(&format!(
        "{} {}\n",
        output::clean(jid),
        output::summary(&now)
    ))
}

fn add(s: &mut Session, jid: &str, name: Option<String>, groups: Vec<String>) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    if jid == s.ctx.account {
        return Err(Failure::usage(format!(
            "{jid} is the account itself and cannot be its own contact"
        )));
    }
    s.fetch()?;
    let (name, groups) = match s.client.roster().get(&jid) {
        // Adding to a contact that is there keeps what it had.
        Some(old) => {
            let mut all: Vec<String> = old.groups.iter().map(|g| g.to_string()).collect();
            for g in groups {
                if !all.contains(&g) {
                    all.push(g);
                }
            }
            (name.or_else(|| old.name.as_deref().map(str::to_string)), all)
        }
        None => (name, groups),
    };
    set(
        s,
        &jid,
        name.as_deref().filter(|n| !n.is_empty()),
        &groups,
        "adding",
    )
}

fn rename(s: &mut Session, jid: &str, name: String) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    s.fetch()?;
    let old = current(s, &jid)?;
    set(
        s,
        &jid,
        Some(name.as_str()).filter(|n| !n.is_empty()),
        &strings(&old.groups),
        "renaming",
    )
}

fn change_groups(s: &mut Session, jid: &str, groups: &[String], add: bool) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    s.fetch()?;
    let old = current(s, &jid)?;
    let mut new = strings(&old.groups);
    for g in groups {
        if add && !new.contains(g) {
            new.push(g.clone());
        } else if !add {
            if !new.contains(g) {
                eprintln!("note: {jid} is not in group {}", output::quoted(g));
            }
            new.retain(|x| x != g);
        }
    }
    if new == strings(&old.groups) {
        return out(&format!(
            "{} unchanged: {}\n",
            output::clean(&jid),
            output::summary(&old)
        ));
    }
    set(s, &jid, old.name.as_deref(), &new, "changing the groups of")
}

fn remove(s: &mut Session, jid: &str) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    // Judge by the roster, not the server's answer: servers differ (Prosody refuses an unknown
    // contact with item-not-found, ejabberd accepts the removal).
    s.fetch()?;
    current(s, &jid)?;
    s.client
        .remove_item(&jid)
        .map_err(|e| s.ctx.fail(e, &format!("removing {jid}"), Some(&jid)))?;
    out(&format!("removed {jid}\n"))
}

#[derive(Clone, Copy)]
enum PresenceOp {
    Subscribe,
    Approve,
    Deny,
    Unsubscribe,
}

fn presence_op(s: &mut Session, jid: &str, op: PresenceOp) -> CliResult<()> {
    let jid = contact_jid(jid)?;
    if jid == s.ctx.account {
        return Err(Failure::usage(format!("{jid} is the account itself")));
    }
    let (result, doing, done) = match op {
        PresenceOp::Subscribe => (
            s.client.subscribe(&jid),
            "asking",
            format!("asked {jid} to share their presence; `xmpp-roster watch` shows the answer"),
        ),
        PresenceOp::Approve => (
            s.client.approve(&jid),
            "approving",
            format!("approved {jid}: they can see your presence"),
        ),
        PresenceOp::Deny => (
            s.client.deny(&jid),
            "denying",
            format!("denied {jid}: they cannot see your presence"),
        ),
        PresenceOp::Unsubscribe => (
            s.client.unsubscribe(&jid),
            "unsubscribing from",
            format!("unsubscribed from {jid}: you no longer see their presence"),
        ),
    };
    result.map_err(|e| s.ctx.fail(e, &format!("{doing} {jid}"), Some(&jid)))?;
    out(&format!("{done}\n"))
}

fn export(s: &mut Session, file: &Path) -> CliResult<()> {
    s.fetch()?;
    let roster = s.client.snapshot();
    let items: Vec<RosterItem> = sorted(roster.items()).into_iter().cloned().collect();
    transfer::write_file(
        file,
        &transfer::export_json(&s.ctx.account, roster.version(), &items),
    )?;
    if file != Path::new("-") {
        out(&format!(
            "exported {} of {} to {}\n",
            plural(items.len(), "contact"),
            s.ctx.account,
            file.display()
        ))?;
    }
    Ok(())
}

fn import_plan(
    s: &mut Session,
    wanted: Vec<transfer::Wanted>,
    yes: bool,
    prune: bool,
    subscriptions: bool,
) -> CliResult<()> {
    s.fetch()?;
    let roster = s.client.snapshot();
    let lookup = |j: &str| roster.get(j).cloned();
    let plan = transfer::plan(
        &s.ctx.account,
        &wanted,
        &lookup,
        roster.items(),
        prune,
        subscriptions,
        s.client.supports_preapproval(),
    );
    let mut text = String::new();
    for a in &plan.actions {
        text.push_str(&transfer::describe(a));
        text.push('\n');
    }
    for note in &plan.skipped {
        text.push_str(&format!("! {}\n", output::clean(note)));
    }
    text.push_str(&format!(
        "{}: {}\n",
        s.ctx.account,
        transfer::summary(&plan)
    ));
    out(&text)?;
    if plan.actions.is_empty() {
        return out("nothing to change\n");
    }
    if !yes {
        return out("nothing changed yet: run again with --yes to apply\n");
    }
    apply(s, &plan.actions)
}

fn apply(s: &mut Session, actions: &[Action]) -> CliResult<()> {
    let total = actions.len();
    let progress = Progress::counter("importing".to_string(), total as u64);
    let mut refused: Vec<String> = Vec::new();
    for (n, a) in actions.iter().enumerate() {
        let (jid, result) = match a {
            Action::Add { jid, name, groups }
            | Action::Update {
                jid, name, groups, ..
            } => {
                let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
                (jid, s.client.set_item(jid, name.as_deref(), &refs))
            }
            Action::Subscribe { jid } => (jid, s.client.subscribe(jid)),
            Action::Preapprove { jid } => (jid, s.client.preapprove(jid)),
            Action::Remove { jid } => (jid, s.client.remove_item(jid)),
        };
        progress.set(n as u64 + 1);
        match result {
            Ok(()) => {}
            // One contact the server will not take does not stop the others.
            Err(
                e @ (xmpp_roster::Error::Stanza(_)
                | xmpp_roster::Error::InvalidArgument(_)
                | xmpp_roster::Error::InvalidJid(_)),
            ) => {
                refused.push(
                    s.ctx
                        .fail(e, &format!("importing {jid}"), Some(jid))
                        .message,
                );
            }
            Err(e) => {
                progress.finish();
                let f = s.ctx.fail(e, &format!("importing {jid}"), Some(jid));
                return Err(Failure::new(
                    f.exit,
                    format!(
                        "{}\nstopped at change {} of {total}; running the same import again does only what is still missing",
                        f.message,
                        n + 1
                    ),
                ));
            }
        }
    }
    progress.finish();
    for r in &refused {
        eprintln!("xmpp-roster: {r}");
    }
    if refused.is_empty() {
        out(&format!("applied {}\n", plural(total, "change")))
    } else {
        Err(Failure::new(
            Exit::Server,
            format!(
                "applied {} of {total} changes; the server refused {}",
                total - refused.len(),
                refused.len()
            ),
        ))
    }
}
