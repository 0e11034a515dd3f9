//! Exit codes and messages when something is wrong, and the password's privacy.

mod common;
use common::*;
use std::net::TcpListener;

fn assert_no_password(r: &Run, password: &str) {
    assert!(
        !r.stdout.contains(password) && !r.stderr.contains(password),
        "password leaked:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn a_wrong_password_exits_5_and_says_where_the_password_came_from() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let wrong = format!("{PASSWORD_PREFIX}wrong");
    let r = Run::of(
        juliet
            .command()
            .env("XMPP_ROSTER_PASSWORD", &wrong)
            .arg("list")
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "authentication failed (not-authorized): check the password in XMPP_ROSTER_PASSWORD"
        ),
        "{}",
        r.stderr
    );
    assert_no_password(&r, &wrong);

    // From a file, the message names the file.
    let dir = TempDir::new("pw");
    let file = temp_file(&dir.0, "password");
    std::fs::write(&file, format!("{wrong}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = Run::of(
        juliet
            .command()
            .env_remove("XMPP_ROSTER_PASSWORD")
            .args(["list", "--password-file", &file])
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("check the password in the file {file}")),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("warning"),
        "a 0600 file gives no warning: {}",
        r.stderr
    );

    // An unknown account fails the same way.
    let r = Run::of(
        juliet
            .command()
            .env("XMPP_ROSTER_JID", "nobody@localhost")
            .arg("list")
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
}

#[test]
fn the_password_file_works_and_the_password_appears_nowhere() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let dir = TempDir::new("pwok");
    let file = temp_file(&dir.0, "password");
    std::fs::write(&file, format!("{}\r\n", juliet.password)).unwrap();
    let r = Run::of(
        juliet
            .command()
            .env_remove("XMPP_ROSTER_PASSWORD")
            .args(["--password-file", &file, "add", "romeo@localhost"])
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("can be read by other users"),
        "a world-readable password file is warned about: {}",
        r.stderr
    );
    assert_no_password(&r, &juliet.password);
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["show", "romeo@localhost"],
        &["export", "-"],
        &["--help"],
        &["list", "--help"],
    ] {
        let r = juliet.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_no_password(&r, &juliet.password);
    }
    // `--password` is not a flag at all.
    let r = juliet.run(&["list", "--password", "x"]);
    assert_eq!(r.code, 2);
}

#[test]
fn an_unreachable_server_exits_3_and_names_the_address() {
    // A port that was just free and is now closed.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = Run::of(
        bare_command()
            .env("XMPP_ROSTER_PASSWORD", "x")
            .args([
                "--jid",
                "juliet@localhost",
                "--server",
                &format!("127.0.0.1:{port}"),
                "--timeout",
                "5",
                "list",
            ])
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("check that the server is running"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_server_that_never_answers_times_out_with_exit_3() {
    // Accepts the TCP connection and says nothing.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let started = std::time::Instant::now();
    let r = Run::of(
        bare_command()
            .env("XMPP_ROSTER_PASSWORD", "x")
            .args([
                "--jid",
                "juliet@localhost",
                "--server",
                &addr.to_string(),
                "--timeout",
                "1",
                "list",
            ])
            .output()
            .unwrap(),
        &[],
    );
    drop(l);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("within 1s") && r.stderr.contains("raise --timeout"),
        "{}",
        r.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}

#[test]
fn an_untrusted_certificate_exits_4_and_suggests_ca_file() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let r = Run::of(
        juliet
            .command()
            .env_remove("XMPP_ROSTER_CA_FILE")
            .arg("list")
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("--ca-file"), "{}", r.stderr);
    // Direct TLS on the STARTTLS port fails as TLS too (or as a connection problem), never as auth.
    let r = Run::of(
        juliet
            .command()
            .args(["--tls", "direct", "list"])
            .output()
            .unwrap(),
        &[],
    );
    assert!(r.code == 4 || r.code == 3, "{}: {}", r.code, r.stderr);
}

#[test]
fn direct_tls_and_plaintext_connect_too() {
    let server = start_server();
    let juliet = account(&server, "juliet");
    let direct = format!("127.0.0.1:{}", server.tls_port());
    juliet.ok(&["--tls", "direct", "--server", &direct, "list"]);
    juliet.ok(&["--tls", "plaintext", "list"]);
}

#[test]
fn usage_errors_exit_2_before_touching_the_network() {
    let no_jid = Run::of(
        bare_command()
            .env("XMPP_ROSTER_PASSWORD", "x")
            .arg("list")
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(no_jid.code, 2);
    assert!(
        no_jid
            .stderr
            .contains("pass --jid JID or set XMPP_ROSTER_JID"),
        "{}",
        no_jid.stderr
    );

    let no_password = Run::of(
        bare_command()
            .args(["--jid", "juliet@localhost", "list"])
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(no_password.code, 2);
    assert!(
        no_password.stderr.contains(
            "set the environment variable XMPP_ROSTER_PASSWORD, or pass --password-file FILE"
        ),
        "{}",
        no_password.stderr
    );

    // A closed port would give 3; these must fail earlier with 2.
    let base = |args: &[&str]| {
        Run::of(
            bare_command()
                .env("XMPP_ROSTER_PASSWORD", "x")
                .args(["--jid", "juliet@localhost", "--server", "127.0.0.1:1"])
                .args(args)
                .output()
                .unwrap(),
            &[],
        )
    };
    for args in [
        &["add", "romeo@localhost/orchard"][..],
        &["add", "not a jid"],
        &["show", "@localhost"],
        &["add", "romeo@localhost", "--group", ""],
        &["--tls", "sometimes", "list"],
        &["--timeout", "0", "list"],
        &["--server", "host:99999", "list"],
        &["--ca-file", "/nonexistent/ca.pem", "list"],
        &["list", "--json", "--csv"],
        &["frobnicate"],
        &[],
    ] {
        let r = base(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    let r = Run::of(
        bare_command()
            .args(["--jid", "not an account", "list"])
            .env("XMPP_ROSTER_PASSWORD", "x")
            .output()
            .unwrap(),
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn help_lists_the_exit_codes_and_every_subcommand_has_help() {
    let r = Run::of(bare_command().arg("--help").output().unwrap(), &[]);
    assert_eq!(r.code, 0);
    for needle in [
        "Exit codes:",
        "5  authentication",
        "XMPP_ROSTER_PASSWORD",
        "watch",
        "import",
    ] {
        assert!(
            r.stdout.contains(needle),
            "--help lacks {needle:?}:\n{}",
            r.stdout
        );
    }
    for sub in [
        "list",
        "show",
        "add",
        "rename",
        "group",
        "remove",
        "subscribe",
        "approve",
        "deny",
        "unsubscribe",
        "watch",
        "export",
        "import",
    ] {
        let r = Run::of(bare_command().args([sub, "--help"]).output().unwrap(), &[]);
        assert_eq!(r.code, 0, "{sub} --help");
        assert!(
            r.stdout.contains("Usage: xmpp-roster"),
            "{sub}: {}",
            r.stdout
        );
    }
}
