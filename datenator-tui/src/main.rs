//! datenator-tui: the terminal UI for datenatord.
// No data a user, a database or Salesforce sends may panic this crate (tests may: see
// clippy.toml).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice
)]
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream, KeyEventKind,
};
use datenator_shared::paths::{self, Side};
use datenator_tui::app::{self, App, Cmd, Msg};
use datenator_tui::{net, ui};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// datenator-tui — manage datenatord from a terminal.
///
/// Connects to the local datenatord over its socket, shows registered Salesforce orgs and
/// their sync state, and follows changes live. Keyboard only; press ? for the keys.
/// If the daemon is not running the TUI says so and keeps retrying.
#[derive(Debug, Parser)]
#[command(name = "datenator-tui", version, about, long_about)]
struct Cli {
    /// The daemon's socket. Default, in order: $DATENATOR_SOCKET;
    /// $XDG_RUNTIME_DIR/datenator/datenatord.sock (without XDG_RUNTIME_DIR:
    /// /tmp/datenator-<uid>/datenatord.sock); and when no daemon of yours has that socket,
    /// the system service's /run/datenator/datenatord.sock.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Where to write the TUI's own log (never to the screen). Default:
    /// ~/.cache/datenator/datenator-tui.log
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,

    /// Try Datenator without any account: start a demo daemon with an embedded simulated
    /// Salesforce org (sample data and a trickle of changes) syncing into SQLite, open the
    /// TUI on it, and stop it all when you quit.
    #[arg(long, conflicts_with = "socket")]
    demo: bool,

    /// With --demo: sync into this database instead of SQLite
    /// (postgres://user:pass@host/db or mysql://user:pass@host/db).
    #[arg(long, value_name = "URL", requires = "demo")]
    demo_target: Option<String>,

