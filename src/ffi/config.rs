//! `xmpp_roster_config`: connection settings, built by the caller and copied by
//! `xmpp_roster_client_new`.

use super::error::{xmpp_roster_result, XMPP_ROSTER_ERR_INVALID_ARGUMENT};
use super::{arg_str, non_null, opt_str, Failed};
use crate::{Config, Mechanism, TlsMode};
use std::ffi::c_char;
use std::time::Duration;

/// Connection settings (opaque). Create with `xmpp_roster_config_new`, free with
/// `xmpp_roster_config_free`. Owned by the caller; not thread-safe (use it from one thread at a
/// time). A client copies it, so it may be freed or changed right after `xmpp_roster_client_new`.
pub struct xmpp_roster_config {
    _private: [u8; 0],
}

/// `xmpp_roster_config_set_tls`: connect in the clear, then require STARTTLS (the default).
pub const XMPP_ROSTER_TLS_STARTTLS: u32 = 0;
/// `xmpp_roster_config_set_tls`: TLS from the first byte (XEP-0368), default port 5223.
pub const XMPP_ROSTER_TLS_DIRECT: u32 = 1;
/// `xmpp_roster_config_set_tls`: no TLS at all. Only for tests and trusted local links.
pub const XMPP_ROSTER_TLS_PLAINTEXT: u32 = 2;

/// SASL mechanism bit for `xmpp_roster_config_set_sasl_mechanisms`.
pub const XMPP_ROSTER_SASL_SCRAM_SHA_256: u32 = 1;
/// SASL mechanism bit for `xmpp_roster_config_set_sasl_mechanisms`.
pub const XMPP_ROSTER_SASL_SCRAM_SHA_1: u32 = 2;
/// SASL mechanism bit for `xmpp_roster_config_set_sasl_mechanisms` (only used over TLS, or in
/// plaintext mode).
pub const XMPP_ROSTER_SASL_PLAIN: u32 = 4;

pub(crate) fn config_ref<'a>(p: *const xmpp_roster_config) -> Result<&'a Config, Failed> {
    non_null(p, "config")?;
    // SAFETY: a non-NULL config pointer came from `xmpp_roster_config_new` (the caller's contract)
    // and is a `Box<Config>` in disguise.
    Ok(unsafe { &*p.cast::<Config>() })
}

fn config_mut<'a>(p: *mut xmpp_roster_config) -> Result<&'a mut Config, Failed> {
    non_null(p, "config")?;
    // SAFETY: as `config_ref`; the caller uses a config from one thread at a time.
    Ok(unsafe { &mut *p.cast::<Config>() })
}

/// Creates a configuration for the account `jid` (a bare JID such as "juliet@example.com"; a
/// resource given as "juliet@example.com/balcony" is the requested resource) and `password`.
/// Both strings are copied. Defaults: STARTTLS required, server = the JID's domain on port 5222,
/// system CA roots, 30 s timeout, server-assigned resource, 16 MiB stanza limit, all SASL
/// mechanisms, no auto-approval.
///
/// On success writes a new config to `*out`; free it with `xmpp_roster_config_free`.
/// Errors: NULL_PARAMETER, INVALID_UTF8, INVALID_JID (malformed, or no localpart),
/// INVALID_ARGUMENT (password with characters XML cannot carry).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_new(jid: *const c_char, password: *const c_char, out: *mut *mut xmpp_roster_config) -> xmpp_roster_result {
    ffi_result! {
        non_null(out, "out")?;
        // SAFETY: C strings per the API contract.
        let jid = unsafe { arg_str(jid, "jid") }?;
        let password = unsafe { arg_str(password, "password") }?;
        let config = Config::new(jid, password)?;
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(config)).cast::<xmpp_roster_config>() };
        Ok(())
    }
}

/// Frees a config. NULL is ignored. Clients created from it are not affected.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_free(config: *mut xmpp_roster_config) {
    ffi_value!((); {
        if !config.is_null() {
            // SAFETY: came from `Box::into_raw` in `xmpp_roster_config_new`; freed once.
            drop(unsafe { Box::from_raw(config.cast::<Config>()) });
        }
    })
}

/// Connects to `host` (NULL: the JID's domain) on `port` (0: the TLS mode's default, 5222 or
/// 5223) instead of the defaults. `host` is copied. Errors: NULL_PARAMETER (config),
/// INVALID_UTF8, INVALID_ARGUMENT (empty host, or spaces/control characters in it).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_server(config: *mut xmpp_roster_config, host: *const c_char, port: u16) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        // SAFETY: C string per the contract.
        let host = unsafe { opt_str(host, "host") }?;
        config.set_server(host, Some(port))?;
        Ok(())
    }
}

