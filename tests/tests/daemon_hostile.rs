//! The daemon against careless or hostile local clients (GitHub issue 13): a client that
//! never reads its replies, thousands of idle connections, connections past the cap or
//! without a handshake, names that would forge log lines or that the engine cannot use,
//! two orgs aiming at one schema, and the socket's group for a daemon started by hand.
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datenator_shared::client::{Client, ClientError};
use datenator_shared::datasource::{DatasourceKind, DatasourceSettings, Secret, TlsMode};
use datenator_shared::model::{AuthFlow, ConflictPolicy, DatasourceView, Direction, Mapping};
use datenator_shared::model::{OrgSummary, OrgType};
use datenator_shared::protocol::{
    Call, OrgRef, PROTOCOL_VERSION, RegisterOrg, SaveMapping, SetDatasource, codes,
};
use datenator_tests::{Daemon, RawConn, STARTUP_TIMEOUT, bin, wait};
use serde_json::{Value, json};

/// How long another client may wait for its reply while the daemon is being abused. The
/// issue asks for "within a second"; the bound is kept generous for a loaded two-core CI
/// machine, and still far from the 10–25 s the abuse used to cost.
const SERVED_WITHIN: Duration = Duration::from_secs(3);

/// The daemon's resident memory in MiB (VmRSS).
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024
}

/// How many file descriptors the daemon holds.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn handshake_line() -> String {
    json!({"jsonrpc":"2.0","id":0,"method":"handshake","params":{"protocol":PROTOCOL_VERSION,"client_name":"hostile","client_version":"0"}}).to_string() + "\n"
}

/// A connection that has shaken hands and is then used byte-wise.
fn handshaken_stream(socket: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(datenator_tests::STARTUP_TIMEOUT))
        .unwrap();
    s.write_all(handshake_line().as_bytes()).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["result"]["protocol"], PROTOCOL_VERSION, "{reply}");
    (s, reader)
}

/// `n` requests of `method`, ids 1..=n, one per line.
fn requests(method: &str, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for id in 1..=n {
        out.extend_from_slice(
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{{}}}}\n"
            )
            .as_bytes(),
        );
    }
    out
}

/// Writes as much of `bytes` as the daemon takes before `stall` passes without progress.
fn write_until_stalled(s: &mut UnixStream, bytes: &[u8], stall: Duration) -> usize {
    s.set_write_timeout(Some(stall)).unwrap();
    let mut sent = 0;
    while sent < bytes.len() {
        let end = (sent + 64 * 1024).min(bytes.len());
        match s.write(&bytes[sent..end]) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}

/// Times a fresh client's handshake and `status`.
async fn time_a_real_client(socket: &Path) -> Duration {
    let started = Instant::now();
    let client = Client::connect(socket, "real-client").await.unwrap();
    client.status().await.unwrap();
    started.elapsed()
}

/// Issue 13, point 1: requests sent without ever reading a reply. The daemon stops reading
/// such a connection once its pending replies are full; its memory stays flat, other
/// clients are served meanwhile, and nothing is left behind when the client goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_its_replies_costs_bounded_memory() {
    let d = Daemon::start();
    let pid = d.child.id();
    // Warm up: one client served, so that what any first client allocates is in the baseline.
    time_a_real_client(&d.socket).await;
    let baseline = rss_mib(pid);

    let (mut status_flood, _r1) = handshaken_stream(&d.socket);
    let (mut list_flood, _r2) = handshaken_stream(&d.socket);
    let status = requests("status", 100_000);
    let lists = requests("org_list", 300_000);
    let sent_status = write_until_stalled(&mut status_flood, &status, Duration::from_secs(2));
    let sent_lists = write_until_stalled(&mut list_flood, &lists, Duration::from_secs(2));
    assert!(
        sent_status < status.len() && sent_lists < lists.len(),
        "the daemon kept reading connections whose replies nobody reads ({sent_status} of {} and {sent_lists} of {} bytes taken)",
        status.len(),
        lists.len()
    );

    let took = time_a_real_client(&d.socket).await;
    assert!(
        took < SERVED_WITHIN,
        "another client waited {took:?} during the flood"
    );
    let during = rss_mib(pid);

    drop((status_flood, _r1, list_flood, _r2));
    // Wait until the daemon has let both floods go (the status counts connections).
    let client = Client::connect(&d.socket, "watcher").await.unwrap();
    wait::eventually_within("the floods to end", STARTUP_TIMEOUT, || async {
        client.status().await.unwrap().connections <= 1
    })
    .await;
    let after = rss_mib(pid);
    eprintln!(
        "RSS: baseline {baseline} MiB, during the flood {during} MiB, after {after} MiB; bytes taken: {sent_status} of {} (status), {sent_lists} of {} (org_list); another client served in {took:?}",
        status.len(),
        lists.len()
    );
    // Before the fix: 2 GiB for the status flood alone, and it stayed.
    assert!(
        during <= baseline + 64,
        "RSS grew from {baseline} to {during} MiB"
    );
    assert!(
        after <= baseline + 32,
        "RSS stayed at {after} MiB (baseline {baseline})"
    );
}

