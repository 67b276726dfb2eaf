//! datenator-tui as a library: the pure state machine ([`app`]), its key bindings
//! ([`commands`]), rendering ([`ui`]) and the daemon connection task ([`net`]). The binary
//! wires them to a real terminal; tests drive them with `TestBackend`.
// No data a user, a database or Salesforce sends may panic this crate (tests may: see
// clippy.toml).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice
)]
pub mod app;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod net;
pub mod ui;
