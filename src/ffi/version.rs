//! The library version, as macros for compile time and a function for run time.

use std::ffi::c_char;

/// Major version of the header; `tests/c_abi.rs` checks these against Cargo.toml.
pub const XMPP_ROSTER_VERSION_MAJOR: u32 = 0;
/// Minor version of the header.
pub const XMPP_ROSTER_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
pub const XMPP_ROSTER_VERSION_PATCH: u32 = 0;

/// The version of the loaded library, e.g. "0.1.0". Static; never NULL; never free it.
/// Compare with the `XMPP_ROSTER_VERSION_*` macros to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn xmpp_roster_version() -> *const c_char {
    ffi_value!(cstr!("unknown");
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast::<c_char>()
    )
}