/// Backpressure loses nothing: a client that writes many requests before it reads gets
/// every reply once it does.
#[tokio::test(flavor = "multi_thread")]
async fn replies_held_back_by_backpressure_all_arrive() {
    let d = Daemon::start();
    let (s, mut reader) = handshaken_stream(&d.socket);
    const N: u64 = 20_000;
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&requests("status", N)).unwrap());
    // Let the daemon hit the limit before anything is read.
    std::thread::sleep(Duration::from_millis(500));
    let mut seen = vec![false; N as usize + 1];
    let mut line = String::new();
    for _ in 0..N {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        let reply: Value = serde_json::from_str(&line).unwrap();
        let id = reply["id"].as_u64().unwrap() as usize;
        assert!(reply["result"]["pid"].is_number(), "{reply}");
        assert!(!seen[id], "two replies to {id}");
        seen[id] = true;
    }
    sender.join().unwrap();
    assert!(seen[1..].iter().all(|s| *s));
}

/// Starts the daemon through `wrapper` (a command that runs the rest of its arguments, such
/// as `prlimit` or `setpriv`), with `config`, its socket at `socket` (inside `dir`).
fn spawn_wrapped(
    wrapper: &[&str],
    dir: tempfile::TempDir,
    socket: PathBuf,
    config: &str,
) -> Daemon {
    let state_dir = dir.path().join("state");
    let config_path = dir.path().join("datenatord.toml");
    std::fs::write(&config_path, config).unwrap();
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let child = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(bin("datenatord"))
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(&state_dir)
        .arg("--config")
        .arg(&config_path)
        .arg("--log-format")
        .arg("text")
        .env("RUST_LOG", "info,datenatord=debug")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", wrapper[0]));
    let mut d = Daemon {
        child,
        dir,
        socket,
        state_dir,
        config: config_path,
        stderr_path,
    };
    d.wait_ready();
    d
}

