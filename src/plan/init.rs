//! Planning `init`: compare what the candidate nodes report with the deterministic
//! [`Layout`] and list the steps still missing. A fresh set of nodes yields every step; a set
//! that an interrupted `init` left half-built yields only the rest; a formed cluster yields
//! [`InitPlan::AlreadyInitialized`]; anything else is refused with the reason.

use std::collections::BTreeSet;
use std::fmt;

use super::layout::{Candidate, CandidateIdx, Layout, LayoutError, plan_layout};
use crate::topology::{NodeId, NodeLine, NodeReport, SLOT_COUNT, SlotSet};

/// One thing `init` does to one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitStep {
    /// `CLUSTER ADDSLOTSRANGE` on a future master.
    AddSlots {
        /// The master.
        node: CandidateIdx,
        /// Slots it still lacks.
        slots: SlotSet,
    },
    /// `CLUSTER SET-CONFIG-EPOCH`, so masters start with distinct epochs (only possible before
    /// a node meets anyone).
    SetConfigEpoch {
        /// The master.
        node: CandidateIdx,
        /// Its epoch.
        epoch: u64,
    },
    /// `CLUSTER MEET` sent to `node`, introducing `peer`.
    Meet {
        /// Who is told.
        node: CandidateIdx,
        /// Who is introduced.
        peer: CandidateIdx,
    },
    /// `CLUSTER REPLICATE` on a future replica.
    Replicate {
        /// The replica.
        replica: CandidateIdx,
        /// Its master.
        master: CandidateIdx,
    },
}

/// What `init` will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitPlan {
    /// The nodes already form one cluster covering every slot: nothing to do.
    AlreadyInitialized,
    /// Steps to run, in order, to reach `layout`.
    Build {
        /// The target layout.
        layout: Layout,
        /// Remaining steps (all of them for fresh nodes).
        steps: Vec<InitStep>,
    },
}

/// Why `init` will not touch these nodes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitRefusal {
    /// The node count does not fit the requested shape.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A node holds data.
    #[error(
        "{node} is not empty: it holds {keys} key(s); init only builds clusters from empty nodes"
    )]
    HoldsKeys {
        /// The node.
        node: String,
        /// Its key count.
        keys: u64,
    },
    /// A node already belongs to a cluster that includes nodes outside the given set.
    #[error(
        "{node} already knows node {peer} ({endpoint}), which is not among the nodes given; it belongs to another cluster"
    )]
    KnowsOutsider {
        /// The node.
        node: String,
        /// The outsider's id.
        peer: String,
        /// The outsider's address.
        endpoint: String,
    },
    /// A node serves slots that do not match what `init` would give it.
    #[error("{node} already serves slots {slots} that this init would not give it")]
    UnexpectedSlots {
        /// The node.
        node: String,
        /// The slots in the way.
        slots: SlotSet,
    },
    /// A node replicates a master other than the planned one.
    #[error("{node} already replicates {master}, not the master this init plans for it")]
    UnexpectedMaster {
        /// The node.
        node: String,
        /// Its current master's id.
        master: String,
    },
    /// The same node was given twice (its id appears twice).
    #[error("{first} and {second} are the same node ({id}); list each node once")]
    Duplicate {
        /// First name.
        first: String,
        /// Second name.
        second: String,
        /// The shared id.
        id: String,
    },
}

/// Plans `init` for `candidates`, whose reports are given in the same order.
pub fn plan_init(
    candidates: &[Candidate],
    reports: &[&NodeReport],
    replicas: usize,
) -> Result<InitPlan, InitRefusal> {
    let ids: Vec<&NodeId> = reports.iter().map(|r| r.id()).collect();
    for (i, id) in ids.iter().enumerate() {
        if let Some(j) = ids[..i].iter().position(|other| other == id) {
            return Err(InitRefusal::Duplicate {
                first: candidates[j].name.clone(),
                second: candidates[i].name.clone(),
                id: id.to_string(),
            });
        }
    }
    if is_formed(reports, &ids) {
        return Ok(InitPlan::AlreadyInitialized);
    }
    let layout = plan_layout(candidates, replicas)?;
    for (i, report) in reports.iter().enumerate() {
        check_compatible(i, candidates, reports, &ids, &layout, report)?;
    }
    let steps = missing_steps(reports, &ids, &layout);
    Ok(InitPlan::Build { layout, steps })
}

