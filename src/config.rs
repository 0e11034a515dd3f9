//! Connection settings for a [`Client`](crate::Client).

use crate::error::{Error, Result};
use crate::jid::Jid;
use crate::sasl::Mechanism;
use std::path::PathBuf;
use std::time::Duration;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Connect in the clear and upgrade with STARTTLS; fail if the server does not offer it.
    #[default]
    StartTls,
    /// TLS from the first byte (XEP-0368), usually port 5223.
    DirectTls,
    /// No TLS at all. Only for tests and trusted local links: the password crosses in the clear
    /// if the server offers nothing but PLAIN.
    Plaintext,
}

/// The default largest stanza accepted: comfortably above a 50,000-item roster (~5.2 MB).
pub const DEFAULT_MAX_STANZA: usize = 16 * 1024 * 1024;
/// The default timeout of every wait on the server.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything needed to connect. Build with [`Config::new`] and the setters.
#[derive(Clone)]
pub struct Config {
    pub(crate) jid: Jid,
    pub(crate) password: String,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) tls: TlsMode,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) danger_accept_invalid_certs: bool,
    pub(crate) timeout: Duration,
    pub(crate) resource: Option<String>,
    pub(crate) max_stanza_size: usize,
    pub(crate) mechanisms: Vec<Mechanism>,
    pub(crate) auto_approve: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Config")
            .field("jid", &self.jid)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("danger_accept_invalid_certs", &self.danger_accept_invalid_certs)
            .field("timeout", &self.timeout)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

fn check_text(what: &str, s: &str) -> Result<()> {
    if !crate::xml::writer::is_xml_safe(s) {
        return Err(Error::InvalidArgument(format!("{what} contains characters XML cannot carry")));
    }
    Ok(())
}

impl Config {
    /// A configuration for the account `jid` (a bare JID; a resource given here is used as the
    /// requested resource) with `password`.
    pub fn new(jid: &str, password: &str) -> Result<Config> {
        let jid = Jid::parse(jid)?;
        if jid.local().is_none() {
            return Err(Error::InvalidJid(format!("{jid}: an account JID needs a localpart")));
        }
        check_text("password", password)?;
        let resource = jid.resource().map(str::to_string);
        Ok(Config {
            jid: jid.to_bare(),
            password: password.to_string(),
            host: None,
            port: None,
            tls: TlsMode::StartTls,
            ca_file: None,
            tls_server_name: None,
            danger_accept_invalid_certs: false,
            timeout: DEFAULT_TIMEOUT,
            resource,
            max_stanza_size: DEFAULT_MAX_STANZA,
            mechanisms: Mechanism::PREFERENCE.to_vec(),
            auto_approve: false,
        })
    }

    /// The account's bare JID.
    pub fn jid(&self) -> &Jid {
        &self.jid
    }

    /// Connect to `host:port` instead of the JID's domain on the mode's default port.
    /// Either may be left out (`None`, or port 0).
    pub fn set_server(&mut self, host: Option<&str>, port: Option<u16>) -> Result<()> {
        if let Some(h) = host {
            if h.is_empty() || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::InvalidArgument(format!("bad host name {h:?}")));
            }
        }
        self.host = host.map(str::to_string);
        self.port = port.filter(|&p| p != 0);
        Ok(())
    }

    pub fn set_tls(&mut self, mode: TlsMode) {
        self.tls = mode;
    }

    /// Trust the PEM certificates in `path` (in addition to the system's roots).
    pub fn set_ca_file(&mut self, path: Option<PathBuf>) {
        self.ca_file = path;
    }

    /// The name the server certificate must match (default: the JID's domain).
    pub fn set_tls_server_name(&mut self, name: Option<&str>) {
        self.tls_server_name = name.map(str::to_string);
    }

    /// FOR TESTS ONLY: accept any server certificate, even expired, self-signed or for another
    /// host. Anyone on the path can then read the password and the roster.
    pub fn set_danger_accept_invalid_certs(&mut self, accept: bool) {
        self.danger_accept_invalid_certs = accept;
    }

    /// The longest any single wait on the server may take (connect, each request, ...).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        if timeout.is_zero() {
            return Err(Error::InvalidArgument("timeout must be greater than zero".into()));
        }
        self.timeout = timeout;
        Ok(())
    }

    /// The resource to bind; `None` lets the server pick one.
    pub fn set_resource(&mut self, resource: Option<&str>) -> Result<()> {
        if let Some(r) = resource {
            self.jid.with_resource(r)?;
        }
        self.resource = resource.map(str::to_string);
        Ok(())
    }

    /// The largest stanza accepted from the server, in bytes (at least 4096).
    pub fn set_max_stanza_size(&mut self, bytes: usize) -> Result<()> {
        if bytes < 4096 {
            return Err(Error::InvalidArgument("max stanza size must be at least 4096 bytes".into()));
        }
        self.max_stanza_size = bytes;
        Ok(())
    }

    /// Restrict SASL to these mechanisms (still chosen by the fixed preference order).
    pub fn set_mechanisms(&mut self, mechanisms: &[Mechanism]) -> Result<()> {
        if mechanisms.is_empty() {
            return Err(Error::InvalidArgument("at least one SASL mechanism is needed".into()));
        }
        self.mechanisms = mechanisms.to_vec();
        Ok(())
    }

    /// Answer every incoming subscription request with approval (off by default).
    pub fn set_auto_approve(&mut self, on: bool) {
        self.auto_approve = on;
    }

    pub(crate) fn default_port(&self) -> u16 {
        match self.tls {
            TlsMode::DirectTls => 5223,
            _ => 5222,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_takes_resource_from_jid_and_refuses_domain_only() {
        let c = Config::new("Juliet@localhost/balcony", "pw").unwrap();
        assert_eq!(c.jid().as_str(), "juliet@localhost");
        assert_eq!(c.resource.as_deref(), Some("balcony"));
        assert!(matches!(Config::new("localhost", "pw"), Err(Error::InvalidJid(_))));
        assert!(matches!(Config::new("a@b", "p\0w"), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let c = Config::new("a@b", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn setters_validate() {
        let mut c = Config::new("a@b", "p").unwrap();
        assert!(c.set_timeout(Duration::ZERO).is_err());
        assert!(c.set_server(Some("bad host"), None).is_err());
        assert!(c.set_resource(Some("\u{1}")).is_err());
        assert!(c.set_max_stanza_size(10).is_err());
        assert!(c.set_mechanisms(&[]).is_err());
        c.set_server(Some("127.0.0.1"), Some(0)).unwrap();
        assert_eq!(c.port, None);
    }
}
