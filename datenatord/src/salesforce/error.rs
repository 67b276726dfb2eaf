//! Salesforce errors, sorted by what the caller should do about them.
use serde::{Deserialize, Serialize};

/// One entry of a REST error body (`[{"message","errorCode","fields"}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default, alias = "statusCode")]
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_code, self.message)?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    /// Worth retrying later: 503, 500, timeouts, dropped connections, row locks. Raised
    /// only after the client's own retries ran out.
    #[error("Salesforce is temporarily unavailable ({0}); the request will be retried later")]
    Transient(String),
    /// A write was sent but its answer never came: it may or may not have happened.
    #[error("the outcome of a write is unknown ({0}); it must be checked before it is sent again")]
    OutcomeUnknown(String),
    /// The stored credentials no longer work (revoked or expired refresh token).
    #[error(
        "Salesforce refused the stored credentials ({0}): run \"Refresh org credentials\" to authorize the org again"
    )]
    ReauthorizationNeeded(String),
    /// The org's daily API limit is used up.
    #[error(
        "the org's daily API request limit is exhausted ({0}); sync resumes by itself when Salesforce allows requests again"
    )]
    LimitExceeded(String),
    /// Salesforce answered with an error that retrying will not fix.
    #[error("Salesforce answered {status}: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Api { status: u16, errors: Vec<ApiError> },
    /// An OAuth endpoint refused a flow.
    #[error("{}", oauth_message(.error, .description))]
    OAuth { error: String, description: String },
    /// The request was wrong before it was sent (too many sub-requests, a bad name...).
    #[error("{0}")]
    Invalid(String),
    /// The answer did not have the documented shape.
    #[error("unexpected answer from Salesforce: {0}")]
    Protocol(String),
    /// A fleet's daemon whose lease on the org ran out sends nothing more for it.
    #[error(
        "this daemon no longer runs the org (its lease in the fleet ran out): nothing more is sent from here, the daemon that took the org over carries on"
    )]
    LeaseLost,
}

fn oauth_message(error: &str, description: &str) -> String {
    let advice = match error {
        "invalid_client_id" => {
            "the connected app's client id is unknown to this org: check client_id"
        }
        "invalid_client" => "the connected app's client secret is wrong: check client_secret",
        "redirect_uri_mismatch" => {
            "the redirect URI is not one of the connected app's callback URLs"
        }
        "invalid_grant" => "the authorization was refused or has expired: start the flow again",
        "access_denied" => "the user denied access",
        "expired_token" => "the device code expired before it was approved: start again",
        "inactive_user" | "inactive_org" => "the user or org is inactive",
        "unsupported_grant_type" => "the connected app does not allow this flow",
        _ => "see the error above",
    };
    if description.is_empty() {
        format!("Salesforce login failed: {error} — {advice}")
    } else {
        format!("Salesforce login failed: {error} ({description}) — {advice}")
    }
}

impl SalesforceError {
    /// Errors that the client retries by itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, SalesforceError::Transient(_))
    }

    /// The first error code of an API error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SalesforceError::Api { errors, .. } => errors.first().map(|e| e.error_code.as_str()),
            _ => None,
        }
    }
}