/// Every node knows exactly the given set, the masters among them cover every slot, and every
/// node has its role: it serves slots or replicates a master (an init killed before
/// REPLICATE is not formed yet).
fn is_formed(reports: &[&NodeReport], ids: &[&NodeId]) -> bool {
    let set: BTreeSet<&NodeId> = ids.iter().copied().collect();
    let knows_exactly_the_set = reports
        .iter()
        .all(|r| r.nodes.iter().map(|l| &l.id).collect::<BTreeSet<_>>() == set);
    let covered = reports
        .iter()
        .filter(|r| r.myself().flags.master)
        .fold(SlotSet::new(), |acc, r| acc.union(&r.myself().slots));
    let every_role = reports.iter().all(|r| {
        let me = r.myself();
        !me.slots.is_empty() || me.master_id.is_some()
    });
    knows_exactly_the_set && covered.len() == usize::from(SLOT_COUNT) && every_role
}

/// Refuses a node whose state is neither fresh nor a step on the way to `layout`.
fn check_compatible(
    i: CandidateIdx,
    candidates: &[Candidate],
    reports: &[&NodeReport],
    ids: &[&NodeId],
    layout: &Layout,
    report: &NodeReport,
) -> Result<(), InitRefusal> {
    let name = || candidates[i].name.clone();
    if report.keys() > 0 {
        return Err(InitRefusal::HoldsKeys {
            node: name(),
            keys: report.keys(),
        });
    }
    if let Some(outsider) = report
        .nodes
        .iter()
        .find(|l| !ids.contains(&&l.id) && !is_handshake_with_candidate(l, reports))
    {
        return Err(InitRefusal::KnowsOutsider {
            node: name(),
            peer: outsider.id.short().to_string(),
            endpoint: outsider.addr.endpoint(),
        });
    }
    let planned = planned_slots(layout, i);
    let extra = report.myself().slots.difference(&planned);
    if !extra.is_empty() {
        return Err(InitRefusal::UnexpectedSlots {
            node: name(),
            slots: extra,
        });
    }
    if let Some(master) = &report.myself().master_id {
        let planned_master = planned_master(layout, i).map(|m| reports[m].id());
        if planned_master != Some(master) {
            return Err(InitRefusal::UnexpectedMaster {
                node: name(),
                master: master.short().to_string(),
            });
        }
    }
    Ok(())
}

/// A MEET still in progress toward one of the candidates: the peer shows under a temporary
/// id until the handshake completes, so it is not an outsider.
fn is_handshake_with_candidate(line: &NodeLine, reports: &[&NodeReport]) -> bool {
    line.flags.handshake
        && reports
            .iter()
            .any(|r| r.endpoint.host == line.addr.ip && r.endpoint.port == line.addr.port)
}

/// The slots `layout` gives candidate `i` (empty for a replica).
fn planned_slots(layout: &Layout, i: CandidateIdx) -> SlotSet {
    layout
        .masters
        .iter()
        .find(|(m, _)| *m == i)
        .map(|(_, range)| SlotSet::from_range(*range))
        .unwrap_or_default()
}

/// The master `layout` gives candidate `i`, if it is a replica.
fn planned_master(layout: &Layout, i: CandidateIdx) -> Option<CandidateIdx> {
    layout
        .replicas
        .iter()
        .find(|(r, _)| *r == i)
        .map(|(_, m)| *m)
}

/// The steps between the reported state and `layout`: slots first, epochs while nodes are
/// still alone, meets from the first master, then replication.
fn missing_steps(reports: &[&NodeReport], ids: &[&NodeId], layout: &Layout) -> Vec<InitStep> {
    let mut steps = Vec::new();
    for (epoch, (m, range)) in layout.masters.iter().enumerate() {
        let me = reports[*m].myself();
        let missing = SlotSet::from_range(*range).difference(&me.slots);
        if !missing.is_empty() {
            steps.push(InitStep::AddSlots {
                node: *m,
                slots: missing,
            });
        }
        if me.config_epoch == 0 && reports[*m].nodes.len() == 1 {
            steps.push(InitStep::SetConfigEpoch {
                node: *m,
                epoch: epoch as u64 + 1,
            });
        }
    }
    let (hub, _) = layout.masters[0];
    for (peer, id) in ids.iter().enumerate() {
        if peer != hub && !reports[hub].nodes.iter().any(|l| &&l.id == id) {
            steps.push(InitStep::Meet { node: hub, peer });
        }
    }
    for (r, m) in &layout.replicas {
        if reports[*r].myself().master_id.as_ref() != Some(ids[*m]) {
            steps.push(InitStep::Replicate {
                replica: *r,
                master: *m,
            });
        }
    }
    steps
}

