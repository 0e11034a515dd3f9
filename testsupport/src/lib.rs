//! Test harness: private XMPP servers on 127.0.0.1 for the xmpp-roster tests: Prosody 0.12
//! ([`Prosody`]) and ejabberd 23.01 ([`Ejabberd`]), behind one interface ([`XmppServer`]) so a
//! test can be written once and run against both ([`server`], [`server_tests!`]).
//!
//! Each [`Prosody`] owns its own temporary directory (config, certificate, data, log) and its own
//! pair of free loopback ports, so tests can run in parallel threads, each with its own server.
//! Dropping a [`Prosody`] kills the server and removes its directory.
//!
//! ```no_run
//! use xmpp_roster_testsupport::Prosody;
//! let server = Prosody::start()?;
//! let user = server.unique_user("juliet");
//! server.register(&user, server.domain(), "secret")?;
//! // connect a client to server.host():server.c2s_port(), trusting server.ca_file()
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ejabberd starts in seconds, so tests share one per process ([`Ejabberd::shared`]):
//!
//! ```no_run
//! use xmpp_roster_testsupport::{Ejabberd, XmppServer};
//! let server: &dyn XmppServer = Ejabberd::shared()?;
//! let user = server.unique_user("juliet");
//! server.register(&user, server.domain(), "secret")?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Prosody must be installed (`apt-get install -y --no-install-recommends prosody`); without it
//! [`Prosody::start`] returns an error (tests fail, they do not skip). The harness runs the server
//! with `run_as_root = true`, which Prosody 0.12.3 needs when run as root. ejabberd likewise
//! needs `ejabberd erlang-p1-sqlite3`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod ejabberd;
mod rng;
mod server;
mod watchdog;

pub use ejabberd::{Ejabberd, EJABBERD_TMPDIR_ENV};
pub use rng::Rng;
pub use server::{server, ServerHandle, ServerKind, XmppServer};

/// The only address the server listens on.
pub const HOST: &str = "127.0.0.1";
/// The main virtual host (XMPP domain) of every server.
pub const DOMAIN: &str = "localhost";
/// Virtual host with `internal_hashed` storage and SHA-1 (see [`ProsodyOptions::hashed_vhosts`]).
pub const SHA1_DOMAIN: &str = "sha1.localhost";
/// Virtual host with `internal_hashed` storage and SHA-256 (see [`ProsodyOptions::hashed_vhosts`]).
pub const SHA256_DOMAIN: &str = "sha256.localhost";
/// Environment variable: when set, dropped servers keep their directory and print its path.
pub const KEEP_DIR_ENV: &str = "XMPP_TEST_KEEP_DIR";

/// How long a start may take before it is given up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// First try plus three retries with new ports when a port was taken meanwhile.
const START_ATTEMPTS: u32 = 4;
/// How long [`Prosody::stop`] waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How much of the log an error message quotes.
const LOG_TAIL_LINES: usize = 30;

/// Names temp dirs uniquely within this process (with the pid and the time for uniqueness across).
static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);
/// A PEM certificate and its PEM private key.
type PemPair = (Vec<u8>, Vec<u8>);
/// One self-signed certificate per process: generating one takes ~0.1 s.
static CERTIFICATE: OnceLock<Result<PemPair, String>> = OnceLock::new();

/// What to configure beyond the default server (one VirtualHost "localhost" with plaintext
/// password storage, so PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 are all offered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProsodyOptions {
    /// Adds VirtualHost "sha1.localhost" (`internal_hashed`, SHA-1) and "sha256.localhost"
    /// (`internal_hashed`, SHA-256): each offers exactly one SCRAM mechanism (plus PLAIN).
    pub hashed_vhosts: bool,
    /// Loads `mod_stanza_debug` and logs at debug level: every stanza appears in the log as
    /// `RECV:` / `SEND:` lines (see [`Prosody::log_contents`]).
    pub stanza_debug: bool,
}

