//! The systemd unit is valid and carries the hardening we promise.
use std::path::Path;
use std::process::Command;

fn unit() -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/datenatord.service");
    let text = std::fs::read_to_string(&path).expect("systemd/datenatord.service");
    (path, text)
}

#[test]
fn unit_has_the_promised_settings() {
    let (_, text) = unit();
    for line in [
        "Type=notify",
        "User=datenator",
        "Group=datenator",
        "StateDirectory=datenator",
        "RuntimeDirectory=datenator",
        "RuntimeDirectoryMode=0750",
        "UMask=0007",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(text.lines().any(|l| l.trim() == line), "missing `{line}`");
    }
    let sysusers = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/datenator.sysusers"),
    )
    .unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u datenator ")));
    assert!(sysusers.lines().any(|l| l.starts_with("g datenator ")));
}

/// `systemd-analyze verify` accepts the unit (where the tool is installed).
#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let (path, text) = unit();
    // verify wants ExecStart's binary to exist: point it at the freshly built one.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("datenatord.service");
    let bin = datenator_tests::bin("datenatord");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/datenatord", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Outside a booted systemd, verify may complain about the host (no D-Bus, unknown
    // user): only lines naming our unit file count.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("datenatord.service"))
        .filter(|l| !l.contains("Failed to") || l.contains("datenatord.service:"))
        .collect();
    assert!(
        ours.is_empty(),
        "{} does not verify:\n{stderr}",
        path.display()
    );
}
