//! Which slots move where: `rebalance` (by weight, within a threshold) and `reshard` (N slots
//! from some masters to one). Pure and deterministic; slots leave a donor from the top of its
//! ranges so the ranges that stay remain contiguous.

use std::collections::BTreeMap;

use super::moves::SlotMove;
use crate::topology::{NodeId, SLOT_COUNT, SlotSet};

/// Why no rebalance or reshard plan can be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BalanceError {
    /// Every weight is zero.
    #[error("every master has weight 0; nothing could hold the slots")]
    NoWeight,
    /// Not enough slots on the sources.
    #[error("the source masters hold {available} slot(s); cannot move {wanted}")]
    NotEnoughSlots {
        /// Slots asked for.
        wanted: usize,
        /// Slots the sources have.
        available: usize,
    },
    /// The target is among the sources.
    #[error("the target is also a source; name different masters")]
    TargetIsSource,
}

/// The slot count each master should end with: `16384 × w / Σw`, floors first, then the
/// remaining slots to the largest fractions. Among equal fractions the masters that already
/// hold more slots (`held`) get the extra ones, then the lowest ids: so any split whose shares
/// differ by at most one, `init`'s among them, is already the target and nothing moves.
pub fn target_counts(
    weights: &BTreeMap<NodeId, f64>,
    held: &BTreeMap<NodeId, SlotSet>,
) -> Result<BTreeMap<NodeId, usize>, BalanceError> {
    let total: f64 = weights.values().filter(|w| **w > 0.0).sum();
    if total <= 0.0 {
        return Err(BalanceError::NoWeight);
    }
    let slots = f64::from(SLOT_COUNT);
    let exact: Vec<(&NodeId, f64)> = weights
        .iter()
        .map(|(id, w)| (id, slots * w.max(0.0) / total))
        .collect();
    let mut counts: BTreeMap<NodeId, usize> = exact
        .iter()
        .map(|(id, e)| ((*id).clone(), e.floor() as usize))
        .collect();
    let assigned: usize = counts.values().sum();
    let holds = |id: &NodeId| held.get(id).map_or(0, SlotSet::len);
    let mut by_fraction: Vec<(&NodeId, f64)> =
        exact.iter().map(|(id, e)| (*id, e - e.floor())).collect();
    by_fraction.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| holds(b.0).cmp(&holds(a.0)))
            .then_with(|| a.0.cmp(b.0))
    });
    for (id, _) in by_fraction
        .into_iter()
        .take(usize::from(SLOT_COUNT) - assigned)
    {
        *counts.entry(id.clone()).or_default() += 1;
    }
    Ok(counts)
}

/// Weights that empty `leaving` onto the other masters that serve slots (empty masters stay
/// empty): a drain is a rebalance with these weights and threshold 0.
pub fn drain_weights(
    slots: &BTreeMap<NodeId, SlotSet>,
    leaving: &[NodeId],
) -> BTreeMap<NodeId, f64> {
    slots
        .iter()
        .map(|(id, set)| {
            let stays = !leaving.contains(id) && !set.is_empty();
            (id.clone(), if stays { 1.0 } else { 0.0 })
        })
        .collect()
}

/// Moves that empty `leaving` onto the other masters that serve slots, evenly.
pub fn plan_drain(
    slots: &BTreeMap<NodeId, SlotSet>,
    leaving: &[NodeId],
) -> Result<Vec<SlotMove>, BalanceError> {
    plan_rebalance(slots, &drain_weights(slots, leaving), 0.0)
}

/// Moves that bring every master to its weighted share, or none when every master is within
/// `threshold_pct` percent of it (a master with weight 0 must always end empty).
pub fn plan_rebalance(
    slots: &BTreeMap<NodeId, SlotSet>,
    weights: &BTreeMap<NodeId, f64>,
    threshold_pct: f64,
) -> Result<Vec<SlotMove>, BalanceError> {
    let targets = target_counts(weights, slots)?;
    let total_weight: f64 = weights.values().filter(|w| **w > 0.0).sum();
    let within = slots.iter().all(|(id, set)| {
        let w = weights.get(id).copied().unwrap_or(0.0);
        if w <= 0.0 {
            return set.is_empty();
        }
        let expected = f64::from(SLOT_COUNT) * w / total_weight;
        (set.len() as f64 - expected).abs() / expected * 100.0 <= threshold_pct
    });
    if within {
        return Ok(Vec::new());
    }
    let want = |id: &NodeId| targets.get(id).copied().unwrap_or(0);
    let mut donors: Vec<(NodeId, Vec<u16>)> = slots
        .iter()
        .filter(|(id, set)| set.len() > want(id))
        .map(|(id, set)| {
            let surplus = set.len() - want(id);
            let give: Vec<u16> = set
                .iter()
                .collect::<Vec<_>>()
                .split_off(set.len() - surplus);
            (id.clone(), give)
        })
        .collect();
    let receivers: Vec<(NodeId, usize)> = targets
        .iter()
        .map(|(id, t)| (id, *t, slots.get(id).map_or(0, SlotSet::len)))
        .filter(|(_, t, has)| t > has)
        .map(|(id, t, has)| (id.clone(), t - has))
        .collect();
    Ok(pair_up(&mut donors, receivers))
}

