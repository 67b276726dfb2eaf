//! A program running in a real terminal: a detached tmux session of a fixed size, typed
//! into with `send-keys` and read back with `capture-pane` — what a person over SSH sees.
use std::process::{Command, Output, Stdio};

use crate::STARTUP_TIMEOUT;
use crate::wait;

/// One program in its own tmux server (so tests never share one); the server is killed
/// when this is dropped, which closes the terminal (the program gets SIGHUP).
pub struct Tmux {
    server: String,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a `width`×`height` terminal.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let server = format!("datenator-test-{}-{}", std::process::id(), unique());
        let status = Command::new("tmux")
            .args(["-L", &server, "-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg(command)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is needed for terminal tests (Debian package tmux)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { server }
    }

    /// Runs a tmux command against this session's server.
    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"))
    }

    /// Runs a tmux command that must succeed.
    fn must(&self, args: &[&str]) {
        let out = self.tmux(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The screen's text now.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Types keys (tmux send-keys syntax: "q", "Enter", "Down", "C-c"; "-l" then text
    /// types the text literally).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.must(&args);
    }

    /// Pastes `text` the way a terminal does (bracketed, when the program asked for it).
    pub fn paste(&self, text: &str) {
        self.must(&["set-buffer", "--", text]);
        self.must(&["paste-buffer", "-p"]);
    }

    /// Resizes the terminal, as a person dragging the window's corner would.
    pub fn resize(&self, width: u16, height: u16) {
        self.must(&[
            "resize-window",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    /// Whether the session's program is still running.
    pub fn alive(&self) -> bool {
        self.tmux(&["has-session"]).status.success()
    }

    /// Waits until the screen satisfies `check` and returns it; panics with `what` and the
    /// screen otherwise.
    pub fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait::blocking(what, STARTUP_TIMEOUT, || {
            let screen = self.screen();
            if check(&screen) {
                Ok(screen)
            } else {
                Err(format!("the screen is:\n{screen}"))
            }
        })
    }

    /// Waits until the screen contains `needle` and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} on screen"), |s| s.contains(needle))
    }

    /// Waits until the screen contains one of `needles` and returns it.
    pub fn wait_for_any(&self, needles: &[&str]) -> String {
        self.wait_until(&format!("any of {needles:?} on screen"), |s| {
            needles.iter().any(|n| s.contains(n))
        })
    }

    /// Waits until the screen no longer contains `needle` and returns it.
    pub fn wait_gone(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} to go from the screen"), |s| {
            !s.contains(needle)
        })
    }

    /// Waits until the program has ended (its session is gone).
    pub fn wait_exit(&self) {
        wait::blocking("the program to end", STARTUP_TIMEOUT, || {
            if self.alive() {
                Err(format!("it still runs; the screen is:\n{}", self.screen()))
            } else {
                Ok(())
            }
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
