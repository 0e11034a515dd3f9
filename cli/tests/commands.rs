//! The subcommands, end to end against a real Prosody.

mod common;
use common::*;

#[test]
fn an_empty_roster_lists_as_empty_in_every_format() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    assert_eq!(juliet.ok(&["list"]).stdout, "(no contacts)\n");
    assert_eq!(juliet.list(), Vec::<serde_json::Value>::new());
    assert_eq!(
        juliet.ok(&["list", "--csv"]).stdout,
        "jid,name,subscription,ask,approved,groups\n"
    );
}

#[test]
fn add_show_rename_group_and_remove_change_the_server_roster() {
    let server = start_server();
    let juliet = account(&server, "juliet");

    let r = juliet.ok(&[
        "add",
        "Romeo@Localhost",
        "--name",
        "Romeo",
        "--group",
        "Montague",
        "--group",
        "Verona",
    ]);
    assert!(r.stdout.starts_with("romeo@localhost "), "{}", r.stdout);
    juliet.ok(&["add", "nurse@localhost", "--group", "Capulet"]);

    let romeo = juliet.item("romeo@localhost").expect("romeo listed");
    assert_eq!(romeo["name"], "Romeo");
    assert_eq!(romeo["subscription"], "none");
    let mut groups: Vec<String> = serde_json::from_value(romeo["groups"].clone()).unwrap();
    groups.sort();
    assert_eq!(groups, vec!["Montague", "Verona"]);

    // Adding again keeps the name and adds the group.
    juliet.ok(&["add", "romeo@localhost", "--group", "Lovers"]);
    let romeo = juliet.item("romeo@localhost").unwrap();
    assert_eq!(romeo["name"], "Romeo");
    assert_eq!(romeo["groups"].as_array().unwrap().len(), 3);

    let table = juliet.ok(&["list"]).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("JID") && lines[0].contains("GROUPS"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("nurse@localhost") && lines[2].starts_with("romeo@localhost"),
        "sorted by JID: {table}"
    );

    let show = juliet.ok(&["show", "romeo@localhost"]).stdout;
    assert!(show.contains("name:         \"Romeo\""), "{show}");
    let shown: serde_json::Value =
        serde_json::from_str(&juliet.ok(&["show", "romeo@localhost", "--json"]).stdout).unwrap();
    assert_eq!(shown["jid"], "romeo@localhost");

    juliet.ok(&["rename", "romeo@localhost", "Romeo Montague"]);
    assert_eq!(
        juliet.item("romeo@localhost").unwrap()["name"],
        "Romeo Montague"
    );
    juliet.ok(&["rename", "romeo@localhost", ""]);
    assert_eq!(
        juliet.item("romeo@localhost").unwrap()["name"],
        serde_json::Value::Null
    );

    juliet.ok(&["group", "remove", "romeo@localhost", "Verona", "Lovers"]);
    juliet.ok(&["group", "add", "romeo@localhost", "Friends"]);
    let mut groups: Vec<String> =
        serde_json::from_value(juliet.item("romeo@localhost").unwrap()["groups"].clone()).unwrap();
    groups.sort();
    assert_eq!(groups, vec!["Friends", "Montague"]);

    // Filters.
    let in_capulet = juliet.ok(&["list", "--json", "--group", "Capulet"]).stdout;
    let in_capulet: Vec<serde_json::Value> = serde_json::from_str(&in_capulet).unwrap();
    assert_eq!(in_capulet.len(), 1);
    assert_eq!(in_capulet[0]["jid"], "nurse@localhost");
    assert_eq!(
        juliet.ok(&["list", "--subscription", "both"]).stdout,
        "(no contacts match)\n"
    );
    let csv = juliet
        .ok(&["list", "--csv", "--subscription", "none"])
        .stdout;
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let r = juliet.ok(&["remove", "nurse@localhost"]);
    assert_eq!(r.stdout, "removed nurse@localhost\n");
    assert!(juliet.item("nurse@localhost").is_none());
    assert_eq!(juliet.list().len(), 1);
}

