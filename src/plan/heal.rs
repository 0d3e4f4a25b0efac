//! Planning `fix`: nodes known under stale addresses (every pod came back with a new IP),
//! open slots and uncovered slots. Each decision carries the reason it is printed with.
//! Only decisions that cannot lose a key are made; anything else is refused with the facts.

use std::collections::BTreeMap;
use std::fmt;

use super::moves::{OpenSlots, SlotMove};
use crate::topology::{ClusterView, Endpoint, NodeId, SlotSet};

/// A node its peers know under an old address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleAddress {
    /// The node.
    pub id: NodeId,
    /// Where it answers now.
    pub current: Endpoint,
    /// Its bus port.
    pub cport: u16,
    /// Nodes that still list another address for it.
    pub seen_by: Vec<NodeId>,
}

/// Every reachable node that some peer lists at another address (or not at all).
pub fn stale_addresses(view: &ClusterView) -> Vec<StaleAddress> {
    view.reports
        .iter()
        .filter_map(|node| {
            let seen_by: Vec<NodeId> = view
                .reports
                .iter()
                .filter(|peer| peer.id() != node.id())
                .filter(|peer| {
                    !peer.nodes.iter().any(|l| {
                        &l.id == node.id()
                            && l.addr.ip == node.endpoint.host
                            && l.addr.port == node.endpoint.port
                    })
                })
                .map(|peer| peer.id().clone())
                .collect();
            (!seen_by.is_empty()).then(|| StaleAddress {
                id: node.id().clone(),
                current: node.endpoint.clone(),
                cport: node.myself().addr.cport,
                seen_by,
            })
        })
        .collect()
}

/// What `fix` does about one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotFix {
    /// Finish an interrupted move.
    Resume(SlotMove),
    /// Give an uncovered slot to a master.
    Assign {
        /// The slot.
        slot: u16,
        /// The master.
        to: NodeId,
        /// Why this master.
        reason: String,
    },
    /// Clear migrating/importing marks on `nodes`: the owner already holds every key.
    Stabilize {
        /// The slot.
        slot: u16,
        /// Nodes carrying a mark.
        nodes: Vec<NodeId>,
        /// Why it is safe.
        reason: String,
    },
    /// No safe decision: keys are in several places.
    Refuse {
        /// The slot.
        slot: u16,
        /// The facts.
        reason: String,
    },
}

impl fmt::Display for SlotFix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resume(m) => write!(
                f,
                "slot {}: finish moving it from {} to {} (both sides are marked)",
                m.slot,
                m.from.short(),
                m.to.short()
            ),
            Self::Assign { slot, to, reason } => {
                write!(f, "slot {slot}: assign it to {} ({reason})", to.short())
            }
            Self::Stabilize {
                slot,
                nodes,
                reason,
            } => {
                let names: Vec<&str> = nodes.iter().map(NodeId::short).collect();
                write!(
                    f,
                    "slot {slot}: clear the marks on {} ({reason})",
                    names.join(", ")
                )
            }
            Self::Refuse { slot, reason } => write!(f, "slot {slot}: cannot fix safely: {reason}"),
        }
    }
}

/// Key counts per slot and master, for the slots in question.
pub type KeyCounts = BTreeMap<u16, BTreeMap<NodeId, u64>>;

/// Decides about every open and uncovered slot.
pub fn plan_slot_fixes(
    view: &ClusterView,
    open: &OpenSlots,
    uncovered: &SlotSet,
    keys: &KeyCounts,
) -> Vec<SlotFix> {
    let mut fixes: Vec<SlotFix> = open.resume.iter().cloned().map(SlotFix::Resume).collect();
    let holders = |slot: u16| -> Vec<(&NodeId, u64)> {
        keys.get(&slot)
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(id, n)| (id, *n))
                    .collect()
            })
            .unwrap_or_default()
    };
    for stuck in &open.stuck {
        let claimers: Vec<&NodeId> = view
            .masters()
            .filter(|r| r.myself().slots.contains(stuck.slot))
            .map(|r| r.id())
            .collect();
        let marked: Vec<NodeId> = view
            .masters()
            .filter(|r| {
                let me = r.myself();
                me.migrating
                    .iter()
                    .chain(me.importing.iter())
                    .any(|(s, _)| *s == stuck.slot)
            })
            .map(|r| r.id().clone())
            .collect();
        let with_keys = holders(stuck.slot);
        let fix = match (claimers.as_slice(), with_keys.as_slice()) {
            ([owner], []) => SlotFix::Stabilize {
                slot: stuck.slot,
                nodes: marked,
                reason: format!("{} owns it and no master holds keys in it", owner.short()),
            },
            ([owner], [(holder, n)]) if holder == owner => SlotFix::Stabilize {
                slot: stuck.slot,
                nodes: marked,
                reason: format!("{} owns it and holds all {n} of its keys", owner.short()),
            },
            _ => SlotFix::Refuse {
                slot: stuck.slot,
                reason: format!(
                    "{}; claimed by [{}], keys on [{}]",
                    stuck.reason,
                    claimers
                        .iter()
                        .map(|c| c.short())
                        .collect::<Vec<_>>()
                        .join(", "),
                    describe(&with_keys)
                ),
            },
        };
        fixes.push(fix);
    }
    let masters: Vec<(&NodeId, usize)> = view
        .masters()
        .map(|r| (r.id(), r.myself().slots.len()))
        .collect();
    let mut added: BTreeMap<&NodeId, usize> = BTreeMap::new();
    for slot in uncovered.iter() {
        let with_keys = holders(slot);
        let fix = match with_keys.as_slice() {
            [] => masters
                .iter()
                .min_by_key(|(id, n)| (n + added.get(id).copied().unwrap_or(0), (*id).clone()))
                .map(|(id, _)| {
                    *added.entry(id).or_default() += 1;
                    SlotFix::Assign {
                        slot,
                        to: (*id).clone(),
                        reason: "no master holds keys in it; this master serves the fewest slots"
                            .into(),
                    }
                }),
            [(holder, n)] => Some(SlotFix::Assign {
                slot,
                to: (*holder).clone(),
                reason: format!("it is the only master holding keys in it ({n})"),
            }),
            many => Some(SlotFix::Refuse {
                slot,
                reason: format!(
                    "no master serves it and several hold keys in it: {}",
                    describe(many)
                ),
            }),
        };
        fixes.extend(fix);
    }
    fixes
}

