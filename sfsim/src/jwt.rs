//! The JWT bearer flow: an RS256 assertion checked against the connected app's certificate.

use crate::oauth::{app_for_jwt, jwt_token};
use crate::resp::Resp;
use crate::sim::Sim;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::json;
use sha2::Sha256;

fn fail(error: &str, description: &str) -> Resp {
    Resp::json(
        400,
        json!({"error": error, "error_description": description}),
    )
}

/// Reads one DER element at `pos`: `(tag, header length, content length)`.
fn der_element(der: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *der.get(pos)?;
    let first = *der.get(pos + 1)? as usize;
    if first < 0x80 {
        return Some((tag, 2, first));
    }
    let n = first & 0x7f;
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *der.get(pos + 2 + i)? as usize;
    }
    Some((tag, 2 + n, len))
}

/// The SubjectPublicKeyInfo of an X.509 certificate (DER).
fn cert_spki(der: &[u8]) -> Option<&[u8]> {
    let (_, h, _) = der_element(der, 0)?; // Certificate
    let tbs = h;
    let (_, th, _) = der_element(der, tbs)?; // TBSCertificate
    let mut pos = tbs + th;
    if der.get(pos) == Some(&0xa0) {
        let (_, eh, el) = der_element(der, pos)?;
        pos += eh + el;
    }
    for _ in 0..5 {
        // serial, signature, issuer, validity, subject
        let (_, eh, el) = der_element(der, pos)?;
        pos += eh + el;
    }
    let (_, eh, el) = der_element(der, pos)?;
    der.get(pos..pos + eh + el)
}

/// A public key from a PEM certificate, a PEM public key (SPKI) or a PKCS#1 RSA public key.
pub fn public_key(pem: &str) -> Option<RsaPublicKey> {
    if let Ok(k) = RsaPublicKey::from_public_key_pem(pem) {
        return Some(k);
    }
    if let Ok(k) = rsa::pkcs1::DecodeRsaPublicKey::from_pkcs1_pem(pem) {
        return Some(k);
    }
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body.trim()).ok()?;
    RsaPublicKey::from_public_key_der(cert_spki(&der)?).ok()
}

pub(crate) fn bearer(sim: &Sim, assertion: &str) -> Resp {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return fail("invalid_grant", "invalid assertion");
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok();
    let (Some(hb), Some(cb), Some(sig)) = (decode(h), decode(c), decode(s)) else {
        return fail("invalid_grant", "invalid assertion");
    };
    let (Ok(header), Ok(claims)) = (
        serde_json::from_slice::<serde_json::Value>(&hb),
        serde_json::from_slice::<serde_json::Value>(&cb),
    ) else {
        return fail("invalid_grant", "invalid assertion");
    };
    if header["alg"] != "RS256" {
        return fail("invalid_grant", "invalid assertion");
    }
    let Some(app) = app_for_jwt(sim, claims["iss"].as_str().unwrap_or("")) else {
        return fail("invalid_client_id", "client identifier invalid");
    };
    let Some(key) = app.jwt_cert_pem.as_deref().and_then(public_key) else {
        return fail(
            "invalid_client",
            "no certificate is configured for this connected app",
        );
    };
    let signed = format!("{h}.{c}");
    let ok = Signature::try_from(sig.as_slice()).is_ok_and(|sig| {
        VerifyingKey::<Sha256>::new(key)
            .verify(signed.as_bytes(), &sig)
            .is_ok()
    });
    if !ok {
        return fail("invalid_grant", "invalid assertion");
    }
    let aud = claims["aud"].as_str().unwrap_or("");
    let base = sim.base_url();
    let known = [
        base.as_str(),
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    ];
    if !known
        .iter()
        .any(|k| k.trim_end_matches('/') == aud.trim_end_matches('/'))
    {
        return fail("invalid_grant", "audience is invalid");
    }
    let now = chrono::Utc::now().timestamp();
    match claims["exp"].as_i64() {
        Some(exp) if exp > now => {}
        _ => return fail("invalid_grant", "expired authorization code"),
    }
    let Some(user_id) = sim
        .org()
        .user_id_by_username(claims["sub"].as_str().unwrap_or(""))
    else {
        return fail("invalid_grant", "user hasn't approved this consumer");
    };
    jwt_token(sim, &app, &user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_certificates_and_public_keys() {
        let cert = include_str!("../tests/fixtures/jwt-test-cert.pem");
        let from_cert = public_key(cert).expect("certificate");
        let spki =
            rsa::pkcs8::EncodePublicKey::to_public_key_pem(&from_cert, rsa::pkcs8::LineEnding::LF)
                .unwrap();
        assert_eq!(public_key(&spki), Some(from_cert.clone()));
        let pkcs1 =
            rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_pem(&from_cert, rsa::pkcs8::LineEnding::LF)
                .unwrap();
        assert_eq!(public_key(&pkcs1), Some(from_cert));
        assert_eq!(public_key("not a key"), None);
    }
}
