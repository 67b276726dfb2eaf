//! The real `datenatord` binary on a socket in a temp dir: handshake, status, protocol
//! errors, socket permissions and ownership, life cycle.
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Command;

use datenator_shared::client::{Client, ClientError};
use datenator_shared::model::{Event, Topic};
use datenator_shared::protocol::{PROTOCOL_VERSION, codes};
use datenator_tests::{Daemon, RawConn, bin, wait};
use nix::sys::signal::Signal;
use serde_json::json;

#[tokio::test]
async fn handshake_status_and_empty_org_list() {
    let d = Daemon::start();
    let client = d.client().await;
    assert_eq!(client.daemon().protocol, PROTOCOL_VERSION);
    assert_eq!(client.daemon().daemon_version, env!("CARGO_PKG_VERSION"));
    let status = client.status().await.unwrap();
    assert_eq!(status.pid, d.child.id());
    assert_eq!(status.socket_path, d.socket.display().to_string());
    assert_eq!(status.state_dir, d.state_dir.display().to_string());
    assert_eq!(
        status.config_file.as_deref(),
        Some(d.config.to_str().unwrap())
    );
    assert_eq!(status.orgs, 0);
    assert_eq!(status.connections, 1);
    assert!(client.org_list().await.unwrap().is_empty());
    // The state database exists and is private.
    let db = d.state_dir.join("state.db");
    assert_eq!(
        std::fs::metadata(db).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn version_mismatch_names_the_older_side() {
    let d = Daemon::start();
    let err = Client::connect_as(&d.socket, "future-tui", PROTOCOL_VERSION + 1)
        .await
        .err()
        .unwrap();
    let ClientError::VersionMismatch(m) = &err else {
        panic!("expected a mismatch, got {err}")
    };
    assert_eq!(m.daemon_protocol, PROTOCOL_VERSION);
    assert!(err.to_string().contains("the daemon is older"), "{err}");
    assert!(err.to_string().contains("upgrade datenatord"), "{err}");

    // The daemon's own message says the same from its side.
    let mut raw = d.raw();
    let reply = raw.call(
        1,
        "handshake",
        json!({"protocol": PROTOCOL_VERSION + 1, "client_name": "x", "client_version": "9"}),
    );
    assert_eq!(reply["error"]["code"], codes::VERSION_MISMATCH);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the daemon is older"),
        "{reply}"
    );
    let reply = raw.call(
        2,
        "handshake",
        json!({"protocol": 0, "client_name": "x", "client_version": "0"}),
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the client is older"),
        "{reply}"
    );
}

#[tokio::test]
async fn malformed_unknown_and_oversized_lines_get_errors_and_the_connection_survives() {
    let d = Daemon::start();
    let mut raw = d.raw();

    let reply = raw.call(1, "status", json!({}));
    assert_eq!(reply["error"]["code"], codes::HANDSHAKE_REQUIRED, "{reply}");
    assert_eq!(raw.handshake()["result"]["protocol"], PROTOCOL_VERSION);

    raw.send("{this is not json");
    let reply = raw.recv();
    assert_eq!(reply["error"]["code"], codes::PARSE_ERROR, "{reply}");
    assert!(reply["id"].is_null());

    raw.send_bytes(b"\xff\xfe\n");
    assert_eq!(raw.recv()["error"]["code"], codes::PARSE_ERROR);

    let reply = raw.call(2, "launch_rockets", json!({}));
    assert_eq!(reply["error"]["code"], codes::METHOD_NOT_FOUND, "{reply}");
    assert_eq!(reply["id"], 2);

    let reply = raw.call(3, "subscribe", json!({"topics": "everything"}));
    assert_eq!(reply["error"]["code"], codes::INVALID_PARAMS, "{reply}");

    raw.send(r#"{"jsonrpc":"2.0","method":"status"}"#);
    assert_eq!(raw.recv()["error"]["code"], codes::INVALID_REQUEST);

    let mut huge = br#"{"jsonrpc":"2.0","id":4,"method":"status","params":{"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    huge.extend(b"\"}}\n");
    raw.send_bytes(&huge);
    let reply = raw.recv();
    assert_eq!(reply["error"]["code"], codes::LINE_TOO_LONG, "{reply}");

    // Still the same connection, still working.
    let reply = raw.call(5, "status", json!({}));
    assert_eq!(reply["id"], 5);
    assert_eq!(reply["result"]["pid"], d.child.id());

    // And the daemon serves others.
    d.client().await.status().await.unwrap();
}

#[tokio::test]
async fn subscribers_get_the_full_state_then_changes() {
    let d = Daemon::start();
    let client = d.client().await;
    let topics = client
        .subscribe(&[Topic::Status, Topic::Orgs])
        .await
        .unwrap();
    assert_eq!(topics, vec![Topic::Status, Topic::Orgs]);
    let mut got_status = false;
    let mut got_orgs = false;
    while !(got_status && got_orgs) {
        match client.next_event().await.expect("event") {
            Event::Status(s) => {
                assert!(s.connections >= 1, "{s:?}");
                got_status = true;
            }
            Event::Orgs(o) => {
                assert!(o.is_empty());
                got_orgs = true;
            }
            other => panic!("not subscribed to {:?}, yet got {other:?}", other.topic()),
        }
    }
    // The fixture's readiness probe is a connection too: its close arrives as a change.
    if client.status().await.unwrap().connections != 1 {
        connections_become(&client, 1).await;
    }
    // A second client connecting changes the status.
    let _other = d.client().await;
    connections_become(&client, 2).await;
}

/// Waits for a status event counting `n` connections.
async fn connections_become(client: &Client, n: usize) {
    let what = format!("the status to count {n} connections");
    wait::event_where(client, &what, wait::TIMEOUT, |e| match e {
        Event::Status(s) => (s.connections == n).then_some(()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn the_log_topic_gives_the_recent_tail_then_new_lines() {
    let d = Daemon::start();
    let client = d.client().await;
    client.subscribe(&[Topic::Log]).await.unwrap();
    let Some(Event::Log(tail)) = client.next_event().await else {
        panic!("the first log event is the tail")
    };
    assert!(
        tail.iter()
            .any(|l| l.level == "INFO" && l.message.contains("datenatord is ready")),
        "{tail:?}"
    );
    assert!(
        tail.iter().all(|l| l.level != "DEBUG"),
        "the tail holds INFO and above: {tail:?}"
    );
    // A reload is logged; the line arrives on its own.
    d.signal(Signal::SIGHUP);
    wait::event_where(&client, "the reload in the log", wait::TIMEOUT, |e| {
        let Event::Log(lines) = e else {
            panic!("only log events were subscribed to")
        };
        assert!(
            !lines
                .iter()
                .any(|l| l.message.contains("datenatord is ready")),
            "later events hold only new lines: {lines:?}"
        );
        lines
            .iter()
            .any(|l| l.message.contains("configuration reloaded"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_disconnected_and_the_daemon_carries_on() {
    let d = Daemon::start();
    let mut slow = d.raw();
    slow.handshake();
    slow.send(
        &json!({"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topics":["status"]}})
            .to_string(),
    );
    // Every connection opened and closed changes the status; `slow` reads none of it.
    // Its socket buffer fills, then its bounded queue, and the daemon drops it.
    // Status changes coalesce while the daemon is busy: pause now and then so they go out
    // one by one, and keep going until the queue overflows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !d.stderr().contains("too slow") {
        for _ in 0..20 {
            drop(RawConn::connect(&d.socket));
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow subscriber was never dropped:\n{}",
            d.stderr()
        );
    }
    slow.read_to_eof();
    // Nobody else noticed.
    let client = d.client().await;
    client.status().await.unwrap();
}

#[tokio::test]
async fn socket_is_mode_0660() {
    let d = Daemon::start();
    // The file answers from `bind` on; its mode is set right after (Linux applies the
    // umask, 077 in the daemon, at `bind`: never more open than 0660 in between).
    wait::blocking(
        "the socket to be 0660",
        std::time::Duration::from_secs(5),
        || {
            let meta = std::fs::metadata(&d.socket).unwrap();
            assert!(meta.file_type().is_socket());
            let mode = meta.permissions().mode() & 0o777;
            assert!(mode == 0o660 || mode == 0o600, "{mode:o}");
            if mode == 0o660 {
                Ok(())
            } else {
                Err(format!("the socket is {mode:o}"))
            }
        },
    );
}

#[test]
fn a_second_daemon_on_the_same_socket_refuses_to_start() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("datenatord"))
        .arg("--socket")
        .arg(&d.socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--config")
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already running"), "{stderr}");
    // The first one is untouched.
    RawConn::connect(&d.socket).handshake();
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    // A socket file nobody listens on, as a crashed daemon leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "").unwrap();
    let state = dir.path().join("state");
    let mut d = Daemon::spawn_in(dir, socket, state, config);
    d.wait_ready();
    assert_eq!(d.raw().handshake()["result"]["protocol"], PROTOCOL_VERSION);
    assert!(d.stderr().contains("stale"), "{}", d.stderr());
}

#[test]
fn a_path_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    std::fs::write(&socket, "precious").unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "").unwrap();
    let state = dir.path().join("state");
    let mut d = Daemon::spawn_in(dir, socket.clone(), state, config);
    assert!(!d.wait_exit().success());
    assert!(d.stderr().contains("not a socket"), "{}", d.stderr());
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[tokio::test]
async fn sigterm_closes_clients_removes_the_socket_and_exits_0() {
    let mut d = Daemon::start();
    let client = d.client().await;
    client.subscribe(&[Topic::Status]).await.unwrap();
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit();
    assert!(status.success(), "exit status {status}:\n{}", d.stderr());
    assert!(!d.socket.exists(), "the socket file must be removed");
    // The client sees the connection end.
    while client.next_event().await.is_some() {}
    assert!(matches!(
        client.status().await,
        Err(ClientError::Disconnected)
    ));
}

#[test]
fn sigint_also_stops_cleanly() {
    let mut d = Daemon::start();
    d.signal(Signal::SIGINT);
    assert!(d.wait_exit().success());
    assert!(!d.socket.exists());
}

#[test]
fn sighup_reloads_and_a_broken_config_keeps_the_old_one() {
    let d = Daemon::start_with_config("[daemon]\nlog_level = \"info\"\n");
    std::fs::write(&d.config, "[daemon]\nlog_level = \"debug\"\n").unwrap();
    d.signal(Signal::SIGHUP);
    wait_for_log(&d, "configuration reloaded");
    std::fs::write(&d.config, "[daemon]\nlog_levle = \"debug\"\n").unwrap();
    d.signal(Signal::SIGHUP);
    wait_for_log(&d, "keeping the previous configuration");
    assert!(
        d.stderr().contains("log_levle"),
        "the error names the key:\n{}",
        d.stderr()
    );
    assert_eq!(
        RawConn::connect(&d.socket).handshake()["result"]["protocol"],
        PROTOCOL_VERSION
    );
}

fn wait_for_log(d: &Daemon, needle: &str) {
    wait::blocking(
        &format!("{needle:?} in the log"),
        datenator_tests::STARTUP_TIMEOUT,
        || {
            let stderr = d.stderr();
            if stderr.contains(needle) {
                Ok(())
            } else {
                Err(stderr)
            }
        },
    );
}

#[test]
fn unknown_config_key_stops_start_up_with_the_key_and_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[daemon]\nsocket_path = \"/x\"\n").unwrap();
    let out = Command::new(bin("datenatord"))
        .arg("--config")
        .arg(&config)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("socket_path"), "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
}

#[test]
fn help_explains_every_option() {
    let out = Command::new(bin("datenatord"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--config",
        "--socket",
        "--state-dir",
        "--log-format",
        "SIGHUP",
        "datenator-tui",
    ] {
        assert!(help.contains(opt), "--help does not mention {opt}:\n{help}");
    }
    let out = Command::new(bin("datenator-tui"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--socket"));
}

/// A user who is neither the daemon's user, root, nor in its group is refused with a
/// message saying what to do — even when the socket file's mode would let them in.
#[test]
fn peers_outside_the_group_are_refused() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to connect as another user");
        return;
    }
    let d = Daemon::start_with_config("[daemon]\ngroup = \"datenator-test-nonexistent\"\n");
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect({:?}); \
         s.sendall(b'{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"handshake\",\"params\":{{\"protocol\":1,\"client_name\":\"x\",\"client_version\":\"0\"}}}}\\n'); \
         print(s.makefile().readline())",
        d.socket.display().to_string()
    );
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", &script])
        .output()
        .expect("setpriv and /usr/bin/python3 are needed for this test (Debian packages util-linux and python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reply: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(reply["error"]["code"], codes::PERMISSION_DENIED, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uid 65534"),
        "{reply}"
    );
    assert!(d.stderr().contains("refusing connection"));
    // Root still gets in.
    assert_eq!(
        RawConn::connect(&d.socket).handshake()["result"]["protocol"],
        PROTOCOL_VERSION
    );
}
