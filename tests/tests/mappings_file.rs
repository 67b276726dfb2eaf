//! Mappings exported to a TOML file and imported back, through the real TUI binary's
//! `mappings` subcommands against the real daemon.
use std::process::Command;

use datenator_shared::model::{Direction, Mapping};
use datenator_shared::protocol::{Call, OrgRef};
use datenator_tests::bin;
use datenator_tests::sync::{Db, TargetDb, setup_org};
use sfsim::{Sim, SimConfig};

fn tui(socket: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin("datenator-tui"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mappings_round_trip_through_a_file() {
    let sim = Sim::start(SimConfig {
        seed_counts: vec![("Account".into(), 2)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TargetDb::new(Db::Sqlite, "mapfile");
    let org = setup_org(&sim, &db, "mapfile", "").await;
    org.map("Account", &["Name"], Direction::SfToDb).await;
    let socket = org.daemon.socket.clone();

    let (ok, exported, err) = tui(&socket, &["mappings", "export", "mapfile"]);
    assert!(ok, "{err}");
    assert!(
        exported.contains("[[mapping]]") && exported.contains("object = \"Account\""),
        "{exported}"
    );

    // Reviewed and edited like any file under version control: add a field, go both ways.
    let edited = exported
        .replace("\"Name\",", "\"Name\",\n    \"Phone\",")
        .replace("direction = \"sf_to_db\"", "direction = \"bidirectional\"");
    assert_ne!(edited, exported, "the edit applied to:\n{exported}");
    let file = org.daemon.dir.path().join("mappings.toml");
    std::fs::write(&file, &edited).unwrap();

    let (ok, planned, err) = tui(
        &socket,
        &["mappings", "import", "mapfile", file.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert!(
        planned.contains("planned") && planned.to_lowercase().contains("phone"),
        "{planned}"
    );
    assert!(planned.contains("--apply"), "{planned}");
    let before: Vec<Mapping> = org
        .client
        .call(Call::MappingList(OrgRef {
            name: "mapfile".into(),
        }))
        .await
        .unwrap();
    assert!(
        !before[0].fields.iter().any(|f| f == "Phone"),
        "planning changes nothing"
    );

    let (ok, applied, err) = tui(
        &socket,
        &[
            "mappings",
            "import",
            "mapfile",
            file.to_str().unwrap(),
            "--apply",
        ],
    );
    assert!(ok, "{err}");
    assert!(applied.contains("applied"), "{applied}");
    let after: Vec<Mapping> = org
        .client
        .call(Call::MappingList(OrgRef {
            name: "mapfile".into(),
        }))
        .await
        .unwrap();
    assert!(after[0].fields.iter().any(|f| f == "Phone"));
    assert_eq!(after[0].direction, Direction::Bidirectional);

    // A broken file is refused with the reason.
    std::fs::write(&file, "[[mapping]]\nobject = \"Account\"\nfeilds = []\n").unwrap();
    let (ok, _, err) = tui(
        &socket,
        &["mappings", "import", "mapfile", file.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("not valid") && err.contains("feilds"), "{err}");
}

/// An unknown org is named as such, once, for export and for import (before the file is
/// read), with a failing exit status.
#[test]
fn an_unknown_org_is_said_once() {
    let d = datenator_tests::Daemon::start();
    let file = d.dir.path().join("m.toml");
    std::fs::write(&file, "not toml at all").unwrap();
    for args in [
        vec!["mappings", "export", "nope"],
        vec!["mappings", "import", "nope", file.to_str().unwrap()],
    ] {
        let (ok, out, err) = tui(&d.socket, &args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert_eq!(
            err.trim(),
            r#"error: there is no org named "nope": check the name in the org list"#,
            "{args:?}"
        );
    }
}
