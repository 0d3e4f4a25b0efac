//! Primaries over failure domains (pure): after failovers (a rolling restart, a drain, a
//! crash) masters pile up in some domains. `rebalance-primaries` fails masters over to
//! in-sync replicas in the domains with fewest masters until no two domains differ by more
//! than one master serving slots, where the replicas allow it.

use std::collections::BTreeMap;

use super::replicas::Placed;
use crate::topology::NodeId;

/// One failover that moves a primary to another domain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrimaryMove {
    /// The master's pod now.
    pub master: String,
    /// The replica that takes over (pod).
    pub to: String,
    /// The replica's node.
    #[serde(skip)]
    pub to_id: NodeId,
    /// The domain the primary leaves.
    pub from_domain: String,
    /// The domain it moves to.
    pub to_domain: String,
}

/// Masters serving slots per domain (every domain that holds a node, even with none).
pub fn primaries_per_domain(placed: &[Placed]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> =
        placed.iter().map(|p| (p.domain.clone(), 0)).collect();
    for p in placed.iter().filter(|p| p.master.is_none() && p.slots > 0) {
        *counts.entry(p.domain.clone()).or_default() += 1;
    }
    counts
}

/// The failovers, in order, that even out primaries per domain.
pub fn rebalance_primaries(placed: &[Placed]) -> Vec<PrimaryMove> {
    let mut state = placed.to_vec();
    let mut moves = Vec::new();
    for _ in 0..state.len() {
        let counts = primaries_per_domain(&state);
        let (Some(most), Some(least)) = (
            counts.values().copied().max(),
            counts.values().copied().min(),
        ) else {
            break;
        };
        if most <= least + 1 {
            break;
        }
        let Some(step) = best_move(&state, &counts, most) else {
            break;
        };
        apply(&mut state, &step);
        moves.push(step);
    }
    moves
}

/// A master in a domain with `most` primaries handed to an in-sync replica in a domain with
/// at most `most - 2`, the emptiest domain first.
fn best_move(
    state: &[Placed],
    counts: &BTreeMap<String, usize>,
    most: usize,
) -> Option<PrimaryMove> {
    let mut candidates: Vec<(usize, &Placed, &Placed)> = state
        .iter()
        .filter(|m| m.master.is_none() && m.slots > 0 && counts[&m.domain] == most)
        .flat_map(|m| {
            state
                .iter()
                .filter(move |r| r.master.as_ref() == Some(&m.id) && r.in_sync)
                .filter(|r| counts[&r.domain] + 2 <= most)
                .map(move |r| (counts[&r.domain], m, r))
        })
        .collect();
    candidates.sort_by(|a, b| (a.0, &a.1.name, &a.2.name).cmp(&(b.0, &b.1.name, &b.2.name)));
    let (_, m, r) = candidates.first()?;
    Some(PrimaryMove {
        master: m.name.clone(),
        to: r.name.clone(),
        to_id: r.id.clone(),
        from_domain: m.domain.clone(),
        to_domain: r.domain.clone(),
    })
}

/// The roles after `step`: the replica serves the slots, the old master and its other
/// replicas follow it.
fn apply(state: &mut [Placed], step: &PrimaryMove) {
    let Some(old) = state
        .iter()
        .find(|p| p.name == step.master)
        .map(|p| (p.id.clone(), p.slots))
    else {
        return;
    };
    for p in state.iter_mut() {
        if p.id == step.to_id {
            p.master = None;
            p.slots = old.1;
        } else if p.id == old.0 {
            p.master = Some(step.to_id.clone());
            p.slots = 0;
        } else if p.master.as_ref() == Some(&old.0) {
            p.master = Some(step.to_id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::replicas::fixtures::{id, placed};
    use super::*;

    #[test]
    fn primaries_piled_on_one_domain_fail_back_to_the_emptiest_one() {
        // After a drain of c: pod-2's replica pod-5 (on a) took over; c holds no primary.
        let nodes = placed(&[
            ("a", None),
            ("b", None),
            ("c", Some(5)),
            ("b", Some(0)),
            ("c", Some(1)),
            ("a", None),
        ]);
        assert_eq!(primaries_per_domain(&nodes)["a"], 2);
        let moves = rebalance_primaries(&nodes);
        // pod-0's replica is on b (one primary already); pod-5's is on c (none): c first.
        assert_eq!(
            moves,
            vec![PrimaryMove {
                master: "pod-5".into(),
                to: "pod-2".into(),
                to_id: id(2),
                from_domain: "a".into(),
                to_domain: "c".into(),
            }]
        );
        let mut after = nodes.clone();
        apply(&mut after, &moves[0]);
        let counts = primaries_per_domain(&after);
        assert!(counts.values().all(|&c| c == 1), "{counts:?}");
    }

    #[test]
    fn a_spread_that_is_even_or_cannot_improve_moves_nothing() {
        let even = placed(&[("a", None), ("b", None), ("b", Some(0)), ("a", Some(1))]);
        assert_eq!(rebalance_primaries(&even), vec![]);
        // Two primaries on a, none on b, but no replica on b: nothing to hand over to.
        let stuck = placed(&[("a", None), ("a", None), ("a", Some(0)), ("b", None)]);
        let mut stuck = stuck;
        stuck[3].slots = 0;
        stuck[3].master = Some(id(1));
        stuck[3].in_sync = false;
        assert_eq!(rebalance_primaries(&stuck), vec![]);
    }
}
