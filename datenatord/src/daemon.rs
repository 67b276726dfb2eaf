//! The daemon's life: load config, open the store, bind the socket, tell systemd we are
//! ready, serve until told to stop, then shut down in order.
use std::path::PathBuf;
use std::time::Duration;

use datenator_shared::paths::{self, Side};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::Cli;
use crate::config::{self, Config};
use crate::ipc::{self, access::AccessPolicy};
use crate::logging::{self, LogHandle};
use crate::state::{DaemonState, Paths, State};
use crate::store::Store;

/// What the outside world asks of a running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Shutdown,
    Reload,
}

/// Everything the daemon needs to start, resolved from the command line and config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub config_file: Option<PathBuf>,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> anyhow::Result<Settings> {
        let (config, config_file) = Config::load(cli.config.as_deref())?;
        let socket = paths::socket_path(
            cli.socket.as_deref().or(config.daemon.socket.as_deref()),
            Side::Daemon,
        )?;
        let state_dir = config::state_dir(cli.state_dir.as_deref(), &config).ok_or_else(|| {
            anyhow::anyhow!(
                "no state directory: pass --state-dir or set state_dir in the [daemon] section"
            )
        })?;
        Ok(Settings {
            config,
            config_file,
            socket,
            state_dir,
        })
    }
}

/// The binary's entry point after argument parsing.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli)?;
    let format = cli.log_format.unwrap_or(settings.config.daemon.log_format);
    let log = logging::init(format, &settings.config.daemon.log_level);
    raise_open_file_limit(settings.config.daemon.max_connections);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    if cli.stop_when_stdin_closes {
        stop_at_end_of_stdin(tx.clone());
    }
    tokio::spawn(forward_signals(tx));
    let demo = cli.demo.then(|| Demo {
        target: cli.demo_target.clone(),
    });
    run(settings, Some(log), rx, demo).await
}

/// Demo mode's options.
#[derive(Debug, Clone)]
pub struct Demo {
    pub target: Option<String>,
}

/// Asks for a shutdown once standard input reaches its end (or cannot be read). The read
/// blocks on a thread of its own: a runtime's blocking pool would hold up the daemon's exit
/// until the input closed.
fn stop_at_end_of_stdin(tx: tokio::sync::mpsc::Sender<Control>) {
    use std::io::Read;
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            tracing::info!(
                "standard input closed (the process that started the daemon is gone): stopping"
            );
            let _ = tx.blocking_send(Control::Shutdown);
        });
    if let Err(e) = spawned {
        tracing::error!(
            "cannot watch standard input ({e}): --stop-when-stdin-closes has no effect"
        );
    }
}

async fn forward_signals(tx: tokio::sync::mpsc::Sender<Control>) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        let control = tokio::select! {
            _ = term.recv() => Control::Shutdown,
            _ = int.recv() => Control::Shutdown,
            _ = hup.recv() => Control::Reload,
        };
        if tx.send(control).await.is_err() {
            return;
        }
    }
}

