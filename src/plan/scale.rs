//! `scale` as a plan value: every step a run takes to reach `masters` masters with
//! `replicas` replicas each, from the StatefulSet's pods and the cluster as observed, in the
//! order the run takes them. Up: the StatefulSet grows, new pods join, roles are assigned
//! ([`super::roles`]), slots are rebalanced onto the new masters. Down: staying replicas of
//! leaving masters are promoted (their slots change hands without moving a key), the rest is
//! drained, the staying nodes get their roles, every leaving node is forgotten and reset,
//! the StatefulSet shrinks and, if asked, the leaving pods' claims are deleted.
//!
//! New pods have no node id yet: they stand in as `new:<pod>` until they join. The run
//! builds each phase again from a fresh observation with the same planners (so a run killed
//! mid-way is finished by running it again); this value is what `--dry-run` prints and
//! what `-o json` reports.

use std::collections::BTreeMap;

use serde::Serialize;

use super::moves::SlotMove;
use super::rebalance::{BalanceError, plan_drain, plan_rebalance};
use super::roles::{RoleFacts, RolesError, assign_roles};
use super::steps::{Step, move_steps, removal};
use crate::topology::{NodeId, SlotSet};

/// A pod of the StatefulSet as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePod {
    /// Pod name.
    pub pod: String,
    /// Its ordinal.
    pub ordinal: u32,
    /// Its failure domain (zone, else Kubernetes node).
    pub domain: String,
    /// Its node, when it answered as a member of the cluster (else it joins).
    pub node: Option<PodNode>,
    /// Its node is no member but still knows peers: every member forgot it and it was not
    /// reset yet (an interrupted removal); a leaving one is reset.
    pub lingering: bool,
}

/// A member's node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNode {
    /// Node id.
    pub id: NodeId,
    /// Slots it serves.
    pub slots: SlotSet,
    /// Its master, for a replica.
    pub master: Option<NodeId>,
}

/// What the plan starts from.
#[derive(Clone, Debug)]
pub struct ScaleInput {
    /// The StatefulSet.
    pub statefulset: String,
    /// Its pods now (`spec.replicas`).
    pub pods_now: u32,
    /// Its pods, as observed.
    pub pods: Vec<ScalePod>,
    /// Masters wanted.
    pub masters: usize,
    /// Replicas per master wanted.
    pub replicas: usize,
    /// Claims of the pods (name, ordinal), to delete those of leaving pods; empty unless
    /// `--delete-pvcs`.
    pub claims: Vec<(String, u32)>,
    /// Slots an interrupted run left open: they are finished before any slot moves, and
    /// no replica is promoted while one is (Redis 7.0 does not carry migration marks over a
    /// failover).
    pub open_slots: usize,
}

/// The plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScalePlan {
    /// `up` (or the same size: finishing what an earlier run left), or `down`.
    pub direction: &'static str,
    /// Pods before.
    pub from_pods: u32,
    /// Pods after.
    pub to_pods: u32,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The slot moves behind the `move_slots` steps (node ids; `new:<pod>` for new pods).
    #[serde(skip)]
    pub moves: Vec<SlotMove>,
}

/// Why no plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaleError {
    /// The pods cannot take the roles.
    #[error(transparent)]
    Roles(#[from] RolesError),
    /// The slots cannot be spread.
    #[error(transparent)]
    Balance(#[from] BalanceError),
}

/// The id a pod's node goes by in the plan: its own, or `new:<pod>` until it joins.
fn id_of(pod: &ScalePod) -> NodeId {
    pod.node
        .as_ref()
        .map_or_else(|| NodeId(format!("new:{}", pod.pod)), |n| n.id.clone())
}

/// Plans the whole scale.
pub fn plan_scale(input: &ScaleInput) -> Result<ScalePlan, ScaleError> {
    let want = u32::try_from(input.masters * (1 + input.replicas)).unwrap_or(u32::MAX);
    let mut pods = input.pods.clone();
    // Pods the StatefulSet will have but that are not there (or not listed) yet join.
    for ordinal in 0..want {
        if !pods.iter().any(|p| p.ordinal == ordinal) {
            pods.push(ScalePod {
                pod: format!("{}-{ordinal}", input.statefulset),
                ordinal,
                domain: String::new(),
                node: None,
                lingering: false,
            });
        }
    }
    pods.sort_by_key(|p| p.ordinal);
    let names: BTreeMap<NodeId, String> = pods.iter().map(|p| (id_of(p), p.pod.clone())).collect();
    let name = |id: &NodeId| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.short().to_string())
    };
    let (steps, moves) = if want >= input.pods_now {
        up(input, &pods, want, &name)?
    } else {
        down(input, &pods, want, &name)?
    };
    Ok(ScalePlan {
        direction: if want >= input.pods_now { "up" } else { "down" },
        from_pods: input.pods_now,
        to_pods: want,
        steps,
        moves,
    })
}

