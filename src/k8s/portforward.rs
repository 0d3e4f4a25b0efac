//! The port-forward [`Connector`]: maps a cluster-internal endpoint (pod IP:port) to its pod
//! and opens one kube-rs port-forward through the API server per connection. The pool keeps
//! one connection per node for a whole command, so that is one forward per pod.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::client::K8s;
use super::error::Op;
use super::pods::Pods;
use crate::redis::connector::{BoxedStream, ConnectError, Connector, Opened};
use crate::topology::Endpoint;

/// Opens streams to pods through the API server.
pub struct PortForwardConnector {
    k8s: K8s,
    statefulset: String,
    port: u16,
    /// Pod IP → pod name; refreshed from the API when an IP is unknown (a pod came back with
    /// another IP, or a new pod appeared).
    by_ip: Mutex<HashMap<String, String>>,
    timeout: Duration,
}

impl PortForwardConnector {
    /// A connector for the pods of `pods`' StatefulSet; `timeout` bounds opening one forward.
    pub fn new(k8s: K8s, pods: &Pods, timeout: Duration) -> Self {
        Self {
            k8s,
            statefulset: pods.statefulset.clone(),
            port: pods.port,
            by_ip: Mutex::new(ip_map(pods)),
            timeout,
        }
    }

    /// The pod that has `ip`, asking the API again when the cached map does not know it.
    async fn pod_for(&self, ip: &str) -> Result<String, ConnectError> {
        if let Some(pod) = self.lock().get(ip) {
            return Ok(pod.clone());
        }
        self.refresh(ip).await?.ok_or_else(|| {
            ConnectError::Other(format!(
                "no pod of statefulset {} in namespace {} has IP {ip}",
                self.statefulset, self.k8s.scope.namespace
            ))
        })
    }

    /// Reads the pods afresh into the IP map; the pod with `ip` now, if any.
    async fn refresh(&self, ip: &str) -> Result<Option<String>, ConnectError> {
        let pods = self
            .k8s
            .members(&self.statefulset, self.port)
            .await
            .map_err(|e| ConnectError::Other(one_line(&e)))?;
        let map = ip_map(&pods);
        let found = map.get(ip).cloned();
        *self.lock() = map;
        Ok(found)
    }

    /// The IP map, surviving a panicked holder.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.by_ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens one forward to `pod`:`port`.
    async fn forward(&self, pod: &str, port: u16) -> Result<BoxedStream, ConnectError> {
        let api = self.k8s.api::<Pod>();
        let mut forwarder = tokio::time::timeout(self.timeout, api.portforward(pod, &[port]))
            .await
            .map_err(|_| ConnectError::Timeout(self.timeout))?
            .map_err(|e| {
                let op = Op::new("create", "pods/portforward").on("pod", pod);
                ConnectError::Other(one_line(&self.k8s.scope.classify(op, e)))
            })?;
        let missing = || {
            ConnectError::Other(format!(
                "port-forward to pod {pod} gave no stream for port {port}"
            ))
        };
        let stream = forwarder.take_stream(port).ok_or_else(missing)?;
        let error = forwarder.take_error(port).ok_or_else(missing)?;
        // Dropping the forwarder detaches its task, which ends when the stream is dropped.
        Ok(Box::new(ForwardedStream {
            inner: stream,
            error: Some(Box::pin(error)),
            target: format!("{pod}:{port}"),
        }))
    }
}

impl Connector for PortForwardConnector {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let pod = self.pod_for(&endpoint.host).await?;
            let stream = self.forward(&pod, endpoint.port).await?;
            Ok(Opened {
                stream,
                route: route_to(&pod),
            })
        })
    }

    /// The IP → pod map can be stale for a moment (a pod recreated at another IP answers
    /// through a forward opened for its old IP): answers are checked against the address.
    fn maps_addresses(&self) -> bool {
        true
    }

    /// The pod at this IP may be gone (deleted, back elsewhere with another IP): the next
    /// connection asks the API which pod has the IP now, if any.
    fn forget(&self, endpoint: &Endpoint) {
        self.lock().remove(&endpoint.host);
    }

    fn route_now<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let pod = self.refresh(&endpoint.host).await.ok()??;
            Some(route_to(&pod))
        })
    }
}

/// How a connection through a forward to `pod` is described.
fn route_to(pod: &str) -> String {
    format!("port-forward to pod {pod}")
}

/// Pod IP → pod name.
fn ip_map(pods: &Pods) -> HashMap<String, String> {
    pods.members
        .iter()
        .filter_map(|m| Some((m.ip.clone()?, m.pod.clone())))
        .collect()
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A forwarded stream that turns the API server's error message (say, nothing listens on the
/// port in the pod) into a read error instead of a bare end of stream.
struct ForwardedStream {
    inner: DuplexStream,
    /// Resolves to the message the pod side sent on the error channel, or `None` when the
    /// forward ended without one.
    error: Option<Pin<Box<dyn Future<Output = Option<String>> + Send>>>,
    /// `pod:port`, for the message.
    target: String,
}

impl ForwardedStream {
    /// The forward's error message as an I/O error, once the forward has ended: `Pending`
    /// while it runs, `None` when it ended without a message.
    fn poll_forward_error(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Error>> {
        let Some(error) = self.error.as_mut() else {
            return Poll::Ready(None);
        };
        let message = ready!(error.as_mut().poll(cx));
        self.error = None;
        Poll::Ready(message.map(|m| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("port-forward to pod {} failed: {m}", self.target),
            )
        }))
    }
}

impl AsyncRead for ForwardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // End of stream: say why when the API server told us (the forward has ended, so the
        // message is there or never will be).
        match ready!(this.poll_forward_error(cx)) {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for ForwardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.inner).poll_write(cx, buf)) {
            // A closed forward: report why instead of a bare broken pipe. The forward's task
            // has dropped its end, so its error channel resolves promptly.
            Err(e) => Poll::Ready(Err(ready!(this.poll_forward_error(cx)).unwrap_or(e))),
            written => Poll::Ready(written),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
