//! How bytes reach a Redis node. A [`Connector`] turns a cluster-internal endpoint (the address
//! nodes gossip, e.g. a pod IP) into a byte stream: directly over TCP here, through a
//! Kubernetes port-forward in [`crate::k8s`]. TLS wraps any connector ([`super::tls`]) and
//! AUTH sits above it in [`super::pool`], so every connector gets both for free.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::AlertDescription;

use crate::topology::Endpoint;

/// A bidirectional byte stream to one node.
pub trait NodeStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> NodeStream for T {}

/// A boxed [`NodeStream`].
pub type BoxedStream = Box<dyn NodeStream>;

/// A stream opened to a node, and how it gets there (`direct`, `port-forward to pod
/// redis-cluster-1`), so that what a node said can be traced to the route that carried it.
pub struct Opened {
    /// The stream.
    pub stream: BoxedStream,
    /// The route, for messages.
    pub route: String,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing answered in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The OS refused or failed the connection.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The stream opened but the TLS handshake failed (wrong CA, a certificate without the
    /// node's IP, a node that does not speak TLS on this port).
    #[error("TLS handshake failed")]
    Tls(#[source] std::io::Error),
    /// The node closed a new connection on its first command.
    #[error(
        "the node hung up before answering: if it speaks only TLS, pass --tls (and --cert/--key when it checks client certificates)"
    )]
    HungUp,
    /// The stream opened but the node did not answer a first command in time.
    #[error(
        "the node did not answer within {0:?}: if it speaks only TLS, pass --tls (and --cert/--key when it checks client certificates); if it is only slow, raise --connect-timeout"
    )]
    Silent(Duration),
    /// The node ended the TLS session with an alert after the handshake.
    #[error("{}", alert_advice(*.0))]
    TlsAlert(AlertDescription),
    /// A connector-specific failure (for example a port-forward the API server refused).
    #[error("{0}")]
    Other(String),
}

/// What a TLS alert from a node means for the user.
fn alert_advice(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired => "the node requires a client certificate: pass --cert and --key, or a --tls-secret holding tls.crt and tls.key".into(),
        AlertDescription::UnknownCA | AlertDescription::BadCertificate => format!("the node rejected our client certificate ({alert:?}): it must be signed by the CA the node trusts (tls-ca-cert-file)"),
        other => format!("the node ended the TLS session: {other:?}"),
    }
}

/// Opens byte streams to nodes by their cluster-internal endpoint.
pub trait Connector: Send + Sync {
    /// Opens a new stream to `endpoint`.
    fn connect<'a>(&'a self, endpoint: &'a Endpoint)
    -> BoxFuture<'a, Result<Opened, ConnectError>>;

    /// Whether an address is reached through a lookup that can go stale (port-forward: pod
    /// IP → pod name), so that an answer must be checked against the address dialled. A
    /// direct dial reaches whatever holds the address now. False by default.
    fn maps_addresses(&self) -> bool {
        false
    }

    /// Drops what the connector remembers about `endpoint` (its connection broke; the next
    /// [`Connector::connect`] looks it up afresh). Nothing by default.
    fn forget(&self, _endpoint: &Endpoint) {}

    /// For a connector that [maps addresses](Connector::maps_addresses): the route a
    /// connection to `endpoint` takes by a fresh lookup made now, `None` when nothing holds
    /// the address. An answer whose route is still this one came from the node that holds the
    /// address, whatever the node says its address is. `None` by default.
    fn route_now<'a>(&'a self, _endpoint: &'a Endpoint) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// Dials the endpoint itself over TCP: for clusters on VMs (`--seed`) and from inside
/// Kubernetes (`--direct`).
#[derive(Clone, Debug)]
pub struct DirectConnector {
    /// How long one dial may take.
    pub timeout: Duration,
}

impl Connector for DirectConnector {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let addr = (endpoint.host.as_str(), endpoint.port);
            let stream = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| ConnectError::Timeout(self.timeout))??;
            stream.set_nodelay(true)?;
            Ok(Opened {
                stream: Box::new(stream),
                route: "direct TCP".into(),
            })
        })
    }
}

/// Resolves a user-typed host to an IP literal (Redis gossips and MEETs by IP only).
pub async fn resolve(endpoint: &Endpoint) -> Result<Endpoint, ConnectError> {
    if endpoint.host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(endpoint.clone());
    }
    let mut addrs = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)).await?;
    let first = addrs
        .find(|a| a.is_ipv4())
        .ok_or_else(|| ConnectError::Other(format!("{} has no IPv4 address", endpoint.host)))?;
    Ok(Endpoint::new(first.ip().to_string(), endpoint.port))
}
