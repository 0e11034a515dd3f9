//! A private ejabberd 23.01 on 127.0.0.1: the second real server of the test suites.
//!
//! ejabberd takes seconds to start, so tests normally share one server per process
//! ([`Ejabberd::shared`]) and tell their accounts apart with [`Ejabberd::unique_user`].
//! Accounts are created through ejabberd's own admin HTTP API (`mod_http_api` on a third
//! loopback port), which takes milliseconds and is safe from many threads at once; see
//! [`Ejabberd::register`] for why rows are not inserted into the SQLite file directly.
//!
//! No epmd runs: the Erlang node listens for distribution on a fixed loopback port
//! (`ERL_DIST_PORT`, i.e. `-erl_epmd_port P -start_epmd false`), so nothing outlives the server
//! and parallel servers never share a name registry.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::{
    can_connect, certificate, create_unique_dir_in, find_in_path, free_ports, sh_quote, tail,
    with_context, write_file, LaunchError, DOMAIN, HOST, KEEP_DIR_ENV, LOG_TAIL_LINES,
    START_ATTEMPTS,
};

/// How long a start may take before it is given up (it usually takes 1.5–5 s).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one admin API call may take.
const API_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the launcher shell gets to exit after the VM was killed.
const KILL_WAIT: Duration = Duration::from_secs(3);
/// Where Debian's ejabberdctl lives (not on a non-root PATH).
const SBIN_EJABBERDCTL: &str = "/usr/sbin/ejabberdctl";
/// Where Erlang libraries live; the SQLite driver is `p1_sqlite3-<version>` in here.
const ERLANG_LIB_DIR: &str = "/usr/lib/erlang/lib";
/// The biggest stanza a client may send (ejabberd's Debian config says 256 KiB).
const MAX_STANZA_SIZE: u64 = 64 * 1024 * 1024;
use crate::watchdog::Watchdog;

/// Environment variable: the directory under which ejabberd servers get their private dirs.
pub const EJABBERD_TMPDIR_ENV: &str = "XMPP_TEST_EJABBERD_TMPDIR";
/// The parent of ejabberd's private dirs unless a variable says otherwise (and if writable): a
/// tmpfs, where SQLite's fsync on every write costs nothing. Measured with the database on ext4
/// vs tmpfs: a registration ~14 ms vs ~1.4 ms, a roster set round trip ~11 ms vs ~1.4 ms.
const SHM_DIR: &str = "/dev/shm";

/// The process-wide server of [`Ejabberd::shared`] (or why it could not start).
static SHARED: OnceLock<Result<Ejabberd, String>> = OnceLock::new();
/// Names Erlang nodes uniquely within this process.
static NODE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running private ejabberd server. Dropping it kills the server and removes its directory
/// (unless `XMPP_TEST_KEEP_DIR` is set, or [`Ejabberd::set_keep_dir`] was called).
#[derive(Debug)]
pub struct Ejabberd {
    dir: PathBuf,
    config_file: PathBuf,
    ctl_config_file: PathBuf,
    ca_file: PathBuf,
    log_file: PathBuf,
    stdout_file: PathBuf,
    db_file: PathBuf,
    ctl_bin: PathBuf,
    node: String,
    c2s_port: u16,
    tls_port: u16,
    api_port: u16,
    dist_port: u16,
    processes: Mutex<Option<Processes>>,
    user_counter: AtomicU64,
    keep_dir: bool,
}

/// The processes of one running server, all in one process group led by the launcher.
#[derive(Debug)]
struct Processes {
    /// `ejabberdctl ... foreground` (bash); the VM (beam.smp) is its child.
    launcher: Child,
    /// Kills the group if this process dies without a proper shutdown.
    watchdog: Watchdog,
}

