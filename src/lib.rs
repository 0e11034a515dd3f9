//! xmpp-roster: a blocking XMPP roster client (RFC 6120 / RFC 6121).
pub mod client;
pub mod config;
pub mod error;
pub mod ffi;
pub mod event;
pub mod groups;
pub mod jid;
pub mod nul_string;
pub mod roster;
pub mod roster_decode;
pub mod sasl;
pub mod transport;
pub mod xml;

pub use client::{BatchedFetch, Client, EventHandler, Fetched, OwnPresence};
pub use config::{Config, TlsMode};
pub use error::{Error, Result, StanzaError};
pub use event::{Event, PresenceInfo, Show, SubscriptionKind};
pub use groups::Groups;
pub use jid::Jid;
pub use nul_string::NulString;
pub use roster::{Roster, RosterChange, RosterItem, RosterSnapshot, Subscription};
pub use sasl::Mechanism;
pub use transport::Interrupter;
