//! Where the daemon's socket lives: the one function both the daemon and the TUI use.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The socket file's name inside its directory.
pub const SOCKET_FILE_NAME: &str = "datenatord.sock";

/// Where the system service (`systemd/datenatord.service`) puts its socket.
pub const SYSTEM_SOCKET_PATH: &str = "/run/datenator/datenatord.sock";

/// The longest socket path a Unix domain socket accepts (`sun_path` is 108 bytes with
/// its terminating NUL).
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error(
        "the socket path {path} is {len} bytes long, but Unix sockets allow at most {max}: pass a shorter --socket path (or set DATENATOR_SOCKET)",
        path = .0.display(), len = .0.as_os_str().len(), max = MAX_SOCKET_PATH_BYTES
    )]
    TooLong(PathBuf),
}

/// Which side asks: a client also looks for the system service's socket when the user's
/// own daemon is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Daemon,
    Client,
}

/// Resolves the socket path: `explicit` (`--socket`), else `$DATENATOR_SOCKET`, else
/// `$RUNTIME_DIRECTORY/datenatord.sock` (set by systemd for the service), else the user's
/// runtime directory (`$XDG_RUNTIME_DIR/datenator/datenatord.sock`), else
/// `<tmp>/datenator-<uid>/datenatord.sock`. A client whose per-user socket does not exist
/// but finds the system service's socket uses that one.
pub fn socket_path(explicit: Option<&Path>, side: Side) -> Result<PathBuf, PathError> {
    socket_path_with(explicit, side, |k| std::env::var_os(k), |p| p.exists())
}

/// [`socket_path`] with the environment and the file-system probe passed in (for tests).
pub fn socket_path_with(
    explicit: Option<&Path>,
    side: Side,
    env: impl Fn(&str) -> Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, PathError> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    let path = if let Some(p) = explicit {
        p.to_path_buf()
    } else if let Some(p) = non_empty("DATENATOR_SOCKET") {
        PathBuf::from(p)
    } else if let Some(dirs) = non_empty("RUNTIME_DIRECTORY") {
        // systemd may list several directories separated by ':'; ours is the first.
        let first = dirs
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned();
        PathBuf::from(first).join(SOCKET_FILE_NAME)
    } else {
        let user = match non_empty("XDG_RUNTIME_DIR") {
            Some(dir) => PathBuf::from(dir).join("datenator").join(SOCKET_FILE_NAME),
            None => std::env::temp_dir()
                .join(format!("datenator-{}", nix::unistd::getuid()))
                .join(SOCKET_FILE_NAME),
        };
        let system = Path::new(SYSTEM_SOCKET_PATH);
        if side == Side::Client && !exists(&user) && exists(system) {
            system.to_path_buf()
        } else {
            user
        }
    };
    if path.as_os_str().len() > MAX_SOCKET_PATH_BYTES {
        return Err(PathError::TooLong(path));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(
        explicit: Option<&str>,
        side: Side,
        vars: &[(&str, &str)],
        existing: &[&str],
    ) -> Result<PathBuf, PathError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        socket_path_with(
            explicit.map(Path::new),
            side,
            |k| vars.get(k).cloned(),
            |p| existing.iter().any(|e| Path::new(e) == p),
        )
    }

    #[test]
    fn precedence() {
        let all = [
            ("DATENATOR_SOCKET", "/env/s.sock"),
            ("RUNTIME_DIRECTORY", "/run/datenator:/run/other"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ];
        assert_eq!(
            resolve(Some("/x.sock"), Side::Daemon, &all, &[]).unwrap(),
            PathBuf::from("/x.sock")
        );
        assert_eq!(
            resolve(None, Side::Daemon, &all, &[]).unwrap(),
            PathBuf::from("/env/s.sock")
        );
        assert_eq!(
            resolve(None, Side::Daemon, &all[1..], &[]).unwrap(),
            PathBuf::from("/run/datenator/datenatord.sock")
        );
        assert_eq!(
            resolve(None, Side::Daemon, &all[2..], &[]).unwrap(),
            PathBuf::from("/run/user/1000/datenator/datenatord.sock")
        );
        let fallback = resolve(None, Side::Daemon, &[], &[]).unwrap();
        assert!(fallback.ends_with("datenatord.sock"));
        assert!(fallback.to_string_lossy().contains("datenator-"));
    }

    #[test]
    fn client_falls_back_to_the_system_socket() {
        let vars = [("XDG_RUNTIME_DIR", "/run/user/1000")];
        assert_eq!(
            resolve(None, Side::Client, &vars, &[SYSTEM_SOCKET_PATH]).unwrap(),
            PathBuf::from(SYSTEM_SOCKET_PATH)
        );
        // The user's own daemon wins when both exist, and the daemon never moves.
        let user = "/run/user/1000/datenator/datenatord.sock";
        assert_eq!(
            resolve(None, Side::Client, &vars, &[SYSTEM_SOCKET_PATH, user]).unwrap(),
            PathBuf::from(user)
        );
        assert_eq!(
            resolve(None, Side::Daemon, &vars, &[SYSTEM_SOCKET_PATH]).unwrap(),
            PathBuf::from(user)
        );
    }

    #[test]
    fn overlong_paths_are_refused_with_advice() {
        let long = format!("/{}", "a".repeat(200));
        let err = resolve(Some(&long), Side::Daemon, &[], &[]).unwrap_err();
        assert!(err.to_string().contains("--socket"));
    }
}
