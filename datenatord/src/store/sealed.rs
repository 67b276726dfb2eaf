//! Secrets at rest: OAuth tokens, client secrets and database passwords are sealed with
//! ChaCha20-Poly1305 under a 32-byte key before they reach the state database, and opened
//! when read. A copy of `state.db` (a backup, a stolen disk image) holds no usable secret
//! without the key.
//!
//! The key comes from, in order: `[daemon] credentials_key_file`; systemd's credential
//! `credentials-key` (`LoadCredential=credentials-key:/etc/datenator/credentials.key`, read
//! from `$CREDENTIALS_DIRECTORY`); else `credentials.key` beside the state database,
//! generated (0600) on first start. A key file holds the key in base64 (44 characters) or
//! hex (64), or its 32 raw bytes. Values written before sealing existed are read as they
//! are and sealed when the store opens.
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// What a sealed value starts with.
const PREFIX: &str = "sealed:v1:";

/// The systemd credential name the key is looked for under.
pub const CREDENTIAL_NAME: &str = "credentials-key";

/// The generated key's file name in the state directory.
pub const KEY_FILE: &str = "credentials.key";

/// Why secrets cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "cannot read the credentials key {path}: {source}; check the file (or [daemon] credentials_key_file) and its permissions"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the credentials key {path} is not a key: it must hold 32 bytes, in base64 (44 characters), hex (64) or raw; make one with `head -c 32 /dev/urandom | base64`"
    )]
    BadKey { path: PathBuf },
    #[error(
        "cannot write a new credentials key to {path}: {source}; give the daemon a key with [daemon] credentials_key_file"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a stored secret does not open with this credentials key (the key changed, or the state database was copied from another installation): start the daemon with the key the secrets were stored with, or register the org and set its datasource again"
    )]
    WrongKey,
    #[error(
        "a shared state database ([daemon] state_url) needs the fleet's credentials key on every daemon: copy one key file to each host and set [daemon] credentials_key_file (or systemd's LoadCredential=credentials-key:…); make it once with `head -c 32 /dev/urandom | base64`"
    )]
    SharedKeyMissing,
}

/// Seals and opens secrets with one key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    /// Where the key came from, for messages.
    pub source: PathBuf,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer with the key from `configured`, systemd's credential, or the state
    /// directory's key file (made on first start).
    pub fn load(configured: Option<&Path>, state_dir: &Path) -> Result<Sealer, SealError> {
        if let Some(path) = configured {
            return Sealer::from_file(path);
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join(CREDENTIAL_NAME);
            if path.exists() {
                return Sealer::from_file(&path);
            }
        }
        let path = state_dir.join(KEY_FILE);
        if !path.exists() {
            generate(&path)?;
            tracing::info!(
                path = %path.display(),
                "made a credentials key beside the state database; keep a copy apart from it (a backup of the state needs it), or give one with [daemon] credentials_key_file or systemd's LoadCredential={CREDENTIAL_NAME}:…"
            );
        }
        Sealer::from_file(&path)
    }

    /// The key of a fleet's shared state: given to every daemon alike, from the config or
    /// systemd's credential; never made on the spot (another daemon could not open what
    /// this one sealed).
    pub fn load_shared(configured: Option<&Path>, state_dir: &Path) -> Result<Sealer, SealError> {
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| Path::new(&dir).join(CREDENTIAL_NAME))
            .filter(|p| p.exists());
        match (configured, credential) {
            (None, None) if !state_dir.join(KEY_FILE).exists() => Err(SealError::SharedKeyMissing),
            _ => Sealer::load(configured, state_dir),
        }
    }

    fn from_file(path: &Path) -> Result<Sealer, SealError> {
        let bytes = std::fs::read(path).map_err(|source| SealError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = parse_key(&bytes).ok_or_else(|| SealError::BadKey {
            path: path.to_path_buf(),
        })?;
        Ok(Sealer::from_key(&key, path.to_path_buf()))
    }

    /// A sealer with this key (tests, and key files once read).
    pub fn from_key(key: &[u8; 32], source: PathBuf) -> Sealer {
        // A 32-byte key is what ChaCha20-Poly1305 takes: this cannot fail.
        let unbound = UnboundKey::new(&aead::CHACHA20_POLY1305, key)
            .unwrap_or_else(|_| unreachable!("a 32-byte ChaCha20-Poly1305 key"));
        Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            source,
        }
    }

    /// The secret sealed: `sealed:v1:` and base64 of a random nonce, the ciphertext and
    /// its tag.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        // The system's random source failing is not something to go on from quietly.
        if SystemRandom::new().fill(&mut nonce).is_err() {
            unreachable!("the system random source failed");
        }
        let mut data = secret.as_bytes().to_vec();
        if self
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .is_err()
        {
            unreachable!("sealing a value shorter than 256 GiB");
        }
        let mut out = nonce.to_vec();
        out.extend(data);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The secret a stored value holds: opened when sealed, as it is when written before
    /// sealing existed.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SealError::WrongKey)?;
        if raw.len() < aead::NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, sealed) = raw.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongKey)?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::WrongKey)
    }

    /// Whether a stored value is sealed already.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

