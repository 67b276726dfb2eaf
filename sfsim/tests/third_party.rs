//! sfsim as third-party clients see it: header names spelled as Salesforce spells them on
//! HTTP/1.1, a certificate chain any client verifies given the CA, and the current API
//! version.
//!
//! Salesforce's documentation writes the Bulk API 2.0 result headers as `Sforce-Locator`
//! and `Sforce-NumberOfRecords` ("Get Results for a Query Job"), the usage header as
//! `Sforce-Limit-Info` ("API Usage Headers"); clients that copy headers into a plain
//! dictionary look them up exactly so.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sfsim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a GET over a plain socket and returns the response head as written on the wire.
async fn raw_head(t: &common::T, path: &str) -> String {
    let addr = t
        .sim
        .instance_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        t.sim.access_token()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

fn header_names(head: &str) -> Vec<&str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n))
        .collect()
}

#[tokio::test]
async fn headers_are_spelled_as_salesforce_spells_them() {
    let t = common::start_with(SimConfig {
        seed_counts: vec![("Account".into(), 30)],
        ..SimConfig::default()
    })
    .await;
    // A REST query.
    let head = raw_head(&t, "/services/data/v59.0/query?q=SELECT+Id+FROM+Account").await;
    let names = header_names(&head);
    assert!(names.contains(&"Content-Type"), "{head}");
    assert!(names.contains(&"Sforce-Limit-Info"), "{head}");
    // /limits.
    let head = raw_head(&t, "/services/data/v59.0/limits").await;
    assert!(header_names(&head).contains(&"Sforce-Limit-Info"), "{head}");
    // A Bulk query's result pages.
    let (s, job) = t
        .json(
            Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query", "query": "SELECT Id, Name FROM Account"})),
        )
        .await;
    assert_eq!(s, 200, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let (_, v): (_, Value) = t
            .json(Method::GET, &format!("/jobs/query/{id}"), None)
            .await;
        if v["state"] == "JobComplete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let head = raw_head(
        &t,
        &format!("/services/data/v59.0/jobs/query/{id}/results?maxRecords=10"),
    )
    .await;
    let names = header_names(&head);
    for expected in [
        "Sforce-Locator",
        "Sforce-NumberOfRecords",
        "Content-Type",
        "Sforce-Limit-Info",
    ] {
        assert!(names.contains(&expected), "{expected} missing in:\n{head}");
    }
    assert!(
        !head.contains("sforce-"),
        "no lower-case spelling left:\n{head}"
    );
}

#[tokio::test]
async fn lists_the_current_release_and_answers_it() {
    let t = common::start().await;
    let r = t.http.get(t.base("/services/data")).send().await.unwrap();
    let list: Vec<Value> = r.json().await.unwrap();
    let versions: Vec<&str> = list.iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(
        versions.first(),
        Some(&"31.0"),
        "the oldest version still served"
    );
    assert_eq!(versions.last(), Some(&sfsim::http::CURRENT_VERSION));
    for v in ["59.0", "62.0", "64.0"] {
        assert!(versions.contains(&v), "{v} listed");
    }
    let winter24 = list.iter().find(|v| v["version"] == "59.0").unwrap();
    assert_eq!(winter24["label"], "Winter '24");
    assert_eq!(winter24["url"], "/services/data/v59.0");
    // A request to the current version and one a connector hard-codes are answered.
    for v in [sfsim::http::CURRENT_VERSION, "62.0"] {
        let r = t
            .http
            .get(t.base(&format!("/services/data/v{v}/limits")))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "v{v}");
    }
    // Retired and future versions are not.
    for v in ["30.0", "99.0"] {
        let r = t
            .http
            .get(t.base(&format!("/services/data/v{v}/limits")))
            .bearer_auth(t.sim.access_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "v{v}");
    }
}

/// Python's `ssl` default context (and curl without `-k`), given only the printed CA,
/// verify the server's chain.
#[tokio::test]
async fn tls_chain_verifies_with_only_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sfsim::Sim::start(SimConfig {
        tls: true,
        cert_dir: Some(dir.path().to_path_buf()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let ca = sim.info.ca_cert_path.clone().unwrap();
    let url = format!("{}/services/data", sim.instance_url());
    let mut checked = 0;
    let python = format!(
        "import ssl, urllib.request\nctx = ssl.create_default_context(cafile={ca:?})\nprint(urllib.request.urlopen({url:?}, context=ctx).status)\n",
        ca = ca.display().to_string(),
    );
    if let Ok(out) = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(&python)
        .output()
        .await
    {
        assert!(
            out.status.success(),
            "python ssl refused the chain: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200");
        checked += 1;
    }
    if let Ok(out) = tokio::process::Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .await
    {
        assert!(
            out.status.success(),
            "curl refused the chain: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked > 0, "neither python3 nor curl is installed");
}
