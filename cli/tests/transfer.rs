//! export / import: round trips, moving to another account, and big imports.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// jid -> (name, sorted groups)
fn names_and_groups(items: &[Value]) -> BTreeMap<String, (Value, Vec<String>)> {
    items
        .iter()
        .map(|i| {
            let mut g: Vec<String> = serde_json::from_value(i["groups"].clone()).unwrap();
            g.sort();
            (
                i["jid"].as_str().unwrap().to_string(),
                (i["name"].clone(), g),
            )
        })
        .collect()
}

#[test]
fn a_list_moved_to_another_account_loses_nothing() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let romeo = account(&server, "romeo");
    let nurse = account(&server, "nurse");
    let tybalt = account(&server, "tybalt");

    juliet.ok(&[
        "add", &romeo.jid, "--name", "Romeo", "--group", "Montague", "--group", "Lovers",
    ]);
    juliet.ok(&["add", &nurse.jid, "--name", "Nurse", "--group", "Capulet"]);
    juliet.ok(&[
        "add",
        "friar@localhost",
        "--name",
        "Friar \"Laurence\", O.F.M.",
        "--group",
        "Verona & Mantua",
    ]);
    // romeo: both ways; nurse: asked, never answered; tybalt: sees Juliet only.
    juliet.ok(&["subscribe", &romeo.jid]);
    romeo.ok(&["approve", &juliet.jid]);
    romeo.ok(&["subscribe", &juliet.jid]);
    juliet.ok(&["approve", &romeo.jid]);
    juliet.ok(&["subscribe", &nurse.jid]);
    tybalt.ok(&["subscribe", &juliet.jid]);
    juliet.ok(&["approve", &tybalt.jid]);

    let before = juliet.list();
    let sub = |items: &[Value], jid: &str| {
        items
            .iter()
            .find(|i| i["jid"] == jid)
            .map(|i| (i["subscription"].clone(), i["ask"].clone()))
    };
    assert_eq!(
        sub(&before, &romeo.jid),
        Some(("both".into(), false.into())),
        "{before:#?}"
    );
    assert_eq!(
        sub(&before, &nurse.jid),
        Some(("none".into(), true.into())),
        "{before:#?}"
    );
    assert_eq!(
        sub(&before, &tybalt.jid),
        Some(("from".into(), false.into())),
        "{before:#?}"
    );

    let dir = TempDir::new("move");
    let file = temp_file(&dir.0, "juliet.json");
    juliet.ok(&["export", &file]);

    let juliet2 = account(&server, "juliet");
    // Without --yes: the diff, and nothing changes.
    let dry = juliet2.ok(&["import", &file]);
    assert!(
        dry.stdout
            .contains(&format!("+ {}  name \"Romeo\"", romeo.jid)),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!("> {}  ask again", nurse.jid)),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains(&format!("< {}  pre-approve", tybalt.jid)),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("4 to add, 0 to change, 2 subscription requests, 2 pre-approvals, 0 to remove, 0 unchanged"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .ends_with("nothing changed yet: run again with --yes to apply\n"),
        "{}",
        dry.stdout
    );
    assert!(juliet2.list().is_empty());

    let applied = juliet2.ok(&["import", &file, "--yes"]);
    assert!(
        applied.stdout.ends_with("applied 8 changes\n"),
        "{}",
        applied.stdout
    );
    let after = juliet2.list();
    assert_eq!(
        names_and_groups(&after),
        names_and_groups(&before),
        "names and groups moved unchanged"
    );
    // What only the contacts can grant was asked for again.
    assert_eq!(sub(&after, &romeo.jid).unwrap().1, true, "{after:#?}");
    assert_eq!(sub(&after, &nurse.jid).unwrap().1, true, "{after:#?}");

    // ... and what juliet had granted was granted in advance: their requests are approved at once.
    romeo.ok(&["approve", &juliet2.jid]);
    romeo.ok(&["subscribe", &juliet2.jid]);
    tybalt.ok(&["subscribe", &juliet2.jid]);
    let now = juliet2.list();
    assert_eq!(
        sub(&now, &romeo.jid),
        Some(("both".into(), false.into())),
        "{now:#?}"
    );
    assert_eq!(sub(&now, &tybalt.jid).unwrap().0, "from", "{now:#?}");
    assert_eq!(
        sub(&now, &nurse.jid),
        Some(("none".into(), true.into())),
        "{now:#?}"
    );

    // Importing again is a no-op.
    let again = juliet2.ok(&["import", &file, "--yes"]);
    assert!(
        again.stdout.ends_with("nothing to change\n"),
        "{}",
        again.stdout
    );
}

