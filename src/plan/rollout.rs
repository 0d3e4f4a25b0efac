//! Rolling restarts and upgrades, one pod at a time (pure): replicas first; a master that
//! serves slots hands them to one of its in-sync replicas (a coordinated `CLUSTER FAILOVER`,
//! no write lost) before its pod goes, so no shard is ever without a serving master. The
//! executor takes the first step, observes again and plans again, so a re-run after a kill
//! continues from the pods that are still outdated.

use crate::topology::NodeId;

/// A pod of the StatefulSet, and its node as the cluster sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollMember {
    /// The pod's name.
    pub pod: String,
    /// Its ordinal.
    pub ordinal: u32,
    /// Its node, when it answers and is in the cluster.
    pub id: Option<NodeId>,
    /// For a replica, its master; `None` for a master.
    pub master: Option<NodeId>,
    /// Slots it serves.
    pub slots: usize,
    /// For a replica, whether its link to its master is up and synced.
    pub in_sync: bool,
    /// Whether the pod still runs the old template (it has to be replaced).
    pub outdated: bool,
}

/// One step of a rollout.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RollStep {
    /// Delete the pod; wait until it is back (a new pod), answering, known at its address by
    /// every node, in sync, and the cluster healthy.
    Replace {
        /// The pod.
        pod: String,
        /// What it is now: `replica`, `master` (serving no slot) or `outside` (no node).
        role: &'static str,
    },
    /// Promote `to_pod`'s replica in place of `pod`'s master (coordinated failover: the
    /// replica catches up with the master's offset before the roles swap).
    Failover {
        /// The master's pod.
        pod: String,
        /// The replica's pod.
        to_pod: String,
        /// The replica's node.
        to: NodeId,
    },
}

/// Why a rollout cannot go on without losing availability.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RollRefusal {
    /// A master that serves slots has no replica to hand them to.
    #[error(
        "pod {pod} is a master serving {slots} slot(s) with no replica to fail over to: restarting it would stop those slots"
    )]
    NoReplica {
        /// The master's pod.
        pod: String,
        /// Its slots.
        slots: usize,
    },
}

/// Every step still to take, in order, as things stand (replicas restarted by the plan count
/// as in sync again by the time their master is failed over: the executor waits for that).
pub fn plan(members: &[RollMember]) -> Result<Vec<RollStep>, RollRefusal> {
    let mut members = members.to_vec();
    let mut steps = Vec::new();
    while let Some(step) = next(&members)? {
        match &step {
            RollStep::Replace { pod, .. } => {
                for m in members.iter_mut().filter(|m| &m.pod == pod) {
                    m.outdated = false;
                    m.in_sync = true;
                }
            }
            RollStep::Failover { pod, to, .. } => {
                let old = members
                    .iter()
                    .find(|m| &m.pod == pod)
                    .and_then(|m| m.id.clone());
                let slots = members
                    .iter()
                    .find(|m| &m.pod == pod)
                    .map_or(0, |m| m.slots);
                for m in &mut members {
                    if m.id.as_ref() == Some(to) {
                        m.master = None;
                        m.slots = slots;
                    } else if m.id.is_some() && m.id == old {
                        m.master = Some(to.clone());
                        m.slots = 0;
                        m.in_sync = true;
                    } else if m.master.is_some() && m.master == old {
                        m.master = Some(to.clone());
                    }
                }
            }
        }
        steps.push(step);
    }
    Ok(steps)
}

