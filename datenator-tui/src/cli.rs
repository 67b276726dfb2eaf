//! Commands that run without the UI, for scripts and version control:
//! `datenator-tui mappings export ORG` and `datenator-tui mappings import ORG FILE`.
use std::path::{Path, PathBuf};

use anyhow::Context;
use datenator_shared::client::Client;
use datenator_shared::model::PlanView;
use datenator_shared::protocol::{Call, ImportMappings, OrgRef};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Export or import an org's object mappings as a TOML file.
    #[command(subcommand)]
    Mappings(MappingsCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum MappingsCommand {
    /// Print the org's mappings as TOML (or write them to --out).
    Export {
        /// The org's name, as in the Orgs list.
        org: String,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Plan the mappings in FILE against the org and print the DDL; with --apply, run it.
    Import {
        org: String,
        file: PathBuf,
        /// Apply the plans (create or change tables) instead of only showing them.
        #[arg(long)]
        apply: bool,
        /// Allow steps that lose data (dropped columns). Take a backup first.
        #[arg(long, requires = "apply")]
        confirm_destructive: bool,
    },
}

fn print_plan(plan: &PlanView) {
    if plan.steps.is_empty() {
        println!("  (no database change)");
    }
    for step in &plan.steps {
        let mark = if step.destructive.is_some() { "!" } else { "-" };
        println!("  {mark} {}", step.description);
        if let Some(why) = &step.destructive {
            println!("    destructive: {why}");
        }
        for sql in &step.sql {
            println!("    {sql}");
        }
    }
}

/// An error as one line: each cause once (a daemon's error arrives wrapped in the
/// client's, which repeats its text).
pub fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Runs `command` against the daemon at `socket`.
pub async fn run(command: Command, socket: &Path) -> anyhow::Result<()> {
    let client = Client::connect(socket, "datenator-tui").await?;
    match command {
        Command::Mappings(MappingsCommand::Export { org, out }) => {
            let text: String = client
                .call(Call::MappingExport(OrgRef { name: org }))
                .await?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{text}"),
            }
        }
        Command::Mappings(MappingsCommand::Import {
            org,
            file,
            apply,
            confirm_destructive,
        }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let plans: Vec<PlanView> = client
                .call(Call::MappingImport(ImportMappings {
                    org,
                    text,
                    apply,
                    confirm_destructive,
                }))
                .await?;
            for (i, plan) in plans.iter().enumerate() {
                println!(
                    "mapping {}: {}",
                    i + 1,
                    if plan.applied { "applied" } else { "planned" }
                );
                print_plan(plan);
            }
            if !apply {
                println!("Nothing was changed. Run again with --apply to apply these plans.");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reads_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("no org named \"nope\": check the name in the Orgs list")]
        struct Daemon;
        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Wrapped(#[source] Daemon);
        let e = anyhow::Error::new(Wrapped(Daemon));
        assert_eq!(
            message(&e),
            "no org named \"nope\": check the name in the Orgs list"
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(io).context("cannot read m.toml");
        assert_eq!(message(&e), "cannot read m.toml: No such file or directory");
    }
}
