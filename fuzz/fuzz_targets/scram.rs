#![no_main]
// The property checks live in fuzz/src/lib.rs (shared with tests/fuzz_regressions.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| xmpp_roster_fuzz::scram(data));
