//! Resolving the nodes a user names on the command line (node id, unique id prefix, or
//! `ip:port`) against the observed cluster, with errors that list the valid names.

use anyhow::Context as _;

use super::context::Ctx;
use crate::topology::lookup::find_node;
use crate::topology::{ClusterView, NodeLine};

/// Finds the node `typed` names.
pub fn resolve_node<'a>(_ctx: &Ctx, view: &'a ClusterView, typed: &str) -> anyhow::Result<&'a NodeLine> {
    find_node(view, typed).with_context(|| format!("cannot find node `{typed}`"))
}

/// The failure domain of each node: its host (Kubernetes mode refines this to the k8s node).
pub fn domains(_ctx: &Ctx, view: &ClusterView) -> impl Fn(&crate::topology::NodeId) -> String {
    let hosts: std::collections::BTreeMap<crate::topology::NodeId, String> = view
        .known_nodes()
        .into_iter()
        .map(|(id, line)| (id, line.addr.ip.clone()))
        .collect();
    move |id| hosts.get(id).cloned().unwrap_or_default()
}