/// One roster item for [`Prosody::write_roster`], stored as Prosody stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterFileItem {
    /// Bare JID of the contact, already normalized (lowercase, as Prosody would store it).
    pub jid: String,
    /// Display name, if any.
    pub name: Option<String>,
    /// "none", "to", "from" or "both".
    pub subscription: String,
    /// `Some("subscribe")` for a pending outgoing subscription request.
    pub ask: Option<String>,
    /// Group names (duplicates collapse into one, as in Prosody's storage).
    pub groups: Vec<String>,
}

/// A running (or stopped) private Prosody server. Dropping it kills the server and removes its
/// directory (unless `XMPP_TEST_KEEP_DIR` is set, or [`Prosody::set_keep_dir`] was called).
#[derive(Debug)]
pub struct Prosody {
    dir: PathBuf,
    config_file: PathBuf,
    ca_file: PathBuf,
    log_file: PathBuf,
    stdout_file: PathBuf,
    prosody_bin: PathBuf,
    prosodyctl_bin: PathBuf,
    c2s_port: u16,
    tls_port: u16,
    options: ProsodyOptions,
    child: Option<Child>,
    /// Kills the server's process group if this process dies without stopping it.
    watchdog: Option<watchdog::Watchdog>,
    user_counter: AtomicU64,
    keep_dir: bool,
}

/// Why one launch did not come up.
enum LaunchError {
    /// A port was taken by someone else between choosing it and Prosody binding it.
    PortInUse(String),
    /// Anything else: not worth retrying.
    Fatal(io::Error),
}

impl Prosody {
    /// Starts a server with the default options (see [`Prosody::start_with`]).
    pub fn start() -> io::Result<Prosody> {
        Prosody::start_with(ProsodyOptions::default())
    }

