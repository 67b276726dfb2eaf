//! Datenator's shared crate: the daemon ↔ TUI wire protocol ([`protocol`]), the domain
//! types the TUI displays ([`model`], [`datasource`]), socket-path resolution
//! ([`paths`]), the local-socket plumbing ([`socket`], [`wire`]) and the async IPC client
//! ([`client`]). Both sides use these types, so the protocol cannot drift.
// No data a user, a database or Salesforce sends may panic this crate (tests may: see
// clippy.toml).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice
)]
pub mod client;
pub mod datasource;
pub mod model;
pub mod paths;
pub mod protocol;
pub mod socket;
pub mod wire;

pub use protocol::RpcError;
