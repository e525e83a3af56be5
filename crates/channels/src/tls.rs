//! TLS configurations for TCP services (the relay's HTTPS API), built from the same pieces as
//! the direct channel: ring as the only crypto provider, TLS 1.3 only, a self-signed
//! certificate made from the Ed25519 identity key, and a client verifier that accepts exactly
//! one pinned key.
//!
//! Guarantees: a client built with [`pinned_client_config`] completes a handshake only with a
//! server that presents a certificate carrying the expected Ed25519 key *and* signs the
//! handshake with it; any other certificate (another key, another key type, an unparsable one)
//! fails the handshake. Names, issuers and validity dates are ignored: the identity is the key.
//! Session resumption is disabled on both sides, so every connection is verified from scratch.
//! The server configuration asks for no client certificate: clients of a TCP service
//! authenticate at the application layer (the relay signs every request).

use std::sync::Arc;

use ed25519_dalek::SigningKey;

use crate::direct::{DirectError, ExpectedServerKey, TlsIdentity, crypto_provider};

/// Why a TLS configuration could not be built. Nothing was bound or sent.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum TlsError {
    /// The identity key could not be turned into a self-signed certificate (a local fault).
    #[error("could not make a TLS certificate from the identity key: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

impl From<DirectError> for TlsError {
    fn from(error: DirectError) -> Self {
        match error {
            DirectError::Identity(why) => TlsError::Certificate(why),
            other => TlsError::Config(other.to_string()),
        }
    }
}

fn config_error(error: rustls::Error) -> TlsError {
    TlsError::Config(error.to_string())
}

fn alpn_list(alpn: &[&[u8]]) -> Vec<Vec<u8>> {
    alpn.iter().map(|protocol| protocol.to_vec()).collect()
}

/// A TLS 1.3 server configuration (ring provider) presenting a self-signed certificate made
/// from `identity_key`, offering the `alpn` protocols, asking for no client certificate, with
/// session resumption disabled.
pub fn server_config(
    identity_key: &SigningKey,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig, TlsError> {
    let identity = TlsIdentity::new(identity_key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(identity.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(vec![identity.certificate.clone()], identity.key.clone_key())
        .map_err(config_error)?;
    config.alpn_protocols = alpn_list(alpn);
    // No resumption: every connection proves the identity key again.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A TLS 1.3 client configuration (ring provider) that sends no client certificate and
/// completes a handshake only with a server whose certificate carries exactly
/// `expected_server_key` (a raw 32-byte Ed25519 public key) and which signs the handshake with
/// it; any other certificate is a handshake error. Offers the `alpn` protocols; session
/// resumption is disabled.
pub fn pinned_client_config(
    expected_server_key: [u8; 32],
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = crypto_provider();
    let verifier = Arc::new(ExpectedServerKey::new(expected_server_key, &provider));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn_list(alpn);
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A TLS client configuration (ring provider, TLS 1.2 or 1.3) that verifies servers by the Web
/// PKI rules against `roots`, offering the `alpn` protocols: for a server named by its DNS name
/// or IP address and certified by an authority, not pinned (a stock witness over `https://`).
pub fn webpki_client_config(
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn_list(alpn);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// Runs one in-memory handshake between a server with identity `server_seed` and a client
    /// pinned to the key of `pinned_seed`; returns the client's account of the outcome.
    fn handshake(server_seed: u8, pinned_seed: u8) -> Result<(), rustls::Error> {
        let alpn: &[&[u8]] = &[b"http/1.1"];
        let server = server_config(&key(server_seed), alpn).expect("server config builds");
        let pinned = key(pinned_seed).verifying_key().to_bytes();
        let client = pinned_client_config(pinned, alpn).expect("client config builds");
        let name = rustls::pki_types::ServerName::try_from("relay").expect("valid name");
        let mut client = rustls::ClientConnection::new(Arc::new(client), name)
            .expect("client connection starts");
        let mut server =
            rustls::ServerConnection::new(Arc::new(server)).expect("server connection starts");
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
                assert_eq!(
                    server.protocol_version(),
                    Some(rustls::ProtocolVersion::TLSv1_3)
                );
                return Ok(());
            }
            let mut wire = Vec::new();
            client.write_tls(&mut wire).expect("writing to a Vec");
            server
                .read_tls(&mut wire.as_slice())
                .expect("reading from a slice");
            server.process_new_packets()?;
            let mut wire = Vec::new();
            server.write_tls(&mut wire).expect("writing to a Vec");
            client
                .read_tls(&mut wire.as_slice())
                .expect("reading from a slice");
            client.process_new_packets()?;
        }
        panic!("handshake did not finish in 10 rounds");
    }

    #[test]
    fn client_accepts_only_the_pinned_server_key() {
        assert_eq!(handshake(1, 1), Ok(()));
        let refused = handshake(2, 1);
        assert!(
            matches!(
                refused,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure
                ))
            ),
            "{refused:?}"
        );
    }
}
