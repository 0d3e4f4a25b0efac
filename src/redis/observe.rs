//! Observation: read nodes into the pure [`ClusterView`]. One pipelined round trip per node
//! (`INFO`, `CLUSTER INFO`, `CLUSTER NODES`), all nodes concurrently, following every address
//! any node gossips until the whole cluster is seen.

use std::collections::BTreeSet;

use ::redis::Value;
use futures::future::join_all;

use super::error::NodeError;
use super::pool::Pool;
use crate::topology::node_line::parse_cluster_nodes;
use crate::topology::{ClusterView, Endpoint, Engine, InfoFields, NodeReport, Unreachable};

/// Reads one node.
pub async fn observe_node(pool: &Pool, endpoint: &Endpoint) -> Result<NodeReport, NodeError> {
    // A connection that timed out or broke (to a pod deleted under it, say) would fail every
    // later poll the same way: dial afresh next time.
    pool.forget_if_broken(endpoint, read_node(pool, endpoint).await)
}

/// [`observe_node`] without the clean-up.
async fn read_node(pool: &Pool, endpoint: &Endpoint) -> Result<NodeReport, NodeError> {
    let mut node = pool.node(endpoint).await?;
    let mut pipe = ::redis::pipe();
    pipe.cmd("INFO")
        .arg("server")
        .arg("memory")
        .arg("replication")
        .arg("persistence")
        .arg("cluster")
        .arg("keyspace");
    pipe.cmd("CLUSTER").arg("INFO");
    pipe.cmd("CLUSTER").arg("NODES");
    let replies = pool.bounded_look(endpoint, node.pipeline(&pipe)).await?;
    let text = |i: usize, command: &str| -> Result<String, NodeError> {
        match &replies[i] {
            Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            Value::VerbatimString { text, .. } => Ok(text.clone()),
            Value::ServerError(e) => Err(NodeError::Command {
                endpoint: endpoint.clone(),
                command: command.into(),
                source: e.clone().into(),
            }),
            other => Err(NodeError::Reply {
                endpoint: endpoint.clone(),
                command: command.into(),
                detail: format!("expected text, got {other:?}"),
            }),
        }
    };
    let info = InfoFields::parse(&text(0, "INFO")?);
    if info.get("cluster_enabled") != Some("1") {
        return Err(NodeError::NotClusterEnabled {
            endpoint: endpoint.clone(),
        });
    }
    if let Some(engine) = Engine::from_info(&info).filter(|e| !e.is_supported()) {
        return Err(NodeError::Unsupported {
            endpoint: endpoint.clone(),
            engine,
            oldest: engine.oldest_supported(),
        });
    }
    let cluster_info = InfoFields::parse(&text(1, "CLUSTER INFO")?);
    let nodes_text = text(2, "CLUSTER NODES")?;
    let nodes = parse_cluster_nodes(&nodes_text).map_err(|e| NodeError::Reply {
        endpoint: endpoint.clone(),
        command: "CLUSTER NODES".into(),
        detail: e.to_string(),
    })?;
    if !NodeReport::has_myself(&nodes) {
        return Err(NodeError::Reply {
            endpoint: endpoint.clone(),
            command: "CLUSTER NODES".into(),
            detail: "no line is flagged `myself`".into(),
        });
    }
    let report = NodeReport {
        endpoint: endpoint.clone(),
        route: node.route.clone(),
        nodes,
        cluster_info,
        info,
    };
    // Through a port-forward, a report is about the address dialled only if the node says it
    // is there (a fresh node that has met nobody does not know its IP yet), or if the pod the
    // forward reached still holds the address by a fresh look: the IP → pod map may have sent
    // the address to a pod that now has another IP, while a node that announces no IP keeps
    // the one its nodes.conf names after its pod came back elsewhere, until a MEET tells it.
    let me = &report.myself().addr;
    if pool.maps_addresses()
        && me.is_known()
        && me.ip != endpoint.host
        && pool.route_now(endpoint).await.as_deref() != Some(report.route.as_str())
    {
        return Err(NodeError::Elsewhere {
            endpoint: endpoint.clone(),
            route: report.route.clone(),
            id: report.id().short().to_string(),
            says: me.endpoint(),
        });
    }
    Ok(report)
}

/// Reads exactly the given nodes, concurrently; failures are kept per node.
pub async fn observe_nodes(
    pool: &Pool,
    endpoints: &[Endpoint],
) -> Vec<Result<NodeReport, NodeError>> {
    join_all(endpoints.iter().map(|e| observe_node(pool, e))).await
}

/// Reads the seeds and, wave by wave, every node they know about. Nodes that do not answer
/// are listed in [`ClusterView::unreachable`]; it fails only when no seed answers. A seed that
/// answers but is not in cluster mode is an error too.
pub async fn observe_cluster(pool: &Pool, seeds: &[Endpoint]) -> Result<ClusterView, ObserveError> {
    let mut view = ClusterView::default();
    let mut seen: BTreeSet<Endpoint> = seeds.iter().cloned().collect();
    let mut wave: Vec<Endpoint> = seeds.to_vec();
    let mut first_error = None;
    while !wave.is_empty() {
        for (endpoint, result) in wave.iter().zip(observe_nodes(pool, &wave).await) {
            match result {
                Ok(report) => view.reports.push(report),
                Err(e @ (NodeError::NotClusterEnabled { .. } | NodeError::Unsupported { .. })) => {
                    return Err(ObserveError::Node(e));
                }
                Err(e @ NodeError::Auth { .. }) => return Err(ObserveError::Node(e)),
                Err(e) => {
                    view.unreachable.push(Unreachable {
                        endpoint: endpoint.clone(),
                        id: None,
                        error: e.one_line(),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        wave = gossiped_endpoints(&view)
            .into_iter()
            .filter(|e| seen.insert(e.clone()))
            .collect();
    }
    if view.reports.is_empty() {
        return Err(match first_error {
            Some(first) => ObserveError::NoSeed { first },
            None => ObserveError::NoSeeds,
        });
    }
    name_unreachable(&mut view);
    Ok(view)
}

/// Why observation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// No seed answered.
    #[error("none of the given nodes answered")]
    NoSeed {
        /// The first node's error.
        #[source]
        first: NodeError,
    },
    /// No seed was given.
    #[error("no node to start from")]
    NoSeeds,
    /// A node answered in a way that makes observing pointless (auth, not cluster mode).
    #[error(transparent)]
    Node(NodeError),
}

/// Addresses of every node any report mentions, except handshakes and unknown addresses.
fn gossiped_endpoints(view: &ClusterView) -> Vec<Endpoint> {
    view.reports
        .iter()
        .flat_map(|r| r.nodes.iter())
        .filter(|l| l.addr.is_known() && !l.flags.handshake && !l.flags.noaddr)
        .map(|l| Endpoint::new(l.addr.ip.clone(), l.addr.port))
        .collect()
}

/// Fills in the ids of unreachable nodes from what their peers say.
fn name_unreachable(view: &mut ClusterView) {
    let known: Vec<(Endpoint, crate::topology::NodeId)> = view
        .reports
        .iter()
        .flat_map(|r| r.nodes.iter())
        .map(|l| (Endpoint::new(l.addr.ip.clone(), l.addr.port), l.id.clone()))
        .collect();
    for u in &mut view.unreachable {
        u.id = known
            .iter()
            .find(|(e, _)| e == &u.endpoint)
            .map(|(_, id)| id.clone());
    }
}
