//! What went wrong, as an exit code and a message that names the cause and the fix.

use xmpp_roster::Error;

/// The process exit codes (documented in `--help` and docs/CLI.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failure = 1,
    Usage = 2,
    Connection = 3,
    Tls = 4,
    Auth = 5,
    Server = 6,
    NotInRoster = 7,
    Interrupted = 130,
}

/// A failure on its way to stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Failure, message)
    }
    pub fn not_in_roster(jid: &str, account: &str) -> Failure {
        Failure::new(
            Exit::NotInRoster,
            format!("{jid} is not in the roster of {account}: `xmpp-roster list` shows who is"),
        )
    }
}

pub type CliResult<T> = std::result::Result<T, Failure>;

/// What the command was connecting with, for messages that tell the user what to change.
pub struct Context {
    pub account: String,
    /// Where the password came from, e.g. "XMPP_ROSTER_PASSWORD" or "the file p.txt".
    pub password_source: String,
    /// "host:port" as dialled.
    pub address: String,
    /// True when --server was given (otherwise the JID's domain was dialled).
    pub server_given: bool,
    pub timeout_secs: f64,
}

impl Context {
    /// Turns a library error into a failure. `doing` says what was being done ("connecting",
    /// "removing romeo@example.net"); `jid` is the contact concerned, if any.
    pub fn fail(&self, err: Error, doing: &str, jid: Option<&str>) -> Failure {
        let where_ = if self.server_given {
            format!(
                "check that the server is running and that --server {} is its host and port",
                self.address
            )
        } else {
            format!(
                "{} is the JID's domain on the default port; if the server is elsewhere, pass --server HOST:PORT",
                self.address
            )
        };
        match err {
            Error::InvalidArgument(m) => Failure::usage(format!("{doing}: {m}")),
            Error::InvalidJid(m) => Failure::usage(format!("invalid JID: {m}")),
            Error::Io(m) => Failure::new(Exit::Connection, format!("{doing} failed: {m}: {where_}")),
            Error::Timeout => Failure::new(
                Exit::Connection,
                format!(
                    "{doing}: no answer from {} within {}s: {where_}, or raise --timeout",
                    self.address, self.timeout_secs
                ),
            ),
            Error::Disconnected(m) => Failure::new(
                Exit::Connection,
                format!("{doing}: the connection to {} ended ({m}): try again; if it keeps happening, see the server's log", self.address),
            ),
            Error::NotConnected => Failure::new(Exit::Connection, format!("{doing}: not connected to {}", self.address)),
            Error::Tls(m) => Failure::new(Exit::Tls, format!("{doing}: {m}: {}", tls_fix(&m))),
            Error::Auth { condition, text } => {
                let said = match text {
                    Some(t) if !t.is_empty() => format!(" (the server said: {t})"),
                    _ => String::new(),
                };
                let fix = match condition.as_str() {
                    "not-authorized" | "credentials-expired" | "invalid-authzid" => format!(
                        "check the password in {} and that the account {} exists on the server",
                        self.password_source, self.account
                    ),
                    "account-disabled" => "the server disabled this account; ask its administrator".to_string(),
                    "no-acceptable-mechanism" | "mechanism-too-weak" | "encryption-required" => {
                        "the server offers no login method usable on this connection; use --tls starttls or --tls direct".to_string()
                    }
                    "temporary-auth-failure" => "the server had a temporary problem; try again later".to_string(),
                    _ => format!("check the JID {} and the password in {}", self.account, self.password_source),
                };
                Failure::new(Exit::Auth, format!("authentication failed ({condition}): {fix}{said}"))
            }
            Error::Stream { condition, text, by_server } => {
                let detail = match text {
                    Some(t) if !t.is_empty() => format!("{condition}: {t}"),
                    _ => condition.clone(),
                };
                let fix = match condition.as_str() {
                    "host-unknown" => format!("the server does not host the domain of {}; check the JID", self.account),
                    "conflict" => "another login with the same resource replaced this one; try again".to_string(),
                    "policy-violation" | "resource-constraint" => "the server limits this account; try again later or ask its administrator".to_string(),
                    "system-shutdown" => "the server is shutting down; try again later".to_string(),
                    _ if !by_server => "the server sent something this client cannot accept; see the server's log".to_string(),
                    _ => "see the server's log".to_string(),
                };
                let who = if by_server { "the server closed the stream" } else { "the stream was closed" };
                Failure::new(Exit::Server, format!("{doing}: {who} ({detail}): {fix}"))
            }
            Error::Stanza(e) => {
                let detail = match &e.text {
                    Some(t) if !t.is_empty() => format!("{} ({}): {t}", e.condition, e.error_type),
                    _ => format!("{} ({})", e.condition, e.error_type),
                };
                if e.condition == "item-not-found" {
                    if let Some(j) = jid {
                        return Failure::new(
                            Exit::NotInRoster,
                            format!("{doing}: {j} is not in the roster of {} ({detail})", self.account),
                        );
                    }
                }
                let fix = match e.condition.as_str() {
                    "not-allowed" => "the server does not allow this (the account itself cannot be its own contact)",
                    "bad-request" | "jid-malformed" => "check the JID, the name and the groups",
                    "forbidden" | "not-authorized" => "this account may not change its roster here; ask the server's administrator",
                    "service-unavailable" | "feature-not-implemented" => "the server has no roster service for this account",
                    "resource-constraint" | "policy-violation" => "the server limits the roster's size or the request rate; try fewer changes",
                    _ => "see the server's log",
                };
                Failure::new(Exit::Server, format!("{doing}: the server refused: {detail}: {fix}"))
            }
            Error::Unsupported(m) => Failure::new(Exit::Server, format!("{doing}: {m}")),
            Error::Interrupted | Error::CallbackAborted => Failure::new(Exit::Interrupted, format!("{doing}: interrupted")),
        }
    }
}

