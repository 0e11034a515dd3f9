//! Load: many clients in one process, each on its own thread and its own account, against ONE
//! Prosody on 127.0.0.1, connecting (STARTTLS + SCRAM), fetching, adding and removing items at the
//! same time. Proves: no deadlock (everything ends within an overall deadline), no cross-talk
//! (each client sees exactly its own items, in its roster and in its events, and the server
//! agrees), every operation succeeds.
//!
//! `LOAD_CLIENTS` (default 200) and `LOAD_ITEMS` (items added per client, default 4) scale it.
//! Bounded: a fixed number of clients and operations, loopback only, a 120 s overall deadline.
//! Ignored by a plain `cargo test`: scripts/test-reliability.sh runs it, or
//! `cargo test --release --test load -- --ignored --nocapture`.

mod support;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::record_events;
use xmpp_roster::{Client, Config, Event, Fetched, Mechanism, TlsMode};
use xmpp_roster_testsupport::{lua_string, Prosody};

const DEADLINE: Duration = Duration::from_secs(120);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one client did, or where it failed.
struct Outcome {
    index: usize,
    result: Result<Timings, String>,
}

#[derive(Default, Clone, Copy)]
struct Timings {
    connect: Duration,
    fetch: Duration,
    set: Duration,
    remove: Duration,
}

fn user(i: usize) -> String {
    format!("load{i}")
}

fn contact(i: usize, k: usize) -> String {
    format!("c{i}x{k}@localhost")
}

fn config(p: &Prosody, i: usize, resource: &str) -> Config {
    let mut c = Config::new(&format!("{}@localhost/{resource}", user(i)), &format!("pw-{i}")).unwrap();
    c.set_server(Some(p.host()), Some(p.c2s_port())).unwrap();
    c.set_tls(TlsMode::StartTls);
    c.set_ca_file(Some(p.ca_file().to_path_buf()));
    c.set_tls_server_name(Some("localhost"));
    c.set_timeout(Duration::from_secs(60)).unwrap();
    c
}

/// One client's whole life: connect, fetch, add items, check, remove some, check, and a second
/// session's fetch to see that the server holds exactly this account's items.
fn run_client(p: &Prosody, i: usize, items: usize, start: &Barrier) -> Result<Timings, String> {
    let mut t = Timings::default();
    let mut client = Client::new(config(p, i, "load")).map_err(|e| format!("new: {e}"))?;
    let events = record_events(&mut client);
    start.wait();
    let s = Instant::now();
    client.connect().map_err(|e| format!("connect: {e}"))?;
    t.connect = s.elapsed();
    let s = Instant::now();
    if client.fetch_roster().map_err(|e| format!("fetch: {e}"))? != Fetched::Full {
        return Err("first fetch: not a full roster".into());
    }
    t.fetch = s.elapsed();
    if !client.roster().is_empty() {
        return Err(format!("a fresh account has items: {:?}", client.roster().items()));
    }
    let owner = format!("owner {i}");
    let s = Instant::now();
    for k in 0..items {
        let group = format!("g{i}");
        client
            .set_item(&contact(i, k), Some(&owner), &[group.as_str()])
            .map_err(|e| format!("set_item {k}: {e}"))?;
    }
    t.set = s.elapsed();
    let want: BTreeSet<String> = (0..items).map(|k| contact(i, k)).collect();
    check_roster(&client, &want, &owner, i)?;
    let s = Instant::now();
    for k in (0..items).step_by(2) {
        client.remove_item(&contact(i, k)).map_err(|e| format!("remove_item {k}: {e}"))?;
    }
    t.remove = s.elapsed();
    let want: BTreeSet<String> = (0..items).filter(|k| k % 2 == 1).map(|k| contact(i, k)).collect();
    check_roster(&client, &want, &owner, i)?;
    // Every event this handle saw was about this account's contacts.
    for e in events.lock().unwrap().iter() {
        if let Event::RosterChanged { item, .. } = e {
            if !item.jid.starts_with(&format!("c{i}x")) || item.name.as_deref() != Some(owner.as_str()) {
                return Err(format!("cross-talk: client {i} got an event for {item:?}"));
            }
        }
    }
    client.disconnect().map_err(|e| format!("disconnect: {e}"))?;
    // The server agrees: a second session of the same account fetches the same roster (PLAIN
    // over TLS here: Prosody's SCRAM with 10,000 PBKDF2 rounds per login is the bottleneck).
    let mut check_config = config(p, i, "check");
    check_config.set_mechanisms(&[Mechanism::Plain]).unwrap();
    let mut check = Client::new(check_config).map_err(|e| format!("new: {e}"))?;
    check.connect().map_err(|e| format!("second connect: {e}"))?;
    check.fetch_roster().map_err(|e| format!("second fetch: {e}"))?;
    check_roster(&check, &want, &owner, i)?;
    check.disconnect().map_err(|e| format!("second disconnect: {e}"))?;
    Ok(t)
}

