//! The committed C header is exactly what the pinned cbindgen generates for the crate (the same as
//! `cbindgen --config cbindgen.toml --crate xmpp-roster`; cbindgen.toml keeps it to src/ffi/).
//! After changing the C API, regenerate it with `XMPP_ROSTER_BLESS=1 cargo test --test c_header`.

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new().with_config(config).with_crate(root).generate().expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = root.join("include/xmpp_roster.h");
    if std::env::var_os("XMPP_ROSTER_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/xmpp_roster.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let c = String::from_utf8_lossy(&committed);
        let g = String::from_utf8_lossy(&generated);
        let first = c.lines().zip(g.lines()).position(|(a, b)| a != b).unwrap_or(c.lines().count().min(g.lines().count()));
        panic!(
            "include/xmpp_roster.h is out of date (first difference at line {}):\n  committed: {:?}\n  generated: {:?}\nRegenerate with XMPP_ROSTER_BLESS=1 cargo test --test c_header",
            first + 1,
            c.lines().nth(first),
            g.lines().nth(first)
        );
    }
}

#[test]
fn header_declares_only_prefixed_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/xmpp_roster.h")).expect("header exists");
    for line in header.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("typedef struct ") {
            rest.split_whitespace().next()
        } else {
            None
        };
        if let Some(name) = name {
            assert!(name.starts_with("XMPP_ROSTER_") || name.starts_with("xmpp_roster_"), "unprefixed name in the header: {name}");
        }
    }
}