    /// Creates a fresh temp dir, writes the certificate and config, starts Prosody on two free
    /// loopback ports and waits until both the c2s and the direct-TLS port accept connections
    /// (at most 15 s; the error then quotes the end of the log). If a port was raced away, it
    /// retries with new ports, up to 3 times.
    pub fn start_with(options: ProsodyOptions) -> io::Result<Prosody> {
        let prosody_bin = require_program("prosody")?;
        let prosodyctl_bin = require_program("prosodyctl")?;
        let dir = create_unique_dir()?;
        // From here on, `server` owns the dir: an early return drops it and removes the dir.
        let mut server = Prosody {
            config_file: dir.join("prosody.cfg.lua"),
            ca_file: dir.join("localhost.crt"),
            log_file: dir.join("prosody.log"),
            stdout_file: dir.join("prosody.stdout"),
            dir,
            prosody_bin,
            prosodyctl_bin,
            c2s_port: 0,
            tls_port: 0,
            options,
            child: None,
            watchdog: None,
            user_counter: AtomicU64::new(0),
            keep_dir: false,
        };
        let (cert, key) = certificate()?;
        write_file(&server.ca_file, cert)?;
        write_file(&server.dir.join("localhost.key"), key)?;
        let data_dir = server.dir.join("data");
        fs::create_dir(&data_dir).map_err(|e| with_context(e, "creating", &data_dir))?;

        let mut port_failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let (c2s_port, tls_port) = free_port_pair()?;
            server.c2s_port = c2s_port;
            server.tls_port = tls_port;
            server.write_config()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(LaunchError::PortInUse(why)) => port_failures.push(why),
                Err(LaunchError::Fatal(e)) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "prosody could not bind its ports in {START_ATTEMPTS} attempts: {}",
                port_failures.join("; ")
            ),
        ))
    }

    /// The address the server listens on: always "127.0.0.1".
    pub fn host(&self) -> &str {
        HOST
    }

    /// The XMPP domain of the main virtual host: "localhost".
    pub fn domain(&self) -> &str {
        DOMAIN
    }

    /// The client port that offers STARTTLS (encryption is not required on it).
    pub fn c2s_port(&self) -> u16 {
        self.c2s_port
    }

    /// The direct-TLS client port (XEP-0368): TLS from the first byte, server name "localhost".
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The server's self-signed certificate (CN and SAN DNS:localhost): trust it as the CA.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The server's private directory (config, certificate, `data/`, `prosody.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Prosody config file, for `prosodyctl --config FILE ...`.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// The server's process id while it runs, `None` when stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates an account with `prosodyctl register` (works while the server runs, ~0.05 s).
    /// `domain` must be a configured virtual host; an existing account gets the new password.
    pub fn register(&self, user: &str, domain: &str, password: &str) -> io::Result<()> {
        let output = Command::new(&self.prosodyctl_bin)
            .arg("--config")
            .arg(&self.config_file)
            .args(["register", user, domain, password])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| with_context(e, "running", &self.prosodyctl_bin))?;
        if output.status.success() {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "prosodyctl register {user} {domain} failed ({}): {} {}",
            output.status,
            without_banner(&String::from_utf8_lossy(&output.stdout)),
            without_banner(&String::from_utf8_lossy(&output.stderr)),
        )))
    }

    /// A fresh user name, unique within this server: the lowercased prefix plus a number
    /// ("juliet1", "juliet2", ...).
    pub fn unique_user(&self, prefix: &str) -> String {
        let n = self.user_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}{n}", prefix.to_lowercase())
    }

    /// Writes the stored roster of `user@domain` (`data/<domain>/roster/<user>.dat`) in Prosody's
    /// Lua format, replacing any existing one, with roster version `version` and no pending
    /// inbound subscriptions. Only while stopped (Prosody caches loaded rosters): it returns an
    /// error if the server runs. Mind Prosody's quirk: a never-saved roster reports version 1 and
    /// so does its first change, so prefer versions above 1.
    pub fn write_roster(
        &self,
        user: &str,
        domain: &str,
        version: u64,
        items: &[RosterFileItem],
    ) -> io::Result<()> {
        if self.child.is_some() {
            return Err(io::Error::other(
                "write_roster needs the server stopped (Prosody caches rosters): call stop() first",
            ));
        }
        let path = self.roster_file(user, domain);
        let contents = roster_lua(version, items)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| with_context(e, "creating", parent))?;
        }
        write_file(&path, contents.as_bytes())
    }

    /// Where Prosody stores the roster of `user@domain` (whether or not it exists yet).
    pub fn roster_file(&self, user: &str, domain: &str) -> PathBuf {
        self.store_file(user, domain, "roster")
    }

    /// Where Prosody stores the account (password) of `user@domain`.
    pub fn account_file(&self, user: &str, domain: &str) -> PathBuf {
        self.store_file(user, domain, "accounts")
    }

    /// Stops the server: SIGTERM (a graceful shutdown takes ~1.5 s; clients see the stream
    /// closed), SIGKILL after 5 s. The directory, ports and data stay for [`Prosody::restart`].
    /// Does nothing if already stopped.
    pub fn stop(&mut self) -> io::Result<()> {
        let result = self.stop_child();
        self.watchdog = None;
        result
    }

    fn stop_child(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // The pid is our unreaped child, so it cannot have been reused.
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    kill_and_reap(&mut child);
                    return Ok(());
                }
                Err(e) => {
                    kill_and_reap(&mut child);
                    return Err(e);
                }
            }
        }
    }

    /// Stops the server if it runs, then starts it again with the same directory, data and ports,
    /// and waits until it is ready (as [`Prosody::start_with`], but without changing ports: if
    /// someone took a port meanwhile, this fails).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        match self.launch() {
            Ok(()) => Ok(()),
            Err(LaunchError::PortInUse(why)) => Err(io::Error::new(io::ErrorKind::AddrInUse, why)),
            Err(LaunchError::Fatal(e)) => Err(e),
        }
    }

    /// Everything in `prosody.log` so far, over all starts of this server (empty if unreadable).
    pub fn log_contents(&self) -> String {
        self.log_since(0)
    }

    /// Keep (or not) the directory when this server is dropped, as `XMPP_TEST_KEEP_DIR` does.
    pub fn set_keep_dir(&mut self, keep: bool) {
        self.keep_dir = keep;
    }

    /// The log from byte `offset` on (empty if unreadable).
    fn log_since(&self, offset: usize) -> String {
        let bytes = fs::read(&self.log_file).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
    }

    fn store_file(&self, user: &str, domain: &str, store: &str) -> PathBuf {
        self.dir
            .join("data")
            .join(encode_path_component(domain))
            .join(store)
            .join(format!("{}.dat", encode_path_component(user)))
    }

    /// Starts the Prosody process with the current config and waits until it is ready.
    fn launch(&mut self) -> Result<(), LaunchError> {
        // Only the part of the log written by this launch tells whether it came up.
        let log_offset = fs::metadata(&self.log_file).map(|m| m.len()).unwrap_or(0) as usize;
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stdout_file)
            .map_err(|e| LaunchError::Fatal(with_context(e, "opening", &self.stdout_file)))?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| LaunchError::Fatal(with_context(e, "opening", &self.stdout_file)))?;
        let child = Command::new(&self.prosody_bin)
            .arg("--config")
            .arg(&self.config_file)
            .arg("-F")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own process group, watched (see `watchdog`).
            .process_group(0)
            .spawn()
            .map_err(|e| LaunchError::Fatal(with_context(e, "starting", &self.prosody_bin)))?;
        let pid = child.id();
        self.child = Some(child);
        match watchdog::Watchdog::spawn(pid) {
            Ok(w) => self.watchdog = Some(w),
            Err(e) => {
                self.kill();
                return Err(LaunchError::Fatal(e));
            }
        }
        let result = self.wait_until_ready(log_offset);
        if result.is_err() {
            self.kill();
        }
        result
    }

    /// SIGKILLs the server and reaps it, then retires its watchdog.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
        self.watchdog = None;
    }

    /// Ready = the log of this launch shows both listeners activated on our ports (Prosody keeps
    /// running when a port is taken, so a connect alone could reach someone else's listener)
    /// and a TCP connect to each succeeds.
    fn wait_until_ready(&mut self, log_offset: usize) -> Result<(), LaunchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let c2s_line = format!("Activated service 'c2s' on [{HOST}]:{}", self.c2s_port);
        let tls_line = format!(
            "Activated service 'c2s_direct_tls' on [{HOST}]:{}",
            self.tls_port
        );
        loop {
            let status = match self.child.as_mut() {
                Some(child) => child.try_wait().map_err(LaunchError::Fatal)?,
                None => {
                    return Err(LaunchError::Fatal(io::Error::other(
                        "prosody is not running",
                    )))
                }
            };
            let new_log = self.log_since(log_offset);
            if let Some(line) = new_log
                .lines()
                .find(|l| l.contains("Failed to open server port"))
            {
                return Err(LaunchError::PortInUse(line.to_string()));
            }
            if let Some(status) = status {
                return Err(LaunchError::Fatal(io::Error::other(format!(
                    "prosody exited during startup ({status}){}",
                    self.diagnostics()
                ))));
            }
            if new_log.contains(&c2s_line)
                && new_log.contains(&tls_line)
                && can_connect(self.c2s_port)
                && can_connect(self.tls_port)
                && self.pidfile_names_our_child()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::Fatal(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "prosody was not ready on {HOST}:{} and {HOST}:{} after {:?}{}",
                        self.c2s_port,
                        self.tls_port,
                        READY_TIMEOUT,
                        self.diagnostics()
                    ),
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `prosody.pid` holds the pid of our child. mod_posix may write it after the
    /// listeners are up (and truncates it before writing), so without this a caller reading it
    /// right after start could find it empty (seen under load).
    fn pidfile_names_our_child(&self) -> bool {
        let Some(child) = self.child.as_ref() else {
            return false;
        };
        fs::read_to_string(self.dir.join("prosody.pid"))
            .is_ok_and(|pid| pid.trim() == child.id().to_string())
    }

    /// The end of prosody.log and of the process's own output, for error messages.
    fn diagnostics(&self) -> String {
        let output = fs::read(&self.stdout_file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        format!(
            "\n--- last lines of {} ---\n{}\n--- last lines of {} ---\n{}",
            self.log_file.display(),
            tail(&self.log_contents(), LOG_TAIL_LINES),
            self.stdout_file.display(),
            tail(without_banner(&output), LOG_TAIL_LINES),
        )
    }

    fn write_config(&self) -> io::Result<()> {
        let dir = lua_path(&self.dir)?;
        let file = |name: &str| lua_path(&self.dir.join(name));
        let mut modules = vec!["roster", "saslauth", "tls", "disco", "ping", "posix"];
        if self.options.stanza_debug {
            modules.push("stanza_debug");
        }
        let modules: Vec<String> = modules.iter().map(|m| lua_string(m)).collect();
        let level = if self.options.stanza_debug {
            "debug"
        } else {
            "info"
        };
        let lo = lua_string(HOST);

        let mut cfg = String::new();
        cfg.push_str(
            "-- Written by xmpp-roster-testsupport: a private test server, loopback only.\n",
        );
        cfg.push_str(
            "run_as_root = true -- without it Prosody 0.12.3 run as root hangs at shutdown\n",
        );
        let _ = writeln!(cfg, "pidfile = {}", file("prosody.pid")?);
        let _ = writeln!(cfg, "data_path = {}", file("data")?);
        let _ = writeln!(cfg, "certificates = {dir}");
        cfg.push_str("plugin_paths = { }\n");
        for setting in [
            "interfaces",
            "local_interfaces",
            "c2s_interfaces",
            "c2s_direct_tls_interfaces",
            "s2s_interfaces",
            "s2s_direct_tls_interfaces",
            "component_interfaces",
            "legacy_ssl_interfaces",
            "http_interfaces",
            "https_interfaces",
        ] {
            let _ = writeln!(cfg, "{setting} = {{ {lo} }}");
        }
        let _ = writeln!(cfg, "c2s_ports = {{ {} }}", self.c2s_port);
        let _ = writeln!(cfg, "c2s_direct_tls_ports = {{ {} }}", self.tls_port);
        for setting in [
            "s2s_ports",
            "s2s_direct_tls_ports",
            "component_ports",
            "legacy_ssl_ports",
            "http_ports",
            "https_ports",
        ] {
            let _ = writeln!(cfg, "{setting} = {{ }}");
        }
        let _ = writeln!(cfg, "modules_enabled = {{ {} }}", modules.join("; "));
        cfg.push_str("modules_disabled = { \"s2s\"; \"s2s_auth_certs\"; \"offline\" }\n");
        cfg.push_str("c2s_require_encryption = false\n");
        cfg.push_str("allow_unencrypted_plain_auth = true\n");
        cfg.push_str("authentication = \"internal_plain\"\n");
        cfg.push_str("storage = \"internal\"\n");
        cfg.push_str("c2s_stanza_size_limit = 64*1024*1024\n");
        let _ = writeln!(
            cfg,
            "ssl = {{ certificate = {}; key = {} }}",
            file("localhost.crt")?,
            file("localhost.key")?
        );
        let _ = writeln!(
            cfg,
            "log = {{ {{ levels = {{ min = {} }}, to = \"file\", filename = {} }} }}",
            lua_string(level),
            file("prosody.log")?
        );
        let _ = writeln!(cfg, "\nVirtualHost {}", lua_string(DOMAIN));
        if self.options.hashed_vhosts {
            for (host, hash) in [(SHA1_DOMAIN, "SHA-1"), (SHA256_DOMAIN, "SHA-256")] {
                let _ = writeln!(cfg, "\nVirtualHost {}", lua_string(host));
                cfg.push_str("    authentication = \"internal_hashed\"\n");
                let _ = writeln!(cfg, "    password_hash = {}", lua_string(hash));
            }
        }
        write_file(&self.config_file, cfg.as_bytes())
    }
}

impl Drop for Prosody {
    /// SIGKILLs the server and reaps it (no zombie), then removes the directory unless
    /// `XMPP_TEST_KEEP_DIR` is set (or [`Prosody::set_keep_dir`] was called): then it prints
    /// the path instead.
    fn drop(&mut self) {
        self.kill();
        if self.keep_dir || std::env::var_os(KEEP_DIR_ENV).is_some() {
            eprintln!(
                "xmpp-roster-testsupport: kept Prosody dir {}",
                self.dir.display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!(
                "xmpp-roster-testsupport: could not remove {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// SIGKILL (if still running) and wait, ignoring errors: used on cleanup paths.
fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Finds `name` on PATH, or says clearly that it is not installed.
fn require_program(name: &str) -> io::Result<PathBuf> {
    find_in_path(name, std::env::var_os("PATH").as_deref()).ok_or_else(|| missing_program(name))
}

/// The error for a missing program (Prosody is required: tests fail without it, never skip).
pub fn missing_program(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{name} is not installed (not found on PATH): the tests need Prosody 0.12 \
             (Debian: apt-get install -y --no-install-recommends prosody)"
        ),
    )
}

fn find_in_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A new directory under the system temp dir for a Prosody server.
fn create_unique_dir() -> io::Result<PathBuf> {
    create_unique_dir_in(&std::env::temp_dir(), "prosody")
}

/// A new directory `xmpp-test-<what>-<pid>-<n>-<nanos>` under `base`.
fn create_unique_dir_in(base: &Path, what: &str) -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!(
        "xmpp-test-{what}-{}-{n}-{nanos}",
        std::process::id()
    ));
    // create_dir (not create_dir_all) fails if it exists, so the dir is surely ours.
    fs::create_dir(&dir).map_err(|e| with_context(e, "creating", &dir))?;
    Ok(dir)
}

/// The process-wide certificate, generated on first use with the openssl CLI.
fn certificate() -> io::Result<(&'static [u8], &'static [u8])> {
    match CERTIFICATE.get_or_init(|| generate_certificate().map_err(|e| e.to_string())) {
        Ok((cert, key)) => Ok((cert, key)),
        Err(message) => Err(io::Error::other(message.clone())),
    }
}

fn generate_certificate() -> io::Result<PemPair> {
    let dir = create_unique_dir()?;
    let result = (|| {
        let (cert, key) = (dir.join("localhost.crt"), dir.join("localhost.key"));
        let output = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running openssl: {e}")))?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "openssl req failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let cert_pem = fs::read(&cert).map_err(|e| with_context(e, "reading", &cert))?;
        let key_pem = fs::read(&key).map_err(|e| with_context(e, "reading", &key))?;
        Ok((cert_pem, key_pem))
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}

/// Two distinct free loopback ports: both listeners are held at once, then released.
fn free_port_pair() -> io::Result<(u16, u16)> {
    let ports = free_ports::<2>()?;
    Ok((ports[0], ports[1]))
}

/// N distinct free loopback ports: all listeners are held at once, then released.
fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for port in &mut ports {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| io::Error::new(e.kind(), format!("binding {HOST}:0: {e}")))?;
        *port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(ports)
}

fn can_connect(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn write_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    fs::write(path, contents).map_err(|e| with_context(e, "writing", path))
}

fn with_context(e: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{action} {}: {e}", path.display()))
}

/// The last `n` lines of `text` (a final newline does not count as an empty line).
fn tail(text: &str, n: usize) -> &str {
    let text = text.trim_end();
    let mut start = text.len();
    for _ in 0..n {
        match text[..start].rfind('\n') {
            Some(i) => start = i,
            None => return text,
        }
    }
    text.get(start + 1..).unwrap_or("")
}

/// Drops the "Prosody was unable to find lua-unbound" banner that Debian's Prosody prints to
/// stdout on every start (it is only a notice: the old DNS resolver is used).
fn without_banner(text: &str) -> &str {
    const END: &str = "https://prosody.im/doc/depends\n**************************\n";
    match text.find(END) {
        Some(i) => text[i + END.len()..].trim(),
        None => text.trim(),
    }
}

/// `s` as one word for a POSIX shell: unchanged if it only has characters that are never special
/// (`A-Za-z0-9` and `_./:=@%+,-`), otherwise single-quoted (with `'` written as `'\\''`).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=@%+,-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A path as a Lua string literal (the config is Lua).
fn lua_path(path: &Path) -> io::Result<String> {
    match path.to_str() {
        Some(s) => Ok(lua_string(s)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "path is not UTF-8, cannot be put in a Prosody config: {}",
                path.display()
            ),
        )),
    }
}

/// `s` as a double-quoted Lua string literal that reads back as exactly the same bytes:
/// backslash and quote are escaped, control bytes become 3-digit decimal escapes.
pub fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\{:03}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How Prosody's datamanager names a host or user on disk: every byte that is not an ASCII
/// letter or digit becomes `%xx` (lowercase hex), e.g. "sha1.localhost" → "sha1%2elocalhost".
pub fn encode_path_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

/// The Lua text of a stored roster, as Prosody's internal storage reads it.
fn roster_lua(version: u64, items: &[RosterFileItem]) -> io::Result<String> {
    // Lua integers are signed 64-bit: a larger literal would silently turn into a float.
    if i64::try_from(version).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("roster version {version} does not fit a Lua integer"),
        ));
    }
    let mut out = String::from("return {\n");
    let _ = writeln!(
        out,
        "\t[false] = {{\n\t\t[\"version\"] = {version};\n\t\t[\"pending\"] = {{}};\n\t}};"
    );
    for item in items {
        let _ = writeln!(out, "\t[{}] = {{", lua_string(&item.jid));
        let _ = writeln!(
            out,
            "\t\t[\"subscription\"] = {};",
            lua_string(&item.subscription)
        );
        if let Some(name) = &item.name {
            let _ = writeln!(out, "\t\t[\"name\"] = {};", lua_string(name));
        }
        if let Some(ask) = &item.ask {
            let _ = writeln!(out, "\t\t[\"ask\"] = {};", lua_string(ask));
        }
        // Prosody iterates `groups` unconditionally: it must be present, even empty.
        out.push_str("\t\t[\"groups\"] = {");
        for group in &item.groups {
            let _ = write!(out, " [{}] = true;", lua_string(group));
        }
        out.push_str(" };\n\t};\n");
    }
    out.push_str("};\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_string_escapes_quotes_backslashes_and_control_bytes() {
        assert_eq!(lua_string("plain"), "\"plain\"");
        assert_eq!(lua_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            lua_string("l1\nl2\r\t\0\x7f9"),
            "\"l1\\nl2\\013\\009\\000\\1279\""
        );
        assert_eq!(lua_string("]]--é"), "\"]]--é\"");
    }

    #[test]
    fn path_components_are_encoded_like_prosody() {
        assert_eq!(encode_path_component("localhost"), "localhost");
        assert_eq!(encode_path_component("sha1.localhost"), "sha1%2elocalhost");
        assert_eq!(encode_path_component("a_b-c"), "a%5fb%2dc");
    }

    #[test]
    fn missing_prosody_is_a_clear_error() {
        assert_eq!(find_in_path("prosody", Some(OsStr::new(""))), None);
        assert_eq!(find_in_path("prosody", None), None);
        let e = missing_program("prosody");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("prosody is not installed"), "{e}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 1), "c");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("a\nb", 0), "");
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(sh_quote("/tmp/a-b_c.d/x:1"), "/tmp/a-b_c.d/x:1");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn roster_versions_beyond_lua_integers_are_refused() {
        assert!(roster_lua(u64::MAX, &[]).is_err());
        assert!(roster_lua(i64::MAX as u64, &[]).is_ok());
    }
}