/// The soft limit on open files of process `pid`.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Issue 13, point 2: connections that never shake hands. Started with the usual soft limit
/// of 1,024 open files, the daemon raises it; holding 2,000 idle connections costs it at most
/// its waiting room, and a real client is served at once.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_idle_connections_leave_room_for_a_real_client() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    const IDLE: usize = 2000;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if hard < IDLE as u64 + 200 {
        eprintln!(
            "skipped: the hard open-file limit ({hard}) is too low to open {IDLE} connections"
        );
        return;
    }
    // This test process holds the idle connections itself.
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let nofile = format!("--nofile=1024:{hard}");
    let d = spawn_wrapped(&["prlimit", &nofile, "--"], dir, socket, "");
    let pid = d.child.id();
    assert_eq!(
        soft_nofile(pid),
        hard,
        "the daemon raises its soft open-file limit"
    );

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(UnixStream::connect(&d.socket).expect("connect"));
    }
    let took = time_a_real_client(&d.socket).await;
    let fds = open_fds(pid);
    eprintln!(
        "{IDLE} idle connections: a real client served in {took:?}; the daemon holds {fds} descriptors"
    );
    assert!(took < SERVED_WITHIN, "the real client waited {took:?}");
    assert!(
        // max_connections (64) + twice the waiting room (16) + the daemon's own files
        fds < 200,
        "the daemon holds {fds} descriptors for {IDLE} idle connections"
    );

    // The oldest idle connection was told why it was closed.
    let mut first = BufReader::new(idle.swap_remove(0));
    first
        .get_ref()
        .set_read_timeout(Some(datenator_tests::STARTUP_TIMEOUT))
        .unwrap();
    let mut line = String::new();
    first.read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(
        reply["error"]["code"],
        codes::TOO_MANY_CONNECTIONS,
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("handshake"),
        "{reply}"
    );
    drop(idle);
    let stderr = d.stderr();
    assert!(
        !stderr.contains("Too many open files"),
        "the daemon ran out of descriptors:\n{stderr}"
    );
    let reports = stderr.matches("to make room for a new one").count();
    assert!(
        reports <= 2,
        "displacements are logged at most once a minute, got {reports} lines"
    );
}

/// Past `max_connections` a newcomer is told why it is refused; a place freed is taken again.
#[tokio::test(flavor = "multi_thread")]
async fn past_max_connections_a_client_is_refused_with_the_reason() {
    let d = Daemon::start_with_config("[daemon]\nmax_connections = 3\n");
    let mut held: Vec<RawConn> = (0..3)
        .map(|_| {
            let mut c = d.raw();
            assert_eq!(c.handshake()["result"]["protocol"], PROTOCOL_VERSION);
            c
        })
        .collect();
    let mut refused = d.raw();
    let reply = refused.recv();
    assert_eq!(
        reply["error"]["code"],
        codes::TOO_MANY_CONNECTIONS,
        "{reply}"
    );
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_connections"), "{message}");
    refused.read_to_eof();
    // The client library reports the daemon's reason, not a lost connection.
    match Client::connect(&d.socket, "fourth").await {
        Err(ClientError::Refused(m)) => assert!(m.contains("max_connections"), "{m}"),
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("a fourth client was let in past max_connections = 3"),
    }
    assert!(d.stderr().contains("refusing a connection"));

    // One leaves: the next one gets in (once the daemon has seen it go).
    drop(held.pop());
    let next =
        wait::eventually_some_within("the next client to get in", STARTUP_TIMEOUT, || async {
            match Client::connect(&d.socket, "next").await {
                Ok(c) => Some(c),
                Err(ClientError::Refused(_)) => None,
                Err(e) => panic!("{e}"),
            }
        })
        .await;
    next.status().await.unwrap();
}

/// A connection that sends nothing is closed after a few seconds with the reason; one that
/// shook hands stays, however quiet.
#[test]
fn a_connection_without_a_handshake_is_closed_after_a_few_seconds() {
    let d = Daemon::start();
    let mut quiet_but_known = d.raw();
    quiet_but_known.handshake();
    let mut silent = d.raw();
    let reply = silent.recv();
    assert_eq!(reply["error"]["code"], codes::HANDSHAKE_REQUIRED, "{reply}");
    assert!(reply["id"].is_null());
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no handshake within"),
        "{reply}"
    );
    silent.read_to_eof();
    assert_eq!(
        quiet_but_known.call(1, "status", json!({}))["result"]["pid"],
        d.child.id()
    );
}

