//! A watchdog for a test server's process group. Test binaries can die without cleaning up
//! (SIGKILL, Ctrl-C on `cargo test`); a server they started would then run on with nobody to stop
//! it. The watchdog is a `/bin/sh` in the server's process group that reads a pipe from this
//! process: when this process dies, the pipe closes and the shell kills its whole group.

use std::io;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::os::unix::process::CommandExt;

/// Runs in the server's process group with a pipe from the owning process as stdin: when that
/// process dies without cleaning up, the pipe closes and the whole group goes.
const SCRIPT: &str = "read -r _; kill -KILL 0";

/// The watchdog of one process group. Dropping it (after the server was stopped and reaped, or
/// the group killed) closes the pipe, so the shell kills what is left of the group (itself),
/// and reaps it.
#[derive(Debug)]
pub(crate) struct Watchdog {
    shell: Child,
    /// Never written: its closing is the signal.
    lifeline: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts a watchdog in process group `pgid` (the server's; it must already exist).
    pub(crate) fn spawn(pgid: u32) -> io::Result<Watchdog> {
        let mut shell = Command::new("/bin/sh")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(pgid as i32)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting the watchdog (/bin/sh): {e}")))?;
        let lifeline = shell.stdin.take();
        Ok(Watchdog { shell, lifeline })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.shell.wait();
    }
}
