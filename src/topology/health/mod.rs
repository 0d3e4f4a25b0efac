//! The health check behind `status`/`check`: equal to or stricter than
//! `redis-cli --cluster check`. Pure: it judges a [`ClusterView`] and lists every problem with
//! the node it concerns.

use std::collections::BTreeMap;
use std::fmt;

use super::node_line::{NodeId, NodeLine};
use super::slots::{SLOT_COUNT, SlotSet};
use super::view::ClusterView;

/// A node as problems name it: id and address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeRef {
    /// Node id (may be unknown for an unreachable seed).
    pub id: Option<NodeId>,
    /// `ip:port`.
    pub endpoint: String,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} ({})", self.endpoint, id.short()),
            None => f.write_str(&self.endpoint),
        }
    }
}

/// Which way a slot is open on a node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "direction", content = "peer")]
pub enum OpenDirection {
    /// `[slot->-peer]`.
    MigratingTo(NodeId),
    /// `[slot-<-peer]`.
    ImportingFrom(NodeId),
}

/// One thing wrong with the cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Problem {
    /// A node did not answer.
    Unreachable {
        /// The node.
        node: NodeRef,
        /// Why.
        error: String,
    },
    /// `cluster_state` is not `ok` on a node.
    StateNotOk {
        /// The node.
        node: NodeRef,
        /// What it said.
        state: String,
    },
    /// Slots no master serves.
    SlotsUncovered {
        /// The slots.
        slots: SlotSet,
    },
    /// A node has slots in migrating or importing state.
    OpenSlots {
        /// The node.
        node: NodeRef,
        /// The slots.
        slots: SlotSet,
        /// Direction and peer.
        open: OpenDirection,
    },
    /// A node's slot map differs from the majority's.
    ViewDisagrees {
        /// The node whose view differs.
        node: NodeRef,
        /// The slots it sees differently.
        slots: SlotSet,
    },
    /// A node sees a peer as failing, in handshake, or without address.
    PeerFlagged {
        /// The node reporting.
        reporter: NodeRef,
        /// The peer.
        peer: NodeRef,
        /// `fail`, `fail?`, `handshake` or `noaddr`.
        flag: String,
    },
    /// A node does not know some node the others know.
    MissingPeers {
        /// The node.
        node: NodeRef,
        /// The nodes it lacks.
        missing: Vec<NodeId>,
    },
    /// A node lists a peer in another role than the peer reports for itself (a master it
    /// calls a replica, or the replica of another master): gossip has not carried a
    /// REPLICATE or a failover to it yet.
    RoleDisagrees {
        /// The node reporting.
        reporter: NodeRef,
        /// The peer.
        peer: NodeRef,
        /// The role the reporter lists (`master`, `replica of 0f6742bf`).
        listed: String,
        /// The role the peer reports for itself.
        own: String,
    },
    /// A replica's link to its master is down or still syncing.
    ReplicaNotInSync {
        /// The replica.
        replica: NodeRef,
        /// Its master's id.
        master: Option<NodeId>,
    },
    /// A master has fewer replicas than expected.
    TooFewReplicas {
        /// The master.
        master: NodeRef,
        /// How many it has.
        has: usize,
        /// How many were expected.
        expected: usize,
    },
    /// A pod of the StatefulSet whose Redis node is not part of the cluster (Kubernetes mode).
    PodNotInCluster {
        /// The pod's name.
        pod: String,
        /// Its node.
        node: NodeRef,
    },
    /// A cluster node at an address no pod of the StatefulSet has (Kubernetes mode).
    NodeWithoutPod {
        /// The node.
        node: NodeRef,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { node, error } => write!(f, "{node} is unreachable: {error}"),
            Self::StateNotOk { node, state } => write!(f, "{node} reports cluster_state:{state}"),
            Self::SlotsUncovered { slots } => {
                write!(f, "{} slot(s) served by no master: {slots}", slots.len())
            }
            Self::OpenSlots { node, slots, open } => match open {
                OpenDirection::MigratingTo(peer) => {
                    write!(
                        f,
                        "{node} has slots open, migrating to {}: {slots}",
                        peer.short()
                    )
                }
                OpenDirection::ImportingFrom(peer) => write!(
                    f,
                    "{node} has slots open, importing from {}: {slots}",
                    peer.short()
                ),
            },
            Self::ViewDisagrees { node, slots } => write!(
                f,
                "{node} disagrees with the other nodes about the owner of {} slots: {slots}",
                slots.len()
            ),
            Self::PeerFlagged {
                reporter,
                peer,
                flag,
            } => write!(f, "{reporter} sees {peer} as {flag}"),
            Self::MissingPeers { node, missing } => {
                let ids: Vec<&str> = missing.iter().map(NodeId::short).collect();
                write!(f, "{node} does not know node(s) {}", ids.join(", "))
            }
            Self::RoleDisagrees {
                reporter,
                peer,
                listed,
                own,
            } => write!(
                f,
                "{reporter} lists {peer} as {listed}, but it is {own} by its own account"
            ),
            Self::ReplicaNotInSync { replica, master } => match master {
                Some(m) => write!(
                    f,
                    "replica {replica} is not in sync with its master {}",
                    m.short()
                ),
                None => write!(f, "replica {replica} has no master"),
            },
            Self::TooFewReplicas {
                master,
                has,
                expected,
            } => write!(
                f,
                "master {master} has {has} replica(s), expected {expected}"
            ),
            Self::PodNotInCluster { pod, node } => {
                write!(f, "pod {pod} ({node}) is not part of the cluster")
            }
            Self::NodeWithoutPod { node } => {
                write!(f, "cluster node {node} matches no pod of the StatefulSet")
            }
        }
    }
}

