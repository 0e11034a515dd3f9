//! What Prosody and ejabberd have in common, so a test can be written once and run on both.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::Path;
use std::str::FromStr;

use crate::{Ejabberd, Prosody};

/// Which server implementation a [`XmppServer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// Prosody 0.12 ([`Prosody`]).
    Prosody,
    /// ejabberd 23.01 ([`Ejabberd`]).
    Ejabberd,
}

impl ServerKind {
    /// Both kinds, Prosody first.
    pub const ALL: [ServerKind; 2] = [ServerKind::Prosody, ServerKind::Ejabberd];

    /// "prosody" or "ejabberd" (the value of `xmpp-test-server --server` and of
    /// `XMPP_TEST_SERVER_KIND`).
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Prosody => "prosody",
            ServerKind::Ejabberd => "ejabberd",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServerKind {
    type Err = String;

    /// "prosody" or "ejabberd" (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<ServerKind, String> {
        ServerKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown server {s:?}: expected prosody or ejabberd"))
    }
}

/// A running private XMPP server on 127.0.0.1: everything a client test needs, the same for
/// Prosody and ejabberd.
///
/// Both offer STARTTLS (not required) on [`c2s_port`](XmppServer::c2s_port), direct TLS on
/// [`tls_port`](XmppServer::tls_port), PLAIN and SCRAM-SHA-1/-256 (ejabberd also -512),
/// plaintext authentication, and a certificate for DNS:localhost that
/// [`ca_file`](XmppServer::ca_file) verifies. Their roster behaviour on the wire differs: see the
/// crate README.
pub trait XmppServer: Send + Sync {
    /// Which implementation this is.
    fn kind(&self) -> ServerKind;
    /// The address the server listens on: always "127.0.0.1".
    fn host(&self) -> &str;
    /// The XMPP domain of the main virtual host: "localhost".
    fn domain(&self) -> &str;
    /// The client port that offers STARTTLS (encryption is not required on it).
    fn c2s_port(&self) -> u16;
    /// The direct-TLS client port (XEP-0368): TLS from the first byte, server name "localhost".
    fn tls_port(&self) -> u16;
    /// The server's self-signed certificate (CN and SAN DNS:localhost): trust it as the CA.
    fn ca_file(&self) -> &Path;
    /// Creates the account `user@domain` with `password` while the server runs; an existing
    /// account gets the new password. The account can log in as soon as this returns.
    fn register(&self, user: &str, domain: &str, password: &str) -> io::Result<()>;
    /// A user name never handed out before by this server: the lowercased prefix plus a number.
    fn unique_user(&self, prefix: &str) -> String;
}

impl XmppServer for Prosody {
    fn kind(&self) -> ServerKind {
        ServerKind::Prosody
    }
    fn host(&self) -> &str {
        Prosody::host(self)
    }
    fn domain(&self) -> &str {
        Prosody::domain(self)
    }
    fn c2s_port(&self) -> u16 {
        Prosody::c2s_port(self)
    }
    fn tls_port(&self) -> u16 {
        Prosody::tls_port(self)
    }
    fn ca_file(&self) -> &Path {
        Prosody::ca_file(self)
    }
    fn register(&self, user: &str, domain: &str, password: &str) -> io::Result<()> {
        Prosody::register(self, user, domain, password)
    }
    fn unique_user(&self, prefix: &str) -> String {
        Prosody::unique_user(self, prefix)
    }
}

impl XmppServer for Ejabberd {
    fn kind(&self) -> ServerKind {
        ServerKind::Ejabberd
    }
    fn host(&self) -> &str {
        Ejabberd::host(self)
    }
    fn domain(&self) -> &str {
        Ejabberd::domain(self)
    }
    fn c2s_port(&self) -> u16 {
        Ejabberd::c2s_port(self)
    }
    fn tls_port(&self) -> u16 {
        Ejabberd::tls_port(self)
    }
    fn ca_file(&self) -> &Path {
        Ejabberd::ca_file(self)
    }
    fn register(&self, user: &str, domain: &str, password: &str) -> io::Result<()> {
        Ejabberd::register(self, user, domain, password)
    }
    fn unique_user(&self, prefix: &str) -> String {
        Ejabberd::unique_user(self, prefix)
    }
}

/// A server for one test, from [`server`]: a fresh Prosody of its own (dropped, i.e. killed,
/// with the handle) or the process-wide shared ejabberd (see [`Ejabberd::shared`]).
/// Derefs to [`XmppServer`].
pub enum ServerHandle {
    /// A server owned by this handle.
    Owned(Box<dyn XmppServer>),
    /// A server shared by the whole process.
    Shared(&'static dyn XmppServer),
}

impl Deref for ServerHandle {
    type Target = dyn XmppServer;

    fn deref(&self) -> &(dyn XmppServer + 'static) {
        match self {
            ServerHandle::Owned(server) => server.as_ref(),
            ServerHandle::Shared(server) => *server,
        }
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self {
            ServerHandle::Owned(_) => "owned",
            ServerHandle::Shared(_) => "shared",
        };
        write!(
            f,
            "ServerHandle({how} {} on {}:{})",
            self.kind(),
            self.host(),
            self.c2s_port()
        )
    }
}

/// The cheapest server of `kind` for one test: Prosody starts in ~0.1 s, so each call starts a
/// fresh one; ejabberd takes seconds, so every call returns the one shared by the process
/// ([`Ejabberd::shared`]). Either way, use [`XmppServer::unique_user`] for accounts.
pub fn server(kind: ServerKind) -> io::Result<ServerHandle> {
    match kind {
        ServerKind::Prosody => Ok(ServerHandle::Owned(Box::new(Prosody::start()?))),
        ServerKind::Ejabberd => Ok(ServerHandle::Shared(Ejabberd::shared()?)),
    }
}

/// Writes one test per server kind from one body:
///
/// ```ignore
/// xmpp_roster_testsupport::server_tests! {
///     fn roster_add_and_fetch(server) {
///         let user = server.unique_user("juliet");
///         server.register(&user, server.domain(), "secret").unwrap();
///         // ... `server` is a &dyn XmppServer; match on server.kind() where servers differ
///     }
/// }
/// ```
///
/// expands to `mod roster_add_and_fetch { #[test] fn prosody() {..} #[test] fn ejabberd() {..} }`,
/// so `cargo test ejabberd` runs only the ejabberd half. The server comes from [`server`].
#[macro_export]
macro_rules! server_tests {
    ($( $(#[$meta:meta])* fn $name:ident($server:ident) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body($server: &dyn $crate::XmppServer) $body

                #[test]
                fn prosody() {
                    let handle = $crate::server($crate::ServerKind::Prosody)
                        .unwrap_or_else(|e| panic!("starting Prosody: {e}"));
                    body(&*handle);
                }

                #[test]
                fn ejabberd() {
                    let handle = $crate::server($crate::ServerKind::Ejabberd)
                        .unwrap_or_else(|e| panic!("starting ejabberd: {e}"));
                    body(&*handle);
                }
            }
        )*
    };
}
