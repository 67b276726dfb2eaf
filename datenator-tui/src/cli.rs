//! Commands that run without the UI, for scripts and version control:
//! `datenator-tui mappings export ORG`, `datenator-tui mappings import ORG FILE` and
//! `datenator-tui resync ORG OBJECT`.
use std::path::{Path, PathBuf};

use anyhow::Context;
use datenator_shared::client::Client;
use datenator_shared::model::PlanView;
use datenator_shared::protocol::{Call, ImportMappings, OrgRef, ResyncObject};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Export or import an org's object mappings as a TOML file.
    #[command(subcommand)]
    Mappings(MappingsCommand),
    /// Re-read one mapped object from Salesforce: print the plan; with --yes, start it.
    ///
    /// A re-sync reads every record of the object within its row filter from Salesforce
    /// again and merges each into its row by sfid (Salesforce's record id): values changed
    /// in Salesforce are brought up to date, records missing from the database are added.
    /// Rows whose record is gone from Salesforce are deleted from the database; rows whose
    /// record no longer matches the row filter are kept, detached. Database changes not yet
    /// sent are kept.
    ///
    /// It costs Salesforce API calls, as many as the plan says (they count against the
    /// org's daily limit and its API budget). Without --yes nothing is started: the plan is
    /// only printed. Once started, the daemon runs it before the object's next pull, and
    /// the TUI's Sync screen shows the object as re-reading until it is done.
    Resync {
        /// The org's name, as in the Orgs list.
        org: String,
        /// The mapped object's API name, e.g. Account.
        object: String,
        /// Start the re-read instead of only printing its plan.
        #[arg(long, short)]
        yes: bool,
    },
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
    print!("{}", plan_text(plan));
}

/// A plan as the commands print it: a line per step, marked `!` when it loses data.
fn plan_text(plan: &PlanView) -> String {
    let mut out = String::new();
    if plan.steps.is_empty() {
        out.push_str("  (no database change)\n");
    }
    for step in &plan.steps {
        let mark = if step.destructive.is_some() { "!" } else { "-" };
        out.push_str(&format!("  {mark} {}\n", step.description));
        if let Some(why) = &step.destructive {
            out.push_str(&format!("    destructive: {why}\n"));
        }
        for sql in &step.sql {
            out.push_str(&format!("    {sql}\n"));
        }
    }
    out
}

/// What `resync` prints: the plan, then whether it was started.
fn resync_report(org: &str, object: &str, started: bool, plan: &PlanView) -> String {
    let mut out = format!(
        "re-read of {object} in {org}: {}\n",
        if started && plan.applied {
            "started"
        } else {
            "planned"
        }
    );
    out.push_str(&plan_text(plan));
    out.push_str(match (started, plan.applied) {
        (true, true) => {
            "Started: the daemon re-reads it before its next pull; the TUI's Sync screen shows it as re-reading until it is done.\n"
        }
        (true, false) => "The daemon did not start it. Run again with --yes to try again.\n",
        (false, _) => "Nothing was started. Run again with --yes to start it.\n",
    });
    out
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
        Command::Resync { org, object, yes } => {
            let plan: PlanView = client
                .call(Call::ObjectResync(ResyncObject {
                    org: org.clone(),
                    object: object.clone(),
                    apply: yes,
                }))
                .await?;
            print!("{}", resync_report(&org, &object, yes, &plan));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use datenator_shared::model::PlanStepView;

    /// The subcommands as the binary parses them.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn resync_parses_org_object_and_yes() {
        let cli = Cli::try_parse_from(["datenator-tui", "resync", "acme", "Account"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Resync { ref org, ref object, yes: false } if org == "acme" && object == "Account"
        ));
        for yes in ["--yes", "-y"] {
            let cli = Cli::try_parse_from(["datenator-tui", "resync", "acme", "Invoice__c", yes])
                .unwrap();
            assert!(
                matches!(cli.command, Command::Resync { yes: true, .. }),
                "{yes}"
            );
        }
        // The object is required.
        assert!(Cli::try_parse_from(["datenator-tui", "resync", "acme"]).is_err());
    }

    /// `resync --help` says what a re-sync does and what it costs.
    #[test]
    fn resync_help_explains_the_re_read() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("resync")
            .unwrap()
            .render_long_help()
            .to_string();
        for words in [
            "reads every record of the object within its row filter",
            "merges each into its row by sfid",
            "Rows whose record is gone from Salesforce are deleted",
            "It costs Salesforce API calls, as many as the plan says",
            "Without --yes nothing is started",
        ] {
            assert!(
                help.replace('\n', " ").replace("  ", " ").contains(words),
                "{words}: {help}"
            );
        }
    }

    fn resync_plan(applied: bool) -> PlanView {
        PlanView {
            steps: vec![PlanStepView {
                description: "re-read every Account record from Salesforce and merge it into its row by sfid (about 1,231 record(s): REST queries, about 2 API call(s))".into(),
                destructive: None,
                sql: vec![],
            }],
            destructive: false,
            applied,
        }
    }

    #[test]
    fn resync_prints_the_plan_and_whether_it_started() {
        assert_eq!(
            resync_report("acme", "Account", false, &resync_plan(false)),
            "re-read of Account in acme: planned\n  \
             - re-read every Account record from Salesforce and merge it into its row by sfid (about 1,231 record(s): REST queries, about 2 API call(s))\n\
             Nothing was started. Run again with --yes to start it.\n"
        );
        let started = resync_report("acme", "Account", true, &resync_plan(true));
        assert!(
            started.starts_with("re-read of Account in acme: started\n  - re-read every"),
            "{started}"
        );
        assert!(
            started.ends_with("Started: the daemon re-reads it before its next pull; the TUI's Sync screen shows it as re-reading until it is done.\n"),
            "{started}"
        );
    }

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
