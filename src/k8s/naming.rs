//! Pod names for the proxy's listeners ([`crate::redis::proxy::Naming`]): the pod that has
//! a node's IP, asked of the API when the IP is new.

use futures::future::BoxFuture;

use super::client::K8s;
use crate::redis::proxy::Naming;
use crate::topology::Endpoint;

/// Names nodes by the StatefulSet's pods.
pub struct PodNaming {
    /// The client.
    pub k8s: K8s,
    /// The StatefulSet.
    pub statefulset: String,
    /// Its client port.
    pub port: u16,
}

impl Naming for PodNaming {
    fn pod<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Option<(String, u16)>> {
        Box::pin(async move {
            let pods = self.k8s.members(&self.statefulset, self.port).await.ok()?;
            let member = pods
                .members
                .into_iter()
                .find(|m| m.ip.as_deref() == Some(endpoint.host.as_str()))?;
            Some((member.pod, u16::try_from(member.ordinal).ok()?))
        })
    }
}
