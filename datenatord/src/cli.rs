//! Command-line options.
use std::path::PathBuf;

use clap::Parser;

use crate::config::LogFormat;

/// datenatord — keeps Salesforce orgs and relational databases in sync.
///
/// The daemon runs the sync engine and listens on a local socket for `datenator-tui`, the
/// terminal UI you use to register orgs, point them at a database, map objects and watch
/// lag and API usage. Run it as the systemd service `datenatord.service`, or by hand as
/// your own user.
///
/// Signals: SIGTERM/SIGINT stop it gracefully (in-flight work gets `shutdown_grace_secs`,
/// the socket file is removed); SIGHUP re-reads the configuration file.
#[derive(Debug, Parser)]
#[command(name = "datenatord", version, about, long_about)]
pub struct Cli {
    /// Configuration file (TOML). Default: /etc/datenator/datenatord.toml under systemd,
    /// else ~/.config/datenator/datenatord.toml; a missing default file means built-in
    /// defaults. An unknown key is an error naming the key and the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Socket to listen on. Default: $DATENATOR_SOCKET, else
    /// $RUNTIME_DIRECTORY/datenatord.sock under systemd, else
    /// $XDG_RUNTIME_DIR/datenator/datenatord.sock, else /tmp/datenator-<uid>/datenatord.sock.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Directory for the daemon's state database (orgs, credentials, mappings). Default:
    /// $STATE_DIRECTORY under systemd, else ~/.local/share/datenator.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Log output: auto (journald under systemd, text otherwise), text, json, journald.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Demo mode: embed a simulated Salesforce org with sample data and a trickle of
    /// changes, sync it into an SQLite file in the state directory, with Account, Contact
    /// and Opportunity mapped both ways. `datenator-tui --demo` starts this for you.
    #[arg(long)]
    pub demo: bool,

    /// With --demo: sync into this database instead of SQLite
    /// (postgres://user:pass@host/db or mysql://user:pass@host/db).
    #[arg(long, value_name = "URL", requires = "demo")]
    pub demo_target: Option<String>,

    /// Stop gracefully when standard input ends: a parent that hands the daemon a pipe
    /// keeps it only as long as the parent lives, however the parent ends (SIGKILL and a
    /// closed terminal included). `datenator-tui --demo` runs its daemon this way.
    #[arg(long)]
    pub stop_when_stdin_closes: bool,
}
