//! The TLS side of the direct channel: the one crypto provider, this station's self-signed
//! certificate, and the verifiers that pin peers by their Ed25519 keys (TLS 1.3 only).

use super::*;

/// The one TLS crypto provider of every parley TLS configuration: ring.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Our certificate and key, and the crypto provider every TLS config is built with.
pub(crate) struct TlsIdentity {
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) certificate: CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl TlsIdentity {
    /// Makes a self-signed certificate for `identity` and checks it carries that key.
    pub(crate) fn new(identity: &SigningKey) -> Result<Self, DirectError> {
        let identity_error = |error: &dyn fmt::Display| DirectError::Identity(error.to_string());
        let pkcs8 = identity.to_pkcs8_der().map_err(|e| identity_error(&e))?;
        let key = PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key, &rcgen::PKCS_ED25519)
            .map_err(|e| identity_error(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| identity_error(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, CERTIFICATE_SUBJECT);
        let certificate = params
            .self_signed(&key_pair)
            .map_err(|e| identity_error(&e))?;
        let certificate = certificate.der().clone();
        let carried = ed25519_key_of(&certificate).map_err(|e| identity_error(&e))?;
        if carried != identity.verifying_key().to_bytes() {
            return Err(DirectError::Identity(
                "certificate carries another key".into(),
            ));
        }
        Ok(Self {
            provider: crypto_provider(),
            certificate,
            key: PrivateKeyDer::Pkcs8(key),
        })
    }

    pub(super) fn server_config(
        &self,
        pinned: PinnedKeys,
    ) -> Result<rustls::ServerConfig, DirectError> {
        let verifier = Arc::new(PinnedClientKeys::new(
            pinned,
            self.provider.signature_verification_algorithms,
        ));
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_config_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.certificate.clone()], self.key.clone_key())
            .map_err(tls_config_error)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        // No resumption: every connection runs the pinned-key checks.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(config)
    }

    pub(super) fn client_config(
        &self,
        verifier: Arc<ExpectedServerKey>,
    ) -> Result<rustls::ClientConfig, DirectError> {
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_config_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.certificate.clone()], self.key.clone_key())
            .map_err(tls_config_error)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }
}

pub(super) fn tls_config_error(error: rustls::Error) -> DirectError {
    DirectError::Config(format!("TLS: {error}"))
}

/// The certificate's key is not Ed25519 (or not a valid Ed25519 point).
#[derive(Debug, thiserror::Error)]
#[error("certificate key is not a valid Ed25519 public key")]
pub(super) struct NotEd25519;

/// Parses `certificate` and returns its Ed25519 public key; any other key type is refused.
pub(super) fn ed25519_key_of(certificate: &CertificateDer<'_>) -> Result<[u8; 32], rustls::Error> {
    let parsed = ParsedCertificate::try_from(certificate)?;
    let spki = parsed.subject_public_key_info();
    // Checks the algorithm is id-Ed25519 without parameters and the key a valid point.
    let key = VerifyingKey::from_public_key_der(spki.as_ref()).map_err(|_| {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(NotEd25519))))
    })?;
    Ok(key.to_bytes())
}

/// The peer key recorded by a finished handshake, parsed again from its certificate.
pub(super) fn checked_peer_key(connection: &quinn::Connection) -> Result<[u8; 32], DirectError> {
    let result = (|| {
        let identity = connection.peer_identity().ok_or("no certificate")?;
        let chain = identity
            .downcast::<Vec<CertificateDer<'static>>>()
            .map_err(|_| "not an X.509 certificate chain")?;
        let end_entity = chain.first().ok_or("empty certificate chain")?;
        ed25519_key_of(end_entity).map_err(|_| "no valid Ed25519 key")
    })();
    result.map_err(|why| {
        connection.close(CLOSE_CODE_IDENTITY, b"bad identity");
        DirectError::InvalidPeerIdentity(why)
    })
}

/// Checks a TLS 1.3 handshake signature: Ed25519 only, by the certificate's key.
pub(super) fn verify_ed25519_tls13(
    message: &[u8],
    certificate: &CertificateDer<'_>,
    signature: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if signature.scheme != SignatureScheme::ED25519 {
        return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    rustls::crypto::verify_tls13_signature(message, certificate, signature, algorithms)
}

pub(super) fn tls12_refused() -> rustls::Error {
    rustls::Error::General("TLS 1.2 is not allowed on the direct channel".into())
}

/// Client side: the server must present exactly the key we dialled for.
#[derive(Debug)]
pub(crate) struct ExpectedServerKey {
    expected: [u8; 32],
    /// A different key the server presented, kept to explain the failure.
    presented: Mutex<Option<[u8; 32]>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ExpectedServerKey {
    pub(crate) fn new(expected: [u8; 32], provider: &CryptoProvider) -> Self {
        Self {
            expected,
            presented: Mutex::new(None),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// Turns a failed handshake into the most precise error we know.
    pub(super) fn explain(&self, error: ConnectionError) -> DirectError {
        let presented = *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(presented) = presented {
            return wrong_peer(self.expected, presented);
        }
        if is_refusal(&error) {
            DirectError::RefusedByPeer
        } else {
            DirectError::Handshake(error)
        }
    }
}

impl ServerCertVerifier for ExpectedServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = ed25519_key_of(end_entity)?;
        if presented != self.expected {
            *self
                .presented
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(presented);
            return Err(CertificateError::ApplicationVerificationFailure.into());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_ed25519_tls13(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Server side: client authentication is mandatory and the key must be pinned.
#[derive(Debug)]
pub(super) struct PinnedClientKeys {
    pinned: PinnedKeys,
    algorithms: WebPkiSupportedAlgorithms,
    /// Refused keys are logged under the handshakes' limit: any host can present one.
    refusals: Mutex<LogLimit<&'static str>>,
}

impl PinnedClientKeys {
    pub(super) fn new(pinned: PinnedKeys, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            pinned,
            algorithms,
            refusals: Mutex::new(LogLimit::new(HANDSHAKE_LOG_INTERVAL_MS)),
        }
    }

    /// Logs a client key that is not pinned, unless one was logged within the interval;
    /// whether it did.
    pub(super) fn note_refused(&self, presented: [u8; 32]) -> bool {
        let admitted = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit_now("client identity is not pinned");
        let Some(held_back) = admitted else {
            return false;
        };
        warn!(
            fingerprint = %StationId(presented).key_fingerprint(),
            held_back,
            "client identity is not pinned"
        );
        true
    }
}

impl ClientCertVerifier for PinnedClientKeys {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let presented = ed25519_key_of(end_entity)?;
        if !self.pinned.contains(&presented) {
            self.note_refused(presented);
            // Sent as an access_denied alert, which the client reports as RefusedByPeer.
            return Err(CertificateError::ApplicationVerificationFailure.into());
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_ed25519_tls13(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}
