//! The steps of membership and Kubernetes changes as values: what `scale`, `add-node` and
//! `del-node` print with `--dry-run` and report with `-o json` (`steps`), in the order they
//! run. Nodes are named by their pod in Kubernetes mode, else by their address.

use serde::Serialize;

use super::moves::{SlotMove, summarize};
use crate::topology::NodeId;

/// One step of a membership or Kubernetes change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `spec.replicas` from → to.
    ScaleStatefulset {
        /// Pods before.
        from: u32,
        /// Pods after.
        to: u32,
    },
    /// The pod's empty node joins the cluster (MEET).
    Join {
        /// The node (its pod in Kubernetes mode, else its address).
        node: String,
    },
    /// `CLUSTER FAILOVER` on a replica: it takes its master's slots (`failover`, or a staying
    /// replica of a leaving master in `scale`).
    Promote {
        /// The replica (its pod, else its address).
        node: String,
        /// Its master (pod, else address), which becomes its replica.
        replaces: String,
        /// `force` or `takeover` (`failover --force`, `--takeover`); absent for the
        /// coordinated failover.
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<FailoverMode>,
    },
    /// Slots an interrupted run left open (migrating or importing) are finished first.
    FinishMoves {
        /// How many.
        slots: usize,
    },
    /// Slots (and their keys) move from one master to another.
    MoveSlots {
        /// Source pod.
        from: String,
        /// Target pod.
        to: String,
        /// How many slots.
        slots: usize,
        /// Which, as ranges.
        ranges: String,
        /// Keys they hold now (sampled), when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        keys: Option<u64>,
    },
    /// `CLUSTER REPLICATE`: the pod's node follows `master`.
    Replicate {
        /// The replica (its pod, else its address).
        node: String,
        /// Its master's pod.
        master: String,
    },
    /// Every staying node forgets the pod's node.
    Forget {
        /// The leaving node (its pod, else its address).
        node: String,
    },
    /// `CLUSTER RESET HARD` on the leaving pod's node.
    Reset {
        /// The leaving node (its pod, else its address).
        node: String,
    },
    /// The PersistentVolumeClaim goes (its data with it).
    DeleteClaim {
        /// The claim.
        claim: String,
    },
}

/// How a replica takes over ([`Step::Promote`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    /// `CLUSTER FAILOVER FORCE`: without its master's agreement (the master is down).
    Force,
    /// `CLUSTER FAILOVER TAKEOVER`: without any master's agreement.
    Takeover,
}

/// Who applies a step: the Redis executor (membership commands), the slot mover, or the
/// Kubernetes executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// `join`, `promote`, `replicate`, `forget`, `reset`.
    Redis,
    /// `finish_moves`, `move_slots`.
    Mover,
    /// `scale_statefulset`, `delete_claim`.
    Kubernetes,
}

impl Step {
    /// The step's kind, as `-o json` names it (`step`).
    pub fn name(&self) -> &'static str {
        match self {
            Step::ScaleStatefulset { .. } => "scale_statefulset",
            Step::Join { .. } => "join",
            Step::Promote { .. } => "promote",
            Step::FinishMoves { .. } => "finish_moves",
            Step::MoveSlots { .. } => "move_slots",
            Step::Replicate { .. } => "replicate",
            Step::Forget { .. } => "forget",
            Step::Reset { .. } => "reset",
            Step::DeleteClaim { .. } => "delete_claim",
        }
    }

    /// Who applies this step.
    pub fn executor(&self) -> Executor {
        match self {
            Step::ScaleStatefulset { .. } | Step::DeleteClaim { .. } => Executor::Kubernetes,
            Step::FinishMoves { .. } | Step::MoveSlots { .. } => Executor::Mover,
            Step::Join { .. }
            | Step::Promote { .. }
            | Step::Replicate { .. }
            | Step::Forget { .. }
            | Step::Reset { .. } => Executor::Redis,
        }
    }
}

/// The first phase of `steps`: the longest run of steps at their head that one executor
/// applies, joins and promotions apart (a node takes a role only once every member knows
/// it; replicas are re-pointed and old masters removed only once the cluster agrees on a
/// promotion); `None` when there is nothing to do. A run applies it, observes the cluster
/// again and plans the rest, so a run killed anywhere is finished by running it again.
pub fn first_phase(steps: &[Step]) -> Option<(Executor, &[Step])> {
    let phase = |s: &Step| {
        let apart = match s {
            Step::Join { .. } => 1,
            Step::Promote { .. } => 2,
            _ => 0,
        };
        (s.executor(), apart)
    };
    let first = phase(steps.first()?);
    let len = steps.iter().take_while(|s| phase(s) == first).count();
    Some((first.0, &steps[..len]))
}

/// The `move_slots` steps of `moves`, one per (source, target), named by `name`.
pub fn move_steps(moves: &[SlotMove], name: &dyn Fn(&NodeId) -> String) -> Vec<Step> {
    summarize(moves)
        .into_iter()
        .map(|(from, to, set)| Step::MoveSlots {
            from: name(&from),
            to: name(&to),
            slots: set.len(),
            ranges: set.to_string(),
            keys: None,
        })
        .collect()
}

/// How nodes leave, the same for `del-node` and `scale` down: every staying node forgets
/// every leaving node before any leaving node is reset (a node reset while a member still
/// lists it would linger there without an address); `reachable` are those that answer, the
/// only ones a reset can reach.
pub fn removal(leaving: &[String], reachable: &[String]) -> Vec<Step> {
    leaving
        .iter()
        .map(|node| Step::Forget { node: node.clone() })
        .chain(
            leaving
                .iter()
                .filter(|n| reachable.contains(n))
                .map(|node| Step::Reset { node: node.clone() }),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_is_the_run_of_steps_one_executor_applies_at_the_head_of_the_plan() {
        let steps = [
            Step::ScaleStatefulset { from: 6, to: 8 },
            Step::Join { node: "p6".into() },
            Step::Join { node: "p7".into() },
            Step::Replicate {
                node: "p7".into(),
                master: "p6".into(),
            },
            Step::FinishMoves { slots: 1 },
            Step::Promote {
                node: "p2".into(),
                replaces: "p6".into(),
                mode: None,
            },
            Step::Forget { node: "p6".into() },
            Step::DeleteClaim { claim: "c".into() },
        ];
        assert_eq!(
            first_phase(&steps),
            Some((Executor::Kubernetes, &steps[..1]))
        );
        assert_eq!(
            first_phase(&steps[1..]),
            Some((Executor::Redis, &steps[1..3]))
        );
        assert_eq!(
            first_phase(&steps[3..]),
            Some((Executor::Redis, &steps[3..4]))
        );
        assert_eq!(
            first_phase(&steps[4..]),
            Some((Executor::Mover, &steps[4..5]))
        );
        assert_eq!(first_phase(&[]), None);
        // The names are the JSON tags.
        for step in &steps {
            assert_eq!(
                serde_json::to_value(step).unwrap()["step"],
                step.name(),
                "{step:?}"
            );
        }
    }

    #[test]
    fn every_leaving_node_is_forgotten_before_any_is_reset_and_only_answering_ones_are_reset() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            removal(&names(&["a", "b"]), &names(&["b"])),
            [
                Step::Forget { node: "a".into() },
                Step::Forget { node: "b".into() },
                Step::Reset { node: "b".into() },
            ]
        );
    }
}
