//! Errors returned by every fallible call of the client.
//!
//! Each variant is one failure class a caller may want to react to differently; the C API maps each
//! to its own result code (see `src/ffi/error.rs`).

use std::fmt;

/// An error condition carried in a stanza's `<error/>` child (RFC 6120 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// The defined condition's element name, e.g. `item-not-found`.
    pub condition: String,
    /// The `type` attribute: `auth`, `cancel`, `continue`, `modify` or `wait`.
    pub error_type: String,
    /// The human-readable `<text/>`, when the server sent one.
    pub text: Option<String>,
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.condition, self.error_type)?;
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument the caller passed is unusable (empty, too long, control characters, ...).
    InvalidArgument(String),
    /// A JID the caller passed, or one in the configuration, is malformed.
    InvalidJid(String),
    /// A socket-level failure: name resolution, connection refused, reset, ...
    Io(String),
    /// TLS could not be established or broke: handshake, certificate, STARTTLS refused.
    Tls(String),
    /// SASL authentication failed, or no acceptable mechanism was offered.
    Auth { condition: String, text: Option<String> },
    /// The XML stream was closed with a stream error. `by_server` is false when this library
    /// detected the violation (malformed XML, DTD, oversized stanza, ...) and closed the stream.
    Stream { condition: String, text: Option<String>, by_server: bool },
    /// The server answered a request with a stanza error.
    Stanza(StanzaError),
    /// The call's timeout elapsed before the server answered.
    Timeout,
    /// Another thread called [`Interrupter::interrupt`](crate::Interrupter::interrupt).
    Interrupted,
    /// The connection ended (the server closed the stream or the socket) while the call needed it.
    Disconnected(String),
    /// The call needs a connected client and there is none.
    NotConnected,
    /// The event handler asked to abort the call.
    CallbackAborted,
    /// The server does not offer what the call needs (e.g. pre-approval).
    Unsupported(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::InvalidJid(m) => write!(f, "invalid JID: {m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Tls(m) => write!(f, "TLS error: {m}"),
            Error::Auth { condition, text } => {
                write!(f, "authentication failed: {condition}")?;
                if let Some(t) = text {
                    write!(f, ": {t}")?;
                }
                Ok(())
            }
            Error::Stream { condition, text, by_server } => {
                let who = if *by_server { "server closed the stream" } else { "stream closed by client" };
                write!(f, "{who} with stream error {condition}")?;
                if let Some(t) = text {
                    write!(f, ": {t}")?;
                }
                Ok(())
            }
            Error::Stanza(e) => write!(f, "server returned stanza error {e}"),
            Error::Timeout => write!(f, "timed out waiting for the server"),
            Error::Interrupted => write!(f, "interrupted by another thread"),
            Error::Disconnected(m) => write!(f, "disconnected: {m}"),
            Error::NotConnected => write!(f, "not connected"),
            Error::CallbackAborted => write!(f, "an event callback aborted the call"),
            Error::Unsupported(m) => write!(f, "not supported by the server: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// A stream error detected by this library (not sent by the server).
    pub(crate) fn local_stream(condition: &str, text: impl Into<String>) -> Error {
        Error::Stream { condition: condition.to_string(), text: Some(text.into()), by_server: false }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
