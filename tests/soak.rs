//! Soak: a long-running program's life compressed into minutes. One account on a private Prosody
//! on 127.0.0.1; cycle after cycle a client connects (STARTTLS + SCRAM), fetches the roster with
//! the version it cached last time, adds an item (and waits for its push), receives a push made by
//! a second session, removes the item, sends presence, and disconnects. Every few cycles the
//! process's open file descriptors (/proc/self/fd) and resident memory (VmRSS) are sampled; after a
//! warm-up both must stay flat: the same fd count at every sample, and RSS within a small
//! tolerance of the first post-warm-up sample.
//!
//! Knobs (environment): `SOAK_SECONDS` (default 75), `SOAK_SAMPLE_EVERY` (cycles between
//! samples, default 25), `SOAK_RSS_TOLERANCE_KIB` (default 4096). Bounded: it stops at the time
//! limit or after `SOAK_MAX_CYCLES` (default 100,000) cycles, whichever comes first.
//! Ignored by a plain `cargo test` (it takes minutes): scripts/test-reliability.sh runs it, or
//! `cargo test --release --test soak -- --ignored --nocapture`, which prints the samples.

use std::time::{Duration, Instant};
use xmpp_roster::{Client, Config, Fetched, OwnPresence, Roster, TlsMode};
use xmpp_roster_testsupport::Prosody;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn config(p: &Prosody, resource: &str) -> Config {
    let mut c = Config::new(&format!("soak@localhost/{resource}"), "soak-pw").unwrap();
    c.set_server(Some(p.host()), Some(p.c2s_port())).unwrap();
    c.set_tls(TlsMode::StartTls);
    c.set_ca_file(Some(p.ca_file().to_path_buf()));
    c.set_tls_server_name(Some("localhost"));
    c.set_timeout(Duration::from_secs(20)).unwrap();
    c
}

struct Sample {
    cycle: u64,
    at: Duration,
    fds: usize,
    rss: u64,
}

