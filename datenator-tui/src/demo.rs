//! `datenator-tui --demo`: starts a demo daemon (an embedded simulated org syncing into
//! SQLite) in a temporary directory, and stops it again — leaving nothing running or
//! behind — when the TUI quits.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running demo daemon; dropping it stops the daemon and removes its directory.
pub struct DemoDaemon {
    child: Child,
    /// The daemon's standard input: it stops when this closes, which the kernel does when
    /// this process ends, however it ends.
    _lifeline: Option<std::process::ChildStdin>,
    dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// `datenatord` next to this binary (both come from the same `cargo build`).
fn daemon_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let path = exe.with_file_name("datenatord");
    if !path.exists() {
        bail!(
            "the demo needs datenatord next to datenator-tui ({} is missing): build both with `cargo build --release --features datenatord/demo`",
            path.display()
        );
    }
    Ok(path)
}

impl DemoDaemon {
    /// Starts the daemon and waits until its socket answers and the demo org is set up.
    pub fn start(target: Option<&str>) -> anyhow::Result<DemoDaemon> {
        let binary = daemon_binary()?;
        remove_abandoned_dirs();
        let dir = std::env::temp_dir().join(format!("datenator-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let socket = dir.join("d.sock");
        let log = dir.join("datenatord.log");
        let config = dir.join("datenatord.toml");
        std::fs::write(&config, "[sync]\npush_poll_ms = 500\n")?;
        let mut cmd = Command::new(binary);
        cmd.arg("--demo")
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--config")
            .arg(&config)
            .arg("--log-format")
            .arg("text")
            .arg("--stop-when-stdin-closes")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        if let Some(t) = target {
            cmd.arg("--demo-target").arg(t);
        }
        let mut child = cmd.spawn().context("cannot start datenatord")?;
        let mut demo = DemoDaemon {
            _lifeline: child.stdin.take(),
            child,
            dir,
            socket,
            log,
        };
        demo.wait_ready()?;
        Ok(demo)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let started = Instant::now();
        eprintln!("Starting the demo daemon (a simulated Salesforce org syncing into SQLite)…");
        let mut shown = 0;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the demo daemon stopped ({status}); its log:\n{}",
                    tail(&self.log)
                );
            }
            // What the daemon is doing, as it says it: the org's registration, its
            // authorization, the first loads starting…
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            for line in lines.iter().skip(shown) {
                if let Some(step) = progress_step(line) {
                    eprintln!("  {:>4.1} s  {step}", started.elapsed().as_secs_f64());
                }
            }
            shown = lines.len();
            if log.contains("datenatord is ready")
                && std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the demo daemon did not come up in time; its log:\n{}",
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Demo directories of TUIs that no longer run (killed before they could clean up).
fn remove_abandoned_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("datenator-demo-")
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The message of an INFO line of the daemon's text log, without time, level and target.
/// (The socket's access policy is not news to a demo's user.)
fn progress_step(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once(" INFO ")?;
    let (target, message) = rest.split_once(": ")?;
    let message = message.trim();
    (!message.is_empty() && !target.contains("ipc::access")).then_some(message)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Drop for DemoDaemon {
    fn drop(&mut self) {
        // SIGTERM: a graceful stop (socket removed, simulated org shut down).
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_the_daemons_info_messages() {
        assert_eq!(
            progress_step(
                "2026-12-03T08:51:02.1Z  INFO datenatord::orgs::registration: org registered org=demo"
            ),
            Some("org registered org=demo")
        );
        assert_eq!(
            progress_step(
                "2026-12-03T08:51:02.1Z  INFO datenatord::ipc::access: group does not exist"
            ),
            None
        );
        assert_eq!(progress_step("2026-12-03T08:51:02.1Z DEBUG x: y"), None);
    }
}
