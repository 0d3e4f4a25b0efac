//! Roles for a target shape (`masters` masters, `replicas` replicas each), used by `scale`
//! in both directions: which nodes stay or become masters and which replica follows which
//! master, changing as few existing replica links as possible and keeping each replica out
//! of its master's failure domain when the nodes allow it.

use std::collections::BTreeMap;

use super::placement::{Seat, pick_master};
use crate::topology::NodeId;

/// A cluster node as role planning sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleFacts {
    /// Node id.
    pub id: NodeId,
    /// Order of preference when picking masters (the pod ordinal).
    pub rank: u32,
    /// Failure domain.
    pub domain: String,
    /// Serves at least one slot.
    pub has_slots: bool,
    /// Its master, for a replica.
    pub master: Option<NodeId>,
}

/// Why the nodes cannot take the shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RolesError {
    /// Wrong node count.
    #[error("{nodes} node(s) cannot form {masters} master(s) with {replicas} replica(s) each")]
    WrongCount {
        /// Nodes given.
        nodes: usize,
        /// Masters wanted.
        masters: usize,
        /// Replicas per master wanted.
        replicas: usize,
    },
    /// More nodes serve slots than masters are wanted.
    #[error(
        "{serving} nodes serve slots but only {masters} masters are wanted; move their slots first"
    )]
    TooManyServing {
        /// Nodes serving slots.
        serving: usize,
        /// Masters wanted.
        masters: usize,
    },
}

/// The masters and the `(replica, master)` links to create. Existing links to a kept master
/// with room stay; every other non-master is (re)assigned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The masters, serving nodes first.
    pub masters: Vec<NodeId>,
    /// `CLUSTER REPLICATE` to send: (replica, its new master).
    pub replicate: Vec<(NodeId, NodeId)>,
}

/// Plans roles for exactly `nodes`.
pub fn assign_roles(
    nodes: &[RoleFacts],
    masters: usize,
    replicas: usize,
) -> Result<Roles, RolesError> {
    if nodes.len() != masters * (1 + replicas) {
        return Err(RolesError::WrongCount {
            nodes: nodes.len(),
            masters,
            replicas,
        });
    }
    let serving = nodes.iter().filter(|n| n.has_slots).count();
    if serving > masters {
        return Err(RolesError::TooManyServing { serving, masters });
    }
    // Masters: every serving node, then empty masters, then anyone, by rank.
    let mut order: Vec<&RoleFacts> = nodes.iter().collect();
    order.sort_by_key(|n| (!n.has_slots, n.master.is_some(), n.rank));
    let chosen: Vec<&RoleFacts> = order[..masters].to_vec();
    let mut links: BTreeMap<&NodeId, Vec<&RoleFacts>> =
        chosen.iter().map(|m| (&m.id, Vec::new())).collect();
    let mut free: Vec<&RoleFacts> = Vec::new();
    for n in &order[masters..] {
        match n.master.as_ref().and_then(|m| links.get_mut(m)) {
            Some(siblings) if siblings.len() < replicas => siblings.push(n),
            _ => free.push(n),
        }
    }
    free.sort_by_key(|n| n.rank);
    let domain_of: BTreeMap<&NodeId, &str> =
        chosen.iter().map(|m| (&m.id, m.domain.as_str())).collect();
    let mut replicate = Vec::new();
    for n in free {
        let seats = links
            .iter()
            .filter(|(_, s)| s.len() < replicas)
            .map(|(m, s)| Seat {
                master: m,
                domain: domain_of[*m],
                replica_domains: s.iter().map(|x| x.domain.as_str()).collect(),
            });
        let best = pick_master(seats, &n.domain);
        // Counts were checked: the seats equal the non-masters, so one always has room.
        let master = best.expect("seats match the non-master count");
        if let Some(siblings) = links.get_mut(&master) {
            siblings.push(n);
        }
        replicate.push((n.id.clone(), master));
    }
    Ok(Roles {
        masters: chosen.iter().map(|m| m.id.clone()).collect(),
        replicate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::fixture_id;

    fn node(i: usize, has_slots: bool, master: Option<usize>) -> RoleFacts {
        RoleFacts {
            id: fixture_id(i),
            rank: i as u32,
            domain: "n".into(),
            has_slots,
            master: master.map(fixture_id),
        }
    }

    #[test]
    fn scaling_up_keeps_existing_links_and_gives_new_pods_roles() {
        // 0,1,2 serve slots with replicas 3,4,5; new pods 6 and 7 arrive as empty masters.
        let mut nodes: Vec<RoleFacts> = (0..3).map(|i| node(i, true, None)).collect();
        nodes.extend((3..6).map(|i| node(i, false, Some(i - 3))));
        nodes.extend([node(6, false, None), node(7, false, None)]);
        let roles = assign_roles(&nodes, 4, 1).unwrap();
        assert_eq!(
            roles.masters,
            vec![fixture_id(0), fixture_id(1), fixture_id(2), fixture_id(6)]
        );
        assert_eq!(roles.replicate, vec![(fixture_id(7), fixture_id(6))]);
    }

    #[test]
    fn scaling_down_repoints_replicas_whose_master_left() {
        // Staying after the drain: masters 0,1,2; replicas 3,4 and 5, whose master 6 left.
        let mut nodes: Vec<RoleFacts> = (0..3).map(|i| node(i, true, None)).collect();
        nodes.extend([
            node(3, false, Some(0)),
            node(4, false, Some(1)),
            node(5, false, Some(6)),
        ]);
        let roles = assign_roles(&nodes, 3, 1).unwrap();
        assert_eq!(roles.replicate, vec![(fixture_id(5), fixture_id(2))]);
    }

    #[test]
    fn an_empty_master_beyond_the_count_becomes_a_replica() {
        // A re-run after a kill: pod 7 joined as an empty master but was meant as a replica.
        let mut nodes: Vec<RoleFacts> = (0..4).map(|i| node(i, i < 3, None)).collect();
        nodes.extend((4..7).map(|i| node(i, false, Some(i - 4))));
        nodes.push(node(7, false, None));
        let roles = assign_roles(&nodes, 4, 1).unwrap();
        assert!(roles.masters.contains(&fixture_id(3)));
        assert_eq!(roles.replicate, vec![(fixture_id(7), fixture_id(3))]);
    }

    #[test]
    fn wrong_counts_and_too_many_serving_nodes_are_refused() {
        let nodes: Vec<RoleFacts> = (0..4).map(|i| node(i, true, None)).collect();
        assert_eq!(
            assign_roles(&nodes[..3], 2, 1),
            Err(RolesError::WrongCount {
                nodes: 3,
                masters: 2,
                replicas: 1
            })
        );
        assert_eq!(
            assign_roles(&nodes, 3, 0).unwrap_err(),
            RolesError::WrongCount {
                nodes: 4,
                masters: 3,
                replicas: 0
            }
        );
        let nodes: Vec<RoleFacts> = (0..4).map(|i| node(i, true, None)).collect();
        assert_eq!(
            assign_roles(&nodes, 2, 1),
            Err(RolesError::TooManyServing {
                serving: 4,
                masters: 2
            })
        );
    }
}
