//! Runs the real `xmpp-roster` binary against a private Prosody (from the testsupport crate).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use xmpp_roster_testsupport::Prosody;

/// Passwords are distinctive so a test can prove they never show up anywhere.
pub const PASSWORD_PREFIX: &str = "pw-Zq8v-";

pub struct Account {
    pub jid: String,
    pub password: String,
    server_addr: String,
    ca_file: String,
}

pub fn start_server() -> Prosody {
    Prosody::start().expect("start Prosody (apt-get install prosody)")
}

/// Registers a new user on `server` and returns its account.
pub fn account(server: &Prosody, prefix: &str) -> Account {
    let user = server.unique_user(prefix);
    let password = format!("{PASSWORD_PREFIX}{user}");
    server
        .register(&user, server.domain(), &password)
        .expect("register");
    Account {
        jid: format!("{user}@{}", server.domain()),
        password,
        server_addr: format!("{}:{}", server.host(), server.c2s_port()),
        ca_file: server.ca_file().display().to_string(),
    }
}

/// The command with no XMPP_ROSTER_* from the outer environment.
pub fn bare_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xmpp-roster"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("XMPP_ROSTER_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    c
}

impl Account {
    /// `xmpp-roster` logged in as this account (through the environment).
    pub fn command(&self) -> Command {
        let mut c = bare_command();
        c.env("XMPP_ROSTER_JID", &self.jid)
            .env("XMPP_ROSTER_PASSWORD", &self.password)
            .env("XMPP_ROSTER_SERVER", &self.server_addr)
            .env("XMPP_ROSTER_CA_FILE", &self.ca_file)
            .env("XMPP_ROSTER_TIMEOUT", "10");
        c
    }

    /// Runs a subcommand and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(
            self.command().args(args).output().expect("run xmpp-roster"),
            args,
        )
    }

    /// Runs a subcommand that must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "xmpp-roster {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }

    /// `list --json`, parsed.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let r = self.ok(&["list", "--json"]);
        serde_json::from_str::<Vec<serde_json::Value>>(&r.stdout)
            .unwrap_or_else(|e| panic!("list --json is not JSON ({e}): {}", r.stdout))
    }

    /// The item for `jid` from `list --json`.
    pub fn item(&self, jid: &str) -> Option<serde_json::Value> {
        self.list().into_iter().find(|i| i["jid"] == jid)
    }

    /// Starts `watch` with `args` and waits until it is listening.
    pub fn watch(&self, args: &[&str]) -> Watch {
        let mut child = self
            .command()
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watch");
        let lines = lines_of(child.stdout.take().unwrap());
        let errors = lines_of(child.stderr.take().unwrap());
        let mut w = Watch {
            child,
            lines,
            errors,
            stderr: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match w.errors.recv_timeout(left) {
                Ok(l) if l.starts_with("watching ") => {
                    w.stderr.push(l);
                    return w;
                }
                Ok(l) => w.stderr.push(l),
                Err(_) => panic!("watch did not start: {:?}", w.stderr),
            }
        }
    }
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `xmpp-roster watch`.
pub struct Watch {
    pub child: Child,
    lines: Receiver<String>,
    errors: Receiver<String>,
    pub stderr: Vec<String>,
}

impl Watch {
    /// Collects output lines until one satisfies `until` (returns all lines read so far).
    pub fn read_until(&mut self, seen: &mut Vec<String>, until: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = until(&l);
                    seen.push(l);
                    if done {
                        return;
                    }
                }
                Err(_) => panic!(
                    "watch output never matched; got {seen:#?}; stderr {:?}",
                    self.stderr
                ),
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit code.
    pub fn interrupt(mut self) -> i32 {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watch did not end within 10 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(o: Output, _args: &[&str]) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn temp_file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A private temp dir removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p =
            std::env::temp_dir().join(format!("xmpp-roster-cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