/// Hands each receiver its deficit from the donors in order.
fn pair_up(donors: &mut [(NodeId, Vec<u16>)], receivers: Vec<(NodeId, usize)>) -> Vec<SlotMove> {
    let mut moves = Vec::new();
    let mut d = 0;
    for (to, mut need) in receivers {
        while need > 0 && d < donors.len() {
            let (from, give) = &mut donors[d];
            let take = need.min(give.len());
            for slot in give.drain(..take) {
                moves.push(SlotMove {
                    slot,
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            need -= take;
            if give.is_empty() {
                d += 1;
            }
        }
    }
    moves.sort();
    moves
}

/// Moves `count` slots to `to`, taken from `from` in proportion to what each holds.
pub fn plan_reshard(
    slots: &BTreeMap<NodeId, SlotSet>,
    from: &[NodeId],
    to: &NodeId,
    count: usize,
) -> Result<Vec<SlotMove>, BalanceError> {
    if from.contains(to) {
        return Err(BalanceError::TargetIsSource);
    }
    let held = |id: &NodeId| slots.get(id).map_or(0, SlotSet::len);
    let available: usize = from.iter().map(held).sum();
    if count > available {
        return Err(BalanceError::NotEnoughSlots {
            wanted: count,
            available,
        });
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    // Shares proportional to holdings: floors, then the rest to the largest fractions.
    let exact: Vec<(&NodeId, f64)> = from
        .iter()
        .map(|id| (id, count as f64 * held(id) as f64 / available as f64))
        .collect();
    let mut shares: BTreeMap<&NodeId, usize> = exact
        .iter()
        .map(|(id, e)| (*id, e.floor() as usize))
        .collect();
    let mut rest: Vec<(&NodeId, f64)> = exact.iter().map(|(id, e)| (*id, e - e.floor())).collect();
    rest.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let missing = count - shares.values().sum::<usize>();
    for (id, _) in rest.into_iter().take(missing) {
        *shares.entry(id).or_default() += 1;
    }
    let mut donors: Vec<(NodeId, Vec<u16>)> = shares
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(id, n)| {
            let set = &slots[id];
            let give = set.iter().collect::<Vec<_>>().split_off(set.len() - n);
            (id.clone(), give)
        })
        .collect();
    Ok(pair_up(&mut donors, vec![(to.clone(), count)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::layout::{Candidate, plan_layout};
    use crate::topology::SlotRange;
    use crate::topology::fixtures::fixture_id;
    use proptest::prelude::*;

    /// Masters holding the given slot counts, in contiguous runs from slot 0.
    fn masters(counts: &[usize]) -> BTreeMap<NodeId, SlotSet> {
        let mut start = 0usize;
        counts
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut set = SlotSet::new();
                if *n > 0 {
                    set.insert_range(SlotRange {
                        start: start as u16,
                        end: (start + n - 1) as u16,
                    });
                }
                start += n;
                (fixture_id(i), set)
            })
            .collect()
    }

    fn equal_weights(n: usize) -> BTreeMap<NodeId, f64> {
        (0..n).map(|i| (fixture_id(i), 1.0)).collect()
    }

    fn apply(slots: &BTreeMap<NodeId, SlotSet>, moves: &[SlotMove]) -> BTreeMap<NodeId, SlotSet> {
        let mut out = slots.clone();
        for m in moves {
            assert!(
                out[&m.from].contains(m.slot),
                "slot {} not on its source",
                m.slot
            );
            out.get_mut(&m.from).unwrap().remove(m.slot);
            out.entry(m.to.clone()).or_default().insert(m.slot);
        }
        out
    }

    #[test]
    fn an_empty_fourth_master_gets_a_quarter_from_the_top_of_each_range() {
        let slots = masters(&[5461, 5461, 5462, 0]);
        let moves = plan_rebalance(&slots, &equal_weights(4), 2.0).unwrap();
        assert_eq!(moves.len(), 4096);
        assert!(moves.iter().all(|m| m.to == fixture_id(3)));
        let after = apply(&slots, &moves);
        let counts: Vec<usize> = after.values().map(SlotSet::len).collect();
        assert_eq!(counts, vec![4096, 4096, 4096, 4096]);
        // Each donor keeps one contiguous range.
        for i in 0..3 {
            assert_eq!(after[&fixture_id(i)].ranges().len(), 1);
        }
    }

    #[test]
    fn a_balanced_cluster_needs_no_moves() {
        let slots = masters(&[5461, 5461, 5462]);
        assert_eq!(
            plan_rebalance(&slots, &equal_weights(3), 2.0).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_small_imbalance_under_the_threshold_is_left_alone() {
        let slots = masters(&[5500, 5461, 5423]);
        assert!(
            plan_rebalance(&slots, &equal_weights(3), 2.0)
                .unwrap()
                .is_empty()
        );
        assert!(
            !plan_rebalance(&slots, &equal_weights(3), 0.1)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn weight_zero_drains_a_master_completely() {
        let slots = masters(&[4096, 4096, 4096, 4096]);
        let mut weights = equal_weights(4);
        weights.insert(fixture_id(3), 0.0);
        let moves = plan_rebalance(&slots, &weights, 2.0).unwrap();
        let after = apply(&slots, &moves);
        assert!(after[&fixture_id(3)].is_empty());
        assert!(moves.iter().all(|m| m.from == fixture_id(3)));
    }

    #[test]
    fn drain_weights_empty_the_leaving_masters_onto_the_serving_ones() {
        let slots = masters(&[4096, 4096, 8192, 0]);
        let after = apply(&slots, &plan_drain(&slots, &[fixture_id(2)]).unwrap());
        let counts: Vec<usize> = after.values().map(SlotSet::len).collect();
        assert_eq!(counts, vec![8192, 8192, 0, 0]);
    }

    #[test]
    fn weights_set_proportional_shares() {
        let slots = masters(&[16384, 0]);
        let weights: BTreeMap<NodeId, f64> = [(fixture_id(0), 1.0), (fixture_id(1), 3.0)].into();
        let after = apply(&slots, &plan_rebalance(&slots, &weights, 2.0).unwrap());
        assert_eq!(after[&fixture_id(0)].len(), 4096);
        assert_eq!(after[&fixture_id(1)].len(), 12288);
    }

    #[test]
    fn reshard_takes_from_sources_in_proportion() {
        let slots = masters(&[8192, 4096, 4096]);
        let moves =
            plan_reshard(&slots, &[fixture_id(0), fixture_id(1)], &fixture_id(2), 300).unwrap();
        let from0 = moves.iter().filter(|m| m.from == fixture_id(0)).count();
        assert_eq!((from0, moves.len() - from0), (200, 100));
        assert_eq!(
            plan_reshard(&slots, &[fixture_id(1)], &fixture_id(2), 5000),
            Err(BalanceError::NotEnoughSlots {
                wanted: 5000,
                available: 4096
            })
        );
        assert_eq!(
            plan_reshard(&slots, &[fixture_id(2)], &fixture_id(2), 1),
            Err(BalanceError::TargetIsSource)
        );
    }

    proptest! {
        /// `init` and every balancing planner share one rule for even shares: a cluster fresh
        /// from `init` is balanced, whichever master got the extra slots and whatever the ids.
        #[test]
        fn a_cluster_fresh_from_init_is_already_balanced(
            n in 3usize..=64,
            order in proptest::collection::vec(any::<u32>(), 64),
        ) {
            let candidates: Vec<Candidate> = (0..n)
                .map(|i| Candidate { name: format!("n{i}"), domain: "h".into() })
                .collect();
            let layout = plan_layout(&candidates, 0).unwrap();
            // Node ids are random, so the order of ids says nothing about the order of ranges.
            let mut by_id: Vec<usize> = (0..n).collect();
            by_id.sort_by_key(|i| (order[*i], *i));
            let slots: BTreeMap<NodeId, SlotSet> = layout
                .masters
                .iter()
                .map(|(idx, range)| (fixture_id(by_id[*idx]), SlotSet::from_range(*range)))
                .collect();
            let moves = plan_rebalance(&slots, &equal_weights(n), 0.0).unwrap();
            prop_assert!(moves.is_empty(), "{} master(s): {} move(s)", n, moves.len());
        }
    }

    proptest! {
        #[test]
        fn rebalance_ends_every_master_at_its_share_moving_each_slot_once(
            raw in proptest::collection::vec(0usize..6000, 3..8),
            weights in proptest::collection::vec(0u8..4, 8),
        ) {
            // Scale the counts so they add up to 16384.
            let sum: usize = raw.iter().sum::<usize>().max(1);
            let mut counts: Vec<usize> = raw.iter().map(|c| c * 16384 / sum).collect();
            let short = 16384 - counts.iter().sum::<usize>();
            counts[0] += short;
            let slots = masters(&counts);
            let w: BTreeMap<NodeId, f64> =
                (0..counts.len()).map(|i| (fixture_id(i), f64::from(weights[i]))).collect();
            prop_assume!(w.values().any(|x| *x > 0.0));
            let moves = plan_rebalance(&slots, &w, 0.0).unwrap();
            let mut seen = SlotSet::new();
            for m in &moves {
                prop_assert!(!seen.contains(m.slot));
                seen.insert(m.slot);
                prop_assert_ne!(&m.from, &m.to);
            }
            let after = apply(&slots, &moves);
            let targets = target_counts(&w, &slots).unwrap();
            for (id, set) in &after {
                prop_assert_eq!(set.len(), targets[id]);
            }
            let union = after.values().fold(SlotSet::new(), |a, s| a.union(s));
            prop_assert_eq!(union.len(), 16384);
        }
    }
}