#[test]
fn a_contact_that_is_not_in_the_roster_exits_7() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    for args in [
        &["remove", "paris@localhost"][..],
        &["show", "paris@localhost"],
        &["rename", "paris@localhost", "Paris"],
        &["group", "add", "paris@localhost", "G"],
    ] {
        let r = juliet.run(args);
        assert_eq!(r.code, 7, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("paris@localhost is not in the roster of"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // rename must not have added it.
    assert!(juliet.list().is_empty());
}

#[test]
fn the_account_itself_is_not_a_contact() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    // `remove` judges by the fetched roster (servers differ: Prosody would answer not-allowed,
    // ejabberd would accept), so the answer is the same everywhere: not in the roster.
    let r = juliet.run(&["remove", &juliet.jid]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("is not in the roster of"), "{}", r.stderr);
    // `add` catches that one before asking the server.
    let r = juliet.run(&["add", &juliet.jid]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn subscribe_approve_and_watch_show_the_whole_exchange() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let romeo = account(&server, "romeo");

    let mut jw = juliet.watch(&["--json"]);
    // The password is never on a command line that `ps` shows.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", jw.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(PASSWORD_PREFIX));

    juliet.ok(&["subscribe", &romeo.jid]);
    let mut seen = Vec::new();
    jw.read_until(&mut seen, |l| {
        l.contains("\"roster\"") && l.contains("\"ask\":true")
    });

    // Romeo goes online and gets the request.
    let mut rw = romeo.watch(&["--count", "1"]);
    let mut romeo_saw = Vec::new();
    rw.read_until(&mut romeo_saw, |l| l.starts_with("subscribe "));
    assert!(
        romeo_saw.last().unwrap().starts_with(&format!(
            "subscribe {} (asks to see your presence",
            juliet.jid
        )),
        "{romeo_saw:?}"
    );
    let status = rw.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "watch --count 1 ends by itself");

    romeo.ok(&["approve", &juliet.jid]);
    // The approval reaches Juliet as two stanzas: the "subscribed" presence and the roster push
    // to 'to'. Prosody 0.12 sends the presence first, but they are separate stanzas (ejabberd
    // sends the push first): wait for each of them, not for the push alone.
    let subscribed = |l: &str| l.contains("\"kind\":\"subscribed\"");
    let now_to = |l: &str| l.contains("\"subscription\":\"to\"");
    jw.read_until(&mut seen, now_to);
    if !seen.iter().any(|l| subscribed(l)) {
        jw.read_until(&mut seen, subscribed);
    }
    let events: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).expect("every watch --json line is JSON"))
        .collect();
    assert!(
        events.iter().any(|e| e["type"] == "subscription"
            && e["kind"] == "subscribed"
            && e["from"] == romeo.jid.as_str()),
        "{seen:#?}"
    );
    let to = events
        .iter()
        .find(|e| e["item"]["subscription"] == "to")
        .expect("the push to 'to'");
    assert_eq!(to["type"], "roster");
    assert_eq!(to["item"]["jid"], romeo.jid.as_str());

    assert_eq!(jw.interrupt(), 0, "Ctrl-C ends watch with 0");
    assert_eq!(juliet.item(&romeo.jid).unwrap()["subscription"], "to");
    assert_eq!(romeo.item(&juliet.jid).unwrap()["subscription"], "from");

    // Romeo cancels Juliet's subscription; she unsubscribes too.
    romeo.ok(&["deny", &juliet.jid]);
    juliet.ok(&["unsubscribe", &romeo.jid]);
    assert_eq!(juliet.item(&romeo.jid).unwrap()["subscription"], "none");
}

#[test]
fn watch_text_lines_show_roster_pushes() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let mut w = juliet.watch(&["--no-presence"]);
    juliet.ok(&[
        "add",
        "tybalt@localhost",
        "--name",
        "Tybalt",
        "--group",
        "Capulet",
    ]);
    juliet.ok(&["remove", "tybalt@localhost"]);
    let mut seen = Vec::new();
    w.read_until(&mut seen, |l| l.starts_with("roster removed"));
    assert_eq!(
        seen,
        vec![
            "roster added tybalt@localhost subscription=none name=\"Tybalt\" groups=\"Capulet\""
                .to_string(),
            "roster removed tybalt@localhost".to_string(),
        ]
    );
    assert_eq!(w.interrupt(), 0);
}

#[test]
fn export_writes_the_roster_as_json_to_a_file_or_stdout() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    juliet.ok(&[
        "add",
        "romeo@localhost",
        "--name",
        "Romeo",
        "--group",
        "Verona",
    ]);
    let dir = TempDir::new("export");
    let file = temp_file(&dir.0, "juliet.json");
    let r = juliet.ok(&["export", &file]);
    assert_eq!(
        r.stdout,
        format!("exported 1 contact of {} to {file}\n", juliet.jid)
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["format"], "xmpp-roster-export");
    assert_eq!(saved["account"], juliet.jid.as_str());
    assert_eq!(saved["items"][0]["name"], "Romeo");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "a contact list is private"
    );

    let to_stdout: serde_json::Value =
        serde_json::from_str(&juliet.ok(&["export", "-"]).stdout).unwrap();
    assert_eq!(to_stdout["items"], saved["items"]);
}
