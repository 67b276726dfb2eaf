//! Password forms the database servers store, computed here so that a sync user's password
//! never travels in a statement: a server logs statements (PostgreSQL's `log_statement`, a
//! failed statement's `STATEMENT:` line, MariaDB's general log), and only the stored form
//! may ever appear there.
//!
//! * PostgreSQL accepts a SCRAM-SHA-256 verifier in `PASSWORD '…'` (RFC 5802 and 7677):
//!   `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64.
//! * MariaDB and MySQL accept `mysql_native_password`'s hash, `*` + hex(SHA1(SHA1(pw))),
//!   in `IDENTIFIED BY PASSWORD '…'` (MySQL 8: `IDENTIFIED WITH mysql_native_password AS '…'`).
//!
//! The passwords are the daemon's own ([`super::random_password`]: ASCII letters and digits),
//! so SASLprep, which PostgreSQL applies to a password before hashing it, leaves them as
//! they are.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// PostgreSQL's default iteration count (`scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A SCRAM-SHA-256 verifier of `password` with a random 16-byte salt, as PostgreSQL stores it
/// in `pg_authid.rolpassword`.
pub fn scram_sha256_verifier(password: &str) -> String {
    use rand::Rng;
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    scram_sha256_verifier_with(password, &salt, SCRAM_ITERATIONS)
}

/// [`scram_sha256_verifier`] with a given salt and iteration count.
pub fn scram_sha256_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let hmac = |key: &[u8], msg: &[u8]| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(msg);
        m.finalize().into_bytes()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

/// `mysql_native_password`'s stored form: `*` + upper-case hex of SHA1(SHA1(password)).
pub fn mysql_native_hash(password: &str) -> String {
    use sha1::Digest as _;
    let once = sha1::Sha1::digest(password.as_bytes());
    let twice = sha1::Sha1::digest(once);
    let mut out = String::with_capacity(41);
    out.push('*');
    for b in twice.iter() {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_verifier_matches_postgres() {
        // pg_authid.rolpassword of a role PostgreSQL 15 gave PASSWORD 'secret'.
        let stored = "SCRAM-SHA-256$4096:NDFKRi0i6nQMpy/8+lyhjg==$h9P1Brp+O5ZPqHWLuIMdZ3k20qxUdy9+SzUBubPFJZk=:JshdjdVWSUiRj2Qwqwk7WLeSR8Am4ScZUAwmfzLSvUw=";
        let salt = B64.decode("NDFKRi0i6nQMpy/8+lyhjg==").unwrap();
        assert_eq!(scram_sha256_verifier_with("secret", &salt, 4096), stored);
        // Random salts: two verifiers of one password differ, and hold no trace of it.
        let v = scram_sha256_verifier("pw-in-clear");
        assert_ne!(v, scram_sha256_verifier("pw-in-clear"));
        assert!(v.starts_with("SCRAM-SHA-256$4096:") && !v.contains("pw-in-clear"));
    }

    #[test]
    fn mysql_native_hash_known_value() {
        // SELECT PASSWORD('secret') on MariaDB.
        assert_eq!(
            mysql_native_hash("secret"),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
    }
}
