//! `watch`: events as text lines or JSON lines, until Ctrl-C, `--duration` or `--count`.

use crate::args::WatchArgs;
use crate::failure::{CliResult, Exit};
use crate::output::{clean, quoted, summary, ItemJson};
use crate::session::{self, Session};
use serde_json::json;
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xmpp_roster::{Event, OwnPresence, RosterChange, Show, SubscriptionKind};

/// One event as a line of text.
pub fn text_line(e: &Event) -> String {
    match e {
        Event::RosterChanged { change, item, .. } => {
            let what = match change {
                RosterChange::Added => "added",
                RosterChange::Updated => "updated",
                RosterChange::Removed => "removed",
            };
            if *change == RosterChange::Removed {
                format!("roster {what} {}", clean(&item.jid))
            } else {
                format!("roster {what} {} {}", clean(&item.jid), summary(item))
            }
        }
        Event::Subscription { kind, from, status } => {
            let status = status
                .as_deref()
                .map(|s| format!(" status={}", quoted(s)))
                .unwrap_or_default();
            let hint = match kind {
                SubscriptionKind::Subscribe => {
                    format!(" (asks to see your presence: xmpp-roster approve {0} | xmpp-roster deny {0})", clean(from))
                }
                SubscriptionKind::Subscribed => " (you can now see their presence)".to_string(),
                SubscriptionKind::Unsubscribe => {
                    " (no longer wants to see your presence)".to_string()
                }
                SubscriptionKind::Unsubscribed => " (you no longer see their presence)".to_string(),
            };
            format!("{} {}{status}{hint}", kind.as_str(), clean(from))
        }
        Event::Presence(p) => {
            let mut s = format!(
                "presence {} {}",
                clean(&p.from),
                if p.available {
                    "available"
                } else {
                    "unavailable"
                }
            );
            if let Some(show) = p.show.as_wire() {
                s.push_str(&format!(" show={show}"));
            }
            if let Some(st) = &p.status {
                s.push_str(&format!(" status={}", quoted(st)));
            }
            if p.priority != 0 {
                s.push_str(&format!(" priority={}", p.priority));
            }
            s
        }
        Event::Disconnected { reason } => match reason {
            Some(r) => format!("disconnected {}", quoted(&r.to_string())),
            None => "disconnected".to_string(),
        },
    }
}

/// One event as a JSON object.
pub fn json_line(e: &Event) -> serde_json::Value {
    match e {
        Event::RosterChanged {
            change,
            item,
            version,
        } => json!({
            "type": "roster",
            "change": match change { RosterChange::Added => "added", RosterChange::Updated => "updated", RosterChange::Removed => "removed" },
            "jid": item.jid.as_str(),
            "item": ItemJson::from(item),
            "version": version,
        }),
        Event::Subscription { kind, from, status } => json!({
            "type": "subscription", "kind": kind.as_str(), "from": from, "status": status,
        }),
        Event::Presence(p) => json!({
            "type": "presence",
            "from": p.from,
            "available": p.available,
            "show": if p.available { Some(p.show.as_wire().unwrap_or("available")) } else { None },
            "status": p.status,
            "priority": p.priority,
        }),
        Event::Disconnected { reason } => json!({
            "type": "disconnected", "reason": reason.as_ref().map(|r| r.to_string()),
        }),
    }
}

pub fn run(mut s: Session, args: &WatchArgs) -> CliResult<()> {
    let seen = Arc::new(AtomicU64::new(0));
    let limit = args.count;
    let json = args.json;
    let counter = Arc::clone(&seen);
    let me = s.client.bound_jid().map(|j| j.as_str().to_string());
    s.client.set_event_handler(Some(Box::new(move |e: &Event| {
        match e {
            // The polite end of our own `disconnect` is not news.
            Event::Disconnected { reason: None } => return ControlFlow::Continue(()),
            // Nor is the server reflecting this session's own presence back to it.
            Event::Presence(p) if Some(&p.from) == me.as_ref() => return ControlFlow::Continue(()),
            _ => {}
        }
        let line = if json {
            json_line(e).to_string()
        } else {
            text_line(e)
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            // The reader went away (e.g. `| head -1`): stop quietly.
            return ControlFlow::Break(());
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        match limit {
            Some(l) if n >= l => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    })));
    // Fetching the roster is what makes the server send pushes to this session.
    s.fetch()?;
    if !args.no_presence {
        // Going online brings contacts' presence and pending subscription requests. Priority -1
        // keeps chat messages from being routed to a session that cannot show them.
        let me = OwnPresence {
            available: true,
            show: Show::Available,
            status: None,
            priority: -1,
        };
        s.client
            .send_presence(&me)
            .map_err(|e| s.ctx.fail(e, "going online", None))?;
    }
    eprintln!(
        "watching {} ({} contacts); Ctrl-C stops",
        s.ctx.account,
        s.client.roster().len()
    );
    let end = args.duration.map(|d| Instant::now() + d);
    let outcome = loop {
        if session::interrupted() {
            break Ok(());
        }
        let wait = match end {
            Some(t) => {
                let left = t.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Ok(());
                }
                left.min(Duration::from_secs(1))
            }
            None => Duration::from_secs(1),
        };
        match s.client.poll(wait) {
            Ok(_) => {}
            Err(xmpp_roster::Error::Interrupted) | Err(xmpp_roster::Error::CallbackAborted) => {
                break Ok(())
            }
            Err(e) => break Err(s.ctx.fail(e, "watching", None)),
        }
    };
    s.client.set_event_handler(None);
    s.close();
    match outcome {
        // Ctrl-C is how a watch is meant to end.
        Err(f) if f.exit == Exit::Interrupted => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_roster::{PresenceInfo, RosterItem};

    #[test]
    fn lines_for_each_event() {
        let item = RosterItem {
            jid: "romeo@x".into(),
            name: Some("Romeo".into()),
            groups: ["A"].into_iter().collect(),
            ..Default::default()
        };
        let e = Event::RosterChanged {
            change: RosterChange::Added,
            item,
            version: Some("3".into()),
        };
        assert_eq!(
            text_line(&e),
            "roster added romeo@x subscription=none name=\"Romeo\" groups=\"A\""
        );
        let v = json_line(&e);
        assert_eq!(v["type"], "roster");
        assert_eq!(v["item"]["groups"][0], "A");
        let e = Event::Subscription {
            kind: SubscriptionKind::Subscribe,
            from: "juliet@x".into(),
            status: None,
        };
        assert!(text_line(&e).starts_with("subscribe juliet@x (asks"));
        let e = Event::Presence(PresenceInfo {
            from: "romeo@x/o".into(),
            available: true,
            show: Show::Away,
            status: Some("\x1b[2J".into()),
            priority: 0,
        });
        let t = text_line(&e);
        assert_eq!(
            t,
            "presence romeo@x/o available show=away status=\"\\u{1b}[2J\""
        );
        assert_eq!(json_line(&e)["show"], "away");
    }
}
