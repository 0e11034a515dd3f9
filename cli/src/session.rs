//! Turning the connection flags into a logged-in [`Client`], and Ctrl-C into an interrupt.

use crate::args::{ConnArgs, TlsArg};
use crate::failure::{CliResult, Context, Exit, Failure};
use crate::progress::Progress;
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use xmpp_roster::{Client, Config, Jid, TlsMode};

/// The environment variable that holds the password.
pub const PASSWORD_ENV: &str = "XMPP_ROSTER_PASSWORD";

/// The client of the running command, for the Ctrl-C handler to interrupt.
static INTERRUPTER: Mutex<Option<xmpp_roster::Interrupter>> = Mutex::new(None);
static CTRL_C: AtomicBool = AtomicBool::new(false);

/// Installs the handler for Ctrl-C, SIGTERM and SIGHUP: the first one cuts the running network
/// call short (the command then ends cleanly, closing the stream); a second one exits at once.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if CTRL_C.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted as i32);
        }
        if let Ok(guard) = INTERRUPTER.lock() {
            if let Some(i) = guard.as_ref() {
                i.interrupt();
            }
        }
    });
}

/// True once Ctrl-C (or SIGTERM/SIGHUP) arrived.
pub fn interrupted() -> bool {
    CTRL_C.load(Ordering::SeqCst)
}

/// A connected, logged-in client and what it was connected with.
pub struct Session {
    pub client: Client,
    pub ctx: Context,
}

/// Splits `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub fn parse_server(s: &str) -> CliResult<(String, Option<u16>)> {
    let bad = |why: &str| {
        Failure::usage(format!(
            "--server {s:?}: {why}; give HOST or HOST:PORT, e.g. xmpp.example.com:5222"
        ))
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':' after ']'"))?,
                ),
            ),
        }
    } else if s.matches(':').count() > 1 {
        (s, None) // a bare IPv6 address
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

/// Reads the password: the first line of `file` ('-' = stdin), else the environment variable.
fn read_password(file: Option<&Path>) -> CliResult<(String, String)> {
    let (password, source) = match file {
        Some(p) if p == Path::new("-") => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::other(format!("cannot read the password from standard input: {e}")))?;
            (line, "standard input (--password-file -)".to_string())
        }
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::usage(format!("--password-file {}: {e}: give a readable file whose first line is the password", p.display()))
            })?;
            warn_if_readable_by_others(p);
            (text.lines().next().unwrap_or("").to_string(), format!("the file {}", p.display()))
        }
        None => match std::env::var(PASSWORD_ENV) {
            Ok(v) => (v, PASSWORD_ENV.to_string()),
            Err(std::env::VarError::NotUnicode(_)) => return Err(Failure::usage(format!("{PASSWORD_ENV} is not valid UTF-8"))),
            Err(std::env::VarError::NotPresent) => {
                return Err(Failure::usage(format!(
                    "no password: set the environment variable {PASSWORD_ENV}, or pass --password-file FILE"
                )))
            }
        },
    };
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(Failure::usage(format!("the password in {source} is empty")));
    }
    Ok((password, source))
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: the password file {} can be read by other users: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}