/// The next step: an outdated pod outside the cluster or holding a replica (lowest ordinal
/// first), then an outdated master without slots, then an outdated master with slots, failed
/// over first to its in-sync replica that is up to date (lowest ordinal).
pub fn next(members: &[RollMember]) -> Result<Option<RollStep>, RollRefusal> {
    let mut outdated: Vec<&RollMember> = members.iter().filter(|m| m.outdated).collect();
    outdated.sort_by_key(|m| m.ordinal);
    let replace = |m: &RollMember, role| {
        Ok(Some(RollStep::Replace {
            pod: m.pod.clone(),
            role,
        }))
    };
    if let Some(m) = outdated.iter().find(|m| m.id.is_none()) {
        return replace(m, "outside");
    }
    if let Some(m) = outdated.iter().find(|m| m.master.is_some()) {
        return replace(m, "replica");
    }
    if let Some(m) = outdated.iter().find(|m| m.slots == 0) {
        return replace(m, "master");
    }
    let Some(master) = outdated.first() else {
        return Ok(None);
    };
    let mut replicas: Vec<&RollMember> = members
        .iter()
        .filter(|r| r.master.is_some() && r.master == master.id && r.in_sync && !r.outdated)
        .collect();
    replicas.sort_by_key(|r| r.ordinal);
    match replicas.first() {
        Some(r) => Ok(Some(RollStep::Failover {
            pod: master.pod.clone(),
            to_pod: r.pod.clone(),
            to: r.id.clone().expect("a replica in the cluster has an id"),
        })),
        None => Err(RollRefusal::NoReplica {
            pod: master.pod.clone(),
            slots: master.slots,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> NodeId {
        NodeId(format!("{n:040}"))
    }

    /// Pods 0..masters are masters with 100 slots; replica i+masters follows master i.
    fn shards(masters: u32, replicas: bool) -> Vec<RollMember> {
        let mut all: Vec<RollMember> = (0..masters)
            .map(|i| RollMember {
                pod: format!("redis-{i}"),
                ordinal: i,
                id: Some(id(i)),
                master: None,
                slots: 100,
                in_sync: false,
                outdated: true,
            })
            .collect();
        if replicas {
            all.extend((0..masters).map(|i| RollMember {
                pod: format!("redis-{}", i + masters),
                ordinal: i + masters,
                id: Some(id(i + masters)),
                master: Some(id(i)),
                slots: 0,
                in_sync: true,
                outdated: true,
            }));
        }
        all
    }

    fn pods(steps: &[RollStep]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                RollStep::Replace { pod, .. } => format!("replace {pod}"),
                RollStep::Failover { pod, to_pod, .. } => format!("failover {pod}->{to_pod}"),
            })
            .collect()
    }

    #[test]
    fn replicas_go_first_and_each_master_hands_over_before_its_pod_goes() {
        let steps = plan(&shards(2, true)).unwrap();
        assert_eq!(
            pods(&steps),
            [
                "replace redis-2",
                "replace redis-3",
                "failover redis-0->redis-2",
                "replace redis-0",
                "failover redis-1->redis-3",
                "replace redis-1",
            ]
        );
    }

    #[test]
    fn a_rerun_continues_from_the_pods_still_outdated() {
        // Killed after the first failover: redis-2 is master now, redis-0 its replica.
        let mut members = shards(2, true);
        for m in &mut members {
            match m.pod.as_str() {
                "redis-2" => {
                    m.outdated = false;
                    m.master = None;
                    m.slots = 100;
                }
                "redis-3" => m.outdated = false,
                "redis-0" => {
                    m.master = Some(id(2));
                    m.slots = 0;
                }
                _ => {}
            }
        }
        assert_eq!(
            pods(&plan(&members).unwrap()),
            [
                "replace redis-0",
                "failover redis-1->redis-3",
                "replace redis-1"
            ]
        );
    }

    #[test]
    fn a_master_serving_slots_without_a_replica_is_refused_and_nothing_else_is_hidden() {
        let refused = plan(&shards(3, false)).unwrap_err();
        assert_eq!(
            refused,
            RollRefusal::NoReplica {
                pod: "redis-0".into(),
                slots: 100
            }
        );
        // An empty master (no slots) needs no replica.
        let mut members = shards(1, false);
        members[0].slots = 0;
        assert_eq!(pods(&plan(&members).unwrap()), ["replace redis-0"]);
    }

    #[test]
    fn nothing_outdated_is_nothing_to_do() {
        let mut members = shards(3, true);
        members.iter_mut().for_each(|m| m.outdated = false);
        assert_eq!(plan(&members).unwrap(), vec![]);
    }
}
