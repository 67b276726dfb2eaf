//! Bulk API 2.0: query jobs streamed page by page, ingest jobs uploaded, closed, polled
//! and read back.
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::SalesforceError;
use super::http::{Api, Body, Replay};
use super::rest::encode;

/// A job's state as Salesforce reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub number_records_processed: Option<u64>,
    #[serde(default)]
    pub number_records_failed: Option<u64>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Ingest jobs: the object, operation and creating user (shown in job lists too).
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub created_by_id: Option<String>,
}

impl JobInfo {
    /// Open (still taking uploads), closed and queued, or running.
    pub fn unfinished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Open" | "UploadComplete" | "InProgress"
        )
    }
}

/// One page of `GET /jobs/ingest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobList {
    #[serde(default)]
    records: Vec<JobInfo>,
    #[serde(default)]
    next_records_url: Option<String>,
}

/// How often to poll a job: starts at `first`, then waits a quarter of the time spent so
/// far (at most `max`) — a job is seen done at most a quarter late, and a long job costs
/// few polls (each is an API call).
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

impl PollPolicy {
    /// The wait before the next poll, `elapsed` after the job started.
    pub fn next_wait(&self, elapsed: Duration) -> Duration {
        (elapsed / 4).max(self.first).min(self.max)
    }
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            first: Duration::from_millis(100),
            max: Duration::from_secs(10),
            timeout: Duration::from_secs(3600),
        }
    }
}

/// A running or finished Bulk query whose CSV pages can be read.
pub struct BulkQuery<'a> {
    api: &'a Api,
    pub job: JobInfo,
    locator: Option<String>,
    started: bool,
    max_records: Option<u64>,
}

impl BulkQuery<'_> {
    /// The next CSV page (with its header row), or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<String>, SalesforceError> {
        if self.started && self.locator.is_none() {
            return Ok(None);
        }
        let mut path = Api::data_path(&format!("/jobs/query/{}/results", self.job.id));
        let mut params = vec![];
        if let Some(l) = &self.locator {
            params.push(format!("locator={}", encode(l)));
        }
        if let Some(n) = self.max_records {
            params.push(format!("maxRecords={n}"));
        }
        if !params.is_empty() {
            path = format!("{path}?{}", params.join("&"));
        }
        let answer = self
            .api
            .send(Method::GET, &path, Body::None, &[], Replay::Safe)
            .await?;
        self.started = true;
        // The last page's locator is the text "null".
        self.locator = answer
            .header("Sforce-Locator")
            .filter(|l| !l.is_empty() && *l != "null")
            .map(str::to_owned);
        Ok(Some(String::from_utf8_lossy(&answer.body).into_owned()))
    }
}

/// The three result sets of an ingest job, as CSV text.
#[derive(Debug, Clone)]
pub struct IngestResults {
    pub job: JobInfo,
    pub successful: String,
    pub failed: String,
    pub unprocessed: String,
}

impl Api {
    async fn poll_job(
        &self,
        kind: &str,
        id: &str,
        policy: PollPolicy,
    ) -> Result<JobInfo, SalesforceError> {
        let path = Api::data_path(&format!("/jobs/{kind}/{id}"));
        let started = std::time::Instant::now();
        loop {
            let job: JobInfo = self
                .send(Method::GET, &path, Body::None, &[], Replay::Safe)
                .await?
                .json()?;
            match job.state.as_str() {
                "JobComplete" => return Ok(job),
                "Failed" | "Aborted" => {
                    return Err(SalesforceError::Api {
                        status: 200,
                        errors: vec![super::error::ApiError {
                            error_code: format!("BULK_JOB_{}", job.state.to_uppercase()),
                            message: job
                                .error_message
                                .clone()
                                .unwrap_or_else(|| format!("bulk job {id} {}", job.state)),
                            fields: vec![],
                        }],
                    });
                }
                _ => {}
            }
            if started.elapsed() > policy.timeout {
                return Err(SalesforceError::Transient(format!(
                    "bulk job {id} still {} after {:?}",
                    job.state, policy.timeout
                )));
            }
            tokio::time::sleep(policy.next_wait(started.elapsed())).await;
        }
    }