impl Ejabberd {
    /// Creates a fresh private dir (under `XMPP_TEST_EJABBERD_TMPDIR` if set, else `TMPDIR` if
    /// set, else /dev/shm if writable, else /tmp), writes the certificate and config, starts
    /// ejabberd on free
    /// loopback ports (c2s, direct TLS, admin API, Erlang distribution) and waits until the node
    /// reports itself started and the three TCP ports accept connections (at most 60 s; the
    /// error then quotes the end of the logs). If a port was raced away, it retries with new
    /// ports, up to 3 times. Measured: 1.4–5.3 s, depending on load.
    ///
    /// Needs root (Debian's ejabberdctl refuses other users than root and `ejabberd`), the
    /// `ejabberd` package and its SQLite driver `erlang-p1-sqlite3`.
    pub fn start() -> io::Result<Ejabberd> {
        let ctl_bin = require_ejabberd()?;
        let dir = create_unique_dir_in(&base_dir(), "ejabberd")?;
        let n = NODE_COUNTER.fetch_add(1, Ordering::Relaxed);
        // From here on, `server` owns the dir: an early return drops it and removes the dir.
        let mut server = Ejabberd {
            config_file: dir.join("ejabberd.yml"),
            ctl_config_file: dir.join("ejabberdctl.cfg"),
            ca_file: dir.join("localhost.crt"),
            log_file: dir.join("logs").join("ejabberd.log"),
            stdout_file: dir.join("ejabberd.stdout"),
            db_file: dir.join("ejabberd.db"),
            dir,
            ctl_bin,
            node: format!("xmpp-test-{}-{n}@localhost", std::process::id()),
            c2s_port: 0,
            tls_port: 0,
            api_port: 0,
            dist_port: 0,
            processes: Mutex::new(None),
            user_counter: AtomicU64::new(0),
            keep_dir: false,
        };
        let (cert, key) = certificate()?;
        write_file(&server.ca_file, cert)?;
        write_file(&server.dir.join("localhost.key"), key)?;
        // Host names resolve from /etc/hosts only: the VM never asks DNS.
        write_file(&server.dir.join("inetrc"), b"{lookup, [file]}.\n")?;
        for sub in ["logs", "spool"] {
            let path = server.dir.join(sub);
            fs::create_dir(&path).map_err(|e| with_context(e, "creating", &path))?;
        }

        let mut port_failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            [
                server.c2s_port,
                server.tls_port,
                server.api_port,
                server.dist_port,
            ] = free_ports::<4>()?;
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
                "ejabberd could not bind its ports in {START_ATTEMPTS} attempts: {}",
                port_failures.join("; ")
            ),
        ))
    }

    /// The one server of this process, started on first use (concurrent first callers wait for
    /// the same start; a failed start is reported to every caller, never retried). Tests share
    /// it and keep apart by using [`Ejabberd::unique_user`] names.
    ///
    /// It is killed and its directory removed when the process exits normally (a `libc::atexit`
    /// handler; Rust test binaries exit that way, passing or failing). If the process dies
    /// without running exit handlers (SIGKILL, or Ctrl-C on `cargo test`), a watchdog in the
    /// server's process group notices within milliseconds and kills the server, but its
    /// directory stays behind (`xmpp-test-ejabberd-<pid>-*`, by default under /dev/shm: see
    /// [`Ejabberd::start`]).
    pub fn shared() -> io::Result<&'static Ejabberd> {
        let result = SHARED.get_or_init(|| {
            let server = Ejabberd::start().map_err(|e| e.to_string())?;
            // SAFETY: registers a plain `extern "C" fn()` that never unwinds. If registration
            // fails, the watchdog still kills the server when the process exits.
            unsafe { libc::atexit(stop_shared_server) };
            Ok(server)
        });
        match result {
            Ok(server) => Ok(server),
            Err(message) => Err(io::Error::other(format!(
                "the shared ejabberd could not be started: {message}"
            ))),
        }
    }

    /// The address the server listens on: always "127.0.0.1".
    pub fn host(&self) -> &str {
        HOST
    }

    /// The XMPP domain of the only virtual host: "localhost".
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

    /// The admin HTTP API port (`mod_http_api` at `/api/<command>`, loopback clients only).
    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// The server's self-signed certificate (CN and SAN DNS:localhost): trust it as the CA.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The server's private directory (configs, certificate, `ejabberd.db`, `logs/`, `spool/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ejabberd.yml`.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// The SQLite database (users, rosters). Do not write it while the server runs: ejabberd
    /// sets no busy timeout, so a concurrent writer makes its queries fail ("Database
    /// failure") and, after a few, its SQL layer stop for good.
    pub fn db_file(&self) -> &Path {
        &self.db_file
    }

    /// The Erlang node name, e.g. "xmpp-test-1234-0@localhost".
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The process id of the Erlang VM (beam.smp) while it runs.
    pub fn pid(&self) -> Option<u32> {
        let processes = lock(&self.processes);
        let launcher = processes.as_ref()?.launcher.id();
        children_of(launcher)
            .into_iter()
            .find(|&pid| process_name(pid).as_deref() == Some("beam.smp"))
    }

    /// Creates `user@domain` with `password` through the admin HTTP API (`register`; on
    /// "already registered", `change_password`): ~5–50 ms, safe from many threads at once, and
    /// the account can log in as soon as this returns, even after a failed login attempt for
    /// the same name. `domain` must be "localhost" (the only virtual host).
    ///
    /// Inserting rows into [`Ejabberd::db_file`] would be faster still and does let a never-tried
    /// user log in, but it breaks the running server: ejabberd's SQLite connection has no busy
    /// timeout, so its own writes (roster sets) fail with "Database failure" while another
    /// process writes, and its SQL layer dies after repeated failures.
    pub fn register(&self, user: &str, domain: &str, password: &str) -> io::Result<()> {
        Ejabberd::register_at(self.api_port, user, domain, password)
    }

    /// [`Ejabberd::register`] for a server known only by its admin API port (as
    /// `xmpp-test-server --ejabberd-register PORT` does).
    pub fn register_at(api_port: u16, user: &str, domain: &str, password: &str) -> io::Result<()> {
        let args = json_object(&[("user", user), ("host", domain), ("password", password)]);
        let (status, body) = api_request(api_port, "register", &args)?;
        match status {
            200 => Ok(()),
            409 => {
                let args = json_object(&[("user", user), ("host", domain), ("newpass", password)]);
                api_call_at(api_port, "change_password", &args).map(drop)
            }
            _ => Err(io::Error::other(format!(
                "ejabberd API register {user} {domain} failed (HTTP {status}): {body}"
            ))),
        }
    }

    /// Calls an ejabberd admin command through the HTTP API with a JSON object of arguments,
    /// e.g. `api("add_rosteritem", r#"{"localuser":"a","localhost":"localhost",...}"#)`
    /// (commands: <https://docs.ejabberd.im/developer/ejabberd-api/admin-api/>; `mod_admin_extra`
    /// is loaded). Returns the response body (JSON) on HTTP 200, an error otherwise. All writes
    /// go through ejabberd, so this is safe while the server runs.
    pub fn api(&self, command: &str, json_args: &str) -> io::Result<String> {
        api_call_at(self.api_port, command, json_args)
    }

    /// A fresh user name, unique within this server: the lowercased prefix plus a number
    /// ("juliet1", "juliet2", ...).
    pub fn unique_user(&self, prefix: &str) -> String {
        let n = self.user_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}{n}", prefix.to_lowercase())
    }

    /// `ejabberdctl` set up for this server (config, logs, spool, cookie via HOME); add the
    /// command, e.g. `.args(["registered_users", "localhost"])`. Each call starts an Erlang VM:
    /// 1–2 s. For debugging; prefer [`Ejabberd::api`].
    pub fn ctl_command(&self) -> Command {
        let mut command = Command::new(&self.ctl_bin);
        command
            .args(self.ctl_options())
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        command
    }

    /// [`Ejabberd::ctl_command`] as one shell command line (`env HOME=... ejabberdctl ...`), to
    /// which a command and its arguments can be appended.
    pub fn ctl_command_line(&self) -> String {
        let mut words = vec![
            "env".to_string(),
            sh_quote(&format!("HOME={}", self.dir.display())),
            sh_quote(&self.ctl_bin.to_string_lossy()),
        ];
        words.extend(
            self.ctl_options()
                .iter()
                .map(|o| sh_quote(&o.to_string_lossy())),
        );
        words.join(" ")
    }

    /// Everything in `logs/ejabberd.log` so far (empty if unreadable).
    pub fn log_contents(&self) -> String {
        self.log_since(0)
    }

    /// Keep (or not) the directory when this server is dropped, as `XMPP_TEST_KEEP_DIR` does.
    pub fn set_keep_dir(&mut self, keep: bool) {
        self.keep_dir = keep;
    }

    fn ctl_options(&self) -> Vec<std::ffi::OsString> {
        let mut options = Vec::new();
        let mut push = |flag: &str, value: &Path| {
            options.push(flag.into());
            options.push(value.as_os_str().to_owned());
        };
        push("--config-dir", &self.dir);
        push("--config", &self.config_file);
        push("--ctl-config", &self.ctl_config_file);
        push("--logs", &self.dir.join("logs"));
        push("--spool", &self.dir.join("spool"));
        options
    }

    fn log_since(&self, offset: usize) -> String {
        let bytes = fs::read(&self.log_file).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
    }

    /// Starts `ejabberdctl foreground` in a new process group plus its watchdog, and waits until
    /// the server is ready.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let log_offset = fs::metadata(&self.log_file).map(|m| m.len()).unwrap_or(0) as usize;
        let stdout_offset = fs::metadata(&self.stdout_file)
            .map(|m| m.len())
            .unwrap_or(0) as usize;
        let fatal = |e: io::Error| LaunchError::Fatal(e);
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stdout_file)
            .map_err(|e| fatal(with_context(e, "opening", &self.stdout_file)))?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| fatal(with_context(e, "opening", &self.stdout_file)))?;
        let mut launcher = self.ctl_command();
        launcher
            .arg("foreground")
            // Flags from the caller's environment would change the VM.
            .env_remove("ERL_FLAGS")
            .env_remove("ERL_AFLAGS")
            .env_remove("ERL_ZFLAGS")
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let mut launcher = launcher
            .spawn()
            .map_err(|e| fatal(with_context(e, "running", &self.ctl_bin)))?;
        let watchdog = match Watchdog::spawn(launcher.id()) {
            Ok(watchdog) => watchdog,
            Err(e) => {
                // SAFETY: kill(2) on the process group we just created; no memory involved.
                unsafe { libc::kill(-(launcher.id() as libc::pid_t), libc::SIGKILL) };
                let _ = launcher.wait();
                return Err(fatal(e));
            }
        };
        *lock(&self.processes) = Some(Processes { launcher, watchdog });
        let result = self.wait_until_ready(log_offset, stdout_offset);
        if result.is_err() {
            self.kill_processes();
        }
        result
    }

    /// Ready = the log says the node started and all three listeners accept on our ports, and a
    /// TCP connect to each succeeds.
    fn wait_until_ready(&self, log_offset: usize, stdout_offset: usize) -> Result<(), LaunchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let needles = [
            "is started in the node".to_string(),
            format!(
                "Start accepting TCP connections at {HOST}:{} for ejabberd_c2s",
                self.c2s_port
            ),
            format!(
                "Start accepting TLS connections at {HOST}:{} for ejabberd_c2s",
                self.tls_port
            ),
            format!(
                "Start accepting TCP connections at {HOST}:{} for ejabberd_http",
                self.api_port
            ),
        ];
        loop {
            let status = match lock(&self.processes).as_mut() {
                Some(processes) => processes.launcher.try_wait().map_err(LaunchError::Fatal)?,
                None => {
                    return Err(LaunchError::Fatal(io::Error::other(
                        "ejabberd is not running",
                    )))
                }
            };
            let new_log = self.log_since(log_offset);
            let new_output = read_from(&self.stdout_file, stdout_offset);
            if let Some(line) = new_log
                .lines()
                .chain(new_output.lines())
                .find(|l| is_port_in_use_line(l))
            {
                return Err(LaunchError::PortInUse(line.trim().to_string()));
            }
            if let Some(status) = status {
                return Err(LaunchError::Fatal(io::Error::other(format!(
                    "ejabberd exited during startup ({status}){}",
                    self.diagnostics()
                ))));
            }
            if needles.iter().all(|n| new_log.contains(n.as_str()))
                && can_connect(self.c2s_port)
                && can_connect(self.tls_port)
                && can_connect(self.api_port)
                && self.sql_is_up()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::Fatal(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "ejabberd was not ready on {HOST}:{}, {HOST}:{} and {HOST}:{} after {:?}{}",
                        self.c2s_port,
                        self.tls_port,
                        self.api_port,
                        READY_TIMEOUT,
                        self.diagnostics()
                    ),
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs one query that needs SQL (listing the users). ejabberd 23.01 starts its SQL pool
    /// lazily, on the first query, and queries that arrive while that first one is still
    /// starting the pool fail ("internal_error", `binary_to_existing_atom` of the worker name):
    /// so the harness makes the first query itself, alone, before anyone else can.
    fn sql_is_up(&self) -> bool {
        let args = json_object(&[("host", DOMAIN)]);
        matches!(
            api_request(self.api_port, "registered_users", &args),
            Ok((200, _))
        )
    }

    /// The end of ejabberd.log and of the launcher's own output, for error messages.
    fn diagnostics(&self) -> String {
        format!(
            "\n--- last lines of {} ---\n{}\n--- last lines of {} ---\n{}",
            self.log_file.display(),
            tail(&self.log_contents(), LOG_TAIL_LINES),
            self.stdout_file.display(),
            tail(&read_from(&self.stdout_file, 0), LOG_TAIL_LINES),
        )
    }

    /// Kills the VM first, so that the launcher shell (its parent) reaps it and exits, then the
    /// rest of the process group (the watchdog, anything left), and reaps what is ours. Killing
    /// the group at once would orphan the VM, and an init that does not reap orphans (as in
    /// some containers) would keep it as a zombie. Finally waits until the VM's helper programs
    /// (`erl_child_setup` and the port programs it started, in a session of their own) have
    /// exited, which they do by themselves once the VM is gone; stragglers get SIGKILL. When
    /// this returns, no process of the server runs any more.
    fn kill_processes(&self) {
        let Some(mut processes) = lock(&self.processes).take() else {
            return;
        };
        let launcher_pid = processes.launcher.id();
        let helpers: Vec<ProcessId> = descendants(launcher_pid)
            .into_iter()
            .filter_map(ProcessId::of)
            .collect();
        for pid in children_of(launcher_pid) {
            // SAFETY: kill(2) on a child of our unreaped launcher; no memory involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let deadline = Instant::now() + KILL_WAIT;
        while let Ok(None) = processes.launcher.try_wait() {
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        // The watchdog (unreaped) keeps the group, so its id cannot have been reused.
        // SAFETY: kill(2) on our own process group; no memory involved.
        unsafe { libc::kill(-(launcher_pid as libc::pid_t), libc::SIGKILL) };
        let _ = processes.launcher.wait();
        drop(processes.watchdog); // reaps the killed shell

        let deadline = Instant::now() + KILL_WAIT;
        loop {
            let alive: Vec<&ProcessId> = helpers.iter().filter(|p| p.is_running()).collect();
            if alive.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for process in alive {
                    process.kill();
                }
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server and removes its directory (unless kept).
    fn shutdown(&self) {
        self.kill_processes();
        if self.keep_dir || std::env::var_os(KEEP_DIR_ENV).is_some() {
            eprintln!(
                "xmpp-roster-testsupport: kept ejabberd dir {}",
                self.dir.display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!(
                "xmpp-roster-testsupport: could not remove {}: {e}",
                self.dir.display()
            );
        }
    }

    fn write_config(&self) -> io::Result<()> {
        let path = |name: &str| yaml_path(&self.dir.join(name));
        let mut yml = String::new();
        yml.push_str(
            "# Written by xmpp-roster-testsupport: a private test server, loopback only.\n",
        );
        let _ = writeln!(yml, "hosts:\n  - {}", yaml_string(DOMAIN));
        yml.push_str("loglevel: info\nlog_rotate_size: infinity\nlog_rotate_count: 0\n");
        let _ = writeln!(
            yml,
            "certfiles:\n  - {}\n  - {}",
            path("localhost.crt")?,
            path("localhost.key")?
        );
        yml.push_str("listen:\n");
        for (port, tls) in [(self.c2s_port, "starttls"), (self.tls_port, "tls")] {
            let _ = write!(
                yml,
                "  -\n    port: {port}\n    ip: \"{HOST}\"\n    module: ejabberd_c2s\n    \
                 {tls}: true\n    shaper: none\n    access: c2s\n    \
                 max_stanza_size: {MAX_STANZA_SIZE}\n"
            );
        }
        let _ = write!(
            yml,
            "  -\n    port: {}\n    ip: \"{HOST}\"\n    module: ejabberd_http\n    \
             request_handlers:\n      /api: mod_http_api\n",
            self.api_port
        );
        yml.push_str(concat!(
            "disable_sasl_mechanisms:\n  - \"digest-md5\"\n  - \"x-oauth2\"\n",
            "auth_method: sql\n",
            "auth_password_format: plain\n",
            "default_db: sql\n",
            "sql_type: sqlite\n",
        ));
        let _ = writeln!(yml, "sql_database: {}", yaml_path(&self.db_file)?);
        yml.push_str(concat!(
            "s2s_access: none\n",
            "acl:\n  loopback:\n    ip:\n      - \"127.0.0.0/8\"\n",
            "access_rules:\n  c2s:\n    allow: all\n",
            "api_permissions:\n",
            "  \"ejabberdctl\":\n    from:\n      - ejabberd_ctl\n    who: all\n    what: \"*\"\n",
            "  \"loopback http api\":\n    from:\n      - mod_http_api\n",
            "    who:\n      ip: \"127.0.0.0/8\"\n    what: \"*\"\n",
            "shaper_rules:\n  max_user_sessions: 1000\n",
            "modules:\n",
            "  mod_admin_extra: {}\n",
            "  mod_disco: {}\n",
            "  mod_ping: {}\n",
            "  mod_roster:\n    versioning: true\n",
        ));
        write_file(&self.config_file, yml.as_bytes())?;

        let quoted = |p: &Path| sh_quote(&p.to_string_lossy());
        let mut cfg = String::new();
        cfg.push_str("# Written by xmpp-roster-testsupport; sourced by ejabberdctl (bash).\n");
        cfg.push_str("EXEC_CMD=as_current_user\n");
        let _ = writeln!(cfg, "ERLANG_NODE={}", sh_quote(&self.node));
        let _ = writeln!(cfg, "ERL_EPMD_ADDRESS={HOST}");
        // A fixed distribution port means no epmd at all (-erl_epmd_port P -start_epmd false).
        let _ = writeln!(cfg, "ERL_DIST_PORT={}", self.dist_port);
        let _ = writeln!(
            cfg,
            "EJABBERD_PID_PATH={}",
            quoted(&self.dir.join("ejabberd.pid"))
        );
        cfg.push_str("EJABBERD_BYPASS_WARNINGS=true\n");
        // No busy-waiting schedulers: the VM shares a small machine with the tests. Distribution
        // on 127.0.0.1 only: what INET_DIST_INTERFACE=127.0.0.1 would do, without the extra
        // Erlang VM (~0.5 s) that ejabberdctl starts to parse that variable.
        cfg.push_str(
            "ERL_OPTIONS=\"+sbwt none +sbwtdcpu none +sbwtdio none \
             -kernel inet_dist_use_interface {127,0,0,1}\"\n",
        );
        write_file(&self.ctl_config_file, cfg.as_bytes())
    }
}

impl Drop for Ejabberd {
    /// Kills the server (VM, launcher, watchdog) and reaps them, then removes the directory
    /// unless `XMPP_TEST_KEEP_DIR` is set (or [`Ejabberd::set_keep_dir`] was called).
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The `atexit` handler of [`Ejabberd::shared`].
extern "C" fn stop_shared_server() {
    // Unwinding out of an extern "C" fn would abort: contain any panic.
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(server)) = SHARED.get() {
            server.shutdown();
        }
    });
}

/// `XMPP_TEST_EJABBERD_TMPDIR` if set, else `TMPDIR` if set, else /dev/shm if it is a writable
/// directory, else the system temp dir.
fn base_dir() -> PathBuf {
    for var in [EJABBERD_TMPDIR_ENV, "TMPDIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
    }
    let shm = Path::new(SHM_DIR);
    let writable = shm.is_dir() && {
        let c_path = std::ffi::CString::new(SHM_DIR).expect("no NUL");
        // SAFETY: access(2) with a NUL-terminated path; no memory is written.
        unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
    };
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Finds ejabberdctl and checks that the SQLite driver is installed.
fn require_ejabberd() -> io::Result<PathBuf> {
    let ctl = find_in_path("ejabberdctl", std::env::var_os("PATH").as_deref())
        .or_else(|| Some(PathBuf::from(SBIN_EJABBERDCTL)).filter(|p| p.is_file()))
        .ok_or_else(|| missing_ejabberd("ejabberdctl not found on PATH or in /usr/sbin"))?;
    let has_sqlite = fs::read_dir(ERLANG_LIB_DIR)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("p1_sqlite3"))
        })
        .unwrap_or(false);
    if !has_sqlite {
        return Err(missing_ejabberd(&format!(
            "its SQLite driver (p1_sqlite3) is missing from {ERLANG_LIB_DIR}"
        )));
    }
    Ok(ctl)
}

/// The error for a missing ejabberd installation (tests fail, they do not skip).
fn missing_ejabberd(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "ejabberd is not installed ({what}): the ejabberd tests need ejabberd 23.01 with \
             SQLite (Debian: apt-get install -y --no-install-recommends ejabberd erlang-p1-sqlite3)"
        ),
    )
}

