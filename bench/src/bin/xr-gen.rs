//! Writes a generated roster to stdout: `xr-gen sql USER N` (ejabberd SQLite rows) or
//! `xr-gen xml N` (the roster result stanza a server would send).
use std::io::Write;
use xmpp_roster_bench::{result_stanza, roster, roster_sql};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["sql", user, n] => roster_sql(user, &roster(n.parse().expect("N: a number"))),
        ["xml", n] => result_stanza(&roster(n.parse().expect("N: a number")), "r1", "bench@localhost/bench"),
        _ => {
            eprintln!("usage: xr-gen sql USER N | xr-gen xml N");
            std::process::exit(2);
        }
    };
    std::io::stdout().lock().write_all(out.as_bytes()).expect("stdout");
}