type Steps = (Vec<Step>, Vec<SlotMove>);

fn up(
    input: &ScaleInput,
    pods: &[ScalePod],
    want: u32,
    name: &dyn Fn(&NodeId) -> String,
) -> Result<Steps, ScaleError> {
    let mut steps = Vec::new();
    if want > input.pods_now {
        steps.push(Step::ScaleStatefulset {
            from: input.pods_now,
            to: want,
        });
    }
    let staying: Vec<&ScalePod> = pods.iter().filter(|p| p.ordinal < want).collect();
    steps.extend(
        staying
            .iter()
            .filter(|p| p.node.is_none())
            .map(|p| Step::Join {
                node: p.pod.clone(),
            }),
    );
    let facts: Vec<RoleFacts> = staying.iter().map(|p| facts(p)).collect();
    let roles = assign_roles(&facts, input.masters, input.replicas)?;
    steps.extend(replicate_steps(&roles.replicate, name));
    let slots: BTreeMap<NodeId, SlotSet> = roles
        .masters
        .iter()
        .map(|id| (id.clone(), slots_of(&staying, id)))
        .collect();
    let weights = slots.keys().map(|id| (id.clone(), 1.0)).collect();
    let moves = plan_rebalance(&slots, &weights, 0.0)?;
    steps.extend(finish_moves(input));
    steps.extend(move_steps(&moves, name));
    Ok((steps, moves))
}