/// ejabberd's words for a listener or the distribution port that could not bind.
fn is_port_in_use_line(line: &str) -> bool {
    line.contains("eaddrinuse") || line.contains("address already in use")
}

/// A process named by its pid and its start time, so that a reused pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcessId {
    pid: u32,
    start_time: u64,
}

impl ProcessId {
    fn of(pid: u32) -> Option<ProcessId> {
        let (_, start_time) = stat_fields(pid)?;
        Some(ProcessId { pid, start_time })
    }

    /// Still this process, and not a zombie.
    fn is_running(&self) -> bool {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(fields) = fields_after_comm(&stat) else {
            return false;
        };
        fields.first() != Some(&"Z") && start_time_of(&fields) == Some(self.start_time)
    }

    fn kill(&self) {
        if self.is_running() {
            // SAFETY: kill(2) on a process we just identified by pid and start time.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// The fields of /proc/PID/stat after "pid (comm)" (comm may contain spaces and parentheses).
fn fields_after_comm(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// Field 22 of /proc/PID/stat (starttime), the 20th after the comm.
fn start_time_of(fields: &[&str]) -> Option<u64> {
    fields.get(19)?.parse().ok()
}

/// (parent pid, start time) from /proc/PID/stat.
fn stat_fields(pid: u32) -> Option<(u32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = fields_after_comm(&stat)?;
    Some((fields.get(1)?.parse().ok()?, start_time_of(&fields)?))
}

/// Every process below `root` (children, their children, ...), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in children_of(parent) {
            if !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// The direct children of `parent` (from /proc; empty if unreadable).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The parent pid from /proc/PID/stat ("pid (comm) state ppid ...").
fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid).map(|(parent, _)| parent)
}

fn process_name(pid: u32) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// A file from byte `offset` on, lossily as text (empty if unreadable).
fn read_from(path: &Path, offset: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
}

/// An admin API call that must succeed (HTTP 200); returns the body.
fn api_call_at(api_port: u16, command: &str, json_args: &str) -> io::Result<String> {
    let (status, body) = api_request(api_port, command, json_args)?;
    if status == 200 {
        Ok(body)
    } else {
        Err(io::Error::other(format!(
            "ejabberd API {command} failed (HTTP {status}): {body}"
        )))
    }
}

/// POST /api/<command> with a JSON body to 127.0.0.1:<api_port>; returns status and body.
fn api_request(api_port: u16, command: &str, json_args: &str) -> io::Result<(u16, String)> {
    if command.is_empty()
        || !command
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an ejabberd command name: {command:?}"),
        ));
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, api_port));
    let context = |e: io::Error| io::Error::new(e.kind(), format!("ejabberd API at {addr}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(context)?;
    stream
        .set_read_timeout(Some(API_TIMEOUT))
        .map_err(context)?;
    stream
        .set_write_timeout(Some(API_TIMEOUT))
        .map_err(context)?;
    let request = format!(
        "POST /api/{command} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{json_args}",
        json_args.len()
    );
    stream.write_all(request.as_bytes()).map_err(context)?;

    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((status, body)) = parse_http_response(&response)? {
            return Ok((status, body));
        }
        let n = stream.read(&mut chunk).map_err(context)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "ejabberd API at {addr}: connection closed mid-response: {}",
                    String::from_utf8_lossy(&response)
                ),
            ));
        }
        response.extend_from_slice(&chunk[..n]);
    }
}