/// Issue 13, point 7.
#[test]
fn subscribing_to_an_unknown_topic_is_invalid_params_naming_the_topics() {
    let d = Daemon::start();
    let mut raw = d.raw();
    raw.handshake();
    let reply = raw.call(1, "subscribe", json!({"topics": ["status", "weather"]}));
    assert_eq!(reply["error"]["code"], codes::INVALID_PARAMS, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("unknown topic `weather`"), "{message}");
    for topic in ["status", "orgs", "sync", "log"] {
        assert!(message.contains(topic), "{message}");
    }
    let reply = raw.call(2, "no_such_method", json!({}));
    assert_eq!(reply["error"]["code"], codes::METHOD_NOT_FOUND, "{reply}");
}

/// Issue 13, point 5: values from clients (and from Salesforce metadata) cannot write a line
/// of their own into the text log.
#[test]
fn a_newline_in_a_name_cannot_forge_a_log_line() {
    let d = Daemon::start();
    let forged = "2026-01-01T00:00:00.000000Z ERROR datenatord: FORGED";
    let mut raw = d.raw();
    let reply = raw.call(
        0,
        "handshake",
        json!({"protocol": PROTOCOL_VERSION, "client_name": format!("tui\n{forged}"), "client_version": "0"}),
    );
    assert!(reply["result"].is_object(), "{reply}");
    let reply = raw.call(
        1,
        "metadata_fields",
        json!({"org": "nope", "object": format!("Account\n{forged}")}),
    );
    assert!(reply["error"].is_object(), "{reply}");
    // Both were logged (at debug), escaped.
    wait::blocking("both to be logged", STARTUP_TIMEOUT, || {
        let stderr = d.stderr();
        if stderr.matches(&format!("\\n{forged}")).count() >= 2 {
            Ok(())
        } else {
            Err(stderr)
        }
    });
    let stderr = d.stderr();
    assert!(
        stderr.contains(&format!("Account\\n{forged}")),
        "the object name is logged escaped:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("tui\\n{forged}")),
        "the client name is logged escaped:\n{stderr}"
    );
    for line in stderr.lines() {
        assert!(!line.starts_with(forged), "a forged line:\n{stderr}");
    }
}

fn register(name: &str, login_url: &str) -> Call {
    Call::OrgRegister(RegisterOrg {
        name: name.into(),
        org_type: OrgType::Custom(login_url.into()),
        flow: AuthFlow::Device,
        client_id: None,
        client_secret: None,
    })
}

fn postgres(host: &str, port: Option<u16>, user: &str, schema: Option<&str>) -> DatasourceSettings {
    DatasourceSettings {
        kind: DatasourceKind::Postgres,
        host: host.into(),
        port,
        database: "postgres".into(),
        user: user.into(),
        password: Secret::default(),
        tls: TlsMode::Disable,
        schema: schema.map(Into::into),
        sqlite_path: None,
    }
}

async fn set_datasource(
    client: &Client,
    org: &str,
    settings: DatasourceSettings,
) -> Result<DatasourceView, ClientError> {
    client
        .call(Call::DatasourceSet(SetDatasource {
            org: org.into(),
            settings,
        }))
        .await
}

