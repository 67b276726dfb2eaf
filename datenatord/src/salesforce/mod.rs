//! The Salesforce client: OAuth flows ([`auth`]), the request path with retries, refresh
//! and usage tracking ([`http`]), REST calls ([`rest`]), Bulk API 2.0 ([`bulk`]).
pub mod auth;
pub mod bulk;
pub mod error;
pub mod http;
mod jwt;
pub mod limits;
pub mod rest;
pub mod streaming;

pub use error::{ApiError, SalesforceError};
pub use http::{Api, Credentials, Replay, RetryPolicy};
