//! TLS to the nodes: a [`TlsConnector`] that wraps any other [`Connector`] (direct TCP, a
//! Kubernetes port-forward) and runs a rustls client handshake over the stream it opens, so
//! every connector gets TLS without knowing about it. The nodes' endpoints are IPs, so a
//! node's certificate must name its IP in a subjectAltName, unless `--tls-server-name` gives
//! the one name every node's certificate carries (what certificates for pods usually name: a
//! DNS name, since pod IPs change). The CA comes from `--cacert` or a Secret, the client
//! certificate from `--cert`/`--key` or the same Secret, for nodes that verify clients.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::connector::{ConnectError, Connector, Opened};
use crate::topology::Endpoint;

/// PEM text and where it came from (`--cacert /etc/redis/ca.crt`, or a Secret's key), so an
/// error can name the source.
#[derive(Clone)]
pub struct Pem {
    /// The PEM text.
    pub text: Vec<u8>,
    /// Where it came from, for messages.
    pub origin: String,
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A private key's text must never reach a log.
        f.debug_struct("Pem")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Pem {
    /// Reads the PEM file given with `flag` (e.g. `--cacert`).
    pub fn read(flag: &str, path: &std::path::Path) -> Result<Self, TlsSetupError> {
        let origin = format!("{flag} {}", path.display());
        match std::fs::read(path) {
            Ok(text) => Ok(Self { text, origin }),
            Err(source) => Err(TlsSetupError::Read { origin, source }),
        }
    }
}

/// How the client decides whether a node's certificate is genuine.
#[derive(Clone, Debug)]
pub enum ServerTrust {
    /// The certificate must chain to one of these CA certificates and name the node's IP.
    Ca(Pem),
    /// Any certificate is accepted (`--insecure`): encrypted, but open to interception.
    AnyCertificate,
}

/// A client certificate and its key, for nodes with `tls-auth-clients yes`.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub cert: Pem,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Pem,
}

/// Everything TLS needs, as PEM, before it is parsed.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// How node certificates are checked.
    pub trust: ServerTrust,
    /// What the client presents, if anything.
    pub identity: Option<ClientIdentity>,
    /// The name node certificates are checked against (and sent as SNI); `None` = each
    /// node's own IP.
    pub server_name: Option<String>,
    /// Where the material came from and who named it (`--cacert /etc/ca.pem`, `secret
    /// prod/redis-tls, named by --tls-secret`), for `status`.
    pub origin: String,
}

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read.
    #[error("cannot read {origin}")]
    Read {
        /// Flag and path.
        origin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds nothing usable of the expected kind.
    #[error("{origin} holds no usable {what}: {detail}")]
    Parse {
        /// Flag and path.
        origin: String,
        /// `certificate` or `private key`.
        what: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// `--tls-server-name` is neither a DNS name nor an IP.
    #[error("--tls-server-name {name} is not a DNS name or an IP address")]
    ServerName {
        /// The name given.
        name: String,
    },
    /// rustls refused the certificates or key (a key that does not match its certificate).
    #[error("cannot use {origin}")]
    Rustls {
        /// What was being used.
        origin: String,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
}

/// A ready TLS client configuration. `Debug` names where the material came from, nothing
/// more (the configuration holds the private key).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    description: String,
    origin: String,
}

impl TlsConfig {
    /// Where the material came from and who named it ([`TlsMaterial::origin`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsConfig").field(&self.description).finish()
    }
}

impl TlsMaterial {
    /// Parses the PEM and builds the rustls client configuration (ring, TLS 1.2 and 1.3).
    pub fn client_config(&self) -> Result<TlsConfig, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsSetupError::Rustls {
                origin: "the TLS protocol versions".into(),
                source,
            })?;
        let (builder, trust) = match &self.trust {
            ServerTrust::Ca(ca) => (
                builder.with_root_certificates(roots(ca)?),
                ca.origin.clone(),
            ),
            ServerTrust::AnyCertificate => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
                "--insecure".to_string(),
            ),
        };
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let chain = certificates(&id.cert)?;
                let key = PrivateKeyDer::from_pem_slice(&id.key.text).map_err(|e| {
                    TlsSetupError::Parse {
                        origin: id.key.origin.clone(),
                        what: "private key",
                        detail: e.to_string(),
                    }
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|source| TlsSetupError::Rustls {
                        origin: format!("{} with {}", id.cert.origin, id.key.origin),
                        source,
                    })?
            }
        };
        let server_name = match &self.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| TlsSetupError::ServerName { name: name.clone() })?,
            ),
            None => None,
        };
        let identity = self
            .identity
            .as_ref()
            .map(|id| format!(", client certificate {}", id.cert.origin));
        let checked_name = self
            .server_name
            .as_ref()
            .map(|name| format!(", node certificates checked for {name}"));
        Ok(TlsConfig {
            config: Arc::new(config),
            server_name,
            description: format!(
                "trust {trust}{}{}",
                identity.unwrap_or_default(),
                checked_name.unwrap_or_default()
            ),
            origin: self.origin.clone(),
        })
    }
}

