//! The recent log, kept in memory for the TUI's log screen (the `log` topic): a tracing
//! layer that keeps the last [`LOG_TAIL_LINES`] lines at INFO and above and hands new ones
//! to subscribers. Lines carry the org from the enclosing `org` span, if any.
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use datenator_shared::model::{LOG_TAIL_LINES, LogLine};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The log's recent lines and the channel new ones go out on.
pub struct LogTail {
    lines: Mutex<VecDeque<LogLine>>,
    sender: broadcast::Sender<LogLine>,
}

impl LogTail {
    fn new() -> LogTail {
        LogTail {
            lines: Mutex::new(VecDeque::with_capacity(LOG_TAIL_LINES)),
            sender: broadcast::channel(1024).0,
        }
    }

    /// The recent lines, oldest first, and a receiver for the lines after them.
    pub fn subscribe(&self) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        // Subscribing under the lock: no line falls between the snapshot and the receiver.
        let rx = self.sender.subscribe();
        (lines.iter().cloned().collect(), rx)
    }

    fn push(&self, line: LogLine) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == LOG_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line.clone());
        let _ = self.sender.send(line);
    }
}

/// The daemon's log tail (one per process, like the subscriber that fills it).
pub fn tail() -> &'static LogTail {
    static TAIL: OnceLock<LogTail> = OnceLock::new();
    TAIL.get_or_init(LogTail::new)
}

/// The layer filling [`tail`]; install it with an INFO filter.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    TailLayer
}

struct TailLayer;

/// The `org` field of a span, remembered when the span is created.
struct OrgField(String);

impl<S> Layer<S> for TailLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut visitor = Fields::default();
        attrs.record(&mut visitor);
        if let (Some(org), Some(span)) = (visitor.org, ctx.span(id)) {
            span.extensions_mut().insert(OrgField(org));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let org = visitor.org.clone().or_else(|| {
            ctx.event_scope(event)?
                .find_map(|span| span.extensions().get::<OrgField>().map(|o| o.0.clone()))
        });
        tail().push(LogLine {
            at: chrono::Utc::now(),
            level: event.metadata().level().to_string(),
            org,
            message: crate::logging::escape(&visitor.text()).into_owned(),
        });
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    org: Option<String>,
}

impl Fields {
    fn text(self) -> String {
        if self.rest.is_empty() {
            self.message
        } else {
            format!("{}{}", self.message, self.rest)
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "org" => self.org = Some(value.to_owned()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "org" => self.org = Some(format!("{value:?}").trim_matches('"').to_owned()),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn lines_carry_the_org_of_their_span_and_their_fields() {
        let subscriber = tracing_subscriber::registry().with(layer());
        let (_, mut rx) = tail().subscribe();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("org", org = %"acme");
            let _g = span.enter();
            tracing::info!(objects = 3, "metadata downloaded");
        });
        let line = rx.try_recv().unwrap();
        assert_eq!(line.org.as_deref(), Some("acme"));
        assert_eq!(line.level, "INFO");
        assert_eq!(line.message, "metadata downloaded objects=3");
        let (recent, _) = tail().subscribe();
        assert!(recent.iter().any(|l| l == &line));
    }
}
