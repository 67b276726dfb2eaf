//! The real TUI in a real terminal (tmux) against the real daemon.
use datenator_tests::{Daemon, STARTUP_TIMEOUT, Tmux, bin, wait};
use nix::sys::signal::Signal;

#[test]
fn tui_shows_the_empty_state_survives_a_daemon_restart_and_quits_cleanly() {
    let mut d = Daemon::start();
    let log = d.dir.path().join("tui.log");
    let cmd = format!(
        "{} --socket {} --log-file {}",
        bin("datenator-tui").display(),
        d.socket.display(),
        log.display()
    );
    let tui = Tmux::start(&cmd, 80, 24);
    let screen = tui.wait_for("No Salesforce orgs are registered yet.");
    assert!(screen.contains("datenatord 0.1.0"), "{screen}");
    assert!(screen.contains("q  quit"), "footer:\n{screen}");

    tui.keys(&["?"]);
    tui.wait_for("Keys — Esc closes");
    tui.keys(&["Escape"]);

    // The daemon goes away: a banner, no crash.
    d.signal(Signal::SIGTERM);
    assert!(d.wait_exit().success());
    tui.wait_for("Not connected");
    // Once the retry finds nobody there, the banner says what to do.
    let screen = tui.wait_for("no daemon is listening");
    assert!(screen.contains("retrying in"), "{screen}");
    assert!(tui.alive());

    // It comes back on the same socket: the TUI reconnects by itself.
    let config = d.config.clone();
    let socket = d.socket.clone();
    let state = d.state_dir.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut again = Daemon::spawn_in(dir, socket, state, config);
    again.wait_ready();
    tui.wait_until("the TUI to reconnect", |screen| {
        !screen.contains("Not connected") && screen.contains("No Salesforce orgs")
    });

    tui.keys(&["q"]);
    tui.wait_exit();
    // Its log went to the file, not the screen.
    assert!(std::fs::metadata(&log).is_ok());
}

/// The processes running program `parts[0]` whose command line contains every one of
/// `parts`.
fn processes_with(parts: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).into_owned();
        // The program itself (argv[0]), not a shell or tmux naming it in its arguments.
        let program = cmdline.split('\0').next().unwrap_or_default();
        let cmdline = cmdline.replace('\0', " ");
        if program.ends_with(parts[0]) && parts.iter().all(|p| cmdline.contains(p)) {
            found.push(pid);
        }
    }
    found
}

/// Waits for `done`; on a timeout the panic says what still runs and what the logs under
/// `dir` (the TUI's, the demo daemon's) end with.
fn wait_until(what: &str, dir: &std::path::Path, mut done: impl FnMut() -> bool) {
    wait::poll_blocking(
        STARTUP_TIMEOUT * 2,
        || if done() { Ok(()) } else { Err(()) },
    )
    .unwrap_or_else(|()| panic!("timed out waiting for {what}\n{}", report(dir)));
}

/// Every Datenator process (pid, state, kernel wait channel, command line) and the tail of
/// every log file under `dir`.
fn report(dir: &std::path::Path) -> String {
    let mut out = String::from("processes:\n");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = e.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains("datenator") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let wchan = std::fs::read_to_string(path.join("wchan")).unwrap_or_default();
        let state = stat.rsplit(") ").next().unwrap_or_default();
        let state: String = state.split(' ').take(2).collect::<Vec<_>>().join(" ");
        out += &format!(
            "  {} [{state}] wchan={wchan} {cmdline}\n",
            e.file_name().to_string_lossy()
        );
    }
    let mut logs = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "log") {
                logs.push(p);
            }
        }
    }
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        out += &format!("{}:\n{tail}\n", log.display());
    }
    out
}

/// `datenator-tui --demo` in a terminal: Watch shows the demo org syncing, `e` pauses it
/// and says so, Enter opens a log line whole; then the terminal closes (tmux's server
/// goes, the TUI gets SIGHUP) and the demo daemon stops with it, its files removed. A TUI
/// killed outright (SIGKILL, no chance to clean up) takes its daemon along too: the daemon
/// stops when its standard input, a pipe from the TUI, closes.
#[test]
fn the_demo_walks_a_paused_org_and_stops_with_its_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().display().to_string();
    let start = |tag: &str| {
        let log = tmp.path().join(format!("tui-{tag}.log"));
        let cmd = format!(
            "TMPDIR={tmpdir} {} --demo --log-file {}",
            bin("datenator-tui").display(),
            log.display()
        );
        (Tmux::start(&cmd, 120, 35), log.display().to_string())
    };
    let daemons = || processes_with(&["datenatord", "--demo", &tmpdir]);

    let (tui, _) = start("hup");
    tui.wait_for("API usage");
    tui.keys(&["w"]);
    tui.wait_for("Last 10 min");
    tui.keys(&["e"]);
    tui.wait_for("sync is off: press e to turn it on");
    tui.wait_for("paused");
    tui.keys(&["y"]);
    tui.wait_for("Sync is off for demo");
    tui.keys(&["l"]);
    tui.wait_for("Daemon log");
    tui.keys(&["Enter"]);
    tui.wait_for("log line");
    tui.keys(&["Escape"]);
    // Two Escapes sent at once can reach the terminal as one sequence: one at a time.
    tui.wait_gone("log line");
    // Back on Watch: the selected object's recent changes, one of them whole.
    tui.keys(&["Escape"]);
    tui.wait_for("Last 10 min");
    tui.keys(&["h"]);
    tui.wait_for("Recent changes");
    tui.wait_for("pulled");
    tui.keys(&["Enter"]);
    tui.wait_for("Salesforce change");
    tui.keys(&["Escape"]);
    assert_eq!(daemons().len(), 1, "one demo daemon runs");
    drop(tui); // tmux kill-server: the terminal is gone
    wait_until(
        "the demo daemon to stop with its terminal",
        tmp.path(),
        || daemons().is_empty(),
    );
    wait_until("the demo's files to be removed", tmp.path(), || {
        std::fs::read_dir(tmp.path()).unwrap().flatten().all(|e| {
            !e.file_name()
                .to_string_lossy()
                .starts_with("datenator-demo-")
        })
    });

    let (tui, log) = start("kill");
    tui.wait_for("API usage");
    let tuis = processes_with(&["datenator-tui", "--demo", &log]);
    assert_eq!(tuis.len(), 1, "{tuis:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tuis[0]), Signal::SIGKILL).unwrap();
    wait_until(
        "the demo daemon to stop once its TUI was killed",
        tmp.path(),
        || daemons().is_empty(),
    );
    drop(tui);
}
