//! REST calls: metadata, queries with paging, composite, sObject Collections, get
//! updated/deleted, limits.
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{ApiError, SalesforceError};
use super::http::{Api, Body, Replay};

/// Records per sObject Collections request.
pub const COLLECTION_CHUNK: usize = 200;
/// Sub-requests per composite request.
pub const COMPOSITE_MAX: usize = 25;
/// Query and collections sub-requests one composite request may hold.
pub const COMPOSITE_HEAVY: usize = 5;

/// One page of a query.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    pub total_size: u64,
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
    pub records: Vec<Map<String, Value>>,
}

/// Reads a query page by page.
pub struct QueryPager<'a> {
    api: &'a Api,
    next: Option<String>,
    batch_size: Option<u32>,
    first: bool,
    pub total_size: Option<u64>,
}

impl QueryPager<'_> {
    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<QueryPage>, SalesforceError> {
        let Some(target) = self.next.take() else {
            return Ok(None);
        };
        let headers: Vec<(&str, String)> = self
            .batch_size
            .map(|n| vec![("Sforce-Query-Options", format!("batchSize={n}"))])
            .unwrap_or_default();
        let page: QueryPage = self
            .api
            .send(Method::GET, &target, Body::None, &headers, Replay::Safe)
            .await?
            .json()?;
        if self.first {
            self.total_size = Some(page.total_size);
            self.first = false;
        }
        self.next = if page.done {
            None
        } else {
            page.next_records_url.clone()
        };
        Ok(Some(page))
    }
}

/// The per-record outcome of a collections call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiError>,
    /// Upserts only: whether a record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

/// One sub-request of a composite call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubRequest {
    pub method: String,
    pub url: String,
    pub reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One sub-response of a composite call.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubResponse {
    pub body: Value,
    pub http_status_code: u16,
    pub reference_id: String,
}

/// The record results of one collections sub-request (of `n` records) of a composite
/// request; a collection refused as a whole for good gives each record the refusal.
fn collection_results(answer: SubResponse, n: usize) -> Result<Vec<RecordResult>, SalesforceError> {
    if answer.http_status_code == 200 {
        return serde_json::from_value(answer.body).map_err(|e| {
            SalesforceError::Protocol(format!("a collections answer in a composite: {e}"))
        });
    }
    let errors: Vec<ApiError> = serde_json::from_value(answer.body.clone()).unwrap_or_else(|_| {
        vec![ApiError {
            error_code: String::new(),
            message: answer.body.to_string(),
            fields: vec![],
        }]
    });
    let code = errors.first().map_or("", |e| e.error_code.as_str());
    match (answer.http_status_code, code) {
        (403, "REQUEST_LIMIT_EXCEEDED") => Err(SalesforceError::LimitExceeded(
            errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        )),
        (500..=599, _) | (_, "SERVER_UNAVAILABLE" | "UNABLE_TO_LOCK_ROW") => {
            Err(SalesforceError::Transient(format!(
                "a collections request in a composite: {} {code}",
                answer.http_status_code
            )))
        }
        _ => Ok(vec![
            RecordResult {
                id: None,
                success: false,
                errors,
                created: None,
            };
            n
        ]),
    }
}

/// A query locator (`nextRecordsUrl`) Salesforce no longer knows.
pub fn is_invalid_locator(e: &SalesforceError) -> bool {
    e.error_code() == Some("INVALID_QUERY_LOCATOR")
}

/// Percent-encodes a query-string value.
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The replication API's (`/sobjects/X/updated`, `/deleted`) granularity: it ignores the
/// seconds of `start` and `end`, and answers `latestDateCovered` on a minute.
pub fn replication_minute(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

/// The path of the replication API's `which` ("updated" or "deleted") for a window.
pub fn replication_path(
    object: &str,
    which: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<String, SalesforceError> {
    Ok(Api::data_path(&format!(
        "/sobjects/{}/{which}/?start={}&end={}",
        check_api_name(object)?,
        encode(&sf_datetime(start)),
        encode(&sf_datetime(end))
    )))
}

/// A Salesforce datetime for URLs and SOQL: `2024-01-31T12:00:00.000Z` style, UTC.
pub fn sf_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A Salesforce object or field name: letters, digits and underscores only, so it can go
/// into a URL or SOQL without quoting.
pub fn check_api_name(name: &str) -> Result<&str, SalesforceError> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(name)
    } else {
        Err(SalesforceError::Invalid(format!(
            "{name:?} is not a Salesforce API name"
        )))
    }
}

