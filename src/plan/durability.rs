//! What durability a slot move gives the keys it moves, target by target, for the plan and
//! `-o json`. Pure: it reads the replicas and the AOF setting the observation found.
//!
//! The key-by-key mover waits, before a target takes a window of slots, until every replica
//! connected to it acknowledged the keys it received; the atomic mover waits the same way
//! after each job (`redis::durability`). A target without replicas holds the only copy of
//! the keys moved to it: they are as durable as its own writes.

use std::collections::BTreeSet;
use std::fmt;

use super::moves::SlotMove;
use crate::topology::{ClusterView, NodeId};

/// The durability of the keys moved to one target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetDurability {
    /// The target master.
    pub target: NodeId,
    /// Its replicas, each of which acknowledges the moved keys before the target takes
    /// their slots.
    pub replicas: usize,
    /// Whether it writes an AOF (its local fsync is not awaited).
    pub aof: bool,
}

/// The durability of every target of `moves`, in target order.
pub fn durability(view: &ClusterView, moves: &[SlotMove]) -> Vec<TargetDurability> {
    let targets: BTreeSet<&NodeId> = moves.iter().map(|m| &m.to).collect();
    targets
        .into_iter()
        .map(|target| TargetDurability {
            target: target.clone(),
            replicas: view.replicas_of(target).count(),
            aof: view.report(target).is_some_and(|r| r.aof_enabled()),
        })
        .collect()
}

/// The plan's one-line summary of [`durability`].
pub struct DurabilityLine<'a>(pub &'a [TargetDurability]);

impl fmt::Display for DurabilityLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alone: Vec<&TargetDurability> = self.0.iter().filter(|t| t.replicas == 0).collect();
        if alone.is_empty() {
            return f.write_str(
                "durability: every target's replicas acknowledge the moved keys before it takes their slots",
            );
        }
        let with_aof = alone.iter().filter(|t| t.aof).count();
        write!(
            f,
            "durability: {} of {} target(s) have no replica, so the keys moved there are only as safe as that node's own writes ({} with AOF, {} without); the others' replicas acknowledge the keys before the target takes their slots",
            alone.len(),
            self.0.len(),
            with_aof,
            alone.len() - with_aof
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};

    fn to(target: usize, slot: u16) -> SlotMove {
        SlotMove {
            slot,
            from: fixture_id(0),
            to: fixture_id(target),
        }
    }

    #[test]
    fn each_target_is_described_by_its_replicas_and_aof() {
        // Masters 0-2, replicas 3-5 (of 0, 1, 2), then an empty master 6 without replica.
        let view = Fixture::healthy(3, 1).with_empty_master().view();
        let moves = [to(6, 1), to(1, 2), to(6, 3)];
        let d = durability(&view, &moves);
        assert_eq!(
            d,
            vec![
                TargetDurability {
                    target: fixture_id(1),
                    replicas: 1,
                    aof: false
                },
                TargetDurability {
                    target: fixture_id(6),
                    replicas: 0,
                    aof: false
                },
            ]
        );
        assert_eq!(
            DurabilityLine(&d).to_string(),
            "durability: 1 of 2 target(s) have no replica, so the keys moved there are only as safe as that node's own writes (0 with AOF, 1 without); the others' replicas acknowledge the keys before the target takes their slots"
        );
        let replicated = durability(&view, &[to(1, 2)]);
        assert_eq!(
            DurabilityLine(&replicated).to_string(),
            "durability: every target's replicas acknowledge the moved keys before it takes their slots"
        );
    }
}
