//! Shared test support: the scripted fake server and small helpers.
pub mod fake_server;
