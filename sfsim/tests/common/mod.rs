//! Test helpers: an in-process sim on 127.0.0.1:0 and a client for it.
#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sfsim::{RunningSim, Sim, SimConfig};

pub struct T {
    pub sim: RunningSim,
    pub http: Client,
}

pub async fn start() -> T {
    start_with(SimConfig::default()).await
}

pub async fn start_with(cfg: SimConfig) -> T {
    let sim = Sim::start(cfg).await.expect("sim starts");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T { sim, http }
}

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}/services/data/v59.0{path}", self.sim.instance_url())
    }

    pub fn base(&self, path: &str) -> String {
        format!("{}{path}", self.sim.instance_url())
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(self.sim.access_token())
            .send()
            .await
            .unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.sim.access_token());
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let r = self.send(method, path, body).await;
        let s = r.status();
        let text = r.text().await.unwrap();
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn query(&self, soql: &str) -> Value {
        let (s, v) = self.get_with("/query", &[("q", soql)]).await;
        assert_eq!(s, 200, "query {soql}: {v}");
        v
    }

    /// A GET under the versioned REST root with query parameters: status and JSON body
    /// (null when it is not JSON).
    pub async fn get_with(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .query(params)
            .bearer_auth(self.sim.access_token())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, self.base(&format!("/__sim/{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        let text = r.text().await.unwrap();
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create(&self, object: &str, body: Value) -> String {
        let (s, v) = self
            .json(
                reqwest::Method::POST,
                &format!("/sobjects/{object}"),
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}