fn check_roster(client: &Client, want: &BTreeSet<String>, owner: &str, i: usize) -> Result<(), String> {
    let got: BTreeSet<String> = client.roster().items().iter().map(|it| it.jid.to_string()).collect();
    if &got != want {
        return Err(format!("client {i}: roster {got:?}, expected {want:?}"));
    }
    for it in client.roster().items() {
        if it.name.as_deref() != Some(owner) || it.groups != [format!("g{i}")] {
            return Err(format!("cross-talk: client {i} holds {it:?}"));
        }
    }
    Ok(())
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[test]
#[ignore = "a minute of 200 concurrent clients: run by scripts/test-reliability.sh (or --ignored)"]
fn two_hundred_clients_on_their_own_threads_and_accounts_without_deadlock_or_cross_talk() {
    let n = env_usize("LOAD_CLIENTS", 200);
    let items = env_usize("LOAD_ITEMS", 4);
    let started = Instant::now();
    let mut p = Prosody::start().expect("a real Prosody (run scripts/install-deps.sh)");
    // Accounts: written as Prosody's internal_plain files while the server is stopped (one
    // restart, ~2 s, instead of one prosodyctl run per user).
    p.stop().unwrap();
    for i in 0..n {
        let path = p.account_file(&user(i), "localhost");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("return {{\n\t[\"password\"] = {};\n}};\n", lua_string(&format!("pw-{i}")))).unwrap();
    }
    p.restart().unwrap();
    let setup = started.elapsed();

    let p = Arc::new(p);
    let barrier = Arc::new(Barrier::new(n));
    let (tx, rx) = mpsc::channel();
    let run_started = Instant::now();
    for i in 0..n {
        let (p, barrier, tx) = (Arc::clone(&p), Arc::clone(&barrier), tx.clone());
        std::thread::Builder::new()
            .name(format!("load-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_client(&p, i, items, &barrier))).unwrap_or_else(|_| Err("panicked".into()));
                let _ = tx.send(Outcome { index: i, result });
            })
            .unwrap();
    }
    drop(tx);
    let mut done = vec![false; n];
    let mut failures = Vec::new();
    let mut timings = Vec::new();
    let deadline = run_started + DEADLINE;
    while done.iter().any(|d| !d) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(o) => {
                done[o.index] = true;
                match o.result {
                    Ok(t) => timings.push(t),
                    Err(e) => failures.push(format!("client {}: {e}", o.index)),
                }
            }
            Err(_) => {
                let stuck: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
                panic!("deadlock or hang: {} of {n} clients did not finish within {DEADLINE:?}: {stuck:?}", stuck.len());
            }
        }
    }
    let run = run_started.elapsed();
    assert!(failures.is_empty(), "{} of {n} clients failed:\n{}", failures.len(), failures.join("\n"));
    let mut connect: Vec<Duration> = timings.iter().map(|t| t.connect).collect();
    let mut fetch: Vec<Duration> = timings.iter().map(|t| t.fetch).collect();
    let mut set: Vec<Duration> = timings.iter().map(|t| t.set / items.max(1) as u32).collect();
    let mut remove: Vec<Duration> = timings.iter().map(|t| t.remove / items.div_ceil(2).max(1) as u32).collect();
    let ops = n * (2 + 2 + items + items.div_ceil(2));
    eprintln!(
        "load: {n} clients x {items} items: setup {setup:.2?}, run {run:.2?} ({:.0} operations/s over {ops} operations)",
        ops as f64 / run.as_secs_f64()
    );
    for (what, v) in [
        ("connect", &mut connect),
        ("fetch", &mut fetch),
        ("set_item", &mut set),
        ("remove_item", &mut remove),
    ] {
        eprintln!(
            "load: {what:<11} p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
}