/// `id (n keys), ...`.
fn describe(holders: &[(&NodeId, u64)]) -> String {
    holders
        .iter()
        .map(|(id, n)| format!("{} ({n} keys)", id.short()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::moves::open_slots;
    use crate::topology::fixtures::{Fixture, fixture_id};

    fn counts(entries: &[(u16, usize, u64)]) -> KeyCounts {
        let mut k = KeyCounts::new();
        for (slot, node, n) in entries {
            k.entry(*slot).or_default().insert(fixture_id(*node), *n);
        }
        k
    }

    #[test]
    fn nodes_that_came_back_at_new_addresses_are_found_with_who_lists_them_stale() {
        let mut view = Fixture::healthy(3, 0).view();
        // Node 2 now answers at 127.0.0.9; nodes 0 and 1 still list 127.0.0.1:7002.
        view.reports[2].endpoint = Endpoint::new("127.0.0.9", 7002);
        for line in &mut view.reports[2].nodes {
            if line.flags.myself {
                line.addr.ip = "127.0.0.9".into();
            }
        }
        let stale = stale_addresses(&view);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].id, fixture_id(2));
        assert_eq!(stale[0].current, Endpoint::new("127.0.0.9", 7002));
        assert_eq!(stale[0].seen_by, vec![fixture_id(0), fixture_id(1)]);
    }

    #[test]
    fn an_uncovered_slot_goes_to_its_only_key_holder_or_the_least_loaded_master() {
        let view = Fixture::healthy(3, 0).uncover(5).uncover(6).view();
        let uncovered = SlotSet::from_iter([5, 6]);
        let fixes = plan_slot_fixes(
            &view,
            &OpenSlots::default(),
            &uncovered,
            &counts(&[(5, 2, 7)]),
        );
        assert!(matches!(&fixes[0], SlotFix::Assign { slot: 5, to, .. } if *to == fixture_id(2)));
        assert!(matches!(&fixes[1], SlotFix::Assign { slot: 6, to, .. } if *to == fixture_id(0)));
        assert_eq!(
            fixes[0].to_string(),
            "slot 5: assign it to 02aaaaaa (it is the only master holding keys in it (7))"
        );
    }

    #[test]
    fn keys_in_several_places_are_never_guessed() {
        let view = Fixture::healthy(3, 0).uncover(5).view();
        let fixes = plan_slot_fixes(
            &view,
            &OpenSlots::default(),
            &SlotSet::from_iter([5]),
            &counts(&[(5, 0, 3), (5, 1, 4)]),
        );
        assert!(matches!(&fixes[0], SlotFix::Refuse { slot: 5, .. }));
        assert!(
            fixes[0]
                .to_string()
                .contains("00aaaaaa (3 keys), 01aaaaaa (4 keys)")
        );
    }

    #[test]
    fn a_stray_mark_is_cleared_when_the_owner_holds_every_key() {
        // Node 2 imports slot 0 from node 1, which does not own it: stuck.
        let view = Fixture::healthy(3, 0)
            .with(2, |n| n.importing = vec![(0, 1)])
            .view();
        let open = open_slots(&view);
        assert_eq!(open.stuck.len(), 1);
        let fixes = plan_slot_fixes(&view, &open, &SlotSet::new(), &counts(&[(0, 0, 12)]));
        assert_eq!(
            fixes,
            vec![SlotFix::Stabilize {
                slot: 0,
                nodes: vec![fixture_id(2)],
                reason: "00aaaaaa owns it and holds all 12 of its keys".into()
            }]
        );
        let refused = plan_slot_fixes(
            &view,
            &open,
            &SlotSet::new(),
            &counts(&[(0, 0, 12), (0, 2, 1)]),
        );
        assert!(matches!(refused[0], SlotFix::Refuse { .. }));
    }
}
