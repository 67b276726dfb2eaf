//! `--demo` in a daemon built without the `demo` feature: it says how to get one that has
//! it (the demo embeds the Salesforce simulator, which a packaged daemon leaves out).
use crate::state::State;

/// The demo's simulated org: never started in this build.
pub enum DemoOrg {}

impl DemoOrg {
    pub async fn start(_state: &State, _target: Option<&str>) -> anyhow::Result<DemoOrg> {
        anyhow::bail!(
            "this datenatord was built without the demo (cargo feature `demo`, which embeds a simulated Salesforce org): build it with `cargo build --release --features datenatord/demo`, as the README's demo command does"
        )
    }

    pub async fn shutdown(self) {}
}
