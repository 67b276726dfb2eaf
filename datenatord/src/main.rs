// No data a user, a database or Salesforce sends may panic this crate (tests may: see
// clippy.toml).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice
)]
use clap::Parser;

/// mimalloc, set up to give memory back to the system as soon as it is freed: after a
/// first load of 300,000 rows the daemon idles at 26 MiB (glibc's allocator kept 68 MiB,
/// mimalloc's defaults 73 MiB; see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's settings for a long-running daemon whose big allocations come in bursts:
/// return freed pages at once rather than after a delay, and commit memory as it is used
/// rather than a whole arena up front. mimalloc reads them from the environment when it
/// starts — before `main` — so they are set by starting the program once more with them
/// (same process, same pid and open files). A value the user set is kept.
const ALLOCATOR_SETTINGS: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

fn apply_allocator_settings() {
    use std::os::unix::process::CommandExt;
    let missing: Vec<_> = ALLOCATOR_SETTINGS
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args);
    for (k, v) in missing {
        cmd.env(k, v);
    }
    // Only returns if the exec failed: run on with the defaults.
    let e = cmd.exec();
    eprintln!(
        "datenatord: could not restart with the allocator's settings ({e}); memory freed after large work may be kept by the process"
    );
}

fn main() -> std::process::ExitCode {
    apply_allocator_settings();
    let cli = datenatord::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("datenatord: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(datenatord::daemon::main(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up yet: say it plainly on stderr as well.
            tracing::error!("{e:#}");
            eprintln!("datenatord: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
