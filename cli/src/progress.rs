//! Progress on standard error for long work, shown only when standard error is a terminal
//! (and only once the work has taken a moment, so quick commands print nothing extra).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long work runs before progress appears.
const SHOW_AFTER: Duration = Duration::from_millis(400);
const TICK: Duration = Duration::from_millis(100);

struct Shared {
    done: AtomicU64,
    stop: AtomicBool,
}

/// A line on stderr redrawn by a background thread: "label 123/1000 (2.1s)" or "label… (2.1s)".
/// Dropping or finishing it erases the line. Does nothing when stderr is not a terminal.
pub struct Progress {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Work of unknown length (a fetch, a connect).
    pub fn spinner(label: String) -> Progress {
        Progress::start(label, None)
    }

    /// Work of `total` steps; call [`set`](Self::set) as steps finish.
    pub fn counter(label: String, total: u64) -> Progress {
        Progress::start(label, Some(total))
    }

    fn start(label: String, total: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                shared: None,
                thread: None,
            };
        }
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut drawn = false;
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(TICK);
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let elapsed = started.elapsed();
                if elapsed < SHOW_AFTER {
                    continue;
                }
                let line = match total {
                    Some(t) => format!(
                        "{label} {}/{t} ({:.1}s)",
                        s.done.load(Ordering::SeqCst),
                        elapsed.as_secs_f64()
                    ),
                    None => format!("{label}... ({:.1}s)", elapsed.as_secs_f64()),
                };
                // \r and "erase to end of line" redraw in place.
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line}\x1b[K");
                let _ = err.flush();
                drawn = true;
            }
            if drawn {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
        });
        Progress {
            shared: Some(shared),
            thread: Some(thread),
        }
    }

    /// Reports `done` steps finished.
    pub fn set(&self, done: u64) {
        if let Some(s) = &self.shared {
            s.done.store(done, Ordering::SeqCst);
        }
    }

    /// Stops and erases the line.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(s) = &self.shared {
            s.stop.store(true, Ordering::SeqCst);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