fn tls_fix(message: &str) -> &'static str {
    if message.contains("does not offer STARTTLS") {
        "if the server speaks TLS from the first byte use --tls direct (port 5223); on a trusted local link --tls plaintext"
    } else if message.contains("requires TLS") {
        "use --tls starttls or --tls direct"
    } else if message.contains("CA file") {
        "--ca-file must name a readable PEM file holding the CA certificate"
    } else {
        "if the server's certificate is self-signed or from a private CA, pass it with --ca-file; \
         the certificate must name the JID's domain; with --tls direct, --server must name the \
         direct-TLS port (usually 5223)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_roster::StanzaError;

    fn ctx() -> Context {
        Context {
            account: "juliet@example.com".into(),
            password_source: "XMPP_ROSTER_PASSWORD".into(),
            address: "127.0.0.1:5222".into(),
            server_given: true,
            timeout_secs: 30.0,
        }
    }

    #[test]
    fn a_wrong_password_names_the_cause_and_where_the_password_came_from() {
        let f = ctx().fail(
            Error::Auth {
                condition: "not-authorized".into(),
                text: None,
            },
            "connecting",
            None,
        );
        assert_eq!(f.exit, Exit::Auth);
        assert!(f.message.starts_with("authentication failed (not-authorized): check the password in XMPP_ROSTER_PASSWORD"), "{}", f.message);
    }

    #[test]
    fn each_failure_class_has_its_own_exit_code() {
        let c = ctx();
        assert_eq!(
            c.fail(Error::Io("refused".into()), "connecting", None).exit,
            Exit::Connection
        );
        assert_eq!(
            c.fail(Error::Timeout, "connecting", None).exit,
            Exit::Connection
        );
        assert_eq!(
            c.fail(Error::Tls("bad cert".into()), "connecting", None)
                .exit,
            Exit::Tls
        );
        assert_eq!(
            c.fail(Error::InvalidJid("x".into()), "adding", None).exit,
            Exit::Usage
        );
        let stanza = |cond: &str| {
            Error::Stanza(StanzaError {
                condition: cond.into(),
                error_type: "cancel".into(),
                text: None,
            })
        };
        assert_eq!(
            c.fail(stanza("not-allowed"), "adding", Some("a@b")).exit,
            Exit::Server
        );
        assert_eq!(
            c.fail(stanza("item-not-found"), "removing a@b", Some("a@b"))
                .exit,
            Exit::NotInRoster
        );
        assert_eq!(
            c.fail(Error::Interrupted, "importing", None).exit,
            Exit::Interrupted
        );
    }
}