/// One session's life on `client` (a long-lived client reconnected, or a fresh one).
fn cycle(n: u64, client: &mut Client, editor: &mut Client, cache: &mut Roster) -> Result<(), String> {
    client.load_roster(cache.clone());
    client.connect().map_err(|e| format!("connect: {e}"))?;
    let fetched = client.fetch_roster().map_err(|e| format!("fetch: {e}"))?;
    if n > 0 && fetched != Fetched::Unchanged {
        return Err(format!("cycle {n}: the cached version was not current ({fetched:?})"));
    }
    let mine = format!("c{}@localhost", n % 10);
    client
        .set_item(&mine, Some(&format!("cycle {n}")), &["Soak"])
        .map_err(|e| format!("set_item: {e}"))?;
    if client.roster().get(&mine).and_then(|i| i.name.clone()) != Some(format!("cycle {n}").into()) {
        return Err(format!("cycle {n}: set_item not applied"));
    }
    // A change by the second session arrives as a push.
    let theirs = format!("e{}@localhost", n % 10);
    let name = format!("editor {n}");
    editor.set_item(&theirs, Some(&name), &[]).map_err(|e| format!("editor set_item: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.roster().get(&theirs).and_then(|i| i.name.as_deref()) != Some(name.as_str()) {
        if Instant::now() > deadline {
            return Err(format!("cycle {n}: the editor's push never arrived"));
        }
        client.poll(Duration::from_millis(50)).map_err(|e| format!("poll: {e}"))?;
    }
    client.remove_item(&mine).map_err(|e| format!("remove_item: {e}"))?;
    client
        .send_presence(&OwnPresence {
            available: true,
            status: Some(format!("cycle {n}")),
            ..Default::default()
        })
        .map_err(|e| format!("presence: {e}"))?;
    *cache = Roster::from_items(client.roster().version().map(str::to_string), client.roster().items().to_vec());
    client.disconnect().map_err(|e| format!("disconnect: {e}"))?;
    editor.poll(Duration::ZERO).map_err(|e| format!("editor poll: {e}"))?;
    Ok(())
}

#[test]
#[ignore = "minutes long: run by scripts/test-reliability.sh (or --ignored)"]
fn repeated_sessions_keep_file_descriptors_and_memory_flat() {
    let seconds = env_u64("SOAK_SECONDS", 75);
    let every = env_u64("SOAK_SAMPLE_EVERY", 25).max(1);
    let tolerance = env_u64("SOAK_RSS_TOLERANCE_KIB", 4096);
    let max_cycles = env_u64("SOAK_MAX_CYCLES", 100_000);
    let p = Prosody::start().expect("a real Prosody (run scripts/install-deps.sh)");
    p.register("soak", "localhost", "soak-pw").unwrap();
    let mut editor = Client::new(config(&p, "editor")).unwrap();
    editor.connect().unwrap();
    let mut reused = Client::new(config(&p, "soak")).unwrap();
    let mut cache = Roster::default();

    let started = Instant::now();
    let limit = Duration::from_secs(seconds);
    let mut samples: Vec<Sample> = Vec::new();
    let mut n = 0;
    while n < max_cycles && started.elapsed() < limit {
        // Odd cycles reconnect one long-lived client, even cycles create and drop a new one.
        let result = if n % 2 == 1 {
            cycle(n, &mut reused, &mut editor, &mut cache)
        } else {
            let mut fresh = Client::new(config(&p, "soak")).unwrap();
            cycle(n, &mut fresh, &mut editor, &mut cache)
        };
        if let Err(e) = result {
            panic!("cycle {n} failed after {:?}: {e}", started.elapsed());
        }
        n += 1;
        if n % every == 0 {
            samples.push(Sample {
                cycle: n,
                at: started.elapsed(),
                fds: open_fds(),
                rss: rss_kib(),
            });
        }
    }
    let took = started.elapsed();
    editor.disconnect().unwrap();
    eprintln!("soak: {n} cycles in {took:.1?} ({:.1} cycles/s)", n as f64 / took.as_secs_f64());
    eprintln!("soak: {:>7} {:>8} {:>4} {:>9}", "cycle", "seconds", "fds", "RSS KiB");
    for s in &samples {
        eprintln!("soak: {:>7} {:>8.1} {:>4} {:>9}", s.cycle, s.at.as_secs_f64(), s.fds, s.rss);
    }
    assert!(
        samples.len() >= 4,
        "too few samples ({}) for a verdict: raise SOAK_SECONDS or lower SOAK_SAMPLE_EVERY",
        samples.len()
    );
    // Warm-up: the first quarter of the samples (allocator arenas, OpenSSL tables, caches).
    let warm = samples.len() / 4;
    let base = &samples[warm];
    let after = &samples[warm..];
    let max_rss = after.iter().map(|s| s.rss).max().unwrap();
    let last = samples.last().unwrap();
    // Least-squares slope of RSS over cycles after warm-up, in KiB per 1000 cycles.
    let (xs, ys): (Vec<f64>, Vec<f64>) = after.iter().map(|s| (s.cycle as f64, s.rss as f64)).unzip();
    let (mx, my) = (xs.iter().sum::<f64>() / xs.len() as f64, ys.iter().sum::<f64>() / ys.len() as f64);
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx * 1000.0 } else { 0.0 };
    eprintln!(
        "soak: after warm-up (cycle {}): fds {} -> {}, RSS {} -> {} KiB (max {max_rss}), slope {slope:.0} KiB per 1000 cycles",
        base.cycle, base.fds, last.fds, base.rss, last.rss
    );
    for s in after {
        assert_eq!(
            s.fds, base.fds,
            "open file descriptors changed at cycle {} ({} -> {})",
            s.cycle, base.fds, s.fds
        );
    }
    assert!(
        max_rss <= base.rss + tolerance,
        "RSS grew from {} to {max_rss} KiB (tolerance {tolerance} KiB)",
        base.rss
    );
}
