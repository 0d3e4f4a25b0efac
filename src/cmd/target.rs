//! Resolving the nodes a user names on the command line (pod name in Kubernetes mode, node
//! id, unique id prefix, or `ip:port`) against the observed cluster, with errors that list the
//! valid names.

use anyhow::Context as _;

use super::context::Ctx;
use crate::k8s::target::expand_pod_name;
use crate::topology::lookup::find_node;
use crate::topology::{ClusterView, NodeLine};

/// Finds the node `typed` names; a pod of the StatefulSet names the node it runs.
pub fn resolve_node<'a>(
    ctx: &Ctx,
    view: &'a ClusterView,
    typed: &str,
) -> anyhow::Result<&'a NodeLine> {
    let name = expand_pod_name(ctx.members.as_ref(), typed)?;
    find_node(view, &name).with_context(|| format!("cannot find node `{typed}`"))
}

/// The failure domain of each node: in Kubernetes mode its pod's zone, else its pod's
/// Kubernetes node; otherwise its host.
pub fn domains(ctx: &Ctx, view: &ClusterView) -> impl Fn(&crate::topology::NodeId) -> String {
    let hosts: std::collections::BTreeMap<crate::topology::NodeId, String> = view
        .known_nodes()
        .into_iter()
        .map(|(id, line)| {
            let pod = ctx
                .members
                .as_ref()
                .and_then(|pods| pods.by_ip(&line.addr.ip));
            (id, pod.map_or_else(|| line.addr.ip.clone(), |m| m.domain()))
        })
        .collect();
    move |id| hosts.get(id).cloned().unwrap_or_default()
}

/// The failure domain of the node at `endpoint`: its pod's (zone, else Kubernetes node) in
/// Kubernetes mode, else its host, as [`domains`] names them.
pub fn domain_at(ctx: &Ctx, endpoint: &crate::topology::Endpoint) -> String {
    ctx.members
        .as_ref()
        .and_then(|pods| pods.by_ip(&endpoint.host))
        .map_or_else(|| endpoint.host.clone(), |m| m.domain())
}

/// How a plan names a node: its pod in Kubernetes mode, else its address (else its short id).
pub fn node_name(ctx: &Ctx, view: &ClusterView, id: &crate::topology::NodeId) -> String {
    let endpoint = crate::topology::lookup::endpoint_of(view, id);
    let pod = endpoint.as_ref().and_then(|e| {
        ctx.members
            .as_ref()
            .and_then(|pods| pods.by_ip(&e.host))
            .map(|m| m.pod.clone())
    });
    pod.or_else(|| endpoint.map(|e| e.to_string()))
        .unwrap_or_else(|| id.short().to_string())
}