#[test]
fn import_restores_changes_and_prune_removes_extras() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    juliet.ok(&[
        "add",
        "romeo@localhost",
        "--name",
        "Romeo",
        "--group",
        "Montague",
    ]);
    juliet.ok(&["add", "nurse@localhost", "--name", "Nurse"]);
    let dir = TempDir::new("restore");
    let file = temp_file(&dir.0, "saved.json");
    juliet.ok(&["export", &file]);
    let saved = juliet.list();

    juliet.ok(&["remove", "nurse@localhost"]);
    juliet.ok(&["rename", "romeo@localhost", "R."]);
    juliet.ok(&["add", "paris@localhost"]);

    let plan = juliet.ok(&["import", &file, "--prune"]).stdout;
    assert!(plan.contains("+ nurse@localhost"), "{plan}");
    assert!(
        plan.contains("~ romeo@localhost  name \"R.\" -> \"Romeo\""),
        "{plan}"
    );
    assert!(plan.contains("- paris@localhost"), "{plan}");
    juliet.ok(&["import", &file, "--prune", "--yes"]);
    assert_eq!(names_and_groups(&juliet.list()), names_and_groups(&saved));

    // Standard input works, and a malformed file is refused before anything changes.
    let r = Run::of(
        {
            let mut c = juliet.command();
            c.args(["import", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(br#"[{"jid":"benvolio@localhost","name":"Ben"}]"#)
                .unwrap();
            child.wait_with_output().unwrap()
        },
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("+ benvolio@localhost  name \"Ben\""),
        "{}",
        r.stdout
    );
    std::fs::write(&file, r#"{"format":"xmpp-roster-export","format_version":1,"items":[{"jid":"ok@localhost"},{"jid":"bad@localhost/res"}]}"#).unwrap();
    let r = juliet.run(&["import", &file, "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("item 2 (bad@localhost/res)"),
        "{}",
        r.stderr
    );
    assert!(juliet.item("ok@localhost").is_none());
}

#[test]
fn an_import_of_1000_contacts_applies_them_all() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let items: Vec<Value> = (0..1000)
        .map(|n| {
            serde_json::json!({
                "jid": format!("contact{n:04}@example.org"),
                "name": format!("Contact #{n}"),
                "groups": [format!("Group {}", n % 10), "Imported"],
            })
        })
        .collect();
    let dir = TempDir::new("big");
    let file = temp_file(&dir.0, "big.json");
    std::fs::write(&file, serde_json::to_string(&items).unwrap()).unwrap();

    let started = std::time::Instant::now();
    let r = juliet.ok(&["import", &file, "--yes"]);
    let took = started.elapsed();
    assert!(
        r.stdout.contains("1000 to add"),
        "{}",
        &r.stdout[r.stdout.len().saturating_sub(300)..]
    );
    assert!(r.stdout.ends_with("applied 1000 changes\n"));
    // Piped stderr: no progress drawing.
    assert!(
        !r.stderr.contains('\r'),
        "progress must stay off when stderr is not a terminal: {:?}",
        r.stderr
    );
    eprintln!("imported 1000 contacts in {took:?}");

    let listed = juliet.list();
    assert_eq!(listed.len(), 1000);
    let first = listed
        .iter()
        .find(|i| i["jid"] == "contact0007@example.org")
        .unwrap();
    assert_eq!(first["name"], "Contact #7");
    let csv = juliet.ok(&["list", "--csv", "--group", "Group 3"]).stdout;
    assert_eq!(csv.lines().count(), 101, "header + 100 contacts");
}

#[test]
fn ctrl_c_stops_an_import_cleanly_and_running_it_again_finishes_it() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let items: Vec<Value> = (0..400)
        .map(|n| serde_json::json!({ "jid": format!("c{n}@example.org"), "groups": ["G"] }))
        .collect();
    let dir = TempDir::new("ctrlc");
    let file = temp_file(&dir.0, "items.json");
    std::fs::write(&file, serde_json::to_string(&items).unwrap()).unwrap();

    let child = juliet
        .command()
        .args(["import", &file, "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let r = Run::of(child.wait_with_output().unwrap(), &[]);
    assert_eq!(r.code, 130, "Ctrl-C exits 130: {}", r.stderr);
    assert!(r.stderr.contains("interrupted"), "{}", r.stderr);

    let again = juliet.ok(&["import", &file, "--yes"]);
    assert!(again.stdout.contains("applied"), "{}", again.stdout);
    assert_eq!(juliet.list().len(), 400);
}
