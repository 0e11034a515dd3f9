//! The command line: every subcommand, flag and environment variable, with its help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
The password is never a flag (flags are visible to every user in `ps`): it comes from the
environment variable XMPP_ROSTER_PASSWORD, or from the first line of --password-file FILE.

Exit codes:
  0  success
  1  other failure (a local file cannot be read or written, an import file is malformed)
  2  usage: bad flags or arguments, no JID, no password
  3  connection: the server cannot be reached, the connection broke, or it timed out
  4  TLS: handshake or certificate check failed, or STARTTLS unavailable
  5  authentication: wrong password or unknown account
  6  server: the server refused the request (a stanza or stream error)
  7  not in roster: the JID given is not in the contact list
  130 interrupted by Ctrl-C (`watch` ends with 0 on Ctrl-C)

Examples:
  export XMPP_ROSTER_JID=juliet@example.com XMPP_ROSTER_PASSWORD=...
  xmpp-roster list
  xmpp-roster add romeo@example.net --name Romeo --group Friends
  xmpp-roster subscribe romeo@example.net
  xmpp-roster watch --json
  xmpp-roster export contacts.json
  xmpp-roster --jid juliet@new.example import contacts.json --yes";

/// Manage an XMPP account's contact list (roster): list, edit, subscribe, watch, export, import.
#[derive(Parser, Debug)]
#[command(name = "xmpp-roster", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach and log in to the account. Every flag may also come after the subcommand.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// The account, e.g. juliet@example.com
    // Its own id: the subcommands' positional JID is also called `jid`.
    #[arg(
        id = "account",
        long = "jid",
        env = "XMPP_ROSTER_JID",
        value_name = "JID",
        global = true
    )]
    pub account: Option<String>,

    /// Read the password from the first line of FILE ('-' reads standard input) instead of the
    /// environment variable XMPP_ROSTER_PASSWORD
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,

    /// Connect to this host (and port) instead of the JID's domain on the default port
    /// (5222, or 5223 with --tls direct); IPv6 as [::1]:5222
    #[arg(
        long,
        env = "XMPP_ROSTER_SERVER",
        value_name = "HOST[:PORT]",
        global = true
    )]
    pub server: Option<String>,

    /// How the connection is secured: starttls upgrades a plain connection (the usual port 5222),
    /// direct is TLS from the first byte (port 5223), plaintext has no TLS (trusted local links only)
    #[arg(long, env = "XMPP_ROSTER_TLS", value_enum, default_value_t = TlsArg::Starttls, global = true)]
    pub tls: TlsArg,

    /// Trust the PEM certificate(s) in FILE to sign the server's certificate, besides the
    /// system's CAs (for self-signed or private-CA servers)
    #[arg(long, env = "XMPP_ROSTER_CA_FILE", value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,

    /// The longest wait for any one answer from the server, in seconds (e.g. 30, 2.5)
    #[arg(long, env = "XMPP_ROSTER_TIMEOUT", value_name = "SECONDS", value_parser = parse_seconds,
          default_value = "30", global = true)]
    pub timeout: Duration,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsArg {
    Starttls,
    Direct,
    Plaintext,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionArg {
    None,
    To,
    From,
    Both,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the contacts: a table, or --json / --csv for programs
    List(ListArgs),
    /// Show one contact's name, subscription state and groups
    Show {
        /// The contact's JID
        jid: String,
        /// Print a JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Add a contact, or add a name and groups to one already in the list (nothing is taken away)
    Add {
        /// The contact's JID, e.g. romeo@example.net
        jid: String,
        /// The name to show for the contact
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Put the contact in this group (repeat for several)
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Change a contact's name ("" removes it)
    Rename {
        /// The contact's JID
        jid: String,
        /// The new name
        name: String,
    },
    /// Put a contact in groups or take it out of them
    #[command(subcommand)]
    Group(GroupCommand),
    /// Remove a contact; the server also cancels the subscriptions both ways
    Remove {
        /// The contact's JID
        jid: String,
    },
    /// Ask a contact to let you see their presence (they answer with approve or deny)
    Subscribe {
        /// The contact's JID
        jid: String,
    },
    /// Let a contact who asked see your presence
    Approve {
        /// The contact's JID
        jid: String,
    },
    /// Refuse a contact's request, or stop a contact from seeing your presence
    Deny {
        /// The contact's JID
        jid: String,
    },
    /// Stop seeing a contact's presence
    Unsubscribe {
        /// The contact's JID
        jid: String,
    },
    /// Print roster changes, subscription requests and presence as they happen, until Ctrl-C
    Watch(WatchArgs),
    /// Save the contact list to a JSON file ('-' writes to standard output)
    Export {
        /// Where to write; an existing file is replaced
        file: PathBuf,
    },
    /// Bring a contact list from a JSON file (from `export`) into the account: shows what would
    /// change, and changes it only with --yes
    #[command(
        long_about = "Bring a contact list from a JSON file (made by `export`, on this \
account or another one) into the account.\n\nShows what would change first, and changes it only \
with --yes. Names and groups are set as in the file. Contacts whose presence the old account saw \
(subscription to/both) or had asked for are asked again with a subscription request; contacts who \
saw the old account's presence (from/both) are pre-approved when the server allows it. Contacts \
in the account but not in the file are kept unless --prune is given."
    )]
    Import {
        /// The JSON file ('-' reads standard input)
        file: PathBuf,
        /// Apply the changes (without it, only show them)
        #[arg(long, short = 'y')]
        yes: bool,
        /// Also remove contacts that are not in the file
        #[arg(long)]
        prune: bool,
        /// Do not send subscription requests or pre-approvals; only names and groups
        #[arg(long)]
        no_subscribe: bool,
    },
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print a JSON array of contacts
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (jid,name,subscription,ask,approved,groups; groups joined by ';')
    #[arg(long)]
    pub csv: bool,
    /// Only contacts in this group
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Only contacts with this subscription state
    #[arg(long, value_enum, value_name = "STATE")]
    pub subscription: Option<SubscriptionArg>,
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Put a contact in one or more groups
    Add {
        /// The contact's JID
        jid: String,
        /// The groups
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Take a contact out of one or more groups
    Remove {
        /// The contact's JID
        jid: String,
        /// The groups
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Print one JSON object per line instead of text
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Stop after this many events
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Do not go online: no presence is sent, so only roster changes are seen (no contacts'
    /// presence, no subscription requests)
    #[arg(long)]
    pub no_presence: bool,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0 * 365.0) {
        return Err(format!("{s:?}: give a number of seconds greater than 0"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_parse_and_refuse_nonsense() {
        assert_eq!(parse_seconds("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("NaN").is_err());
    }
}
