//! Demo mode: an embedded simulated Salesforce org with sample data and a steady trickle of
//! changes, an SQLite target (or the database given with `--demo-target`), the org
//! registered and a few objects mapped both ways — live sync without any account.
use datenator_shared::datasource::{DatasourceKind, DatasourceSettings, Secret, TlsMode};
use datenator_shared::model::{AuthFlow, ConflictPolicy, Direction, Mapping, OrgType};
use datenator_shared::protocol::{RegisterOrg, SaveMapping};
use sfsim::{RunningSim, Sim, SimConfig};

use crate::state::State;

/// The demo org's name.
pub const DEMO_ORG: &str = "demo";

/// The demo's simulated org, running as long as the daemon.
pub struct DemoOrg(RunningSim);

impl DemoOrg {
    /// Starts the simulated org and sets the demo up against it (a demo org left from an
    /// earlier run is forgotten first: each start is a fresh org).
    pub async fn start(state: &State, target: Option<&str>) -> anyhow::Result<DemoOrg> {
        let sim = start_sim().await?;
        if state.orgs().iter().any(|o| o.name == DEMO_ORG) {
            let _ = crate::orgs::delete(state, DEMO_ORG, DEMO_ORG).await;
        }
        setup(state, &sim, target).await?;
        Ok(DemoOrg(sim))
    }

    pub async fn shutdown(self) {
        let _ = self.0.shutdown().await;
    }
}

/// Starts the simulated org the demo syncs with. Accounts and Contacts publish change
/// events (streamed, their pull lag "live"); Opportunities do not (polled), so the demo
/// shows both.
async fn start_sim() -> anyhow::Result<RunningSim> {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![
            ("Account".into(), 300),
            ("Contact".into(), 600),
            ("Opportunity".into(), 200),
        ],
        ..SimConfig::default()
    })
    .await?;
    sim.enable_cdc(&["Account", "Contact"])
        .map_err(|e| anyhow::anyhow!("the demo org's change events: {e}"))?;
    Ok(sim)
}

fn settings(state: &State, target: Option<&str>) -> anyhow::Result<DatasourceSettings> {
    let Some(url) = target else {
        return Ok(DatasourceSettings {
            kind: DatasourceKind::Sqlite,
            host: String::new(),
            port: None,
            database: String::new(),
            user: String::new(),
            password: Secret::default(),
            tls: TlsMode::Disable,
            schema: Some("datenator_demo".into()),
            sqlite_path: Some(state.paths.state_dir.join("demo.db")),
        });
    };
    // (The URL itself is not repeated: it may hold a password.)
    let mut settings =
        DatasourceSettings::from_url(url).map_err(|e| anyhow::anyhow!("--demo-target: {e}"))?;
    settings.schema = Some("datenator_demo".into());
    Ok(settings)
}

fn rpc(e: crate::error::DaemonError) -> anyhow::Error {
    anyhow::anyhow!(e.message)
}

/// Registers the demo org against `sim`, points it at its database, maps objects and starts
/// sync and the change trickle. Runs the same code paths as the socket methods.
async fn setup(state: &State, sim: &RunningSim, target: Option<&str>) -> anyhow::Result<()> {
    crate::orgs::registration::register(
        state,
        RegisterOrg {
            name: DEMO_ORG.into(),
            org_type: OrgType::Custom(sim.info.login_url.clone()),
            flow: AuthFlow::Device,
            client_id: Some(sim.info.client_id.clone()),
            client_secret: Some(Secret::new(sim.info.client_secret.clone())),
        },
    )
    .await
    .map_err(rpc)?;
    // The demo user approves the device code at once; the daemon's own poll then finishes
    // the flow, and setup goes on once the org is authorized.
    let pending = state
        .orgs()
        .into_iter()
        .find(|o| o.name == DEMO_ORG)
        .map(|o| o.auth);
    if let Some(datenator_shared::model::AuthState::Pending {
        step: datenator_shared::model::PendingStep::Device { user_code, .. },
    }) = pending
    {
        sim.approve_device(&user_code, true);
    }
    for _ in 0..600 {
        if state
            .orgs()
            .iter()
            .any(|o| o.name == DEMO_ORG && o.auth == datenator_shared::model::AuthState::Authorized)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    crate::datasource::set(state, DEMO_ORG, settings(state, target)?)
        .await
        .map_err(rpc)?;
    let check = crate::datasource::check(state, DEMO_ORG)
        .await
        .map_err(rpc)?;
    if !check.is_ok() {
        anyhow::bail!("the demo database failed its checks: {check:?}");
    }
    crate::datasource::generate(state, DEMO_ORG)
        .await
        .map_err(rpc)?;
    crate::orgs::metadata::download(state, DEMO_ORG)
        .await
        .map_err(rpc)?;
    for (object, fields) in [
        (
            "Account",
            vec!["Name", "Industry", "Phone", "AnnualRevenue", "BillingCity"],
        ),
        ("Contact", vec!["FirstName", "LastName", "Email", "Phone"]),
        (
            "Opportunity",
            vec!["Name", "StageName", "Amount", "CloseDate"],
        ),
    ] {
        crate::mappings::save(
            state,
            SaveMapping {
                org: DEMO_ORG.into(),
                mapping: Mapping {
                    object: object.into(),
                    fields: fields.into_iter().map(str::to_owned).collect(),
                    direction: Direction::Bidirectional,
                    conflict_policy: ConflictPolicy::NewestWins,
                    row_filter: None,
                },
                apply: true,
                confirm_destructive: false,
                send_queued: false,
                leaving_rows: Default::default(),
            },
        )
        .await
        .map_err(rpc)?;
    }
    crate::orgs::settings(
        state,
        datenator_shared::protocol::OrgSettings {
            name: DEMO_ORG.into(),
            polling_interval_secs: Some(10),
            api_budget_percent: None,
        },
    )
    .await
    .map_err(rpc)?;
    crate::orgs::set_sync(state, DEMO_ORG, true)
        .await
        .map_err(rpc)?;
    sim.start_changes(sfsim::datagen::ChangeSpec {
        per_second: 1.0,
        objects: vec!["Account".into(), "Contact".into(), "Opportunity".into()],
        ..Default::default()
    });
    tracing::info!(instance = %sim.info.instance_url, "demo org is set up and syncing");
    Ok(())
}
