//! Kubernetes effects and the pure models they fill: the client ([`client`]), discovery of a
//! StatefulSet's pods ([`discover`] into [`pods`]), of a StatefulSet the plugin did not
//! deploy ([`locate`]) and of the TLS it serves ([`served_tls`]), the port-forward
//! connector, readiness waits, the scale subresource, PVCs, server-side apply of the base
//! manifests, and the join of pods with cluster nodes ([`membership`]). Named `k8s` so it does not shadow the `kube`
//! crate.

pub mod access;
pub mod announce;
pub mod apply;
pub mod client;
pub mod discover;
pub mod error;
pub mod lease;
pub mod locate;
pub mod manifests;
pub mod membership;
#[cfg(test)]
mod mock;
pub mod naming;
pub mod pods;
pub mod portforward;
pub mod pvc;
pub mod rollout;
pub mod scale;
pub mod secret;
pub mod served_tls;
pub mod steps;
pub mod target;
pub mod wait;

pub use client::{ConfigSource, K8s};
pub use error::{K8sError, Scope};
pub use pods::{Member, Pods};
pub use portforward::PortForwardConnector;
