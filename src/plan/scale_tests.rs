//! `scale` planned from fixture clusters: the steps, in order, both directions.

use super::*;
use crate::plan::layout::even_slot_split;
use crate::plan::steps::Step;
use crate::topology::fixtures::fixture_id;

/// Pod `i` of `redis-cluster`, in its own domain, with a node serving `slots` (masters) or
/// following master pod `master`.
fn pod(i: u32, slots: Option<SlotSet>, master: Option<u32>) -> ScalePod {
    ScalePod {
        pod: format!("redis-cluster-{i}"),
        ordinal: i,
        domain: format!("node-{i}"),
        node: Some(PodNode {
            id: fixture_id(i as usize),
            slots: slots.unwrap_or_default(),
            master: master.map(|m| fixture_id(m as usize)),
        }),
        lingering: false,
    }
}

/// Masters `masters` (in order, the slots split evenly among them) and replicas `(pod,
/// master pod)`.
fn cluster(masters: &[u32], replicas: &[(u32, u32)]) -> Vec<ScalePod> {
    let split = even_slot_split(masters.len());
    let mut pods: Vec<ScalePod> = masters
        .iter()
        .zip(split)
        .map(|(&i, range)| {
            let mut set = SlotSet::default();
            set.insert_range(range);
            pod(i, Some(set), None)
        })
        .collect();
    pods.extend(replicas.iter().map(|&(i, m)| pod(i, None, Some(m))));
    pods.sort_by_key(|p| p.ordinal);
    pods
}

fn input(pods: Vec<ScalePod>, masters: usize, replicas: usize) -> ScaleInput {
    ScaleInput {
        statefulset: "redis-cluster".into(),
        pods_now: pods.len() as u32,
        pods,
        masters,
        replicas,
        claims: Vec::new(),
        open_slots: 0,
    }
}

fn kinds(plan: &ScalePlan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::ScaleStatefulset { from, to } => format!("statefulset {from}->{to}"),
            Step::Join { node } => format!("join {node}"),
            Step::Promote { node, replaces, .. } => format!("promote {node} for {replaces}"),
            Step::FinishMoves { slots } => format!("finish {slots}"),
            Step::MoveSlots {
                from, to, slots, ..
            } => format!("move {slots} {from}->{to}"),
            Step::Replicate { node, master } => format!("replicate {node}->{master}"),
            Step::Forget { node } => format!("forget {node}"),
            Step::Reset { node } => format!("reset {node}"),
            Step::DeleteClaim { claim } => format!("delete {claim}"),
        })
        .map(|s| s.replace("redis-cluster-", "p"))
        .collect()
}

#[test]
fn scaling_three_masters_to_four_grows_the_statefulset_joins_two_pods_and_fills_the_new_master() {
    let plan = plan_scale(&input(cluster(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]), 4, 1)).unwrap();
    assert_eq!((plan.direction, plan.from_pods, plan.to_pods), ("up", 6, 8));
    assert_eq!(
        kinds(&plan),
        [
            "statefulset 6->8",
            "join p6",
            "join p7",
            "replicate p7->p6",
            "move 1365 p0->p6",
            "move 1365 p1->p6",
            "move 1366 p2->p6",
        ]
    );
    // The moves behind the steps end with four equal masters and name the new pod's node by
    // its stand-in id.
    assert_eq!(plan.moves.len(), 4096);
    assert!(plan.moves.iter().all(|m| m.to.0 == "new:redis-cluster-6"));
}

#[test]
fn a_re_run_at_the_same_size_plans_only_what_an_earlier_run_left() {
    // The StatefulSet has 8 pods; pod 6 joined as an empty master, pod 7 never did.
    let mut pods = cluster(&[0, 1, 2, 6], &[(3, 0), (4, 1), (5, 2)]);
    pods.iter_mut()
        .find(|p| p.ordinal == 6)
        .unwrap()
        .node
        .as_mut()
        .unwrap()
        .slots = SlotSet::default();
    for p in &mut pods {
        if let Some(n) = p
            .node
            .as_mut()
            .filter(|n| n.master.is_none() && !n.slots.is_empty())
        {
            let mut set = SlotSet::default();
            set.insert_range(even_slot_split(3)[p.ordinal as usize]);
            n.slots = set;
        }
    }
    let mut inp = input(pods, 4, 1);
    inp.pods_now = 8;
    let plan = plan_scale(&inp).unwrap();
    assert_eq!(plan.direction, "up");
    assert_eq!(
        kinds(&plan),
        [
            "join p7",
            "replicate p7->p6",
            "move 1365 p0->p6",
            "move 1365 p1->p6",
            "move 1366 p2->p6",
        ]
    );
}