/// Sets how the connection is secured: one of `XMPP_ROSTER_TLS_STARTTLS`,
/// `XMPP_ROSTER_TLS_DIRECT`, `XMPP_ROSTER_TLS_PLAINTEXT`. Errors: NULL_PARAMETER,
/// INVALID_ARGUMENT (any other value).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_tls(config: *mut xmpp_roster_config, mode: u32) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        let mode = match mode {
            XMPP_ROSTER_TLS_STARTTLS => TlsMode::StartTls,
            XMPP_ROSTER_TLS_DIRECT => TlsMode::DirectTls,
            XMPP_ROSTER_TLS_PLAINTEXT => TlsMode::Plaintext,
            other => return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("unknown TLS mode {other}"))),
        };
        config.set_tls(mode);
        Ok(())
    }
}

/// Also trusts the PEM certificates in the file at `path` (read when connecting); NULL goes back
/// to the system roots only. `path` is copied. Errors: NULL_PARAMETER (config), INVALID_UTF8.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_ca_file(config: *mut xmpp_roster_config, path: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        // SAFETY: C string per the contract.
        let path = unsafe { opt_str(path, "path") }?;
        config.set_ca_file(path.map(std::path::PathBuf::from));
        Ok(())
    }
}

/// The name the server's certificate must match (NULL: the JID's domain). Copied.
/// Errors: NULL_PARAMETER (config), INVALID_UTF8.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_tls_server_name(config: *mut xmpp_roster_config, name: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        // SAFETY: C string per the contract.
        let name = unsafe { opt_str(name, "name") }?;
        config.set_tls_server_name(name);
        Ok(())
    }
}

/// FOR TESTS ONLY: with `accept` true, any server certificate is accepted (expired, self-signed,
/// another host's). Anyone on the path can then read the password and the roster.
/// Errors: NULL_PARAMETER.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_danger_accept_invalid_certs(config: *mut xmpp_roster_config, accept: bool) -> xmpp_roster_result {
    ffi_result! {
        config_mut(config)?.set_danger_accept_invalid_certs(accept);
        Ok(())
    }
}

/// The longest any single wait on the server may take, in milliseconds (connect, each request,
/// ...); must be > 0. Errors: NULL_PARAMETER, INVALID_ARGUMENT (0).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_timeout_ms(config: *mut xmpp_roster_config, ms: u32) -> xmpp_roster_result {
    ffi_result! {
        config_mut(config)?.set_timeout(Duration::from_millis(u64::from(ms)))?;
        Ok(())
    }
}

/// The resource to bind (NULL: the server assigns one). Copied. A fixed resource makes the
/// client's full JID predictable. Errors: NULL_PARAMETER (config), INVALID_UTF8, INVALID_JID.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_resource(config: *mut xmpp_roster_config, resource: *const c_char) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        // SAFETY: C string per the contract.
        let resource = unsafe { opt_str(resource, "resource") }?;
        config.set_resource(resource)?;
        Ok(())
    }
}

/// The largest stanza accepted from the server, in bytes (at least 4096; default 16 MiB).
/// Errors: NULL_PARAMETER, INVALID_ARGUMENT (below 4096).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_max_stanza_size(config: *mut xmpp_roster_config, bytes: usize) -> xmpp_roster_result {
    ffi_result! {
        config_mut(config)?.set_max_stanza_size(bytes)?;
        Ok(())
    }
}

/// Restricts SASL to the mechanisms in `mask`, a non-empty OR of `XMPP_ROSTER_SASL_*` bits. The
/// strongest one the server offers is used. Errors: NULL_PARAMETER, INVALID_ARGUMENT (0 or
/// unknown bits).
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_sasl_mechanisms(config: *mut xmpp_roster_config, mask: u32) -> xmpp_roster_result {
    ffi_result! {
        let config = config_mut(config)?;
        let known = XMPP_ROSTER_SASL_SCRAM_SHA_256 | XMPP_ROSTER_SASL_SCRAM_SHA_1 | XMPP_ROSTER_SASL_PLAIN;
        if mask == 0 || mask & !known != 0 {
            return Err(Failed::new(XMPP_ROSTER_ERR_INVALID_ARGUMENT, format!("bad SASL mechanism mask {mask:#x}")));
        }
        let mut mechanisms = Vec::new();
        for (bit, m) in [(XMPP_ROSTER_SASL_SCRAM_SHA_256, Mechanism::ScramSha256), (XMPP_ROSTER_SASL_SCRAM_SHA_1, Mechanism::ScramSha1), (XMPP_ROSTER_SASL_PLAIN, Mechanism::Plain)] {
            if mask & bit != 0 {
                mechanisms.push(m);
            }
        }
        config.set_mechanisms(&mechanisms)?;
        Ok(())
    }
}

/// With `on` true, every incoming subscription request is approved automatically (the
/// subscription callback still reports it). Off by default. Errors: NULL_PARAMETER.
#[no_mangle]
pub unsafe extern "C" fn xmpp_roster_config_set_auto_approve(config: *mut xmpp_roster_config, on: bool) -> xmpp_roster_result {
    ffi_result! {
        config_mut(config)?.set_auto_approve(on);
        Ok(())
    }
}
