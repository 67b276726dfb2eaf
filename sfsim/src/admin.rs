//! The admin API under `/__sim/` (JSON, unauthenticated, counted nowhere): metadata drift,
//! seed data, the change generator, faults, counters, non-API changes, device approval.

use crate::resp::Resp;
use crate::schema::{FieldDef, ObjectDef};
use crate::sim::Sim;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn bad(msg: impl Into<String>) -> Resp {
    Resp::json(400, json!({"error": msg.into()}))
}

fn str_list(v: &serde_json::Value) -> Result<Vec<String>, Resp> {
    v.as_array()
        .ok_or_else(|| bad("entities (a list of object names) is required"))?
        .iter()
        .map(|e| {
            e.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("entities must be strings"))
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Resp> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))
}

pub async fn handle(State(sim): State<Sim>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri
        .path()
        .trim_start_matches("/__sim/")
        .trim_end_matches('/')
        .to_string();
    let m = method.as_str().to_string();
    let sim2 = sim.clone();
    tokio::task::spawn_blocking(move || {
        let r = route(&sim2, &m, &path, &body);
        // Writes made through the admin API (seed, touch) publish their change events.
        sim2.publish_changes();
        r
    })
    .await
    .unwrap_or_else(|e| bad(format!("internal error: {e}")))
    .into_response()
}