/// A complete HTTP/1.1 response with Content-Length → (status, body); `None` while incomplete.
fn parse_http_response(response: &[u8]) -> io::Result<Option<(u16, String)>> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad HTTP response: {head}"),
        )
    };
    let status: u16 = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    let length: usize = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse().map_err(|_| bad()))
        .transpose()?
        .unwrap_or(0);
    let body = &response[end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some((
        status,
        String::from_utf8_lossy(&body[..length]).into_owned(),
    )))
}

/// `{"k":"v",...}` with JSON string escaping.
fn json_object(fields: &[(&str, &str)]) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A double-quoted YAML scalar that reads back as `s`.
fn yaml_string(s: &str) -> String {
    // JSON strings are valid YAML double-quoted scalars.
    json_string(s)
}

fn yaml_path(path: &Path) -> io::Result<String> {
    match path.to_str() {
        Some(s) => Ok(yaml_string(s)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "path is not UTF-8, cannot be put in an ejabberd config: {}",
                path.display()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            json_string("l1\nl2\t\u{1}é"),
            "\"l1\\u000al2\\u0009\\u0001é\""
        );
        assert_eq!(
            json_object(&[("user", "a"), ("password", "p\"w")]),
            "{\"user\":\"a\",\"password\":\"p\\\"w\"}"
        );
    }

    #[test]
    fn http_responses_are_parsed_when_complete() {
        let full = b"HTTP/1.1 409 Conflict\r\nContent-Length: 4\r\nContent-Type: x\r\n\r\nbody";
        assert_eq!(
            parse_http_response(full).unwrap(),
            Some((409, "body".to_string()))
        );
        assert_eq!(parse_http_response(&full[..full.len() - 1]).unwrap(), None);
        assert_eq!(parse_http_response(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert!(parse_http_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn api_command_names_are_checked() {
        let e = api_request(1, "reg/ister", "{}").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn processes_are_identified_by_pid_and_start_time() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        let id = ProcessId::of(child.id()).expect("stat of the child");
        assert!(id.is_running());
        assert!(descendants(me).contains(&child.id()));
        let impostor = ProcessId {
            start_time: id.start_time + 1,
            ..id
        };
        assert!(!impostor.is_running());
        id.kill();
        let _ = child.wait();
        assert!(!id.is_running());
    }

    #[test]
    fn parent_pid_is_read_from_proc() {
        let me = std::process::id();
        let parent = parent_of(me).expect("own stat");
        assert_eq!(parent, std::os::unix::process::parent_id());
        assert!(children_of(parent).contains(&me));
    }
}