/// Runs the daemon until a [`Control::Shutdown`] arrives (or the sender is dropped).
pub async fn run(
    settings: Settings,
    log: Option<LogHandle>,
    mut control: tokio::sync::mpsc::Receiver<Control>,
    demo: Option<Demo>,
) -> anyhow::Result<()> {
    // Files we create (state database, WAL) are private; the socket's mode is set explicitly.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let key_file = settings.config.daemon.credentials_key_file.as_deref();
    let store = match &settings.config.daemon.state_url {
        Some(url) => Store::connect(&url.0, key_file, &settings.state_dir).await?,
        None => Store::open_with_key(&settings.state_dir, key_file).await?,
    };
    let ipc::Bound { listener, own_dir } = ipc::bind_socket(&settings.socket).await?;
    let access = AccessPolicy::for_group(&settings.config.daemon.group);
    share_socket(&settings.socket, own_dir.as_deref(), &access);
    let state = DaemonState::new(
        Paths {
            socket: settings.socket.clone(),
            state_dir: settings.state_dir.clone(),
            config_file: settings.config_file.clone(),
        },
        store.clone(),
        access,
        settings.config.salesforce.clone(),
        settings.config.sync.engine_config(),
    )
    .await?;
    // A fleet: join it before any org starts (the fleet's loop starts those placed here).
    let fleet = match &settings.config.daemon.state_url {
        Some(url) => {
            let fleet = crate::fleet::Fleet::join(
                store.clone(),
                &url.0,
                settings.config.daemon.name.as_deref(),
                Duration::from_secs(settings.config.daemon.lease_ttl_secs),
            )
            .await?;
            state.set_fleet(fleet.clone());
            Some(fleet)
        }
        None => None,
    };
    // Authorizations left pending by a stop fail now, so the user starts them again; in a
    // fleet, only when no other daemon is live (one may be running them).
    let alone = match &fleet {
        Some(f) => f.alone().await.unwrap_or(false),
        None => true,
    };
    if alone {
        crate::orgs::registration::fail_interrupted_flows(&state).await;
    }
    crate::datasource::warn_shared_schemas(&state).await;
    crate::engine::start_enabled(&state).await;

    // Demo mode: the simulated org lives as long as the daemon.
    let demo_sim = match &demo {
        Some(d) => Some(crate::demo::DemoOrg::start(&state, d.target.as_deref()).await?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    // The fleet's loop outlives the workers at a stop: their leases are renewed until
    // they have stopped.
    let fleet_stop = CancellationToken::new();
    let fleet_task = fleet
        .clone()
        .map(|f| tokio::spawn(crate::fleet::run(state.clone(), f, fleet_stop.clone())));
    // Paused orgs' objects stay on the dashboard with current counts.
    tasks.spawn(crate::engine::paused::run(state.clone(), shutdown.clone()));
    let server = tokio::spawn(ipc::serve(
        listener,
        state.clone(),
        ipc::ServeOptions {
            max_connections: settings.config.daemon.max_connections,
        },
        shutdown.clone(),
        tasks.clone(),
    ));
    tracing::info!(
        version = crate::state::DAEMON_VERSION,
        socket = %settings.socket.display(),
        state_dir = %settings.state_dir.display(),
        "datenatord is ready"
    );
    notify(&[sd_notify::NotifyState::Ready]);

    let mut settings = settings;
    // A dropped sender counts as a shutdown request.
    while let Some(Control::Reload) = control.recv().await {
        reload(&mut settings, &state, log.as_ref(), own_dir.as_deref());
    }

    tracing::info!("shutting down");
    notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(fleet) = &fleet {
        fleet.begin_leaving();
    }
    shutdown.cancel();
    state.engine.stop_all().await;
    fleet_stop.cancel();
    if let Some(task) = fleet_task {
        let _ = task.await;
        // A round under way when the daemon began leaving may have started an org since.
        state.engine.stop_all().await;
    }
    if let Some(fleet) = &fleet {
        crate::fleet::leave(fleet).await;
    }
    tasks.close();
    let grace = Duration::from_secs(settings.config.daemon.shutdown_grace_secs);
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!("in-flight work did not finish within {grace:?}; stopping anyway");
    }
    // Past the grace period nothing may hold the stop up: a connection or a pooled state
    // database handle still held by a task that did not finish is abandoned, not awaited.
    let last_steps = async {
        let _ = server.await;
        if let Some(sim) = demo_sim {
            sim.shutdown().await;
        }
        store.close().await;
    };
    if tokio::time::timeout(grace, last_steps).await.is_err() {
        tracing::warn!("closing connections took longer than {grace:?}; stopping anyway");
    }
    if settings.socket.exists() {
        let _ = std::fs::remove_file(&settings.socket);
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: re-read the config file; keep the old one if the new one is invalid. The log
/// level, the socket's group and the Salesforce app apply at once; `[sync]`, the socket,
/// the state directory and `max_connections` only after a restart (said in the log).
fn reload(
    settings: &mut Settings,
    state: &State,
    log: Option<&LogHandle>,
    own_dir: Option<&std::path::Path>,
) {
    notify(&[sd_notify::NotifyState::Reloading]);
    match Config::load(settings.config_file.as_deref()) {
        Ok((config, _)) => {
            if config.daemon.socket != settings.config.daemon.socket
                || config.daemon.state_dir != settings.config.daemon.state_dir
            {
                tracing::warn!("socket and state_dir changes take effect only after a restart");
            }
            if config.daemon.max_connections != settings.config.daemon.max_connections {
                tracing::warn!("a max_connections change takes effect only after a restart");
            }
            if config.sync != settings.config.sync {
                // The running workers keep the settings they started with.
                tracing::warn!("[sync] changes take effect only after a restart");
            }
            if let Some(log) = log
                && let Err(e) = log.set_level(&config.daemon.log_level)
            {
                tracing::error!("{e}; keeping the previous log level");
            }
            let access = AccessPolicy::for_group(&config.daemon.group);
            share_socket(&settings.socket, own_dir, &access);
            state.set_access(access);
            state.set_salesforce(config.salesforce.clone());
            settings.config = config;
            tracing::info!("configuration reloaded");
        }
        Err(e) => tracing::error!("{e}; keeping the previous configuration"),
    }
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Hands the socket to the group the access policy admits (see [`ipc::share_with_group`]).
fn share_socket(
    socket: &std::path::Path,
    own_dir: Option<&std::path::Path>,
    access: &AccessPolicy,
) {
    let group = access
        .group
        .as_ref()
        .map(|(name, gid)| (name.as_str(), *gid));
    ipc::share_with_group(socket, own_dir, group);
}

/// Raises the soft open-file limit to the hard one: every client holds a descriptor, and
/// so do the database pools. Says so when even the hard limit is tight.
fn raise_open_file_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the open-file limit");
                limit = hard;
            }
            Err(e) => tracing::warn!("cannot raise the open-file limit from {soft}: {e}"),
        }
    }
    // Each org's database pools and Salesforce connections need descriptors too.
    let needed = max_connections as u64 + 256;
    if limit < needed {
        tracing::warn!(
            "the open-file limit is {limit}, less than the {needed} that max_connections = {max_connections} may need: raise it (LimitNOFILE= in the unit, `ulimit -n`) or lower max_connections"
        );
    }
}

fn notify(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        tracing::warn!("cannot notify systemd: {e}");
    }
}