/// 32 key bytes from a key file: base64, hex, or raw.
fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let text = text.trim();
        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(text)
            && let Ok(k) = <[u8; 32]>::try_from(b.as_slice())
        {
            return Some(k);
        }
        if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut k = [0u8; 32];
            for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
                let s = std::str::from_utf8(chunk).ok()?;
                k[i] = u8::from_str_radix(s, 16).ok()?;
            }
            return Some(k);
        }
    }
    <[u8; 32]>::try_from(bytes).ok()
}

/// Writes a new random key (base64) to `path`, 0600 from its first byte.
fn generate(path: &Path) -> Result<(), SealError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut key = [0u8; 32];
    if SystemRandom::new().fill(&mut key).is_err() {
        unreachable!("the system random source failed");
    }
    let write = |path: &Path| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(
            base64::engine::general_purpose::STANDARD
                .encode(key)
                .as_bytes(),
        )?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write(path).map_err(|source| SealError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let a = Sealer::from_key(&[7; 32], "a".into());
        let b = Sealer::from_key(&[8; 32], "b".into());
        let sealed = a.seal("refresh-token-ü");
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("refresh"));
        assert_ne!(a.seal("x"), a.seal("x"), "a fresh nonce each time");
        assert_eq!(a.open(&sealed).unwrap(), "refresh-token-ü");
        assert!(matches!(b.open(&sealed), Err(SealError::WrongKey)));
        assert_eq!(a.open("plain, from before").unwrap(), "plain, from before");
        assert!(!format!("{a:?}").contains("7"), "no key in Debug");
    }

    #[test]
    fn key_files_hold_base64_hex_or_raw_bytes_and_one_is_made_when_none_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let k = [3u8; 32];
        let b64 = dir.path().join("b64");
        std::fs::write(
            &b64,
            base64::engine::general_purpose::STANDARD.encode(k) + "\n",
        )
        .unwrap();
        let hex = dir.path().join("hex");
        std::fs::write(&hex, "03".repeat(32)).unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, k).unwrap();
        let sealed = Sealer::from_key(&k, "k".into()).seal("s");
        for p in [&b64, &hex, &raw] {
            assert_eq!(
                Sealer::load(Some(p), dir.path())
                    .unwrap()
                    .open(&sealed)
                    .unwrap(),
                "s"
            );
        }
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "short").unwrap();
        let e = Sealer::load(Some(&bad), dir.path()).unwrap_err();
        assert!(e.to_string().contains("must hold 32 bytes"), "{e}");

        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let made = Sealer::load(None, &state).unwrap();
        let file = state.join(KEY_FILE);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = Sealer::load(None, &state).unwrap();
        assert_eq!(again.open(&made.seal("same key")).unwrap(), "same key");
    }
}
