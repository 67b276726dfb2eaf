//! The real TUI in a real terminal (tmux) against the real daemon.
use std::time::{Duration, Instant};

use datenator_tests::{Daemon, STARTUP_TIMEOUT, Tmux, bin};
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
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let screen = tui.screen();
        if !screen.contains("Not connected") && screen.contains("No Salesforce orgs") {
            break;
        }
        assert!(Instant::now() < deadline, "did not reconnect:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }

    tui.keys(&["q"]);
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while tui.alive() {
        assert!(Instant::now() < deadline, "the TUI did not quit on q");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its log went to the file, not the screen.
    assert!(std::fs::metadata(&log).is_ok());
}
