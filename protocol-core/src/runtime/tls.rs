//! TLS (feature `tls`, rustls with the *ring* provider): the server terminates TLS itself on
//! every way of serving ([`ServerBuilder::tls`](crate::ServerBuilder::tls): own listener and
//! axum router alike, inside the same handshake deadline), and the typed
//! [`Client`](crate::Client) connects to `wss://` (webpki roots, plus any certificate you trust
//! with [`ClientBuilder::trust_pem`](crate::ClientBuilder::trust_pem)).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and private key to serve TLS with.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain has no certificate, or one that does not parse.
    #[error("cannot read the certificate chain: {0}")]
    Certificates(String),
    /// The private key does not parse.
    #[error("cannot read the private key: {0}")]
    Key(String),
    /// rustls refused the pair (the key does not match the certificate, say).
    #[error("cannot use the certificate and key: {0}")]
    Config(String),
}

impl TlsConfig {
    /// From PEM text: the certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let certs = certificates(cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key(e.to_string()))?;
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(TlsConfig {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// From PEM files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self, TlsError> {
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let certs = read(cert_chain.as_ref()).map_err(TlsError::Certificates)?;
        let key = read(key.as_ref()).map_err(TlsError::Key)?;
        Self::from_pem(&certs, &key)
    }
}

pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificates(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Certificates(
            "no -----BEGIN CERTIFICATE----- block found".into(),
        ));
    }
    Ok(certs)
}

/// The client side: webpki's roots plus `extra` trusted certificates.
pub(crate) fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::Certificates(e.to_string()))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