fn rejected(result: Result<DatasourceView, ClientError>) -> String {
    match result {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, codes::REJECTED, "{}", e.message);
            e.message
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Issue 13, points 3 and 6: orgs whose names differ only in punctuation and case get
/// schemas of their own; an org cannot be pointed at a schema (or SQLite file) another org
/// uses, however the server is spelled; and a mapping of an object the engine cannot sync is
/// refused when it is saved.
#[tokio::test(flavor = "multi_thread")]
async fn two_orgs_never_share_a_schema() {
    let sim = sfsim::Sim::start(sfsim::SimConfig::default())
        .await
        .unwrap();
    let d = Daemon::start_with_config(&format!(
        "[salesforce]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        sim.info.client_id, sim.info.client_secret
    ));
    let client = d.client().await;
    let orgs = ["acme-prod", "acme_prod", "ACME.PROD"];
    for org in orgs {
        let _: OrgSummary = client
            .call(register(org, &sim.info.login_url))
            .await
            .unwrap();
    }

    // Defaults: three orgs, three schemas, on one server.
    let mut schemas = Vec::new();
    for org in orgs {
        let view = set_datasource(
            &client,
            org,
            postgres("127.0.0.1", Some(5432), "postgres", None),
        )
        .await
        .unwrap_or_else(|e| panic!("{org}: {e}"));
        schemas.push(view.schema);
    }
    assert_eq!(schemas[1], "datenator_acme_prod");
    assert!(
        schemas[0] != schemas[1] && schemas[1] != schemas[2] && schemas[0] != schemas[2],
        "{schemas:?}"
    );

    // acme_prod aimed at acme-prod's schema, the server spelled another way.
    let message = rejected(
        set_datasource(
            &client,
            "acme_prod",
            postgres(
                "LOCALHOST",
                None,
                "someone_else",
                Some(&schemas[0].to_uppercase()),
            ),
        )
        .await,
    );
    assert!(
        message.contains("\"acme-prod\""),
        "names the other org: {message}"
    );
    assert!(
        message.contains("pick another schema"),
        "says what to do: {message}"
    );
    // Its own settings are unchanged.
    let view: Option<DatasourceView> = client
        .call(Call::DatasourceGet(OrgRef {
            name: "acme_prod".into(),
        }))
        .await
        .unwrap();
    assert_eq!(view.unwrap().schema, schemas[1]);
    // Another server, or another schema, is fine.
    set_datasource(
        &client,
        "acme_prod",
        postgres("db.example.invalid", None, "postgres", Some(&schemas[0])),
    )
    .await
    .unwrap();
    set_datasource(
        &client,
        "acme_prod",
        postgres("localhost", None, "postgres", Some("acme_prod_own")),
    )
    .await
    .unwrap();

    // MariaDB: a schema is a database, shared by the whole server.
    let mysql = |host: &str, schema: &str| DatasourceSettings {
        kind: DatasourceKind::Mysql,
        host: host.into(),
        port: None,
        database: "mysql".into(),
        user: "root".into(),
        password: Secret::default(),
        tls: TlsMode::Disable,
        schema: Some(schema.into()),
        sqlite_path: None,
    };
    set_datasource(&client, "acme-prod", mysql("127.0.0.1", "dn_shared"))
        .await
        .unwrap();
    let message =
        rejected(set_datasource(&client, "ACME.PROD", mysql("localhost", "dn_shared")).await);
    assert!(message.contains("\"acme-prod\""), "{message}");

    // SQLite: one org per file, however the path is written.
    let files = tempfile::tempdir().unwrap();
    let sqlite = |path: PathBuf| DatasourceSettings {
        kind: DatasourceKind::Sqlite,
        host: String::new(),
        port: None,
        database: String::new(),
        user: String::new(),
        password: Secret::default(),
        tls: TlsMode::Disable,
        schema: None,
        sqlite_path: Some(path),
    };
    set_datasource(&client, "acme-prod", sqlite(files.path().join("one.db")))
        .await
        .unwrap();
    let message = rejected(
        set_datasource(
            &client,
            "ACME.PROD",
            sqlite(files.path().join(".").join("one.db")),
        )
        .await,
    );
    assert!(message.contains("a SQLite file of its own"), "{message}");

    // Point 6: a name the engine would refuse is refused at the door.
    let err = client
        .call::<Value>(Call::MappingSave(SaveMapping {
            org: "acme-prod".into(),
            mapping: Mapping {
                object: "Evil\"Quote__c".into(),
                fields: vec![],
                direction: Direction::Bidirectional,
                conflict_policy: ConflictPolicy::NewestWins,
                row_filter: None,
            },
            apply: true,
            confirm_destructive: false,
            send_queued: false,
            leaving_rows: Default::default(),
        }))
        .await
        .unwrap_err();
    let ClientError::Remote(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.code, codes::REJECTED);
    assert!(e.message.contains("cannot be synced"), "{}", e.message);
}

/// Creates the system group `group` and the users `users` in it, unless they exist.
fn ensure_group_and_users(group: &str, users: &[&str]) {
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
            panic!("{cmd} is needed for this test (Debian package passwd): {e}")
        });
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if nix::unistd::Group::from_name(group).unwrap().is_none() {
        run("groupadd", &["--system", group]);
    }
    for user in users {
        if nix::unistd::User::from_name(user).unwrap().is_none() {
            run(
                "useradd",
                &[
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--user-group",
                    user,
                ],
            );
        }
        run("usermod", &["-aG", group, user]);
    }
}