fn route(sim: &Sim, method: &str, path: &str, body: &[u8]) -> Resp {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let r: Result<Resp, Resp> = (|| {
        Ok(match (method, segs.as_slice()) {
            ("GET", ["info"]) => {
                let org = sim.org();
                Resp::ok(json!({
                    "org_id": org.org_id,
                    "instance_url": sim.base_url(),
                    "api_version": sim.api_version(),
                    "objects": org.tables.values().map(|t| json!({"name": t.def.name, "records": t.live().count(), "recycle_bin": t.records.len() - t.live().count()})).collect::<Vec<_>>(),
                }))
            }
            ("GET", ["counters"]) => {
                Resp::ok(serde_json::to_value(sim.counters()).unwrap_or_default())
            }
            ("POST", ["counters", "reset"]) => {
                sim.reset_counters();
                Resp::empty(204)
            }
            ("POST", ["limits"]) => {
                let v: serde_json::Value = parse(body)?;
                sim.set_api_usage(v["used"].as_u64().unwrap_or(0), v["limit"].as_u64());
                Resp::ok(serde_json::to_value(sim.counters()).unwrap_or_default())
            }
            ("GET", ["faults"]) => {
                Resp::ok(serde_json::to_value(sim.faults_config()).unwrap_or_default())
            }
            ("PUT" | "POST", ["faults"]) => {
                sim.set_faults(parse(body)?);
                Resp::ok(serde_json::to_value(sim.faults_config()).unwrap_or_default())
            }
            ("POST", ["apps"]) => {
                let app: crate::oauth::ConnectedApp = parse(body)?;
                sim.add_connected_app(app);
                Resp::json(201, json!({"ok": true}))
            }
            ("POST", ["query-cursors", "release"]) => {
                Resp::ok(json!({"released": sim.release_query_cursors()}))
            }
            ("POST", ["late-changes", "reveal"]) => {
                sim.reveal_late_changes();
                Resp::empty(204)
            }
            ("POST", ["sessions", "expire"]) => {
                sim.expire_sessions();
                Resp::empty(204)
            }
            ("POST", ["tokens", "revoke-all"]) => {
                sim.revoke_all_tokens();
                Resp::empty(204)
            }
            ("POST", ["tokens"]) => {
                let v: serde_json::Value = parse(body)?;
                let t = sim
                    .new_access_token(v["username"].as_str())
                    .ok_or_else(|| bad("no such user"))?;
                Resp::ok(json!({"access_token": t}))
            }
            ("POST", ["objects"]) => {
                let def: ObjectDef = parse(body)?;
                let name = def.name.clone();
                sim.org().define_object(def).map_err(bad)?;
                Resp::json(201, json!({"name": name}))
            }
            ("DELETE", ["objects", name]) => {
                sim.org().remove_object(name).map_err(bad)?;
                Resp::empty(204)
            }
            ("POST", ["objects", name, "fields"]) => {
                let f: FieldDef = parse(body)?;
                sim.org().define_field(name, f).map_err(bad)?;
                Resp::json(201, json!({"ok": true}))
            }
            ("DELETE", ["objects", name, "fields", field]) => {
                sim.org().remove_field(name, field).map_err(bad)?;
                Resp::empty(204)
            }
            ("POST", ["objects", name, "validation-rules"]) => {
                let rule: crate::schema::ValidationRule = parse(body)?;
                let mut org = sim.org();
                let stamp = org.next_stamp();
                let t = org.table_mut(name).ok_or_else(|| bad("no such object"))?;
                t.def.validation_rules.retain(|r| r.name != rule.name);
                t.def.validation_rules.push(rule);
                t.def.last_modified = stamp;
                Resp::json(201, json!({"ok": true}))
            }
            ("POST", ["seed"]) => {
                let v: serde_json::Value = parse(body)?;
                let obj = v["object"]
                    .as_str()
                    .ok_or_else(|| bad("object is required"))?;
                let n = v["count"].as_u64().unwrap_or(10) as usize;
                let ids = sim
                    .seed_records(obj, n, v["seed"].as_u64().unwrap_or(1))
                    .map_err(bad)?;
                let shown: Vec<_> = ids.iter().take(1000).collect();
                Resp::json(201, json!({"created": ids.len(), "ids": shown}))
            }
            ("POST", ["changes", "start"]) => {
                let spec: crate::datagen::ChangeSpec = parse(body)?;
                sim.start_changes(spec);
                Resp::empty(204)
            }
            ("POST", ["changes", "stop"]) => {
                sim.stop_changes();
                Resp::empty(204)
            }
            ("POST", ["touch"]) => {
                let v: serde_json::Value = parse(body)?;
                let id = v["id"].as_str().ok_or_else(|| bad("id is required"))?;
                let set: Vec<(String, serde_json::Value)> = v["set"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                sim.system_touch(id, &set).map_err(bad)?;
                Resp::empty(204)
            }
            ("POST", ["device", "approve" | "deny"]) => {
                let v: serde_json::Value = parse(body)?;
                let code = v["user_code"]
                    .as_str()
                    .ok_or_else(|| bad("user_code is required"))?;
                if !sim.approve_device(code, segs[1] == "approve") {
                    return Err(Resp::json(404, json!({"error": "no pending device code"})));
                }
                Resp::empty(204)
            }
            ("POST", ["recycle-bin", "retention"]) => {
                let v: serde_json::Value = parse(body)?;
                sim.set_recycle_retention(
                    v["days"].as_i64().ok_or_else(|| bad("days is required"))?,
                );
                Resp::empty(204)
            }
            ("POST", ["recycle-bin", "purge"]) => {
                let v: serde_json::Value = parse(body)?;
                let before = v["before"].as_str().and_then(crate::value::parse_datetime);
                let n = sim.org().purge(before);
                Resp::ok(json!({"purged": n}))
            }
            ("GET", ["cdc"]) => Resp::ok(json!(sim.cdc_settings())),
            ("PUT", ["cdc"]) => {
                let v: serde_json::Value = parse(body)?;
                let names = str_list(&v["entities"])?;
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                sim.set_cdc_entities(&names).map_err(bad)?;
                Resp::ok(json!(sim.cdc_settings()))
            }
            ("POST", ["cdc", "entities", name]) => {
                sim.enable_cdc(&[name]).map_err(bad)?;
                Resp::ok(json!(sim.cdc_settings()))
            }
            ("DELETE", ["cdc", "entities", name]) => {
                sim.disable_cdc(&[name]);
                Resp::ok(json!(sim.cdc_settings()))
            }
            ("PUT", ["cdc", "channels", name]) => {
                let v: serde_json::Value = parse(body)?;
                let names = str_list(&v["entities"])?;
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                sim.define_cdc_channel(name, &names).map_err(bad)?;
                Resp::ok(json!(sim.cdc_settings()))
            }
            ("DELETE", ["cdc", "channels", name]) => {
                if !sim.remove_cdc_channel(name) {
                    return Err(Resp::json(404, json!({"error": "no such channel"})));
                }
                Resp::empty(204)
            }
            ("GET", ["streaming"]) => Resp::ok(json!(sim.streaming_status())),
            ("PUT" | "POST", ["streaming"]) => {
                sim.set_streaming(parse(body)?);
                Resp::ok(json!(sim.streaming_status()))
            }
            ("PUT" | "POST", ["streaming", "faults"]) => {
                // Only the faults named change.
                let v: serde_json::Value = parse(body)?;
                let mut f = sim.streaming_status().faults;
                if let Some(n) = v["drop_polls"].as_u64() {
                    f.drop_polls = n as u32;
                }
                if let Some(n) = v["gap_next"].as_u64() {
                    f.gap_next = n as u32;
                }
                sim.set_streaming_faults(f);
                Resp::ok(json!(sim.streaming_status()))
            }
            ("POST", ["streaming", "clients", "forget"]) => {
                Resp::ok(json!({"forgotten": sim.forget_streaming_clients()}))
            }
            ("GET", ["streaming", "events"]) => Resp::ok(json!(sim.change_events())),
            ("POST", ["streaming", "events", "age"]) => {
                let v: serde_json::Value = parse(body)?;
                let hours = v["hours"]
                    .as_f64()
                    .ok_or_else(|| bad("hours is required"))?;
                let by = std::time::Duration::from_secs_f64((hours * 3600.0).max(0.0));
                Resp::ok(json!({"expired": sim.age_change_events(by)}))
            }
            ("POST", ["streaming", "events", "expire"]) => {
                let v: serde_json::Value = parse(body)?;
                Resp::ok(json!({"expired": sim.expire_change_events(v["through"].as_u64())}))
            }
            ("POST", ["save"]) => {
                sim.save().map_err(|e| bad(e.to_string()))?;
                Resp::empty(204)
            }
            _ => Resp::json(
                404,
                json!({"error": format!("no admin route {method} /__sim/{path}")}),
            ),
        })
    })();
    r.unwrap_or_else(|e| e)
}
