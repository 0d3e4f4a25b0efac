//! Replicas and failure domains (pure): which shards a single domain (a Kubernetes node, or
//! a zone when nodes are labelled with one) holds entirely, so that draining or losing it
//! takes the shard down; and the `CLUSTER REPLICATE` moves that spread them.

use std::collections::BTreeSet;

use crate::topology::NodeId;

/// A cluster node and where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The node.
    pub id: NodeId,
    /// Its pod (or address), for people.
    pub name: String,
    /// Its failure domain (zone, else Kubernetes node).
    pub domain: String,
    /// Its master, for a replica.
    pub master: Option<NodeId>,
    /// The Kubernetes node it runs on.
    pub k8s_node: Option<String>,
    /// Slots it serves (a master).
    pub slots: usize,
    /// For a replica, whether it is in sync with its master.
    pub in_sync: bool,
}

/// A shard whose master and every replica sit in one failure domain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Exposure {
    /// The master's pod (or address).
    pub master: String,
    /// The domain that holds the whole shard.
    pub domain: String,
    /// Its replicas' pods.
    pub replicas: Vec<String>,
}

/// One replica re-pointed at another master.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaMove {
    /// The replica's pod.
    pub replica: String,
    /// The replica's node.
    #[serde(skip)]
    pub replica_id: NodeId,
    /// The master it follows now (pod).
    pub from: String,
    /// The master it will follow (pod).
    pub to: String,
    /// That master's node.
    #[serde(skip)]
    pub to_id: NodeId,
}

/// Shards with replicas that one domain holds entirely. Nothing when every node is in the
/// same domain (nothing could be spread: a single-node cluster).
pub fn exposed(placed: &[Placed]) -> Vec<Exposure> {
    let domains: BTreeSet<&str> = placed.iter().map(|p| p.domain.as_str()).collect();
    if domains.len() < 2 {
        return Vec::new();
    }
    masters(placed)
        .filter_map(|m| {
            let replicas: Vec<&Placed> = replicas_of(placed, &m.id).collect();
            (!replicas.is_empty() && replicas.iter().all(|r| r.domain == m.domain)).then(|| {
                Exposure {
                    master: m.name.clone(),
                    domain: m.domain.clone(),
                    replicas: replicas.iter().map(|r| r.name.clone()).collect(),
                }
            })
        })
        .collect()
}

/// Moves that leave no shard exposed where a swap of two replicas allows it: an exposed
/// shard's replica trades masters with a replica of another shard, when each lands outside
/// its new master's domain and the other shard stays covered outside its master's domain.
/// Shards it cannot fix stay as they are (`exposed` still reports them).
pub fn rebalance_replicas(placed: &[Placed]) -> Vec<ReplicaMove> {
    let mut state = placed.to_vec();
    let mut moves = Vec::new();
    // Each swap fixes one shard and breaks none, so this ends; the bound is a guard.
    for _ in 0..state.len() {
        let Some(swap) = exposed(&state).iter().find_map(|e| swap_for(&state, e)) else {
            break;
        };
        for m in swap {
            if let Some(r) = state.iter_mut().find(|p| p.id == m.replica_id) {
                r.master = Some(m.to_id.clone());
            }
            moves.push(m);
        }
    }
    moves
}

/// A swap that fixes the exposed shard `e`.
fn swap_for(state: &[Placed], e: &Exposure) -> Option<[ReplicaMove; 2]> {
    let m = state.iter().find(|p| p.name == e.master)?;
    let name = |id: &NodeId| state.iter().find(|p| &p.id == id).map(|p| p.name.clone());
    for r in replicas_of(state, &m.id) {
        for other in masters(state).filter(|o| o.id != m.id && o.domain != r.domain) {
            for r2 in replicas_of(state, &other.id).filter(|r2| r2.domain != m.domain) {
                // `other` keeps a node outside its domain: r, or a replica it keeps.
                let covered = r.domain != other.domain
                    || replicas_of(state, &other.id)
                        .any(|x| x.id != r2.id && x.domain != other.domain);
                if covered {
                    return Some([
                        ReplicaMove {
                            replica: r2.name.clone(),
                            replica_id: r2.id.clone(),
                            from: name(&other.id)?,
                            to: m.name.clone(),
                            to_id: m.id.clone(),
                        },
                        ReplicaMove {
                            replica: r.name.clone(),
                            replica_id: r.id.clone(),
                            from: m.name.clone(),
                            to: other.name.clone(),
                            to_id: other.id.clone(),
                        },
                    ]);
                }
            }
        }
    }
    None
}

/// A master handed over to one of its replicas before a drain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Handover {
    /// The master's pod.
    pub master: String,
    /// The replica's pod.
    pub to: String,
    /// The replica's node.
    #[serde(skip)]
    pub to_id: NodeId,
}

/// Why a Kubernetes node cannot be drained without taking slots down.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DrainRefusal {
    /// A master on the node serves slots and has no in-sync replica on another node.
    #[error(
        "{master} on {node} serves {slots} slot(s) and has no in-sync replica on another Kubernetes node: draining {node} would stop them"
    )]
    NoReplicaElsewhere {
        /// The master's pod.
        master: String,
        /// The Kubernetes node.
        node: String,
        /// Its slots.
        slots: usize,
    },
}

