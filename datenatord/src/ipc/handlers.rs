//! Request handlers: one line per method, each returning the reply's JSON value or an
//! error that tells the user what to do.
use datenator_shared::protocol::{Call, HandshakeOk, PROTOCOL_VERSION, RpcError, codes};
use serde_json::Value;

use crate::engine::failures;
use crate::state::{DAEMON_VERSION, State};
use crate::targetdb::FailedAction;
use crate::{datasource, mappings, orgs};

pub(super) fn handshake_ok() -> HandshakeOk {
    HandshakeOk {
        protocol: PROTOCOL_VERSION,
        daemon_version: DAEMON_VERSION.into(),
    }
}

fn to_value(v: impl serde::Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
}

/// Methods that need neither the handshake state nor subscriptions.
pub(super) async fn handle(state: &State, call: Call) -> Result<Value, RpcError> {
    match call {
        Call::Status(_) => to_value(state.status()),
        Call::OrgList(_) => to_value(state.orgs()),
        Call::OrgRegister(r) => to_value(orgs::registration::register(state, r).await?),
        Call::OrgReauthorize(r) => to_value(orgs::registration::reauthorize(state, r).await?),
        Call::OrgCompleteAuthorization(r) => {
            to_value(orgs::registration::complete(state, r).await?)
        }
        Call::OrgDelete(r) => to_value(orgs::delete(state, &r.name, &r.confirm).await?),
        Call::MetadataDownload(r) => to_value(orgs::metadata::download(state, &r.name).await?),
        Call::MetadataObjects(r) => to_value(orgs::metadata::objects(state, &r.name).await?),
        Call::MetadataFields(r) => {
            to_value(orgs::metadata::fields(state, &r.org, &r.object).await?)
        }
        Call::DatasourceSet(r) => to_value(datasource::set(state, &r.org, r.settings).await?),
        Call::DatasourceGet(r) => to_value(datasource::get(state, &r.name).await?),
        Call::DatasourceCheck(r) => to_value(datasource::check(state, &r.name).await?),
        Call::SchemaGenerate(r) => to_value(datasource::generate(state, &r.name).await?),
        Call::DatasourceSyncHost(r) => {
            to_value(datasource::set_sync_host(state, &r.org, r.host).await?)
        }
        Call::MappingList(r) => to_value(mappings::list(state, &r.name).await?),
        Call::MappingSave(r) => to_value(mappings::save(state, r).await?),
        Call::MappingRemove(r) => to_value(mappings::remove(state, r).await?),
        Call::ObjectResync(r) => to_value(crate::engine::reload::plan(state, r).await?),
        Call::OrgSetSync(r) => to_value(orgs::set_sync(state, &r.name, r.enabled).await?),
        Call::OrgSettings(r) => to_value(orgs::settings(state, r).await?),
        Call::MappingExport(r) => to_value(mappings::export(state, &r.name).await?),
        Call::MappingImport(r) => to_value(mappings::import(state, r).await?),
        Call::ConflictList(r) => to_value(crate::engine::conflicts::list(state, &r.name).await?),
        Call::SchemaCheck(r) => to_value(orgs::metadata::schema_check(state, &r.name).await?),
        Call::OrgSyncNow(r) => {
            if state.engine.pull_now(&r.name) {
                Ok(Value::Null)
            } else {
                Err(RpcError::new(
                    codes::REJECTED,
                    format!("sync is not running for org {:?}: enable it first", r.name),
                ))
            }
        }
        Call::OrgPin(r) => to_value(crate::fleet::pin(state, r).await?),
        Call::FailedList(r) => to_value(failures::list(state, &r.name).await?),
        Call::FailedRetry(r) => to_value(failures::settle(state, r, FailedAction::Retry).await?),
        Call::FailedIgnore(r) => to_value(failures::settle(state, r, FailedAction::Ignore).await?),
        Call::ChangesRecent(r) => to_value(crate::engine::recent::list(state, r).await?),
        Call::Handshake(_) | Call::Subscribe(_) | Call::Unsubscribe(_) => Err(RpcError::new(
            codes::INTERNAL_ERROR,
            "this request is handled by the connection itself",
        )),
    }
}
