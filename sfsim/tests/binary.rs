//! The `sfsim` binary prints exactly one JSON line and serves what it describes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_one_json_line_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .args(["--listen", "127.0.0.1:0", "--accounts", "3", "--seed", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "instance_url",
        "login_url",
        "org_id",
        "username",
        "client_id",
        "client_secret",
        "access_token",
    ] {
        assert!(keys.contains(&k), "{k} in {line}");
    }
    assert!(info.get("ca_cert_path").is_none());
    let url = format!(
        "{}/services/data/v59.0/query?q=SELECT+COUNT()+FROM+Account",
        info["instance_url"].as_str().unwrap()
    );
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(info["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 3);
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn help_describes_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--seed",
        "--accounts",
        "--token-lifetime",
        "--tls",
        "--state-file",
        "--error-503",
        "--lock-row",
        "--late-visibility-ms",
        "--changes-per-second",
        "--demo",
    ] {
        assert!(text.contains(flag), "{flag} in --help");
    }
}
