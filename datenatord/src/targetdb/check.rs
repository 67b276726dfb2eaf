//! Helpers shared by the dialects' "check datasource" implementations.

use std::time::Duration;

use datenator_shared::datasource::{CheckKind, CheckResult, CheckStatus, DatasourceSettings};

/// How long a TCP connection attempt may take before the host counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The checks every dialect makes, in the order they are shown (MySQL adds
/// `BinlogTriggers`).
pub(crate) const CHECKS: [CheckKind; 7] = [
    CheckKind::HostReachable,
    CheckKind::Authentication,
    CheckKind::DatabaseExists,
    CheckKind::ServerVersion,
    CheckKind::CreateSchema,
    CheckKind::CreateUser,
    CheckKind::CreateTrigger,
];

pub(crate) fn ok(check: CheckKind, message: impl Into<String>) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Ok,
        message: message.into(),
        fix: None,
    }
}

pub(crate) fn warning(
    check: CheckKind,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Warning,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

pub(crate) fn failed(
    check: CheckKind,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Failed,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

/// Adds a `Skipped` result for each of `checks` not yet in `results`.
pub(crate) fn skip_rest(results: &mut Vec<CheckResult>, checks: &[CheckKind], why: &str) {
    for c in checks {
        if !results.iter().any(|r| r.check == *c) {
            results.push(CheckResult {
                check: *c,
                status: CheckStatus::Skipped,
                message: format!("not checked: {why}"),
                fix: None,
            });
        }
    }
}

/// Opens (and closes) a TCP connection to `host:port`.
pub(crate) async fn tcp_probe(host: &str, port: u16) -> CheckResult {
    let kind = CheckKind::HostReachable;
    if host.is_empty() {
        return failed(
            kind,
            "no host is configured",
            "set the datasource's host name",
        );
    }
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(_)) => ok(kind, format!("{host}:{port} accepts connections")),
        Ok(Err(e)) => failed(
            kind,
            format!("cannot connect to {host}:{port}: {e}"),
            "check the host name and port, that the database server is running and listening on TCP, and that no firewall blocks the port",
        ),
        Err(_) => failed(
            kind,
            format!(
                "no answer from {host}:{port} within {} seconds",
                CONNECT_TIMEOUT.as_secs()
            ),
            "check the host name and port and that no firewall drops the connection",
        ),
    }
}

/// A failed login caused by TLS (server without TLS, untrusted certificate), as an
/// authentication-step result that says so; `None` for other errors.
pub(crate) fn tls_failure(e: &sqlx::Error) -> Option<CheckResult> {
    let text = e.to_string();
    let lower = text.to_lowercase();
    let tls = matches!(e, sqlx::Error::Tls(_))
        || lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("ssl");
    if !tls {
        return None;
    }
    let fix = if lower.contains("does not support") || lower.contains("not support") {
        "enable TLS on the database server, or set the datasource's TLS mode to prefer or disable"
    } else {
        "the server's certificate is not trusted: add its CA to this machine's trust store, or set the TLS mode to require (encrypted, not verified)"
    };
    Some(failed(
        CheckKind::Authentication,
        format!("the TLS connection failed: {text}"),
        fix,
    ))
}

/// The database's own words for an error (sqlx's text where there are none).
pub(crate) fn db_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

/// What a dialect makes of a login the check could not complete.
pub(crate) enum LoginRefused {
    /// The user logged in, but the database does not exist; `fix` creates it.
    NoDatabase { fix: String },
    /// The user logged in, but may not use the database.
    DatabaseDenied { message: String, fix: String },
    /// The server rejected the user; `fix` says what to check.
    Rejected { fix: &'static str },
    /// Anything else: a TLS failure, or a login that did not work.
    Other,
}

/// The results of a login the check could not complete (`e`, which the dialect read as
/// `refused`); every check after it is skipped.
pub(crate) fn login_refused(
    results: &mut Vec<CheckResult>,
    all: &[CheckKind],
    s: &DatasourceSettings,
    e: &sqlx::Error,
    refused: LoginRefused,
) {
    let logged_in = || {
        ok(
            CheckKind::Authentication,
            format!("user {} logged in", s.user),
        )
    };
    let why = match refused {
        LoginRefused::NoDatabase { fix } => {
            results.push(logged_in());
            results.push(failed(
                CheckKind::DatabaseExists,
                format!("database {} does not exist", s.database),
                fix,
            ));
            "the database does not exist"
        }
        LoginRefused::DatabaseDenied { message, fix } => {
            results.push(logged_in());
            results.push(failed(CheckKind::DatabaseExists, message, fix));
            "the database is not accessible"
        }
        LoginRefused::Rejected { fix } => {
            results.push(failed(
                CheckKind::Authentication,
                format!("the server rejected user {}: {}", s.user, db_message(e)),
                fix,
            ));
            "authentication failed"
        }
        LoginRefused::Other => match tls_failure(e) {
            Some(tls) => {
                results.push(tls);
                "no TLS connection"
            }
            None => {
                results.push(failed(
                    CheckKind::Authentication,
                    format!("could not log in as {}: {e}", s.user),
                    "check the user name, password and TLS mode",
                ));
                "could not connect"
            }
        },
    };
    skip_rest(results, all, why);
}

/// The results of a login that worked: the user logged in, the database exists.
pub(crate) fn logged_in(s: &DatasourceSettings) -> [CheckResult; 2] {
    [
        ok(
            CheckKind::Authentication,
            format!("user {} logged in", s.user),
        ),
        ok(
            CheckKind::DatabaseExists,
            format!("database {} exists", s.database),
        ),
    ]
}

/// Parses the leading `major.minor.patch` numbers of a version string.
pub(crate) fn parse_version(s: &str) -> (u32, u32, u32) {
    let mut parts = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("10.11.19-MariaDB-0+deb12u1"), (10, 11, 19));
        assert_eq!(parse_version("8.0.36"), (8, 0, 36));
        assert_eq!(parse_version("5.5.5-10.1.2-MariaDB"), (5, 5, 5));
    }
}