/// A TLS server configuration for the proxy's local listeners: `identity`'s certificate
/// chain and key, no client certificates asked (ring, TLS 1.2 and 1.3).
pub fn acceptor(identity: &ClientIdentity) -> Result<tokio_rustls::TlsAcceptor, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&identity.cert)?;
    let key =
        PrivateKeyDer::from_pem_slice(&identity.key.text).map_err(|e| TlsSetupError::Parse {
            origin: identity.key.origin.clone(),
            what: "private key",
            detail: e.to_string(),
        })?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsSetupError::Rustls {
            origin: "the TLS protocol versions".into(),
            source,
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsSetupError::Rustls {
            origin: format!("{} with {}", identity.cert.origin, identity.key.origin),
            source,
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate in `pem`; at least one.
fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let parse_error = |detail: String| TlsSetupError::Parse {
        origin: pem.origin.clone(),
        what: "certificate",
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&pem.text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parse_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(parse_error("no `BEGIN CERTIFICATE` section".into()));
    }
    Ok(certs)
}

/// A root store of every CA certificate in `ca`.
fn roots(ca: &Pem) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(ca)? {
        store.add(cert).map_err(|source| TlsSetupError::Rustls {
            origin: ca.origin.clone(),
            source,
        })?;
    }
    Ok(store)
}

/// Accepts any server certificate, but still checks the handshake signatures with it (so the
/// session is at least bound to the certificate the server showed). Only for `--insecure`.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Wraps another connector and speaks TLS over the streams it opens. The server name checked
/// against the node's certificate is `--tls-server-name` when given, else the endpoint's
/// host: the node IP (no SNI is sent for an IP, as RFC 6066 wants).
pub struct TlsConnector {
    inner: Arc<dyn Connector>,
    tls: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
    /// How long the handshake may take, on top of the inner connector's own timeout.
    timeout: Duration,
}

impl TlsConnector {
    /// TLS over `inner`, configured by `config`.
    pub fn new(inner: Arc<dyn Connector>, config: &TlsConfig, timeout: Duration) -> Self {
        Self {
            inner,
            tls: tokio_rustls::TlsConnector::from(config.config.clone()),
            server_name: config.server_name.clone(),
            timeout,
        }
    }
}

impl Connector for TlsConnector {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let name = match &self.server_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                    ConnectError::Other(format!(
                        "`{}` cannot be checked against a certificate: {e}",
                        endpoint.host
                    ))
                })?,
            };
            let Opened { stream, route } = self.inner.connect(endpoint).await?;
            let tls = tokio::time::timeout(self.timeout, self.tls.connect(name, stream))
                .await
                .map_err(|_| ConnectError::Timeout(self.timeout))?
                .map_err(ConnectError::Tls)?;
            Ok(Opened {
                stream: Box::new(tls),
                route: format!("{route}, TLS"),
            })
        })
    }

    fn maps_addresses(&self) -> bool {
        self.inner.maps_addresses()
    }

    fn forget(&self, endpoint: &Endpoint) {
        self.inner.forget(endpoint);
    }

    fn route_now<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let route = self.inner.route_now(endpoint).await?;
            Some(format!("{route}, TLS"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(text: &str, origin: &str) -> Pem {
        Pem {
            text: text.as_bytes().to_vec(),
            origin: origin.into(),
        }
    }

    #[test]
    fn a_file_without_a_certificate_is_named_in_the_error() {
        let material = TlsMaterial {
            trust: ServerTrust::Ca(pem("not a certificate\n", "--cacert /tmp/ca.pem")),
            identity: None,
            server_name: None,
            origin: "--cacert /tmp/ca.pem".into(),
        };
        let err = material.client_config().unwrap_err().to_string();
        assert_eq!(
            err,
            "--cacert /tmp/ca.pem holds no usable certificate: no `BEGIN CERTIFICATE` section"
        );
    }

    #[test]
    fn insecure_needs_no_ca_and_debug_output_hides_the_key() {
        let config = TlsMaterial {
            trust: ServerTrust::AnyCertificate,
            identity: None,
            server_name: None,
            origin: "--insecure".into(),
        }
        .client_config()
        .unwrap();
        assert_eq!(format!("{config:?}"), "TlsConfig(\"trust --insecure\")");
        let key = pem("-----BEGIN PRIVATE KEY-----\nsecret\n", "--key k.pem");
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn a_server_name_must_be_a_dns_name_or_an_ip() {
        let with_name = |name: &str| TlsMaterial {
            trust: ServerTrust::AnyCertificate,
            identity: None,
            server_name: Some(name.into()),
            origin: "--insecure".into(),
        };
        let config = with_name("redis-cluster.default.svc")
            .client_config()
            .unwrap();
        assert_eq!(
            format!("{config:?}"),
            "TlsConfig(\"trust --insecure, node certificates checked for redis-cluster.default.svc\")"
        );
        assert!(with_name("10.0.0.7").client_config().is_ok());
        let err = with_name("not a name").client_config().unwrap_err();
        assert_eq!(
            err.to_string(),
            "--tls-server-name not a name is not a DNS name or an IP address"
        );
    }

    #[test]
    fn an_unreadable_file_says_which_flag_named_it() {
        let err = Pem::read("--cert", std::path::Path::new("/nonexistent/c.pem")).unwrap_err();
        assert_eq!(err.to_string(), "cannot read --cert /nonexistent/c.pem");
    }
}