/// Checks a cluster view; an empty list means healthy.
///
/// `replicas_per_master`, when known, is the number of replicas every master should have;
/// without it, every master needs at least one replica as soon as any master has one.
pub fn check(view: &ClusterView, replicas_per_master: Option<usize>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let node_ref = |id: &NodeId| NodeRef {
        id: Some(id.clone()),
        endpoint: view
            .report(id)
            .map(|r| r.endpoint.to_string())
            .or_else(|| {
                view.known_nodes()
                    .get(id)
                    .filter(|l| l.addr.is_known())
                    .map(|l| l.addr.endpoint())
            })
            .unwrap_or_else(|| "?".into()),
    };

    for u in &view.unreachable {
        problems.push(Problem::Unreachable {
            node: NodeRef {
                id: u.id.clone(),
                endpoint: u.endpoint.to_string(),
            },
            error: u.error.clone(),
        });
    }
    for r in &view.reports {
        if r.cluster_state() != "ok" {
            problems.push(Problem::StateNotOk {
                node: node_ref(r.id()),
                state: r.cluster_state().to_string(),
            });
        }
    }

    let consensus = consensus_owners(view);
    let covered: SlotSet = (0..SLOT_COUNT)
        .filter(|s| consensus[usize::from(*s)].is_some())
        .collect();
    if covered.len() < usize::from(SLOT_COUNT) {
        problems.push(Problem::SlotsUncovered {
            slots: covered.complement(),
        });
    }
    for r in &view.reports {
        problems.extend(open_slots(r.myself(), &node_ref(r.id())));
        let theirs = r.slot_owners();
        let differing: SlotSet = (0..SLOT_COUNT)
            .filter(|s| theirs[usize::from(*s)] != consensus[usize::from(*s)])
            .collect();
        if !differing.is_empty() {
            problems.push(Problem::ViewDisagrees {
                node: node_ref(r.id()),
                slots: differing,
            });
        }
    }

    problems.extend(membership_problems(view, &node_ref));
    problems.extend(replica_problems(view, replicas_per_master, &node_ref));
    problems
}

/// For each slot, the owner most reporters agree on (ties: the owner's own claim wins).
/// Indexed by slot; `None` where no reporter names an owner.
fn consensus_owners(view: &ClusterView) -> Vec<Option<&NodeId>> {
    let tables: Vec<Vec<Option<&NodeId>>> = view.reports.iter().map(|r| r.slot_owners()).collect();
    (0..SLOT_COUNT)
        .map(|slot| {
            let mut votes: Vec<(&NodeId, usize)> = Vec::new();
            for owner in tables.iter().filter_map(|t| t[usize::from(slot)]) {
                match votes.iter_mut().find(|(id, _)| *id == owner) {
                    Some((_, n)) => *n += 1,
                    None => votes.push((owner, 1)),
                }
            }
            if let [(only, _)] = votes[..] {
                return Some(only);
            }
            let self_claim = |id: &NodeId| {
                view.report(id)
                    .is_some_and(|r| r.myself().slots.contains(slot))
            };
            votes
                .into_iter()
                .max_by_key(|(id, n)| (*n, self_claim(id), std::cmp::Reverse((*id).clone())))
                .map(|(id, _)| id)
        })
        .collect()
}

