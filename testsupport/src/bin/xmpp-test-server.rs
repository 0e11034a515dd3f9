//! `xmpp-test-server [--server prosody|ejabberd] [--user NAME:PASSWORD]... [--hashed-vhosts]
//! [--stanza-debug] [--keep] -- CMD [ARGS...]`
//!
//! Starts a private Prosody (default) or ejabberd on 127.0.0.1, registers the users on domain
//! "localhost", runs CMD with the server described in environment variables, stops the server
//! when CMD exits and exits with CMD's exit code (128+N if CMD was killed by signal N). SIGINT and
//! SIGTERM to this harness are forwarded to CMD, the server is killed, and the harness exits with
//! 128+N. `--hashed-vhosts` and `--stanza-debug` are Prosody-only.
//!
//! Environment of CMD: XMPP_TEST_SERVER_KIND (prosody or ejabberd), XMPP_TEST_HOST,
//! XMPP_TEST_DOMAIN, XMPP_TEST_PORT (c2s, STARTTLS), XMPP_TEST_TLS_PORT (direct TLS),
//! XMPP_TEST_CA_FILE, XMPP_TEST_SERVER_DIR, XMPP_TEST_REGISTER_CMD (a shell command line that
//! registers NAME DOMAIN PASSWORD appended as three more arguments); with Prosody also
//! XMPP_TEST_PROSODY_CONFIG; with ejabberd also XMPP_TEST_EJABBERD_API_PORT and
//! XMPP_TEST_EJABBERDCTL (an ejabberdctl command line for this server, 1-2 s a call).
//!
//! `xmpp-test-server --ejabberd-register API_PORT NAME DOMAIN PASSWORD` registers an account on a
//! running harness ejabberd through its admin API (what XMPP_TEST_REGISTER_CMD runs for ejabberd);
//! exits 0 on success, 1 on failure, 2 on bad usage.
//!
//! Exit codes of its own: 2 for bad usage, 125 when the server cannot be set up or CMD cannot be
//! started.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use xmpp_roster_testsupport::{
    sh_quote, Ejabberd, Prosody, ProsodyOptions, ServerKind, XmppServer,
};

const USAGE: &str =
    "usage: xmpp-test-server [--server prosody|ejabberd] [--user NAME:PASSWORD]... \
                     [--hashed-vhosts] [--stanza-debug] [--keep] -- CMD [ARGS...]\n   \
                     or: xmpp-test-server --ejabberd-register API_PORT NAME DOMAIN PASSWORD";
/// The flag of the registration helper mode (what XMPP_TEST_REGISTER_CMD runs for ejabberd).
const EJABBERD_REGISTER: &str = "--ejabberd-register";
/// Exit code when the harness itself fails (as env(1) and docker use).
const HARNESS_FAILURE: u8 = 125;
/// How long CMD may take to exit after a forwarded signal before it gets SIGKILL.
const FORWARD_GRACE: Duration = Duration::from_secs(5);

/// The last SIGINT/SIGTERM received (0 = none): set by the handler, read by the main loop.
static RECEIVED_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RECEIVED_SIGNAL.store(signal, Ordering::SeqCst);
}

struct Args {
    kind: ServerKind,
    users: Vec<(String, String)>,
    options: ProsodyOptions,
    keep: bool,
    command: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        kind: ServerKind::Prosody,
        users: Vec::new(),
        options: ProsodyOptions::default(),
        keep: false,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--" => {
                parsed.command = args.collect();
                break;
            }
            "--user" => {
                let spec = args.next().ok_or("--user needs NAME:PASSWORD")?;
                // The name cannot contain ':' (not valid in our test names); the password can.
                let (name, password) = spec
                    .split_once(':')
                    .ok_or_else(|| format!("--user {spec}: expected NAME:PASSWORD"))?;
                parsed.users.push((name.to_string(), password.to_string()));
            }
            "--server" => {
                let name = args.next().ok_or("--server needs prosody or ejabberd")?;
                parsed.kind = name.parse()?;
            }
            "--hashed-vhosts" => parsed.options.hashed_vhosts = true,
            "--stanza-debug" => parsed.options.stanza_debug = true,
            "--keep" => parsed.keep = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (is '--' missing before CMD?)"
                ))
            }
        }
    }
    if parsed.command.is_empty() {
        return Err("no CMD given after '--'".to_string());
    }
    if parsed.kind != ServerKind::Prosody && parsed.options != ProsodyOptions::default() {
        return Err(format!(
            "--hashed-vhosts and --stanza-debug are Prosody-only, not for --server {}",
            parsed.kind
        ));
    }
    Ok(parsed)
}

fn install_signal_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only stores to an atomic; sa_mask is emptied first.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The running server, whichever kind.
enum Server {
    Prosody(Prosody),
    Ejabberd(Ejabberd),
}

impl Server {
    fn as_dyn(&self) -> &dyn XmppServer {
        match self {
            Server::Prosody(server) => server,
            Server::Ejabberd(server) => server,
        }
    }

    fn set_keep_dir(&mut self, keep: bool) {
        match self {
            Server::Prosody(server) => server.set_keep_dir(keep),
            Server::Ejabberd(server) => server.set_keep_dir(keep),
        }
    }