fn down(
    input: &ScaleInput,
    pods: &[ScalePod],
    want: u32,
    name: &dyn Fn(&NodeId) -> String,
) -> Result<Steps, ScaleError> {
    let mut steps: Vec<Step> = finish_moves(input).collect();
    let members: Vec<&ScalePod> = pods.iter().filter(|p| p.node.is_some()).collect();
    let leaving: Vec<NodeId> = members
        .iter()
        .filter(|p| p.ordinal >= want)
        .map(|p| id_of(p))
        .collect();
    // The slot map as it evolves: promotions hand a leaving master's slots to its replica.
    let mut slots: BTreeMap<NodeId, SlotSet> = members
        .iter()
        .filter_map(|p| p.node.as_ref())
        .filter(|n| n.master.is_none())
        .map(|n| (n.id.clone(), n.slots.clone()))
        .collect();
    let mut master_of: BTreeMap<NodeId, Option<NodeId>> = members
        .iter()
        .filter_map(|p| p.node.as_ref())
        .map(|n| (n.id.clone(), n.master.clone()))
        .collect();
    let serving_staying = slots
        .iter()
        .filter(|(id, s)| !leaving.contains(id) && !s.is_empty())
        .count();
    let candidates: Vec<(NodeId, NodeId)> = members
        .iter()
        .filter(|p| p.ordinal < want)
        .filter_map(|p| p.node.as_ref())
        .filter_map(|n| {
            let master = n.master.clone()?;
            (leaving.contains(&master) && slots.get(&master).is_some_and(|s| !s.is_empty()))
                .then(|| (n.id.clone(), master))
        })
        .collect();
    let mut promoted = 0;
    for (replica, master) in candidates {
        if input.open_slots > 0 || serving_staying + promoted >= input.masters {
            break;
        }
        if slots.get(&master).is_none_or(SlotSet::is_empty) {
            continue; // another replica of it took over already
        }
        steps.push(Step::Promote {
            node: name(&replica),
            replaces: name(&master),
            mode: None,
        });
        let handed = slots
            .insert(master.clone(), SlotSet::default())
            .unwrap_or_default();
        slots.insert(replica.clone(), handed);
        master_of.insert(replica.clone(), None);
        master_of.insert(master, Some(replica));
        promoted += 1;
    }
    let moves = plan_drain(&slots, &leaving)?;
    steps.extend(move_steps(&moves, name));
    for m in &moves {
        if let Some(s) = slots.get_mut(&m.from) {
            s.remove(m.slot);
        }
        slots.entry(m.to.clone()).or_default().insert(m.slot);
    }
    let facts: Vec<RoleFacts> = pods
        .iter()
        .filter(|p| p.ordinal < want)
        .map(|p| {
            let id = id_of(p);
            RoleFacts {
                has_slots: slots.get(&id).is_some_and(|s| !s.is_empty()),
                master: master_of.get(&id).cloned().flatten(),
                ..facts(p)
            }
        })
        .collect();
    let roles = assign_roles(&facts, input.masters, input.replicas)?;
    steps.extend(replicate_steps(&roles.replicate, name));
    let names: Vec<String> = leaving.iter().map(name).collect();
    steps.extend(removal(&names, &names));
    steps.extend(
        pods.iter()
            .filter(|p| p.ordinal >= want && p.lingering)
            .map(|p| Step::Reset {
                node: p.pod.clone(),
            }),
    );
    steps.push(Step::ScaleStatefulset {
        from: input.pods_now,
        to: want,
    });
    steps.extend(
        input
            .claims
            .iter()
            .filter(|(_, ordinal)| *ordinal >= want)
            .map(|(claim, _)| Step::DeleteClaim {
                claim: claim.clone(),
            }),
    );
    Ok((steps, moves))
}

/// The `finish_moves` step when slots are open.
fn finish_moves(input: &ScaleInput) -> impl Iterator<Item = Step> {
    (input.open_slots > 0)
        .then_some(Step::FinishMoves {
            slots: input.open_slots,
        })
        .into_iter()
}

/// A pod's role facts as observed (a new pod: empty, no master).
fn facts(pod: &ScalePod) -> RoleFacts {
    RoleFacts {
        id: id_of(pod),
        rank: pod.ordinal,
        domain: if pod.domain.is_empty() {
            pod.pod.clone()
        } else {
            pod.domain.clone()
        },
        has_slots: pod.node.as_ref().is_some_and(|n| !n.slots.is_empty()),
        master: pod.node.as_ref().and_then(|n| n.master.clone()),
    }
}

fn slots_of(pods: &[&ScalePod], id: &NodeId) -> SlotSet {
    pods.iter()
        .filter_map(|p| p.node.as_ref())
        .find(|n| &n.id == id)
        .map(|n| n.slots.clone())
        .unwrap_or_default()
}

fn replicate_steps<'a>(
    links: &'a [(NodeId, NodeId)],
    name: &'a dyn Fn(&NodeId) -> String,
) -> impl Iterator<Item = Step> + 'a {
    links.iter().map(move |(replica, master)| Step::Replicate {
        node: name(replica),
        master: name(master),
    })
}

impl ScalePlan {
    /// Fills each `move_slots` step's key count from keys per slot (sampled).
    pub fn count_keys(&mut self, keys: &BTreeMap<u16, u64>) {
        for step in &mut self.steps {
            if let Step::MoveSlots {
                ranges, keys: k, ..
            } = step
            {
                let total = ranges
                    .split(' ')
                    .filter_map(|r| crate::topology::SlotRange::parse(r).ok())
                    .flat_map(|r| r.start..=r.end)
                    .map(|slot| keys.get(&slot).copied().unwrap_or(0))
                    .sum();
                *k = Some(total);
            }
        }
    }
}

#[cfg(test)]
#[path = "scale_tests.rs"]
mod tests;
