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
                text_layer(std::io::stderr, stderr_is_terminal()).boxed()
            }
        },
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        _ => text_layer(std::io::stderr, stderr_is_terminal()).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(crate::log_tail::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init();
    LogHandle(handle)
}

fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Text lines, one per event. Values come from clients and from Salesforce metadata: their
/// control characters are escaped, so none can end the line and forge another.
fn text_layer<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::field::MakeExt;
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = escape(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt::layer()
        .fmt_fields(fields)
        .with_writer(writer)
        .with_ansi(ansi)
}

/// `value` with every control character (and the Unicode line and paragraph separators)
/// written as an escape: `\n`, `\r`, `\t`, else `\u{…}`.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !value.chars().any(needs) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
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

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("Account"), "Account");
        assert_eq!(
            escape("A\n2026-01-01T00:00:00Z ERROR forged\r\t\u{1b}[31m\u{2028}"),
            "A\\n2026-01-01T00:00:00Z ERROR forged\\r\\t\\u{1b}[31m\\u{2028}"
        );
        assert_eq!(escape("Zoë"), "Zoë");
    }

    #[test]
    fn a_text_line_stays_one_line() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let layer = text_layer(move || writer.clone(), false);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let name = "Evil\nERROR forged line";
            let span = tracing::info_span!("request", object = %name);
            let _g = span.enter();
            tracing::info!(object = %name, "mapping saved for {name}");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("object=Evil\\nERROR forged line"), "{text}");
        assert!(text.contains("mapping saved for Evil\\nERROR"), "{text}");
    }
}