/// What to do before `kubectl drain NODE`: every master on it that serves slots is handed
/// to an in-sync replica on another Kubernetes node (preferring another domain); returns the
/// handovers and the shards that will run without a replica while the node is away (all
/// their replicas are on it).
pub fn drain_prep(
    placed: &[Placed],
    node: &str,
) -> Result<(Vec<Handover>, Vec<String>), DrainRefusal> {
    let on = |p: &Placed| p.k8s_node.as_deref() == Some(node);
    let mut handovers = Vec::new();
    for m in masters(placed).filter(|m| on(m) && m.slots > 0) {
        let mut candidates: Vec<&Placed> = replicas_of(placed, &m.id)
            .filter(|r| !on(r) && r.in_sync)
            .collect();
        candidates.sort_by_key(|r| (r.domain == m.domain, r.name.clone()));
        let Some(to) = candidates.first() else {
            return Err(DrainRefusal::NoReplicaElsewhere {
                master: m.name.clone(),
                node: node.to_string(),
                slots: m.slots,
            });
        };
        handovers.push(Handover {
            master: m.name.clone(),
            to: to.name.clone(),
            to_id: to.id.clone(),
        });
    }
    let bare = masters(placed)
        .filter(|m| m.slots > 0 && !on(m))
        .filter(|m| {
            let mut replicas = replicas_of(placed, &m.id).peekable();
            replicas.peek().is_some() && replicas.all(on)
        })
        .map(|m| m.name.clone())
        .collect();
    Ok((handovers, bare))
}

fn masters(placed: &[Placed]) -> impl Iterator<Item = &Placed> {
    placed.iter().filter(|p| p.master.is_none())
}

fn replicas_of<'a>(placed: &'a [Placed], master: &'a NodeId) -> impl Iterator<Item = &'a Placed> {
    placed
        .iter()
        .filter(move |p| p.master.as_ref() == Some(master))
}

/// Test fixtures: nodes `pod-i` with id `i`, each `(domain, master index)`, on a Kubernetes
/// node named like its domain; masters serve 100 slots, replicas are in sync.
#[cfg(test)]
pub mod fixtures {
    use super::Placed;
    use crate::topology::NodeId;

    /// Node id `n`.
    pub fn id(n: usize) -> NodeId {
        NodeId(format!("{n:040}"))
    }

    /// The nodes.
    pub fn placed(nodes: &[(&str, Option<usize>)]) -> Vec<Placed> {
        nodes
            .iter()
            .enumerate()
            .map(|(i, (domain, master))| Placed {
                id: id(i),
                name: format!("pod-{i}"),
                domain: domain.to_string(),
                master: master.map(id),
                k8s_node: Some(domain.to_string()),
                slots: if master.is_none() { 100 } else { 0 },
                in_sync: true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{id, placed};
    use super::*;

    #[test]
    fn a_shard_held_by_one_domain_is_exposed_and_a_single_domain_cluster_is_not_flagged() {
        let nodes = placed(&[
            ("a", None),
            ("b", None),
            ("a", Some(0)), // pod-2 follows pod-0 on the same node
            ("a", Some(1)),
        ]);
        assert_eq!(
            exposed(&nodes),
            vec![Exposure {
                master: "pod-0".into(),
                domain: "a".into(),
                replicas: vec!["pod-2".into()],
            }]
        );
        let single = placed(&[("a", None), ("a", Some(0))]);
        assert_eq!(exposed(&single), vec![]);
    }

    #[test]
    fn two_replicas_trade_masters_so_no_shard_shares_a_domain() {
        // Three nodes a, b, c; pod-3 (on a) follows pod-0 (on a): exposed.
        let nodes = placed(&[
            ("a", None),
            ("b", None),
            ("c", None),
            ("a", Some(0)),
            ("c", Some(1)),
            ("b", Some(2)),
        ]);
        let moves = rebalance_replicas(&nodes);
        let mut after = nodes.clone();
        for m in &moves {
            after
                .iter_mut()
                .find(|p| p.id == m.replica_id)
                .unwrap()
                .master = Some(m.to_id.clone());
        }
        assert_eq!(exposed(&after), vec![], "{moves:?}");
        assert_eq!(moves.len(), 2);
        // Every master still has one replica.
        for m in 0..3 {
            assert_eq!(after.iter().filter(|p| p.master == Some(id(m))).count(), 1);
        }
    }

    #[test]
    fn before_a_drain_each_master_on_the_node_hands_over_to_a_replica_elsewhere() {
        let nodes = placed(&[("a", None), ("b", None), ("b", Some(0)), ("a", Some(1))]);
        let (handovers, bare) = drain_prep(&nodes, "a").unwrap();
        assert_eq!(
            handovers,
            vec![Handover {
                master: "pod-0".into(),
                to: "pod-2".into(),
                to_id: id(2),
            }]
        );
        // pod-1's only replica (pod-3) is on a: pod-1 runs without one while a is away.
        assert_eq!(bare, vec!["pod-1".to_string()]);
        // A master whose only replica is on the same node cannot be handed over.
        let mut stuck = nodes.clone();
        stuck[2].k8s_node = Some("a".into());
        assert_eq!(
            drain_prep(&stuck, "a").unwrap_err(),
            DrainRefusal::NoReplicaElsewhere {
                master: "pod-0".into(),
                node: "a".into(),
                slots: 100
            }
        );
        // Out of sync counts as no replica.
        let mut lagging = nodes.clone();
        lagging[2].in_sync = false;
        assert!(drain_prep(&lagging, "a").is_err());
        assert_eq!(drain_prep(&nodes, "c").unwrap(), (vec![], vec![]));
    }

    #[test]
    fn nothing_moves_when_nothing_is_exposed_or_nothing_can_help() {
        let good = placed(&[("a", None), ("b", None), ("b", Some(0)), ("a", Some(1))]);
        assert_eq!(rebalance_replicas(&good), vec![]);
        // pod-0's replica is on a with it, and the only other master is on a too.
        let stuck = placed(&[("a", None), ("a", None), ("a", Some(0)), ("b", Some(1))]);
        assert_eq!(exposed(&stuck).len(), 1);
        assert_eq!(rebalance_replicas(&stuck), vec![]);
    }
}
