//! Logging setup: journald under systemd, readable text otherwise, JSON on request. The
//! filter can be changed at run time (SIGHUP re-reads `log_level`).
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::LogFormat;

/// Changes the active log filter.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<EnvFilter, Registry>);

impl LogHandle {
    pub fn set_level(&self, level: &str) -> Result<(), String> {
        let filter = filter(level).map_err(|e| format!("invalid log_level {level:?}: {e}"))?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// The filter for `level`. PostgreSQL's NOTICEs ("… does not exist, skipping" from the
/// `IF EXISTS` in schema changes) are kept below the log unless the level names sqlx.
fn filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let f = EnvFilter::try_new(level)?;
    Ok(match level.contains("sqlx") {
        true => f,
        false => f.add_directive("sqlx::postgres::notice=warn".parse()?),
    })
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(format: LogFormat, level: &str) -> LogHandle {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| filter(&v).ok())
        .or_else(|| filter(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let format = match format {
        LogFormat::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        f => f,
    };
    let output: Box<dyn Layer<_> + Send + Sync> = match format {
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(layer) => layer.boxed(),
            Err(e) => {
                eprintln!("datenatord: journald is not reachable ({e}); logging text to stderr");
                text_layer().boxed()
            }
        },
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        _ => text_layer().boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(crate::log_tail::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
    LogHandle(handle)
}

fn text_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_notices_stay_below_the_log_unless_asked_for() {
        let quiet = filter("info").unwrap().to_string();
        assert!(quiet.contains("sqlx::postgres::notice=warn"), "{quiet}");
        let asked = filter("info,sqlx=debug").unwrap().to_string();
        assert!(!asked.contains("notice=warn"), "{asked}");
        assert!(filter("info,[=bad").is_err());
    }
}
