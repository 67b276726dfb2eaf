//! sfsim: a local Salesforce org simulator for tests, benchmarks and the demo.
//!
//! Start one in-process with [`Sim::start`]; it serves the REST API, SOQL, Bulk API 2.0,
//! OAuth and the Streaming API with Change Data Capture ([`streaming`]) on 127.0.0.1, and
//! exposes an admin API under `/__sim/` plus the same controls as methods on [`Sim`].

#![recursion_limit = "256"]

pub mod accounting;
pub mod admin;
pub mod bulk;
pub mod catalog;
pub mod datagen;
pub mod faults;
pub mod http;
pub mod ids;
pub mod jwt;
pub mod oauth;
pub mod resp;
pub mod rest;
pub mod schema;
pub mod sim;
pub mod soql;
pub mod spelling;
pub mod store;
pub mod streaming;
pub mod tls;
pub mod tooling;
pub mod value;

pub use datagen::ChangeSpec;
pub use faults::FaultConfig;
pub use oauth::ConnectedApp;
pub use sim::{RunningSim, Sim, SimConfig, StartInfo};