/// A step with its nodes named, as `-o json` reports it (`step`: `add_slots` with `node`,
/// `slots`; `set_config_epoch` with `node`, `epoch`; `meet` with `node`, `peer`;
/// `replicate` with `node`, `master`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum NamedInitStep {
    /// `CLUSTER ADDSLOTSRANGE`.
    AddSlots {
        /// The master.
        node: String,
        /// The slots, as ranges.
        slots: SlotSet,
    },
    /// `CLUSTER SET-CONFIG-EPOCH`.
    SetConfigEpoch {
        /// The master.
        node: String,
        /// Its epoch.
        epoch: u64,
    },
    /// `CLUSTER MEET` sent to `node`, introducing `peer`.
    Meet {
        /// Who is told.
        node: String,
        /// Who is introduced.
        peer: String,
    },
    /// `CLUSTER REPLICATE`.
    Replicate {
        /// The replica.
        node: String,
        /// Its master.
        master: String,
    },
}

impl InitStep {
    /// The step with its nodes named by `candidates`.
    pub fn named(&self, candidates: &[Candidate]) -> NamedInitStep {
        let name = |i: &CandidateIdx| candidates[*i].name.clone();
        match self {
            InitStep::AddSlots { node, slots } => NamedInitStep::AddSlots {
                node: name(node),
                slots: slots.clone(),
            },
            InitStep::SetConfigEpoch { node, epoch } => NamedInitStep::SetConfigEpoch {
                node: name(node),
                epoch: *epoch,
            },
            InitStep::Meet { node, peer } => NamedInitStep::Meet {
                node: name(node),
                peer: name(peer),
            },
            InitStep::Replicate { replica, master } => NamedInitStep::Replicate {
                node: name(replica),
                master: name(master),
            },
        }
    }
}

/// Renders a step with candidate names, for plans and progress.
pub struct StepDisplay<'a> {
    /// The step.
    pub step: &'a InitStep,
    /// Candidate names by index.
    pub candidates: &'a [Candidate],
}

