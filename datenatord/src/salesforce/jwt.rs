//! The JWT bearer flow's assertion: RS256 over `{iss, sub, aud, exp}`.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};

use super::SalesforceError;

/// How long an assertion is valid; Salesforce accepts at most about three minutes.
const LIFETIME_SECS: i64 = 170;

/// Signs an assertion for `client_id` acting as `username` at login host `audience`, with
/// an RSA private key in PEM (PKCS#8 or PKCS#1).
pub fn assertion(
    client_id: &str,
    username: &str,
    audience: &str,
    key_pem: &str,
) -> Result<String, SalesforceError> {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(key_pem))
        .map_err(|e| {
            SalesforceError::Invalid(format!(
                "the JWT key is not an RSA private key in PEM ({e}): use the key whose certificate is uploaded to the connected app"
            ))
        })?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": username,
        "aud": audience,
        "exp": chrono::Utc::now().timestamp() + LIFETIME_SECS,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let signature = signer.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}
