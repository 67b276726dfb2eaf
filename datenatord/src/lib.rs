//! The Datenator daemon as a library; `main.rs` is a thin binary over it.
//!
//! * [`daemon`] — the life cycle: config, store, socket, readiness, signals, shutdown.
//! * [`engine`] — the sync engine: per-org workers, pull, push, status.
//! * [`mappings`] — object mappings: validation, DDL plans, storage.
//! * [`ipc`] — the local-socket server speaking `datenator_shared::protocol`.
//! * [`store`] — the daemon's own state (SQLite, or a fleet's shared PostgreSQL).
//! * [`fleet`] — several daemons sharing the orgs: membership, placement, leases, fencing.
//! * [`salesforce`] — the Salesforce client (OAuth, REST, Bulk 2.0).
//! * [`targetdb`] — the databases it syncs into (one folder per dialect).
// No data a user, a database or Salesforce sends may panic this crate (tests may: see
// clippy.toml).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice
)]
pub mod cli;
pub mod config;
pub mod daemon;
pub mod datasource;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(not(feature = "demo"))]
#[path = "demo_off.rs"]
pub mod demo;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod ipc;
pub mod log_tail;
pub mod logging;
pub mod mappings;
pub mod orgs;
pub mod salesforce;
pub mod state;
pub mod store;
pub mod targetdb;
