fn main() {
    // Cargo gives a cdylib no soname; C programs linking `-lxmpp_roster` must record
    // `libxmpp_roster.so.0` so that a later ABI-compatible build can replace the file.
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libxmpp_roster.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
