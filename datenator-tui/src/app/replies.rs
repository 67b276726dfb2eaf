//! Applying the daemon's replies: each [`Pending`] kind decodes its result and hands it to
//! the screen that asked, or shows the failure with the daemon's own words.
use datenator_shared::model::{DeleteReport, MetadataReport, OrgSummary};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{App, Cmd, Dialog, Pending, Screen, Tone};
use super::{conflicts, failed, mapping, objects, recent, register, resync, settings};

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| {
        format!(
            "the daemon's reply did not have the expected shape ({e}): is it a different version?"
        )
    })
}

pub(super) fn on_reply(app: &mut App, id: u64, result: Result<Value, String>) -> Vec<Cmd> {
    let Some(what) = app.pending.remove(&id) else {
        return vec![];
    };
    let failure = what.failure();
    let outcome = match what {
        Pending::Register { org } | Pending::Reauthorize { org } => {
            register::on_started(app, org, result.and_then(decode))
        }
        Pending::CompleteAuthorization { org } => {
            register::on_completed(app, org, result.and_then(decode))
        }
        Pending::Delete { org } => result.and_then(decode).map(|r| on_deleted(app, org, r)),
        Pending::MetadataDownload { org } => {
            result.and_then(decode).map(|r| on_metadata(app, org, r))
        }
        Pending::MetadataObjects { org } => objects::on_loaded(app, org, result.and_then(decode)),
        Pending::DatasourceGet { org } => settings::on_loaded(app, org, result.and_then(decode)),
        Pending::DatasourceSet { org } => settings::on_saved(app, org, result.and_then(decode)),
        Pending::DatasourceSyncHost { org } => {
            settings::on_sync_host(app, org, result.and_then(decode))
        }
        Pending::DatasourceCheck { org } => settings::on_checked(app, org, result.and_then(decode)),
        Pending::SchemaGenerate { org } => {
            settings::on_generated(app, org, result.and_then(decode))
        }
        Pending::SetSync { org, enabled } => result.and_then(decode).map(|o: OrgSummary| {
            let text = match (o.sync_enabled, enabled) {
                (true, _) => format!("Sync of {org} is on."),
                (false, false) => format!("Sync of {org} is off."),
                (false, true) => format!("Sync of {org} is still off."),
            };
            app.say(Tone::Ok, text);
            vec![]
        }),
        Pending::SyncNow { org } => result.map(|_| {
            app.say(
                Tone::Ok,
                format!("{org} pulls every mapped object now instead of at the next interval."),
            );
            vec![]
        }),
        Pending::OrgPin { org, daemon } => result.and_then(decode).map(|_: OrgSummary| {
            let text = match daemon {
                Some(d) => format!("{org} runs on {d} from now on (while {d} is live)."),
                None => format!("{org} is placed by the fleet again."),
            };
            app.say(Tone::Ok, text);
            vec![]
        }),
        Pending::OrgSettings { org } => {
            settings::on_org_settings(app, org, result.and_then(decode))
        }
        Pending::MappingList { org } => objects::on_mappings(app, org, result.and_then(decode)),
        Pending::MetadataFields { org, object } => {
            mapping::on_fields(app, org, object, result.and_then(decode))
        }
        Pending::MappingPlan {
            org,
            object,
            remove,
        } => mapping::on_plan(app, org, object, remove, result.and_then(decode)),
        Pending::MappingApply {
            org,
            object,
            remove,
        } => mapping::on_applied(app, org, object, remove, result.and_then(decode)),
        Pending::FailedList { org } => failed::on_loaded(app, org, result.and_then(decode)),
        Pending::FailedRetry { org, object, all } => {
            failed::on_retried(app, org, object, all, result.and_then(decode))
        }
        Pending::FailedIgnore { org, object } => {
            failed::on_ignored(app, org, object, result.and_then(decode))
        }
        Pending::ConflictList { org } => conflicts::on_loaded(app, org, result.and_then(decode)),
        Pending::RecentChanges { org, object } => {
            recent::on_loaded(app, org, object, result.and_then(decode))
        }
        Pending::SchemaCheck { org } => {
            settings::on_schema_checked(app, org, result.and_then(decode))
        }
        Pending::ResyncPlan { org, object } => {
            resync::on_plan(app, org, object, result.and_then(decode))
        }
        Pending::ResyncStart { org, object } => {
            resync::on_started(app, org, object, result.and_then(decode))
        }
    };
    match outcome {
        Ok(cmds) => cmds,
        Err(e) => {
            let text = if failure.ends_with('—') {
                format!("{failure} {e}")
            } else {
                format!("{failure}: {e}")
            };
            app.say(Tone::Error, text);
            vec![]
        }
    }
}

