//! The `sfsim` binary: serves one simulated org and prints one JSON line describing it.

use clap::Parser;
use sfsim::{ChangeSpec, FaultConfig, Sim, SimConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A local Salesforce org simulator (REST, SOQL, Bulk API 2.0, OAuth).
///
/// On start it prints exactly one line of JSON to stdout:
/// {"instance_url","login_url","org_id","username","client_id","client_secret","access_token"}
/// (plus "ca_cert_path" with --tls). The admin API lives under /__sim/.
#[derive(Parser, Debug)]
#[command(name = "sfsim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed for generated data, tokens and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Accounts to generate at start.
    #[arg(long, default_value_t = 0)]
    accounts: usize,
    /// Contacts to generate at start (linked to random accounts).
    #[arg(long, default_value_t = 0)]
    contacts: usize,
    /// Leads to generate at start.
    #[arg(long, default_value_t = 0)]
    leads: usize,
    /// Opportunities to generate at start.
    #[arg(long, default_value_t = 0)]
    opportunities: usize,
    /// Cases to generate at start.
    #[arg(long, default_value_t = 0)]
    cases: usize,
    /// Invoice__c records to generate at start.
    #[arg(long, default_value_t = 0)]
    invoices: usize,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 7200)]
    token_lifetime: u64,
    /// Daily API request allocation (DailyApiRequests.Max).
    #[arg(long, default_value_t = 15_000)]
    api_limit: u64,
    /// API version reported as the newest (default: the current release's).
    #[arg(long, default_value = sfsim::http::CURRENT_VERSION)]
    api_version: String,
    /// Serve HTTPS with a certificate signed by a generated CA (the CA's path is printed).
    #[arg(long)]
    tls: bool,
    /// Directory for the generated certificate (default: a temp directory).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Load the org from this file at start and save it there on exit.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// With --state-file: also save every this many seconds (0 = only on exit).
    #[arg(long, default_value_t = 30)]
    autosave_secs: u64,
    /// Connected app client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Connected app client secret.
    #[arg(long)]
    client_secret: Option<String>,
    /// Allowed OAuth redirect URI (repeatable; replaces the defaults).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// PEM certificate (or public key) JWT bearer assertions are checked against.
    #[arg(long)]
    jwt_cert: Option<PathBuf>,
    /// Issue a new refresh token on every refresh.
    #[arg(long)]
    rotate_refresh_tokens: bool,
    /// Device flow polling interval in seconds (faster polls get slow_down).
    #[arg(long, default_value_t = 5)]
    device_interval: u64,
    /// Seed of the fault dice.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this many milliseconds more per response, drawn uniformly from the fault seed.
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,
    /// Share (0..1) of API requests answered 503 SERVER_UNAVAILABLE.
    #[arg(long, default_value_t = 0.0)]
    error_503: f64,
    /// Share of API requests answered 500 UNKNOWN_EXCEPTION.
    #[arg(long, default_value_t = 0.0)]
    error_500: f64,
    /// Share of API requests whose connection is dropped.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Share of record writes failing with UNABLE_TO_LOCK_ROW.
    #[arg(long, default_value_t = 0.0)]
    lock_row: f64,
    /// Expire the session on every Nth authenticated request (0 = never).
    #[arg(long, default_value_t = 0)]
    expire_session_every: u64,
    /// Changes become visible to queries this many milliseconds late.
    #[arg(long, default_value_t = 0)]
    late_visibility_ms: u64,
    /// Start the change generator at this many changes per second (0 = off).
    #[arg(long, default_value_t = 0.0)]
    changes_per_second: f64,
    /// A ready-made demo org: related sample records of every object and a trickle of
    /// changes (1 per second unless --changes-per-second says otherwise).
    #[arg(long)]
    demo: bool,
    /// Select these objects for Change Data Capture (comma-separated, e.g. Account,Contact).
    #[arg(long, value_delimiter = ',')]
    cdc: Vec<String>,
    /// How long a Streaming API long poll (/meta/connect) is held without events.
    #[arg(long, default_value_t = 110_000)]
    streaming_timeout_ms: u64,
    /// Change events delivered per 24 hours (DailyDeliveredPlatformEvents).
    #[arg(long, default_value_t = 10_000)]
    event_delivery_limit: u64,
    /// Changes in one transaction past which GAP_OVERFLOW events replace change events.
    #[arg(long, default_value_t = 100_000)]
    cdc_overflow_threshold: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let a = Args::parse();
    let mut cfg = SimConfig {
        listen: a.listen,
        seed: a.seed,
        api_version: a.api_version,
        ..SimConfig::default()
    };
    cfg.token_lifetime = Duration::from_secs(a.token_lifetime);
    cfg.api_limit = a.api_limit;
    cfg.tls = a.tls;
    cfg.cert_dir = a.cert_dir;
    cfg.state_file = a.state_file;
    cfg.autosave_every = (a.autosave_secs > 0).then(|| Duration::from_secs(a.autosave_secs));
    if let Some(c) = a.client_id {
        cfg.client_id = c;
    }
    if let Some(c) = a.client_secret {
        cfg.client_secret = c;
    }
    if !a.redirect_uris.is_empty() {
        cfg.redirect_uris = a.redirect_uris;
    }
    if let Some(p) = a.jwt_cert {
        cfg.jwt_cert_pem = Some(
            std::fs::read_to_string(&p)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?,
        );
    }
    cfg.rotate_refresh_tokens = a.rotate_refresh_tokens;
    cfg.streaming_poll_timeout = Duration::from_millis(a.streaming_timeout_ms);
    cfg.event_delivery_limit = a.event_delivery_limit;
    cfg.cdc_overflow_threshold = a.cdc_overflow_threshold;
    cfg.device_poll_interval = Duration::from_secs(a.device_interval);
    cfg.faults = FaultConfig {
        seed: a.fault_seed,
        latency_ms: a.latency_ms,
        latency_jitter_ms: a.latency_jitter_ms,
        error_503_share: a.error_503,
        error_500_share: a.error_500,
        drop_share: a.drop,
        lock_row_share: a.lock_row,
        expire_session_every: a.expire_session_every,
        late_visibility_ms: a.late_visibility_ms,
    };
    let fresh = cfg.state_file.as_ref().is_none_or(|p| !p.exists());
    if fresh {
        cfg.seed_counts = [
            ("Account", a.accounts),
            ("Contact", a.contacts),
            ("Lead", a.leads),
            ("Opportunity", a.opportunities),
            ("Case", a.cases),
            ("Invoice__c", a.invoices),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| (o.to_string(), n))
        .collect();
    }
    if a.demo && fresh {
        cfg.seed_counts = SimConfig::demo().seed_counts;
    }
    let changes_per_second = if a.demo && a.changes_per_second == 0.0 {
        1.0
    } else {
        a.changes_per_second
    };
    let running = Sim::start(cfg).await?;
    if !a.cdc.is_empty() {
        let names: Vec<&str> = a.cdc.iter().map(String::as_str).collect();
        running.enable_cdc(&names).map_err(anyhow::Error::msg)?;
    }
    println!("{}", serde_json::to_string(&running.info)?);
    if changes_per_second > 0.0 {
        running.start_changes(ChangeSpec {
            per_second: changes_per_second,
            seed: a.seed,
            ..ChangeSpec::default()
        });
    }
    shutdown_signal().await;
    running.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