/// Checks the flags, connects and logs in. Nothing reaches the network before the flags are known
/// to be usable, so usage errors never wait on a timeout.
pub fn connect(args: &ConnArgs) -> CliResult<Session> {
    let jid = args
        .account
        .as_deref()
        .filter(|j| !j.trim().is_empty())
        .ok_or_else(|| Failure::usage("no account: pass --jid JID or set XMPP_ROSTER_JID"))?;
    let server = args.server.as_deref().map(parse_server).transpose()?;
    if let Some(ca) = &args.ca_file {
        if !ca.is_file() {
            return Err(Failure::usage(format!(
                "--ca-file {}: no such file",
                ca.display()
            )));
        }
    }
    let (password, password_source) = read_password(args.password_file.as_deref())?;
    let mut config =
        Config::new(jid, &password).map_err(|e| Failure::usage(format!("--jid {jid:?}: {e}")))?;
    drop(password);
    let tls = match args.tls {
        TlsArg::Starttls => TlsMode::StartTls,
        TlsArg::Direct => TlsMode::DirectTls,
        TlsArg::Plaintext => TlsMode::Plaintext,
    };
    config.set_tls(tls);
    if let Some((host, port)) = &server {
        config
            .set_server(Some(host), *port)
            .map_err(|e| Failure::usage(format!("--server: {e}")))?;
    }
    config.set_ca_file(args.ca_file.clone());
    config
        .set_timeout(args.timeout)
        .map_err(|e| Failure::usage(format!("--timeout: {e}")))?;

    let account = config.jid().as_str().to_string();
    let default_port = if tls == TlsMode::DirectTls {
        5223
    } else {
        5222
    };
    let address = match &server {
        Some((host, port)) => join_host_port(host, port.unwrap_or(default_port)),
        None => join_host_port(config.jid().domain(), default_port),
    };
    if tls == TlsMode::Plaintext
        && !is_loopback(
            server
                .as_ref()
                .map_or(config.jid().domain(), |(h, _)| h.as_str()),
        )
    {
        eprintln!("warning: --tls plaintext sends the roster (and maybe the password) in the clear to {address}");
    }
    let ctx = Context {
        account,
        password_source,
        address,
        server_given: server.is_some(),
        timeout_secs: args.timeout.as_secs_f64(),
    };
    let mut client = Client::new(config).map_err(|e| ctx.fail(e, "setting up", None))?;
    if let Ok(mut guard) = INTERRUPTER.lock() {
        *guard = Some(client.interrupter());
    }
    if interrupted() {
        return Err(Failure::new(Exit::Interrupted, "interrupted"));
    }
    let progress = Progress::spinner(format!("connecting to {}", ctx.address));
    let result = client.connect();
    progress.finish();
    result.map_err(|e| {
        ctx.fail(
            e,
            &format!("connecting to {} as {}", ctx.address, ctx.account),
            None,
        )
    })?;
    Ok(Session { client, ctx })
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Session {
    /// Fetches the roster (with a spinner on a terminal when it takes a while).
    pub fn fetch(&mut self) -> CliResult<()> {
        let progress = Progress::spinner("fetching the roster".to_string());
        let result = self.client.fetch_roster();
        progress.finish();
        result
            .map(|_| ())
            .map_err(|e| self.ctx.fail(e, "fetching the roster", None))
    }

    /// Closes the stream politely; errors here change nothing the user asked for.
    pub fn close(mut self) {
        let _ = self.client.disconnect();
    }
}

/// Checks a contact JID given on the command line and returns it in normal (bare) form.
pub fn contact_jid(raw: &str) -> CliResult<String> {
    let jid = Jid::parse(raw.trim())
        .map_err(|e| Failure::usage(format!("{raw:?} is not a usable JID: {e}")))?;
    if !jid.is_bare() {
        return Err(Failure::usage(format!(
            "{raw:?}: contacts are bare JIDs without a resource; use {}",
            jid.bare_str()
        )));
    }
    Ok(jid.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        assert_eq!(
            parse_server("xmpp.example.com").unwrap(),
            ("xmpp.example.com".into(), None)
        );
        assert_eq!(
            parse_server("127.0.0.1:5333").unwrap(),
            ("127.0.0.1".into(), Some(5333))
        );
        assert_eq!(
            parse_server("[::1]:5222").unwrap(),
            ("::1".into(), Some(5222))
        );
        assert_eq!(parse_server("::1").unwrap(), ("::1".into(), None));
        assert_eq!(parse_server("[::1]").unwrap(), ("::1".into(), None));
        for bad in [
            "",
            ":5222",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "[::1]5222",
        ] {
            let f = parse_server(bad).unwrap_err();
            assert_eq!(f.exit, Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn contact_jids_are_normalised_and_must_be_bare() {
        assert_eq!(
            contact_jid("Romeo@Example.NET").unwrap(),
            "romeo@example.net"
        );
        assert_eq!(
            contact_jid("romeo@example.net/orchard").unwrap_err().exit,
            Exit::Usage
        );
        assert_eq!(contact_jid("not a jid@").unwrap_err().exit, Exit::Usage);
    }
}