fn on_metadata(app: &mut App, org: String, r: MetadataReport) -> Vec<Cmd> {
    let list = |names: &[String]| {
        if names.is_empty() {
            "none".to_owned()
        } else if names.len() > 8 {
            format!("{} … ({} in all)", names[..8].join(", "), names.len())
        } else {
            names.join(", ")
        }
    };
    let summary = format!(
        "Metadata of {org}: {} objects, {} added, {} removed, {} changed ({} API calls).",
        r.objects,
        r.added.len(),
        r.removed.len(),
        r.changed.len(),
        r.api_calls
    );
    app.say(Tone::Ok, summary);
    let mut lines = vec![(
        Tone::Ok,
        format!(
            "Downloaded {} objects ({} described) at {}.",
            r.objects,
            r.described,
            r.downloaded_at.format("%Y-%m-%d %H:%M UTC")
        ),
    )];
    let left_out: usize = r.left_out.values().sum();
    if left_out > 0 {
        lines.push((
            Tone::Info,
            format!(
                "Left out {left_out} of the {} objects Salesforce lists, which cannot be synced:",
                r.listed
            ),
        ));
        let mut reasons: Vec<(&String, &usize)> = r.left_out.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in reasons {
            lines.push((Tone::Info, format!("  {n:>4}  {reason}")));
        }
    }
    lines.extend([
        (Tone::Info, format!("Added: {}", list(&r.added))),
        (Tone::Info, format!("Removed: {}", list(&r.removed))),
        (Tone::Info, format!("Changed: {}", list(&r.changed))),
        (
            Tone::Info,
            format!("Salesforce API calls spent: {}", r.api_calls),
        ),
    ]);
    app.dialog = Some(Dialog::Report {
        title: format!("Metadata of {org}"),
        lines,
    });
    objects::on_metadata(app, &org)
}

fn on_deleted(app: &mut App, org: String, r: DeleteReport) -> Vec<Cmd> {
    let mut lines = vec![(Tone::Ok, format!("{org} was deleted."))];
    lines.push(if r.token_revoked {
        (Tone::Ok, "Salesforce token revoked.".into())
    } else if !r.had_token {
        (
            Tone::Info,
            "No Salesforce token to revoke (the org was never authorized).".into(),
        )
    } else {
        (Tone::Warn, "Salesforce token not revoked.".into())
    });
    lines.push(if r.schema_dropped {
        (Tone::Ok, "Generated schema and sync user dropped.".into())
    } else {
        (Tone::Info, "No generated schema was dropped.".into())
    });
    for w in &r.warnings {
        lines.push((Tone::Warn, w.clone()));
    }
    if r.warnings.is_empty() {
        app.say(Tone::Ok, format!("{org} was deleted."));
    } else {
        app.say(
            Tone::Warn,
            format!("{org} was deleted with {} warning(s).", r.warnings.len()),
        );
    }
    app.dialog = Some(Dialog::Report {
        title: format!("Deleted {org}"),
        lines,
    });
    let on_its_screen = match &app.screen {
        Screen::Orgs => false,
        Screen::Register(r) => r.org() == Some(org.as_str()),
        Screen::Settings(s) => s.org == org,
        Screen::Objects(o) => o.org == org,
        Screen::Mapping(m) => m.org == org,
        Screen::Failed(f) => f.org == org,
        Screen::Conflicts(c) => c.org == org,
        Screen::Recent(r) => r.org == org,
        Screen::Dashboard(_) | Screen::Log(_) => false,
    };
    if on_its_screen {
        app.screen = Screen::Orgs;
    }
    vec![]
}
