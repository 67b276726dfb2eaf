//! Fixtures for the end-to-end tests: start the real binaries in temporary directories,
//! talk to them over their sockets, stop them with signals.
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use datenator_shared::client::Client;
use serde_json::Value;

pub mod convergence;
pub mod sync;
pub mod tmux;
pub mod wait;

pub use tmux::Tmux;

/// How long a fixture waits for a process to come up or go away before failing.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of one of the workspace's binaries, built by `cargo build --workspace --bins`
/// (the test command does this first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> (tests) or target/<profile>/<bin> (the bench) →
    // target/<profile>/<name>
    let mut dir = exe.parent().expect("target dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target dir");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the end-to-end tests (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Starts the real daemon on `socket` with `state_dir` and `config`, logging to `stderr`
/// (`DATENATOR_TEST_DAEMON_LOG` sets its filter).
fn spawn_datenatord(
    socket: &Path,
    state_dir: &Path,
    config: &Path,
    stderr: std::fs::File,
) -> Child {
    Command::new(bin("datenatord"))
        .arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--config")
        .arg(config)
        .arg("--log-format")
        .arg("text")
        .env(
            "RUST_LOG",
            std::env::var("DATENATOR_TEST_DAEMON_LOG")
                .unwrap_or_else(|_| "info,datenatord=debug".into()),
        )
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn datenatord")
}

/// A running `datenatord` in its own temporary directory.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub config: PathBuf,
    pub stderr_path: PathBuf,
}

impl Daemon {
    /// Starts a daemon with an empty config file and waits until its socket answers.
    pub fn start() -> Daemon {
        Self::start_with_config("")
    }

    pub fn start_with_config(config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("d.sock");
        let state_dir = dir.path().join("state");
        let config_path = dir.path().join("datenatord.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut daemon = Self::spawn_in(dir, socket, state_dir, config_path);
        daemon.wait_ready();
        daemon
    }

    /// Spawns without waiting (for tests of start-up failures).
    pub fn spawn_in(
        dir: tempfile::TempDir,
        socket: PathBuf,
        state_dir: PathBuf,
        config: PathBuf,
    ) -> Daemon {
        let stderr_path = dir
            .path()
            .join(format!("stderr-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = spawn_datenatord(&socket, &state_dir, &config, stderr);
        Daemon {
            child,
            dir,
            socket,
            state_dir,
            config,
            stderr_path,
        }
    }

    pub fn wait_ready(&mut self) {
        wait::blocking("datenatord to come up", STARTUP_TIMEOUT, || {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "datenatord exited with {status} during start-up:\n{}",
                    self.stderr()
                );
            }
            Err(self.stderr())
        })
    }

    /// Kills the daemon with SIGKILL (no chance to clean up) and starts it again on the
    /// same socket, state and config.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// Kills the daemon with SIGKILL and waits until it is gone.
    pub fn kill(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Starts the daemon again (after [`Daemon::kill`]) on the same socket, state and config.
    pub fn restart(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.stderr_path)
            .unwrap();
        self.child = spawn_datenatord(&self.socket, &self.state_dir, &self.config, stderr);
        self.wait_ready();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.socket, "e2e-test")
            .await
            .expect("connect to the daemon")
    }

    /// A raw line-level connection (no handshake sent).
    pub fn raw(&self) -> RawConn {
        RawConn::connect(&self.socket)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("kill");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait::blocking("datenatord to exit", STARTUP_TIMEOUT, || {
            match self.child.try_wait().unwrap() {
                Some(status) => Ok(status),
                None => Err(self.stderr()),
            }
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test shows what the daemon said last (its files go with the test).
        if std::thread::panicking() {
            let log = self.stderr();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- the daemon's last log lines ---\n{}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
    }
}

/// A blocking JSON-lines connection for poking at the protocol directly.
pub struct RawConn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawConn {
    pub fn connect(path: &Path) -> RawConn {
        let stream = UnixStream::connect(path).expect("connect");
        stream.set_read_timeout(Some(STARTUP_TIMEOUT)).unwrap();
        RawConn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes());
    }

    /// The next line as JSON; panics on EOF or timeout.
    pub fn recv(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read");
        assert!(n > 0, "the daemon closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a request and returns the reply.
    pub fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(
            &serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
                .to_string(),
        );
        self.recv()
    }

    pub fn handshake(&mut self) -> Value {
        self.call(
            0,
            "handshake",
            serde_json::json!({"protocol": datenator_shared::protocol::PROTOCOL_VERSION, "client_name": "raw", "client_version": "0"}),
        )
    }

    /// Reads until the daemon closes the connection; returns the bytes read.
    pub fn read_to_eof(&mut self) -> usize {
        let mut buf = Vec::new();
        self.reader.read_to_end(&mut buf).unwrap_or(0)
    }
}