/// Connects as `user` (with its groups) and returns the handshake's reply.
fn handshake_as(user: &str, socket: &Path) -> Value {
    let script = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect({:?}); \
         s.sendall({:?}.encode()); print(s.makefile().readline())",
        socket.display().to_string(),
        handshake_line()
    );
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .output()
        .expect("setpriv and /usr/bin/python3 are needed for this test (Debian packages util-linux and python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)))
}

/// Issue 13, point 4: `[daemon] group` for a daemon started by hand (not by the unit). Its
/// user is a member: the socket and its directory go to the group, and another member
/// connects. Run without that membership, it says at start why members will be refused.
#[test]
fn a_group_member_reaches_a_daemon_started_by_hand() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to create users and run the daemon as one");
        return;
    }
    const GROUP: &str = "dn-e2e-share";
    const DAEMON_USER: &str = "dn-e2e-daemon";
    const MEMBER: &str = "dn-e2e-member";
    ensure_group_and_users(GROUP, &[DAEMON_USER, MEMBER]);
    let gid = nix::unistd::Group::from_name(GROUP)
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    let daemon_user = nix::unistd::User::from_name(DAEMON_USER).unwrap().unwrap();
    let config = format!("[daemon]\ngroup = \"{GROUP}\"\n");

    let dir = tempfile::tempdir().unwrap();
    nix::unistd::chown(dir.path(), Some(daemon_user.uid), Some(daemon_user.gid)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_dir = dir.path().join("run");
    let socket = run_dir.join("d.sock");
    let reuid = format!("--reuid={DAEMON_USER}");
    let regid = format!("--regid={DAEMON_USER}");
    let d = spawn_wrapped(
        &["setpriv", &reuid, &regid, "--init-groups"],
        dir,
        socket.clone(),
        &config,
    );
    for path in [&socket, &run_dir] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.uid(), daemon_user.uid.as_raw(), "{}", path.display());
        assert_eq!(meta.gid(), gid, "{} belongs to the group", path.display());
    }
    assert_eq!(
        std::fs::metadata(&run_dir).unwrap().permissions().mode() & 0o777,
        0o750
    );
    let reply = handshake_as(MEMBER, &socket);
    assert_eq!(reply["result"]["protocol"], PROTOCOL_VERSION, "{reply}");
    assert!(
        d.stderr().contains("socket shared with the group"),
        "{}",
        d.stderr()
    );
    drop(d);

    // The same user without the membership in its process: it cannot hand the socket to the
    // group, and says so.
    let dir = tempfile::tempdir().unwrap();
    nix::unistd::chown(dir.path(), Some(daemon_user.uid), Some(daemon_user.gid)).unwrap();
    let socket = dir.path().join("run").join("d.sock");
    let d = spawn_wrapped(
        &["setpriv", &reuid, &regid, "--clear-groups"],
        dir,
        socket.clone(),
        &config,
    );
    assert_ne!(std::fs::metadata(&socket).unwrap().gid(), gid);
    let stderr = d.stderr();
    assert!(
        stderr.contains(&format!("{DAEMON_USER} is not a member of '{GROUP}'")),
        "{stderr}"
    );
    assert!(stderr.contains("usermod -aG"), "{stderr}");
}

/// The unit gives the daemon room for its connections.
#[test]
fn the_unit_sets_an_open_file_limit() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/datenatord.service"),
    )
    .unwrap();
    assert!(
        unit.lines().any(|l| l.starts_with("LimitNOFILE=")),
        "LimitNOFILE= is missing"
    );
}