#[test]
fn scaling_down_drains_the_leaving_master_then_forgets_and_resets_before_the_statefulset_shrinks() {
    let mut inp = input(
        cluster(&[0, 1, 2, 6], &[(3, 0), (4, 1), (5, 2), (7, 6)]),
        3,
        1,
    );
    inp.claims = (0..8)
        .map(|i| (format!("data-redis-cluster-{i}"), i))
        .collect();
    let plan = plan_scale(&inp).unwrap();
    assert_eq!(
        (plan.direction, plan.from_pods, plan.to_pods),
        ("down", 8, 6)
    );
    assert_eq!(
        kinds(&plan),
        [
            "move 1366 p6->p0",
            "move 1365 p6->p1",
            "move 1365 p6->p2",
            "forget p6",
            "forget p7",
            "reset p6",
            "reset p7",
            "statefulset 8->6",
            "delete data-p6",
            "delete data-p7",
        ]
    );
}

#[test]
fn a_staying_replica_of_a_leaving_master_is_promoted_instead_of_moving_its_keys() {
    // Masters 0, 1, 6, 7; pods 2 and 3 follow the leaving masters 6 and 7.
    let pods = cluster(&[0, 1, 6, 7], &[(2, 6), (3, 7), (4, 0), (5, 1)]);
    let plan = plan_scale(&input(pods, 3, 1)).unwrap();
    let steps = kinds(&plan);
    assert_eq!(steps[0], "promote p2 for p6", "{steps:?}");
    assert!(
        steps[1..4]
            .iter()
            .all(|s| s.starts_with("move") && s.contains("p7->")),
        "only the unpromoted leaving master is drained: {steps:?}"
    );
    assert_eq!(
        steps[4..],
        [
            "replicate p3->p2",
            "forget p6",
            "forget p7",
            "reset p6",
            "reset p7",
            "statefulset 8->6"
        ]
    );
}

#[test]
fn key_counts_are_filled_per_move_from_the_sampled_slots() {
    let mut plan =
        plan_scale(&input(cluster(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]), 4, 1)).unwrap();
    let keys: BTreeMap<u16, u64> = plan.moves.iter().map(|m| (m.slot, 2)).collect();
    plan.count_keys(&keys);
    let counted: Vec<Option<u64>> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::MoveSlots { keys, .. } => Some(*keys),
            _ => None,
        })
        .collect();
    assert_eq!(counted, [Some(2730), Some(2730), Some(2732)]);
}

#[test]
fn a_shape_the_pods_cannot_take_is_refused() {
    // Four masters serve slots and none leaves: three masters of two replicas each would
    // need a serving node to become a replica.
    let pods = cluster(&[0, 1, 2, 3], &[(4, 0), (5, 1), (6, 2), (7, 3), (8, 0)]);
    assert_eq!(
        plan_scale(&input(pods, 3, 2)),
        Err(ScaleError::Roles(RolesError::TooManyServing {
            serving: 4,
            masters: 3
        }))
    );
}

#[test]
fn slots_an_interrupted_run_left_open_are_finished_first_and_no_replica_is_promoted_meanwhile() {
    // The same cluster as the promotion case, killed while it drained: one slot open.
    let pods = cluster(&[0, 1, 6, 7], &[(2, 6), (3, 7), (4, 0), (5, 1)]);
    let mut inp = input(pods, 3, 1);
    inp.open_slots = 1;
    let steps = kinds(&plan_scale(&inp).unwrap());
    assert_eq!(steps[0], "finish 1", "{steps:?}");
    assert!(steps.iter().all(|s| !s.starts_with("promote")), "{steps:?}");
    // Scaling up (or re-running at the same size), they are finished before the moves.
    let mut inp = input(cluster(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]), 3, 1);
    inp.open_slots = 2;
    assert_eq!(kinds(&plan_scale(&inp).unwrap()), ["finish 2"]);
}

#[test]
fn a_leaving_pod_every_member_forgot_but_nobody_reset_is_reset_and_a_finished_cluster_plans_nothing()
 {
    // Killed between the resets: pod 6 was reset (a lone node now, no member), pod 7 was
    // forgotten by every staying node but still knows its old peers.
    let mut pods = cluster(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]);
    for (i, lingering) in [(6, false), (7, true)] {
        pods.push(ScalePod {
            node: None,
            lingering,
            ..pod(i, None, None)
        });
    }
    let mut inp = input(pods, 3, 1);
    inp.pods_now = 8;
    assert_eq!(
        kinds(&plan_scale(&inp).unwrap()),
        ["reset p7", "statefulset 8->6"]
    );
    // Once the StatefulSet shrank, there is nothing left to do.
    let done = input(cluster(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]), 3, 1);
    assert!(plan_scale(&done).unwrap().steps.is_empty());
}
