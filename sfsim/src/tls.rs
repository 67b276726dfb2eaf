//! The `--tls` certificates: a small certificate authority of the simulator's own and a
//! server certificate for `localhost` / `127.0.0.1` signed by it. A client given the CA
//! (its path is printed at start) verifies the chain as it would a real org's — Python's
//! `ssl`, for one, refuses a self-signed server certificate even when told to trust it.
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM texts of a fresh CA and a server certificate it signed.
pub struct Certificates {
    /// The CA certificate: what clients are given to trust.
    pub ca_pem: String,
    /// The server certificate (the chain the server presents).
    pub server_pem: String,
    /// The server certificate's private key.
    pub server_key_pem: String,
}

/// Makes a CA and a server certificate for `names` (DNS names or IP addresses) signed by it.
pub fn generate(names: &[&str]) -> Result<Certificates, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "sfsim test certificate authority");
    ca.distinguished_name
        .push(DnType::OrganizationName, "sfsim");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut server =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    server.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (Python 3.13's default, OpenSSL's X509_STRICT) want it.
    server.use_authority_key_identifier_extension = true;
    let server_key = KeyPair::generate()?;
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server.signed_by(&server_key, &issuer)?;
    Ok(Certificates {
        ca_pem: ca_cert.pem(),
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_certificate_is_not_the_ca() {
        let c = generate(&["localhost", "127.0.0.1"]).unwrap();
        assert!(c.ca_pem.contains("BEGIN CERTIFICATE"));
        assert!(c.server_pem.contains("BEGIN CERTIFICATE"));
        assert_ne!(c.ca_pem, c.server_pem);
        assert!(c.server_key_pem.contains("PRIVATE KEY"));
    }
}
