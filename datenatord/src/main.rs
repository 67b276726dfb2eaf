use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = datenatord::cli::Cli::parse();
    match datenatord::daemon::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up yet: say it plainly on stderr as well.
            tracing::error!("{e:#}");
            eprintln!("datenatord: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