    /// The variables that only one kind has, including XMPP_TEST_REGISTER_CMD.
    fn specific_env(&self) -> Result<Vec<(&'static str, String)>, String> {
        match self {
            Server::Prosody(server) => {
                let config = server.config_file().to_string_lossy().into_owned();
                Ok(vec![
                    (
                        "XMPP_TEST_REGISTER_CMD",
                        format!("prosodyctl --config {} register", sh_quote(&config)),
                    ),
                    ("XMPP_TEST_PROSODY_CONFIG", config),
                ])
            }
            Server::Ejabberd(server) => {
                let me = std::env::current_exe()
                    .map_err(|e| format!("cannot find this program's path: {e}"))?;
                Ok(vec![
                    (
                        "XMPP_TEST_REGISTER_CMD",
                        format!(
                            "{} {EJABBERD_REGISTER} {}",
                            sh_quote(&me.to_string_lossy()),
                            server.api_port()
                        ),
                    ),
                    ("XMPP_TEST_EJABBERD_API_PORT", server.api_port().to_string()),
                    ("XMPP_TEST_EJABBERDCTL", server.ctl_command_line()),
                ])
            }
        }
    }

    fn dir(&self) -> &std::path::Path {
        match self {
            Server::Prosody(server) => server.dir(),
            Server::Ejabberd(server) => server.dir(),
        }
    }
}

fn main() -> ExitCode {
    let mut raw_args = std::env::args().skip(1).peekable();
    if raw_args.peek().map(String::as_str) == Some(EJABBERD_REGISTER) {
        return ejabberd_register(raw_args.skip(1).collect());
    }
    let args = match parse_args(raw_args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("xmpp-test-server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // From here on SIGINT/SIGTERM only set a flag, checked before and while CMD runs, so the
    // server is always cleaned up.
    install_signal_handlers();
    let mut server = match start_server(&args) {
        Ok(server) => server,
        Err(message) => {
            eprintln!("xmpp-test-server: {message}");
            return ExitCode::from(HARNESS_FAILURE);
        }
    };
    server.set_keep_dir(args.keep);
    let early_signal = RECEIVED_SIGNAL.load(Ordering::SeqCst);
    if early_signal != 0 {
        return ExitCode::from((128 + early_signal) as u8); // dropping `server` kills it
    }
    let specific_env = match server.specific_env() {
        Ok(env) => env,
        Err(message) => {
            eprintln!("xmpp-test-server: {message}");
            return ExitCode::from(HARNESS_FAILURE);
        }
    };

    let common = server.as_dyn();
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("XMPP_TEST_SERVER_KIND", common.kind().name())
        .env("XMPP_TEST_HOST", common.host())
        .env("XMPP_TEST_DOMAIN", common.domain())
        .env("XMPP_TEST_PORT", common.c2s_port().to_string())
        .env("XMPP_TEST_TLS_PORT", common.tls_port().to_string())
        .env("XMPP_TEST_CA_FILE", common.ca_file())
        .env("XMPP_TEST_SERVER_DIR", server.dir())
        .envs(specific_env);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("xmpp-test-server: cannot run {:?}: {e}", args.command[0]);
            return ExitCode::from(HARNESS_FAILURE);
        }
    };

    let code = wait_for_command(&mut child);
    drop(server); // SIGKILL, reap, remove the dir (unless --keep)
    ExitCode::from(code)
}

fn start_server(args: &Args) -> Result<Server, String> {
    let server = match args.kind {
        ServerKind::Prosody => Server::Prosody(
            Prosody::start_with(args.options.clone())
                .map_err(|e| format!("cannot start Prosody: {e}"))?,
        ),
        ServerKind::Ejabberd => {
            Server::Ejabberd(Ejabberd::start().map_err(|e| format!("cannot start ejabberd: {e}"))?)
        }
    };
    let common = server.as_dyn();
    for (name, password) in &args.users {
        common
            .register(name, common.domain(), password)
            .map_err(|e| format!("cannot register {name}: {e}"))?;
    }
    Ok(server)
}

/// `--ejabberd-register API_PORT NAME DOMAIN PASSWORD`.
fn ejabberd_register(args: Vec<String>) -> ExitCode {
    let [port, name, domain, password] = args.as_slice() else {
        eprintln!(
            "xmpp-test-server: {EJABBERD_REGISTER} needs API_PORT NAME DOMAIN PASSWORD\n{USAGE}"
        );
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("xmpp-test-server: {EJABBERD_REGISTER}: bad API_PORT {port:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    match Ejabberd::register_at(port, name, domain, password) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xmpp-test-server: registering {name}@{domain}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Waits for CMD, forwarding SIGINT/SIGTERM to it; returns the exit code to exit with.
fn wait_for_command(child: &mut Child) -> u8 {
    loop {
        let signal = RECEIVED_SIGNAL.load(Ordering::SeqCst);
        if signal != 0 {
            forward_signal(child, signal);
            return (128 + signal) as u8;
        }
        match child.try_wait() {
            Ok(Some(status)) => return exit_code(status),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("xmpp-test-server: waiting for CMD: {e}");
                let _ = child.kill();
                let _ = child.wait();
                return HARNESS_FAILURE;
            }
        }
    }
}

/// Passes `signal` to CMD and gives it a moment to exit, then SIGKILLs it.
fn forward_signal(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) on our own unreaped child with a signal number; no memory involved.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let deadline = Instant::now() + FORWARD_GRACE;
    while let Ok(None) = child.try_wait() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => (128 + signal) as u8,
        (None, None) => HARNESS_FAILURE,
    }
}