    /// Starts a Bulk query job, waits for it, and returns a reader of its CSV pages.
    pub async fn bulk_query(
        &self,
        soql: &str,
        all: bool,
        max_records: Option<u64>,
        poll: PollPolicy,
    ) -> Result<BulkQuery<'_>, SalesforceError> {
        let body = json!({
            "operation": if all { "queryAll" } else { "query" },
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        // Creating a job twice only leaves an unused job behind: safe to replay.
        let job: JobInfo = self
            .send(
                Method::POST,
                &Api::data_path("/jobs/query"),
                Body::Json(body),
                &[],
                Replay::Safe,
            )
            .await?
            .json()?;
        let job = self.poll_job("query", &job.id, poll).await?;
        Ok(BulkQuery {
            api: self,
            job,
            locator: None,
            started: false,
            max_records,
        })
    }

    /// Creates an ingest job (state `Open`). A replay at worst leaves an unused open job,
    /// which nothing ever processes.
    pub async fn create_ingest_job(
        &self,
        object: &str,
        operation: &str,
        external_id_field: Option<&str>,
    ) -> Result<JobInfo, SalesforceError> {
        let mut spec = json!({
            "object": super::rest::check_api_name(object)?,
            "operation": operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        if let Some(f) = external_id_field {
            spec["externalIdFieldName"] = Value::from(super::rest::check_api_name(f)?);
        }
        self.send(
            Method::POST,
            &Api::data_path("/jobs/ingest"),
            Body::Json(spec),
            &[],
            Replay::Safe,
        )
        .await?
        .json()
    }

    fn ingest_path(id: &str) -> Result<String, SalesforceError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SalesforceError::Invalid(format!("{id:?} is not a job id")));
        }
        Ok(Api::data_path(&format!("/jobs/ingest/{id}")))
    }

    /// Uploads CSV data to an open job. Uploading twice would double the rows, so a lost
    /// answer is [`SalesforceError::OutcomeUnknown`]: abort the job rather than resend.
    pub async fn upload_ingest(&self, id: &str, csv: String) -> Result<(), SalesforceError> {
        let path = format!("{}/batches", Self::ingest_path(id)?);
        self.send(Method::PUT, &path, Body::Csv(csv), &[], Replay::Unsafe)
            .await?;
        Ok(())
    }

    /// Moves an ingest job to `UploadComplete` (processing starts) or `Aborted`.
    pub async fn set_ingest_state(
        &self,
        id: &str,
        state: &str,
    ) -> Result<JobInfo, SalesforceError> {
        self.send(
            Method::PATCH,
            &Self::ingest_path(id)?,
            Body::Json(json!({ "state": state })),
            &[],
            Replay::Safe,
        )
        .await?
        .json()
    }

    /// An ingest job's current state and counts.
    pub async fn ingest_job(&self, id: &str) -> Result<JobInfo, SalesforceError> {
        self.send(
            Method::GET,
            &Self::ingest_path(id)?,
            Body::None,
            &[],
            Replay::Safe,
        )
        .await?
        .json()
    }

    /// Waits until an ingest job is finished; `Failed` and `Aborted` are errors.
    pub async fn wait_ingest(
        &self,
        id: &str,
        poll: PollPolicy,
    ) -> Result<JobInfo, SalesforceError> {
        self.poll_job("ingest", id, poll).await
    }

    /// One result set of a finished ingest job as CSV: `successfulResults`,
    /// `failedResults` or `unprocessedrecords`.
    pub async fn ingest_results(&self, id: &str, part: &str) -> Result<String, SalesforceError> {
        let path = format!("{}/{part}/", Self::ingest_path(id)?);
        let a = self
            .send(Method::GET, &path, Body::None, &[], Replay::Safe)
            .await?;
        Ok(String::from_utf8_lossy(&a.body).into_owned())
    }

    /// Every ingest job the org still keeps (Salesforce deletes them 7 days after they
    /// finish), page by page.
    pub async fn ingest_jobs(&self) -> Result<Vec<JobInfo>, SalesforceError> {
        let mut out = Vec::new();
        let mut path = Api::data_path("/jobs/ingest");
        loop {
            let page: JobList = self
                .send(Method::GET, &path, Body::None, &[], Replay::Safe)
                .await?
                .json()?;
            out.extend(page.records);
            match page.next_records_url.filter(|u| !u.is_empty()) {
                Some(next) => path = next,
                None => return Ok(out),
            }
        }
    }

    /// Runs an ingest job: create, upload `csv`, close, wait, read results.
    pub async fn bulk_ingest(
        &self,
        object: &str,
        operation: &str,
        external_id_field: Option<&str>,
        csv: String,
        poll: PollPolicy,
    ) -> Result<IngestResults, SalesforceError> {
        let job = self
            .create_ingest_job(object, operation, external_id_field)
            .await?;
        self.upload_ingest(&job.id, csv).await?;
        self.set_ingest_state(&job.id, "UploadComplete").await?;
        let job = self.wait_ingest(&job.id, poll).await?;
        Ok(IngestResults {
            successful: self.ingest_results(&job.id, "successfulResults").await?,
            failed: self.ingest_results(&job.id, "failedResults").await?,
            unprocessed: self.ingest_results(&job.id, "unprocessedrecords").await?,
            job,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_never_more_than_a_quarter_late() {
        let p = PollPolicy::default();
        assert_eq!(p.next_wait(Duration::ZERO), p.first);
        assert_eq!(p.next_wait(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(p.next_wait(Duration::from_secs(3600)), p.max);
        // Polls over a ten-minute job: a few dozen, not thousands.
        let (mut t, mut polls) = (Duration::ZERO, 0);
        while t < Duration::from_secs(600) {
            t += p.next_wait(t);
            polls += 1;
        }
        assert!((20..120).contains(&polls), "{polls}");
    }
}
