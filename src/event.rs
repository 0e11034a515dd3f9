//! Events the client reports to its handler.

use crate::error::Error;
use crate::roster::{RosterChange, RosterItem};

/// The kind of an incoming subscription-related presence (RFC 6121 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// The contact asks to see the user's presence.
    Subscribe,
    /// The contact approved the user's request.
    Subscribed,
    /// The contact no longer wants the user's presence.
    Unsubscribe,
    /// The contact denied or cancelled the user's subscription.
    Unsubscribed,
}

impl SubscriptionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::Subscribe => "subscribe",
            SubscriptionKind::Subscribed => "subscribed",
            SubscriptionKind::Unsubscribe => "unsubscribe",
            SubscriptionKind::Unsubscribed => "unsubscribed",
        }
    }
}

/// The `<show/>` of an available presence; `Available` when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    #[default]
    Available,
    Away,
    Chat,
    Dnd,
    Xa,
}

impl Show {
    /// The wire value, `None` for plain availability.
    pub fn as_wire(self) -> Option<&'static str> {
        match self {
            Show::Available => None,
            Show::Away => Some("away"),
            Show::Chat => Some("chat"),
            Show::Dnd => Some("dnd"),
            Show::Xa => Some("xa"),
        }
    }

    pub fn from_wire(s: &str) -> Show {
        match s.trim() {
            "away" => Show::Away,
            "chat" => Show::Chat,
            "dnd" => Show::Dnd,
            "xa" => Show::Xa,
            _ => Show::Available,
        }
    }
}

/// A contact resource's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceInfo {
    /// The full JID (`contact@domain/resource`) or a bare JID when the sender had no resource.
    pub from: String,
    /// False for `type='unavailable'`.
    pub available: bool,
    pub show: Show,
    pub status: Option<String>,
    pub priority: i8,
}

/// Something that happened, delivered to the handler set with
/// [`Client::set_event_handler`](crate::Client::set_event_handler).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A roster push changed the local roster. `version` is the roster version after the change.
    RosterChanged { change: RosterChange, item: RosterItem, version: Option<String> },
    /// A contact sent a subscription-related presence. `from` is the contact's bare JID.
    Subscription { kind: SubscriptionKind, from: String, status: Option<String> },
    /// A contact's resource became available, changed its presence, or left.
    Presence(PresenceInfo),
    /// The connection ended. `reason` is `None` when the caller asked for it (`disconnect`).
    Disconnected { reason: Option<Error> },
}