impl Api {
    /// describeGlobal; `None` when unchanged since `if_modified_since` (an HTTP date).
    pub async fn describe_global(
        &self,
        if_modified_since: Option<&str>,
    ) -> Result<Option<Value>, SalesforceError> {
        self.get_unless_unmodified(&Api::data_path("/sobjects"), if_modified_since)
            .await
    }

    /// An object's describe; `None` when unchanged since `if_modified_since`.
    pub async fn describe(
        &self,
        object: &str,
        if_modified_since: Option<&str>,
    ) -> Result<Option<Value>, SalesforceError> {
        let path = Api::data_path(&format!("/sobjects/{}/describe", check_api_name(object)?));
        self.get_unless_unmodified(&path, if_modified_since).await
    }

    async fn get_unless_unmodified(
        &self,
        path: &str,
        ims: Option<&str>,
    ) -> Result<Option<Value>, SalesforceError> {
        let headers: Vec<(&str, String)> = ims
            .map(|d| vec![("If-Modified-Since", d.to_owned())])
            .unwrap_or_default();
        let answer = self
            .send(Method::GET, path, Body::None, &headers, Replay::Safe)
            .await?;
        if answer.status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        answer.json().map(Some)
    }

    /// Starts a query (`all` = queryAll, which includes deleted records).
    pub fn query<'a>(&'a self, soql: &str, all: bool, batch_size: Option<u32>) -> QueryPager<'a> {
        let endpoint = if all { "/queryAll" } else { "/query" };
        QueryPager {
            api: self,
            next: Some(Api::data_path(&format!("{endpoint}?q={}", encode(soql)))),
            batch_size,
            first: true,
            total_size: None,
        }
    }

    /// Continues a query from a page's `nextRecordsUrl` (`None`: nothing more to read).
    pub fn query_from<'a>(&'a self, next_records_url: Option<String>) -> QueryPager<'a> {
        QueryPager {
            api: self,
            next: next_records_url,
            batch_size: None,
            first: false,
            total_size: None,
        }
    }

    /// The number of records a `SELECT COUNT() FROM …` query counts (one API call).
    pub async fn count(&self, soql: &str) -> Result<u64, SalesforceError> {
        let page = self.query(soql, false, None).next_page().await?;
        Ok(page.map_or(0, |p| p.total_size))
    }

    /// Runs a query to the end and returns every record. A query whose server-side cursor
    /// becomes invalid part-way (`INVALID_QUERY_LOCATOR`: released for a newer cursor, idle
    /// too long, or a page asked for twice) runs again from the start.
    pub async fn query_all_records(
        &self,
        soql: &str,
        all: bool,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        let mut out = Vec::new();
        self.query_each(soql, all, |records| match records {
            Some(r) => out.extend(r),
            None => out.clear(),
        })
        .await?;
        Ok(out)
    }

    /// Runs a query to the end, handing each page's records to `page`; when the query's
    /// cursor becomes invalid part-way, hands it `None` (forget what came so far) and runs
    /// the query again from the start (a few times at most).
    pub async fn query_each(
        &self,
        soql: &str,
        all: bool,
        mut page: impl FnMut(Option<Vec<Map<String, Value>>>),
    ) -> Result<(), SalesforceError> {
        let mut attempts = 0;
        'query: loop {
            let mut pager = self.query(soql, all, None);
            loop {
                match pager.next_page().await {
                    Ok(Some(p)) => page(Some(p.records)),
                    Ok(None) => return Ok(()),
                    Err(e) if is_invalid_locator(&e) && attempts < 3 => {
                        attempts += 1;
                        tracing::info!("a query's cursor is no longer valid; running it again");
                        page(None);
                        continue 'query;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// One composite request (one API call).
    pub async fn composite(
        &self,
        requests: Vec<SubRequest>,
        all_or_none: bool,
    ) -> Result<Vec<SubResponse>, SalesforceError> {
        if requests.len() > COMPOSITE_MAX {
            return Err(SalesforceError::Invalid(format!(
                "a composite request takes at most {COMPOSITE_MAX} sub-requests, not {}",
                requests.len()
            )));
        }
        let replay = if requests.iter().all(|r| r.method == "GET") {
            Replay::Safe
        } else {
            Replay::Unsafe
        };
        self.composite_with(requests, all_or_none, replay).await
    }

    async fn composite_with(
        &self,
        requests: Vec<SubRequest>,
        all_or_none: bool,
        replay: Replay,
    ) -> Result<Vec<SubResponse>, SalesforceError> {
        let body = json!({"allOrNone": all_or_none, "compositeRequest": requests});
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Out {
            composite_response: Vec<SubResponse>,
        }
        let out: Out = self
            .send(
                Method::POST,
                &Api::data_path("/composite"),
                Body::Json(body),
                &[],
                replay,
            )
            .await?
            .json()?;
        Ok(out.composite_response)
    }

    /// Sends `records` to a collections endpoint in chunks of 200; results in input order.
    async fn collection_chunks(
        &self,
        method: Method,
        path: &str,
        object: &str,
        records: &[Map<String, Value>],
        replay: Replay,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_CHUNK) {
            let body = json!({"allOrNone": false, "records": with_type(object, chunk)});
            let answer = self
                .send(method.clone(), path, Body::Json(body), &[], replay)
                .await?;
            out.extend(answer.json::<Vec<RecordResult>>()?);
        }
        Ok(out)
    }

    /// Creates records through sObject Collections. Not safe to replay: a lost answer is
    /// [`SalesforceError::OutcomeUnknown`].
    pub async fn create_records(
        &self,
        object: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let path = Api::data_path("/composite/sobjects");
        self.collection_chunks(
            Method::POST,
            &path,
            check_api_name(object)?,
            records,
            Replay::Unsafe,
        )
        .await
    }

    /// Updates records (each with `Id`) through sObject Collections of 200, five of them
    /// to a composite request: one API call per 1,000 records. Safe to replay.
    pub async fn update_records(
        &self,
        object: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let object = check_api_name(object)?;
        let path = Api::data_path("/composite/sobjects");
        let collections = records
            .chunks(COLLECTION_CHUNK)
            .map(|chunk| {
                let request = SubRequest {
                    method: "PATCH".into(),
                    url: path.clone(),
                    reference_id: String::new(),
                    body: Some(json!({"allOrNone": false, "records": with_type(object, chunk)})),
                };
                (request, chunk.len())
            })
            .collect();
        self.replayable_collections(collections).await
    }

    /// Sends replay-safe sObject Collections requests (each with its record count), five
    /// to a composite request (the most Salesforce allows), and returns their record
    /// results in order. A collection refused as a whole inside a composite fails its own
    /// records (each gets the error) unless the refusal is transient (busy, locked): then
    /// the lot is sent again later, which changes nothing for the ones that went through.
    async fn replayable_collections(
        &self,
        collections: Vec<(SubRequest, usize)>,
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let mut out = Vec::new();
        let mut collections = collections.into_iter().peekable();
        while collections.peek().is_some() {
            let group: Vec<(SubRequest, usize)> = collections
                .by_ref()
                .take(COMPOSITE_HEAVY)
                .enumerate()
                .map(|(i, (r, n))| {
                    let r = SubRequest {
                        reference_id: format!("c{i}"),
                        ..r
                    };
                    (r, n)
                })
                .collect();
            if let [(one, _)] = group.as_slice() {
                // A lone collection costs one call either way: sent as it is.
                let method = Method::from_bytes(one.method.as_bytes())
                    .map_err(|e| SalesforceError::Invalid(e.to_string()))?;
                let body = one.body.clone().map_or(Body::None, Body::Json);
                let answer = self.send(method, &one.url, body, &[], Replay::Safe).await?;
                out.extend(answer.json::<Vec<RecordResult>>()?);
                continue;
            }
            let sizes: Vec<(String, usize)> = group
                .iter()
                .map(|(r, n)| (r.reference_id.clone(), *n))
                .collect();
            let requests = group.into_iter().map(|(r, _)| r).collect();
            let mut answers: std::collections::HashMap<String, SubResponse> = self
                .composite_with(requests, false, Replay::Safe)
                .await?
                .into_iter()
                .map(|a| (a.reference_id.clone(), a))
                .collect();
            for (reference, n) in sizes {
                let answer = answers.remove(&reference).ok_or_else(|| {
                    SalesforceError::Protocol(format!(
                        "a composite answer lacks sub-request {reference}"
                    ))
                })?;
                let results = collection_results(answer, n)?;
                if results.len() != n {
                    return Err(SalesforceError::Protocol(format!(
                        "a collections request of {n} records answered {} results",
                        results.len()
                    )));
                }
                out.extend(results);
            }
        }
        Ok(out)
    }

    /// Upserts records by an external-id field. Safe to replay: a second send finds the
    /// record the first one created.
    pub async fn upsert_records(
        &self,
        object: &str,
        external_id_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let path = Api::data_path(&format!(
            "/composite/sobjects/{}/{}",
            check_api_name(object)?,
            check_api_name(external_id_field)?
        ));
        self.collection_chunks(Method::PATCH, &path, object, records, Replay::Safe)
            .await
    }

    /// Deletes records by id through sObject Collections of 200, five of them to a
    /// composite request. Safe to replay.
    pub async fn delete_records(
        &self,
        ids: &[String],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        for id in ids {
            check_id(id)?;
        }
        let collections = ids
            .chunks(COLLECTION_CHUNK)
            .map(|chunk| {
                let request = SubRequest {
                    method: "DELETE".into(),
                    url: Api::data_path(&format!(
                        "/composite/sobjects?ids={}&allOrNone=false",
                        chunk.join(",")
                    )),
                    reference_id: String::new(),
                    body: None,
                };
                (request, chunk.len())
            })
            .collect();
        self.replayable_collections(collections).await
    }

    /// Ids of records updated in a window (`/sobjects/X/updated`).
    pub async fn updated(
        &self,
        object: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, SalesforceError> {
        self.changed_in_window(object, "updated", start, end).await
    }

    /// Records deleted in a window (`/sobjects/X/deleted`).
    pub async fn deleted(
        &self,
        object: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, SalesforceError> {
        self.changed_in_window(object, "deleted", start, end).await
    }

    async fn changed_in_window(
        &self,
        object: &str,
        which: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, SalesforceError> {
        let path = replication_path(object, which, start, end)?;
        self.send(Method::GET, &path, Body::None, &[], Replay::Safe)
            .await?
            .json()
    }

    /// `/limits`; also updates the usage tracker from `DailyApiRequests` (and the change-event
    /// allocation from `DailyDeliveredPlatformEvents`).
    pub async fn limits(&self) -> Result<Value, SalesforceError> {
        let v: Value = self
            .send(
                Method::GET,
                &Api::data_path("/limits"),
                Body::None,
                &[],
                Replay::Safe,
            )
            .await?
            .json()?;
        let used = |name: &str| {
            let d = v.get(name)?;
            let max = d.get("Max").and_then(Value::as_u64)?;
            let remaining = d.get("Remaining").and_then(Value::as_u64)?;
            Some(datenator_shared::model::ApiUsage {
                used: max.saturating_sub(remaining),
                max,
            })
        };
        // The events first: the API figure's change makes the org list read both.
        if let Some(events) = used("DailyDeliveredPlatformEvents") {
            self.usage().record_events(events);
        }
        if let Some(calls) = used("DailyApiRequests") {
            self.usage().record(calls);
        }
        Ok(v)
    }
}

fn with_type(object: &str, records: &[Map<String, Value>]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.insert("attributes".into(), json!({"type": object}));
            Value::Object(r)
        })
        .collect()
}

/// A record id: 15 or 18 letters and digits.
pub fn check_id(id: &str) -> Result<&str, SalesforceError> {
    if matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(SalesforceError::Invalid(format!(
            "{id:?} is not a Salesforce record id"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("0015g0000000001AAA").is_ok());
        assert!(check_id("0015g0000000001").is_ok());
        assert!(check_id("0015g00000,0001AAA").is_err());
    }

    #[test]
    fn api_names_are_checked() {
        assert!(check_api_name("Account").is_ok());
        assert!(check_api_name("My_Object__c").is_ok());
        assert!(check_api_name("Account/../x").is_err());
        assert!(check_api_name("").is_err());
        assert!(check_api_name("1abc").is_err());
    }

    #[test]
    fn datetimes_are_utc_with_millis() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-31T12:00:00.5+02:00")
            .unwrap()
            .to_utc();
        assert_eq!(sf_datetime(t), "2024-01-31T10:00:00.500Z");
    }

    #[test]
    fn a_collection_refused_inside_a_composite_fails_its_own_records_only() {
        let answer = |status: u16, body: Value| SubResponse {
            body,
            http_status_code: status,
            reference_id: "c0".into(),
        };
        let ok = collection_results(
            answer(200, json!([{"id": "001A", "success": true, "errors": []}])),
            1,
        )
        .unwrap();
        assert!(ok[0].success);
        let refused = collection_results(
            answer(
                400,
                json!([{"errorCode": "INVALID_FIELD", "message": "No such column"}]),
            ),
            3,
        )
        .unwrap();
        assert_eq!(refused.len(), 3);
        assert!(refused.iter().all(|r| !r.success));
        assert_eq!(refused[2].errors[0].error_code, "INVALID_FIELD");
        let busy = collection_results(
            answer(
                503,
                json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}]),
            ),
            3,
        );
        assert!(matches!(busy, Err(SalesforceError::Transient(_))));
        let locked = collection_results(
            answer(
                400,
                json!([{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "x"}]),
            ),
            3,
        );
        assert!(matches!(locked, Err(SalesforceError::Transient(_))));
    }
}