impl fmt::Display for StepDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |i: &CandidateIdx| &self.candidates[*i].name;
        match self.step {
            InitStep::AddSlots { node, slots } => {
                write!(f, "assign slots {slots} to {}", name(node))
            }
            InitStep::SetConfigEpoch { node, epoch } => {
                write!(f, "set config epoch {epoch} on {}", name(node))
            }
            InitStep::Meet { node, peer } => {
                write!(f, "introduce {} to {}", name(peer), name(node))
            }
            InitStep::Replicate { replica, master } => {
                write!(f, "make {} a replica of {}", name(replica), name(master))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};
    use crate::topology::view::ClusterView;

    fn candidates(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                name: format!("127.0.0.1:{}", 7000 + i),
                domain: "127.0.0.1".into(),
            })
            .collect()
    }

    fn fresh(n: usize) -> ClusterView {
        Fixture::fresh(n).view()
    }

    fn plan(view: &ClusterView, n: usize) -> Result<InitPlan, InitRefusal> {
        let reports: Vec<&NodeReport> = view.reports.iter().collect();
        plan_init(&candidates(n), &reports, 1)
    }

    #[test]
    fn fresh_nodes_get_every_step_in_order() {
        let InitPlan::Build { steps, .. } = plan(&fresh(6), 6).unwrap() else {
            panic!("expected a build plan");
        };
        let c = candidates(6);
        let text: Vec<String> = steps
            .iter()
            .map(|step| {
                StepDisplay {
                    step,
                    candidates: &c,
                }
                .to_string()
            })
            .collect();
        assert_eq!(
            text,
            vec![
                "assign slots 0-5460 to 127.0.0.1:7000",
                "set config epoch 1 on 127.0.0.1:7000",
                "assign slots 5461-10921 to 127.0.0.1:7001",
                "set config epoch 2 on 127.0.0.1:7001",
                "assign slots 10922-16383 to 127.0.0.1:7002",
                "set config epoch 3 on 127.0.0.1:7002",
                "introduce 127.0.0.1:7001 to 127.0.0.1:7000",
                "introduce 127.0.0.1:7002 to 127.0.0.1:7000",
                "introduce 127.0.0.1:7003 to 127.0.0.1:7000",
                "introduce 127.0.0.1:7004 to 127.0.0.1:7000",
                "introduce 127.0.0.1:7005 to 127.0.0.1:7000",
                "make 127.0.0.1:7003 a replica of 127.0.0.1:7000",
                "make 127.0.0.1:7004 a replica of 127.0.0.1:7001",
                "make 127.0.0.1:7005 a replica of 127.0.0.1:7002",
            ]
        );
    }

    #[test]
    fn a_formed_cluster_needs_nothing() {
        let view = Fixture::healthy(3, 1).view();
        assert_eq!(plan(&view, 6), Ok(InitPlan::AlreadyInitialized));
    }

    #[test]
    fn a_cluster_killed_before_replicate_is_not_formed_yet() {
        let mut f = Fixture::healthy(3, 1);
        for i in 3..6 {
            f = f.with(i, |n| n.master = None);
        }
        let InitPlan::Build { steps, .. } = plan(&f.view(), 6).unwrap() else {
            panic!("expected a build plan");
        };
        assert_eq!(steps.len(), 3);
        assert!(
            steps
                .iter()
                .all(|s| matches!(s, InitStep::Replicate { .. }))
        );
    }

    #[test]
    fn an_interrupted_init_resumes_with_only_the_missing_steps() {
        // Slots assigned and everyone met, but replication never started.
        let mut f = Fixture::healthy(3, 1);
        for i in 3..6 {
            f = f.with(i, |n| n.master = None);
        }
        let view = f.uncover(16383).view();
        let InitPlan::Build { steps, .. } = plan(&view, 6).unwrap() else {
            panic!("expected a build plan");
        };
        assert_eq!(
            steps,
            vec![
                InitStep::AddSlots {
                    node: 2,
                    slots: SlotSet::from_iter([16383])
                },
                InitStep::Replicate {
                    replica: 3,
                    master: 0
                },
                InitStep::Replicate {
                    replica: 4,
                    master: 1
                },
                InitStep::Replicate {
                    replica: 5,
                    master: 2
                },
            ]
        );
    }

    #[test]
    fn a_meet_still_in_handshake_is_resumed_not_refused() {
        // Killed right after MEET: node 0 lists node 1 under a temporary id.
        let mut view = fresh(6);
        let mut hs = view.reports[1].nodes[0].clone();
        hs.id = NodeId("f".repeat(40));
        hs.flags.myself = false;
        hs.flags.handshake = true;
        view.reports[0].nodes.push(hs);
        let InitPlan::Build { steps, .. } = plan(&view, 6).unwrap() else {
            panic!("expected a build plan");
        };
        assert!(steps.contains(&InitStep::Meet { node: 0, peer: 1 }));
    }

    #[test]
    fn a_node_with_keys_is_refused() {
        let mut view = fresh(6);
        view.reports[4].info = crate::topology::InfoFields::parse("db0:keys=3,expires=0");
        assert_eq!(
            plan(&view, 6),
            Err(InitRefusal::HoldsKeys {
                node: "127.0.0.1:7004".into(),
                keys: 3
            })
        );
    }

    #[test]
    fn a_node_of_another_cluster_is_refused() {
        // Seven nodes form a cluster; only six are given.
        let view = Fixture::healthy(3, 1).with_empty_master().view();
        let reports: Vec<&NodeReport> = view.reports.iter().take(6).collect();
        let err = plan_init(&candidates(6), &reports, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "127.0.0.1:7000 already knows node {} (127.0.0.1:7006), which is not among the nodes given; it belongs to another cluster",
                fixture_id(6).short()
            )
        );
    }

    #[test]
    fn slots_that_the_plan_would_not_give_are_refused() {
        let mut view = fresh(6);
        view.reports[3].nodes[0].slots.insert(42);
        assert!(matches!(
            plan(&view, 6),
            Err(InitRefusal::UnexpectedSlots { node, .. }) if node == "127.0.0.1:7003"
        ));
    }

    #[test]
    fn the_same_node_twice_is_refused() {
        let view = fresh(6);
        let reports: Vec<&NodeReport> = (0..6).map(|i| &view.reports[i % 5]).collect();
        assert!(matches!(
            plan_init(&candidates(6), &reports, 1),
            Err(InitRefusal::Duplicate { .. })
        ));
    }
}
