//! The local-socket server: one task per connection, JSON lines in and out.
pub mod access;
mod connection;
mod handlers;
mod server;

pub use server::{BindError, bind_socket, serve};

/// How many outgoing messages may wait for a slow client before it is disconnected.
pub const OUTGOING_QUEUE: usize = 256;