/// The `[slot->-id]` and `[slot-<-id]` markers of a node's own line, grouped by peer.
fn open_slots(me: &super::node_line::NodeLine, node: &NodeRef) -> Vec<Problem> {
    let mut groups: BTreeMap<(bool, &NodeId), SlotSet> = BTreeMap::new();
    for (slot, peer) in &me.migrating {
        groups.entry((true, peer)).or_default().insert(*slot);
    }
    for (slot, peer) in &me.importing {
        groups.entry((false, peer)).or_default().insert(*slot);
    }
    groups
        .into_iter()
        .map(|((migrating, peer), slots)| Problem::OpenSlots {
            node: node.clone(),
            slots,
            open: if migrating {
                OpenDirection::MigratingTo(peer.clone())
            } else {
                OpenDirection::ImportingFrom(peer.clone())
            },
        })
        .collect()
}

/// Peers seen as failing, and nodes that do not know every other node.
fn membership_problems(view: &ClusterView, node_ref: &dyn Fn(&NodeId) -> NodeRef) -> Vec<Problem> {
    let mut problems = Vec::new();
    let all_ids = view.member_ids();
    for r in &view.reports {
        for line in r.nodes.iter().filter(|l| !l.flags.myself) {
            if let Some(flag) = line.is_flagged() {
                problems.push(Problem::PeerFlagged {
                    reporter: node_ref(r.id()),
                    peer: node_ref(&line.id),
                    flag: flag.to_string(),
                });
                continue;
            }
            let Some(own) = view.report(&line.id).map(|p| p.myself()) else {
                continue;
            };
            if role(line) != role(own) {
                problems.push(Problem::RoleDisagrees {
                    reporter: node_ref(r.id()),
                    peer: node_ref(&line.id),
                    listed: role(line),
                    own: role(own),
                });
            }
        }
        let missing: Vec<NodeId> = all_ids
            .iter()
            .filter(|id| !r.nodes.iter().any(|l| &&l.id == id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            problems.push(Problem::MissingPeers {
                node: node_ref(r.id()),
                missing,
            });
        }
    }
    problems
}

/// A node's role as a `CLUSTER NODES` line gives it: `master`, or `replica of <short id>`.
fn role(line: &NodeLine) -> String {
    match (&line.master_id, line.flags.replica) {
        (Some(master), true) => format!("replica of {}", master.short()),
        (None, true) => "a replica without master".into(),
        _ => "master".into(),
    }
}

/// A problem with its evidence, for the message of a wait that times out: for each id a node
/// is missing, every report that lists it — the reporter, the address dialled, the route
/// (direct or which port-forward), what the reporter says of itself when that is another
/// address, and the line's address and flags. Other problems as they print.
pub fn explain(view: &ClusterView, problem: &Problem) -> String {
    let Problem::MissingPeers { missing, .. } = problem else {
        return problem.to_string();
    };
    let mut text = problem.to_string();
    for id in missing {
        let listings: Vec<String> = view
            .reports
            .iter()
            .flat_map(|r| r.nodes.iter().filter(|l| &l.id == id).map(move |l| (r, l)))
            .map(|(r, line)| {
                let me = r.myself();
                let claims = if me.addr.is_known() && me.addr.ip != r.endpoint.host {
                    format!(", which says it is at {}", me.addr.endpoint())
                } else {
                    String::new()
                };
                format!(
                    "{} ({}, dialled by {}{claims}) as {}@{} {}",
                    r.endpoint,
                    r.id().short(),
                    r.route,
                    line.addr.endpoint(),
                    line.addr.cport,
                    line.flags
                )
            })
            .collect();
        text.push_str(&format!(
            "; {} is listed by {}",
            id.short(),
            listings.join(", ")
        ));
    }
    text
}

/// Replicas out of sync, and masters with fewer replicas than expected.
fn replica_problems(
    view: &ClusterView,
    replicas_per_master: Option<usize>,
    node_ref: &dyn Fn(&NodeId) -> NodeRef,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for r in view.replicas() {
        if !r.replica_in_sync() {
            problems.push(Problem::ReplicaNotInSync {
                replica: node_ref(r.id()),
                master: r.myself().master_id.clone(),
            });
        }
    }
    let counts: Vec<(&NodeId, usize)> = view
        .masters()
        .filter(|m| !m.myself().slots.is_empty())
        .map(|m| (m.id(), view.replicas_of(m.id()).count()))
        .collect();
    // Unknown layout: once any master has a replica, a master with none has no failover.
    let expected =
        replicas_per_master.unwrap_or_else(|| usize::from(counts.iter().any(|(_, n)| *n > 0)));
    for (id, has) in counts {
        if has < expected {
            problems.push(Problem::TooFewReplicas {
                master: node_ref(id),
                has,
                expected,
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests;
