//! Properties of the C ABI that no C test can see: every export sits behind the panic boundary,
//! only src/ffi has `extern "C"`, and the header's version macros match Cargo.toml. (That the
//! shared library exports exactly the header's functions and has its soname is checked by CTest's
//! `exported_symbols` on the library CMake ships: `cargo test` does not build the cdylib.)

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The index just past the group that opens at `open` (`{`/`(`), skipping string literals.
fn close_of(src: &[u8], open: usize) -> usize {
    let (o, c) = (src[open], if src[open] == b'{' { b'}' } else { b')' });
    let mut depth = 0usize;
    let mut i = open;
    while i < src.len() {
        match src[i] {
            b'"' => {
                i += 1;
                while i < src.len() && src[i] != b'"' {
                    if src[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b if b == o => depth += 1,
            b if b == c => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced group");
}

/// (name, body) of every `extern "C" fn NAME(...) ... { body }` definition in `src`.
fn extern_fns(src: &str) -> Vec<(String, String, bool)> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = src[from..].find("extern \"C\" fn ") {
        let start = from + at;
        let name_start = start + "extern \"C\" fn ".len();
        let name_end = name_start + src[name_start..].find('(').expect("fn has a parameter list");
        let name = src[name_start..name_end].trim().to_string();
        let params_end = close_of(bytes, name_end);
        let body_open = params_end + src[params_end..].find('{').expect("fn has a body");
        let body_end = close_of(bytes, body_open);
        let body = src[body_open + 1..body_end - 1].to_string();
        let preceding = &src[..start];
        let attr_line = preceding.lines().rev().nth(1).unwrap_or("");
        let no_mangle = preceding.trim_end().ends_with("pub unsafe") && attr_line.trim() == "#[no_mangle]"
            || preceding.trim_end().ends_with("pub") && attr_line.trim() == "#[no_mangle]";
        out.push((name, body, no_mangle));
        from = body_end;
    }
    out
}

/// What is wrong with the exports in one source file (empty when all is well), and how many.
fn boundary_violations(src: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let fns = extern_fns(src);
    if src.matches("#[no_mangle]").count() != fns.len() {
        problems.push("every #[no_mangle] item must be an extern \"C\" fn and vice versa".to_string());
    }
    for (name, body, no_mangle) in &fns {
        if !no_mangle {
            problems.push(format!("{name} must be `#[no_mangle] pub [unsafe] extern \"C\" fn`"));
        }
        if !name.starts_with("xmpp_roster_") {
            problems.push(format!("exported name {name} lacks the xmpp_roster_ prefix"));
        }
        let body = body.trim();
        let Some(macro_name) = ["ffi_result!", "ffi_value!"].into_iter().find(|m| body.starts_with(m)) else {
            problems.push(format!("{name} does not start with ffi_result! or ffi_value!"));
            continue;
        };
        // The macro must be the whole body: nothing may run outside the boundary.
        let rest = body[macro_name.len()..].trim_start();
        let group_end = close_of(rest.as_bytes(), 0);
        if !rest[group_end..].trim().is_empty() {
            problems.push(format!("{name} has code after its panic boundary"));
        }
    }
    (problems, fns.len())
}

#[test]
fn every_export_is_behind_the_panic_boundary() {
    let mut files = Vec::new();
    rust_files(&root().join("src/ffi"), &mut files);
    let mut count = 0;
    for file in &files {
        let (problems, n) = boundary_violations(&std::fs::read_to_string(file).expect("readable"));
        assert!(problems.is_empty(), "{}: {problems:#?}", file.display());
        count += n;
    }
    assert!(count >= 55, "found only {count} exported functions: the scanner is broken");
}

#[test]
fn the_boundary_scanner_catches_each_kind_of_mistake() {
    let good = "#[no_mangle]\npub unsafe extern \"C\" fn xmpp_roster_ok(p: *const u8) -> u32 {\n    ffi_result! {\n        let s = \"}{\";\n        Ok(())\n    }\n}\n";
    assert_eq!(boundary_violations(good), (vec![], 1));
    let unguarded = "#[no_mangle]\npub extern \"C\" fn xmpp_roster_raw(x: u32) -> u32 {\n    x + 1\n}\n";
    assert_eq!(boundary_violations(unguarded).0.len(), 1);
    let trailing = "#[no_mangle]\npub extern \"C\" fn xmpp_roster_t() -> u32 {\n    ffi_value!(0; 1);\n    2\n}\n";
    assert_eq!(boundary_violations(trailing).0.len(), 1);
    let unmangled = "pub extern \"C\" fn xmpp_roster_n() -> u32 {\n    ffi_value!(0; 1)\n}\n";
    assert!(!boundary_violations(unmangled).0.is_empty());
    let unprefixed = "#[no_mangle]\npub extern \"C\" fn roster_n() -> u32 {\n    ffi_value!(0; 1)\n}\n";
    assert_eq!(boundary_violations(unprefixed).0.len(), 1);
}

#[test]
fn only_src_ffi_has_extern_c() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for file in files.iter().filter(|f| !f.starts_with(root().join("src/ffi"))) {
        let src = std::fs::read_to_string(file).expect("readable");
        assert!(!src.contains("extern \"C\"") && !src.contains("no_mangle"), "{}: extern \"C\" belongs in src/ffi only", file.display());
    }
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let header = std::fs::read_to_string(root().join("include/xmpp_roster.h")).expect("header");
    let value = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        header.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} missing")).trim().to_string()
    };
    assert_eq!(value("XMPP_ROSTER_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(value("XMPP_ROSTER_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(value("XMPP_ROSTER_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    // SAFETY: returns a static NUL-terminated string.
    let runtime = unsafe { std::ffi::CStr::from_ptr(xmpp_roster::ffi::version::xmpp_roster_version()) };
    assert_eq!(runtime.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