    #[command(subcommand)]
    command: Option<datenator_tui::cli::Command>,
}

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        let socket = paths::socket_path(cli.socket.as_deref(), Side::Client)?;
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        if let Err(e) = runtime.block_on(datenator_tui::cli::run(command, &socket)) {
            eprintln!("error: {}", datenator_tui::cli::message(&e));
            std::process::exit(1);
        }
        return Ok(());
    }
    // Started before the terminal switches to the UI, so its progress and errors are readable;
    // dropped (stopped and cleaned up) after the UI has restored the terminal.
    let demo = if cli.demo {
        Some(datenator_tui::demo::DemoDaemon::start(
            cli.demo_target.as_deref(),
        )?)
    } else {
        None
    };
    let explicit = demo
        .as_ref()
        .map(|d| d.socket.clone())
        .or(cli.socket.clone());
    let socket = paths::socket_path(explicit.as_deref(), Side::Client)?;
    let _log_guard = init_logging(cli.log_file.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let app = App::new(socket.display().to_string(), no_color);
    // ratatui::init puts the terminal in raw mode and restores it on panic.
    let mut terminal = ratatui::init();
    // Pasted text (a redirect URL) arrives as one event instead of a key per character.
    let _ = crossterm::execute!(std::io::stdout(), EnableBracketedPaste);
    let result = runtime.block_on(run(&mut terminal, app, socket));
    if matches!(result, Ok(Ended::Hangup)) {
        // No terminal to restore: writing to it fails, and the terminal's own drop would
        // report that on the (gone) standard error, which panics. The demo daemon, dropped
        // next, still stops and its files go.
        std::mem::forget(terminal);
    } else {
        let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
    // The demo daemon stops (and its files go) now, not after the runtime has waited for
    // the terminal reader's thread.
    drop(demo);
    runtime.shutdown_background();
    result.map(|_| ())
}

/// How the UI ended.
enum Ended {
    /// `q`, or the process was asked to stop (SIGTERM).
    Quit,
    /// The terminal went away (SIGHUP, or its input failed or ended).
    Hangup,
}

async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    socket: PathBuf,
) -> anyhow::Result<Ended> {
    let (msg_tx, mut msg_rx) = mpsc::channel::<Msg>(256);
    let (poke_tx, poke_rx) = mpsc::channel(1);
    let (req_tx, req_rx) = mpsc::unbounded_channel();
    let net = tokio::spawn(net::run(socket, msg_tx, poke_rx, req_rx));
    let mut term_events = EventStream::new();
    // A closed terminal (SIGHUP) or a polite kill ends the UI like q does, so the demo
    // daemon is stopped and the terminal restored where there still is one.
    let (Ok(mut hangup), Ok(mut terminate)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
    ) else {
        anyhow::bail!("cannot install the signal handlers");
    };
    // Redraw at most this often while messages stream in.
    let mut frame_tick = tokio::time::interval(Duration::from_millis(50));
    let mut ticks: u64 = 0;
    let mut dirty = true;
    if let Ok(size) = terminal.size() {
        app::update(
            &mut app,
            Msg::Resize {
                width: size.width,
                height: size.height,
            },
        );
    }
    loop {
        if dirty {
            if let Err(e) = terminal.draw(|f| ui::draw(f, &app)) {
                tracing::info!("drawing failed ({e}): the terminal is gone");
                net.abort();
                return Ok(Ended::Hangup);
            }
            dirty = false;
        }
        let msg = tokio::select! {
            ev = term_events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
                Some(Ok(TermEvent::Paste(text))) => Some(Msg::Paste(text)),
                Some(Ok(TermEvent::Resize(width, height))) => Some(Msg::Resize { width, height }),
                Some(Ok(_)) => None,
                // The terminal cannot be read any more: it is gone (a closed SSH session
                // reads as an error or an end before the SIGHUP arrives).
                Some(Err(e)) => {
                    tracing::info!("reading the terminal failed ({e}): it is gone");
                    net.abort();
                    return Ok(Ended::Hangup);
                }
                None => {
                    net.abort();
                    return Ok(Ended::Hangup);
                }
            },
            m = msg_rx.recv() => m,
            _ = hangup.recv() => {
                net.abort();
                return Ok(Ended::Hangup);
            }
            _ = terminate.recv() => {
                net.abort();
                return Ok(Ended::Quit);
            }
            _ = frame_tick.tick() => {
                ticks += 1;
                // The pending marker turns every 100 ms while requests are in flight.
                (ticks.is_multiple_of(2) && app.animating()).then_some(Msg::Tick)
            }
        };
        let Some(msg) = msg else { continue };
        dirty = true;
        for cmd in app::update(&mut app, msg) {
            match cmd {
                Cmd::Quit => {
                    net.abort();
                    return Ok(Ended::Quit);
                }
                Cmd::ReconnectNow => {
                    let _ = poke_tx.try_send(net::ReconnectNow);
                }
                Cmd::Request { id, call } => {
                    if req_tx.send((id, call)).is_err() {
                        let result = Err("the connection task stopped: restart the TUI".into());
                        app::update(&mut app, Msg::Reply { id, result });
                    }
                }
            }
        }
    }
}

fn init_logging(
    path: Option<&std::path::Path>,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => directories::ProjectDirs::from("", "", "datenator")
            .map(|d| d.cache_dir().join("datenator-tui.log"))
            .unwrap_or_else(|| std::env::temp_dir().join("datenator-tui.log")),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// `--help` (and `-h`) name every socket the TUI tries, in the order it tries them, as
    /// the README lists them.
    #[test]
    fn help_lists_the_socket_fallback() {
        let mut cmd = Cli::command();
        for help in [
            cmd.render_long_help().to_string(),
            cmd.render_help().to_string(),
        ] {
            let at = |s: &str| {
                help.find(s)
                    .unwrap_or_else(|| panic!("{s} is not in the help:\n{help}"))
            };
            let order = [
                at("$DATENATOR_SOCKET"),
                at("$XDG_RUNTIME_DIR/datenator/datenatord.sock"),
                at("/tmp/datenator-<uid>/datenatord.sock"),
                at("/run/datenator/datenatord.sock"),
            ];
            assert!(order.is_sorted(), "{help}");
        }
    }
}
