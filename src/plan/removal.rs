//! `del-node` as a plan value: every step that removes one node, in the order they run,
//! from the cluster as observed and where the node's slots go. The node's replicas get
//! their new masters planned before its slots move (with `cluster-allow-replica-migration
//! yes`, Redis' default, the servers would otherwise re-point them by themselves).

use super::membership::repoint_replicas;
use super::moves::SlotMove;
use super::steps::{Step, move_steps, removal};
use crate::topology::{ClusterView, NodeId};

/// What a removal is planned from.
pub struct RemovalInput<'a> {
    /// The cluster as observed.
    pub view: &'a ClusterView,
    /// The node leaving.
    pub node: &'a NodeId,
    /// Whether it answers (only then can it be reset).
    pub reachable: bool,
    /// Slots an interrupted run left open, finished before any slot moves.
    pub open_slots: usize,
    /// Where its slots go (`--drain`), planned over the slots as they will be once the
    /// open ones are finished.
    pub drain: &'a [SlotMove],
}

/// The steps: finish open slots, move the node's slots away, re-point its replicas (those
/// not already following their new master), every other node forgets it, it is reset.
pub fn plan_removal(
    input: &RemovalInput<'_>,
    domain_of: &dyn Fn(&NodeId) -> String,
    name: &dyn Fn(&NodeId) -> String,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if input.open_slots > 0 {
        steps.push(Step::FinishMoves {
            slots: input.open_slots,
        });
    }
    steps.extend(move_steps(input.drain, name));
    let leaving = std::slice::from_ref(input.node);
    steps.extend(
        repoint_replicas(input.view, domain_of, leaving)
            .into_iter()
            .filter(|(replica, master)| {
                input
                    .view
                    .report(replica)
                    .is_some_and(|r| r.myself().master_id.as_ref() != Some(master))
            })
            .map(|(replica, master)| Step::Replicate {
                node: name(&replica),
                master: name(&master),
            }),
    );
    let named = [name(input.node)];
    let answering: &[String] = if input.reachable { &named } else { &[] };
    steps.extend(removal(&named, answering));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::moves::projected_slots;
    use crate::plan::rebalance::plan_drain;
    use crate::topology::fixtures::{Fixture, fixture_id};
    use crate::topology::lookup::endpoint_of;

    /// The steps of removing node `i` of `view`, draining it when it serves slots.
    fn steps(view: &ClusterView, i: usize, reachable: bool) -> Vec<String> {
        let node = fixture_id(i);
        let drain = plan_drain(&projected_slots(view, &[]), std::slice::from_ref(&node)).unwrap();
        let name =
            |id: &NodeId| endpoint_of(view, id).map_or_else(String::new, |e| e.port.to_string());
        let input = RemovalInput {
            view,
            node: &node,
            reachable,
            open_slots: 0,
            drain: &drain,
        };
        plan_removal(&input, &|id| id.to_string(), &name)
            .iter()
            .map(|s| match s {
                Step::MoveSlots {
                    from, to, slots, ..
                } => format!("move {slots} {from}->{to}"),
                Step::Replicate { node, master } => format!("replicate {node}->{master}"),
                Step::Forget { node } => format!("forget {node}"),
                Step::Reset { node } => format!("reset {node}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_master_is_drained_its_replica_re_pointed_then_it_is_forgotten_and_reset() {
        // Masters 7000-7002, replicas 7003-7005 following them in order.
        let view = Fixture::healthy(3, 1).view();
        let planned = steps(&view, 0, true);
        assert_eq!(planned.len(), 5, "{planned:#?}");
        assert_eq!(
            planned[..2],
            ["move 2731 7000->7001", "move 2730 7000->7002"]
        );
        assert!(
            ["replicate 7003->7001", "replicate 7003->7002"].contains(&planned[2].as_str()),
            "{planned:#?}"
        );
        assert_eq!(planned[3..], ["forget 7000", "reset 7000"]);
    }

    #[test]
    fn a_replica_is_forgotten_and_reset_and_one_that_does_not_answer_only_forgotten() {
        let view = Fixture::healthy(3, 1).view();
        assert_eq!(steps(&view, 4, true), ["forget 7004", "reset 7004"]);
        assert_eq!(steps(&view, 4, false), ["forget 7004"]);
    }
}
