//! Slot moves: the unit every resharding plan is made of, how a plan reads to people, the
//! open slots an interrupted run left behind (to be finished, never abandoned), and the slot
//! map a plan starts from.

use std::collections::BTreeMap;
use std::fmt;

use crate::topology::{ClusterView, NodeId, SlotSet};

/// Move one slot, with its keys, from one master to another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SlotMove {
    /// The slot.
    pub slot: u16,
    /// Current owner.
    pub from: NodeId,
    /// New owner.
    pub to: NodeId,
}

/// Moves grouped by (from, to), with the slots as ranges: how plans are printed.
pub fn summarize(moves: &[SlotMove]) -> Vec<(NodeId, NodeId, SlotSet)> {
    let mut groups: BTreeMap<(&NodeId, &NodeId), SlotSet> = BTreeMap::new();
    for m in moves {
        groups.entry((&m.from, &m.to)).or_default().insert(m.slot);
    }
    groups
        .into_iter()
        .map(|((f, t), s)| (f.clone(), t.clone(), s))
        .collect()
}

/// A summary line, e.g. `move 1365 slots 0-1364 from 4d3c… to 9e1f…`, with names from `name`.
pub struct MoveLine<'a> {
    /// Source.
    pub from: &'a NodeId,
    /// Target.
    pub to: &'a NodeId,
    /// Slots.
    pub slots: &'a SlotSet,
    /// How to name a node.
    pub name: &'a dyn Fn(&NodeId) -> String,
}

impl fmt::Display for MoveLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            from,
            to,
            slots,
            name,
        } = self;
        let ranges = slots.ranges();
        let shown: Vec<String> = ranges.iter().take(4).map(ToString::to_string).collect();
        let more = if ranges.len() > 4 { " …" } else { "" };
        write!(
            f,
            "move {} slot(s) [{}{more}] from {} to {}",
            slots.len(),
            shown.join(" "),
            name(from),
            name(to)
        )
    }
}

/// An open slot that cannot be finished automatically.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StuckSlot {
    /// The slot.
    pub slot: u16,
    /// What was found.
    pub reason: String,
}

/// Open slots sorted into moves to finish (roll forward) and slots that need `fix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenSlots {
    /// Interrupted moves: finish them from `from` to `to`.
    pub resume: Vec<SlotMove>,
    /// Open slots with no consistent source and target.
    pub stuck: Vec<StuckSlot>,
}

/// Sorts every open slot in the view. A move is resumable when the source still claims the
/// slot or marks it migrating, and the target imports it from that source or already owns it;
/// then its keys are on the source, the target, or both, and finishing the move is safe. A slot
/// marked migrating (or importing) by more than one master is never a single move: it is stuck.
pub fn open_slots(view: &ClusterView) -> OpenSlots {
    let mut migrating: BTreeMap<u16, Vec<(&NodeId, &NodeId)>> = BTreeMap::new();
    let mut importing: BTreeMap<u16, Vec<(&NodeId, &NodeId)>> = BTreeMap::new();
    for r in view.masters() {
        for (slot, to) in &r.myself().migrating {
            migrating.entry(*slot).or_default().push((r.id(), to));
        }
        for (slot, from) in &r.myself().importing {
            importing.entry(*slot).or_default().push((from, r.id()));
        }
    }
    let owns = |id: &NodeId, slot: u16| {
        view.report(id)
            .is_some_and(|r| r.myself().slots.contains(slot))
    };
    let mut out = OpenSlots::default();
    let mut slots: Vec<u16> = migrating.keys().chain(importing.keys()).copied().collect();
    slots.sort_unstable();
    slots.dedup();
    for slot in slots {
        let m = migrating.get(&slot).map_or(&[][..], Vec::as_slice);
        let i = importing.get(&slot).map_or(&[][..], Vec::as_slice);
        let pair = match (m, i) {
            _ if m.len() > 1 || i.len() > 1 => Err(several_marks(m, i)),
            ([m], [i]) if m == i => Ok(*m),
            ([m], [i]) => Err(format!(
                "{} migrates it to {} but {} imports it from {}",
                m.0.short(),
                m.1.short(),
                i.1.short(),
                i.0.short()
            )),
            (&[(from, to)], []) if owns(to, slot) || view.report(to).is_some() => Ok((from, to)),
            (&[(from, to)], []) => Err(format!(
                "{} migrates it to {}, which is unreachable",
                from.short(),
                to.short()
            )),
            ([], &[(from, to)]) if owns(from, slot) => Ok((from, to)),
            ([], &[(from, to)]) => Err(format!(
                "{} imports it from {}, which does not own it",
                to.short(),
                from.short()
            )),
            _ => unreachable!("slot came from one of the two maps"),
        };
        match pair {
            Ok((from, to)) => out.resume.push(SlotMove {
                slot,
                from: from.clone(),
                to: to.clone(),
            }),
            Err(reason) => out.stuck.push(StuckSlot { slot, reason }),
        }
    }
    out
}

/// A replica that kept migrating/importing marks its master no longer has. Valkey ≥ 8.0
/// replicates `CLUSTER SETSLOT` to replicas and refuses it on them, so such a mark can only be
/// cleared through the master: a `SETSLOT s STABLE` there (a no-op on the master, which has
/// no mark) replicates and clears it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaMark {
    /// The replica.
    pub replica: NodeId,
    /// Its master, where `STABLE` is sent.
    pub master: NodeId,
    /// The slots marked on the replica only.
    pub slots: SlotSet,
}

/// Every replica's marks that its master does not have.
pub fn replica_marks(view: &ClusterView) -> Vec<ReplicaMark> {
    view.replicas()
        .filter_map(|r| {
            let me = r.myself();
            let master = me.master_id.as_ref()?;
            let master_line = view.report(master)?.myself();
            let marked = |line: &crate::topology::NodeLine| -> SlotSet {
                line.migrating
                    .iter()
                    .map(|(s, _)| *s)
                    .chain(line.importing.iter().map(|(s, _)| *s))
                    .collect()
            };
            let slots: SlotSet = marked(me)
                .iter()
                .filter(|s| !marked(master_line).contains(*s))
                .collect();
            (!slots.is_empty()).then(|| ReplicaMark {
                replica: r.id().clone(),
                master: master.clone(),
                slots,
            })
        })
        .collect()
}

/// `a migrates it to b, c imports it from a, ...`: every mark on a slot open on several masters.
fn several_marks(migrating: &[(&NodeId, &NodeId)], importing: &[(&NodeId, &NodeId)]) -> String {
    let marks: Vec<String> = migrating
        .iter()
        .map(|(from, to)| format!("{} migrates it to {}", from.short(), to.short()))
        .chain(
            importing
                .iter()
                .map(|(from, to)| format!("{} imports it from {}", to.short(), from.short())),
        )
        .collect();
    format!("it is open on several masters: {}", marks.join(", "))
}

/// The slots of each master as the cluster agrees (each master's own claim), with resumed
/// moves applied: the state a new plan starts from.
pub fn projected_slots(view: &ClusterView, resumed: &[SlotMove]) -> BTreeMap<NodeId, SlotSet> {
    let mut slots: BTreeMap<NodeId, SlotSet> = view
        .masters()
        .map(|r| (r.id().clone(), r.myself().slots.clone()))
        .collect();
    for m in resumed {
        for (id, set) in slots.iter_mut() {
            if id == &m.to {
                set.insert(m.slot);
            } else {
                set.remove(m.slot);
            }
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};

    #[test]
    fn a_consistent_pair_is_resumed_from_source_to_target() {
        let view = Fixture::healthy(3, 0)
            .with(0, |n| n.migrating = vec![(10, 1)])
            .with(1, |n| n.importing = vec![(10, 0)])
            .view();
        let open = open_slots(&view);
        assert_eq!(
            open.resume,
            vec![SlotMove {
                slot: 10,
                from: fixture_id(0),
                to: fixture_id(1)
            }]
        );
        assert!(open.stuck.is_empty());
    }

    #[test]
    fn half_open_slots_on_either_side_are_resumed() {
        // Killed after IMPORTING (target only) and after the target took ownership (source only).
        let mut fixture = Fixture::healthy(3, 0)
            .with(1, |n| n.importing = vec![(11, 0)])
            .with(0, |n| n.migrating = vec![(12, 2)]);
        fixture.nodes[2].slots.insert(12);
        fixture.nodes[0].slots.remove(12);
        let open = open_slots(&fixture.view());
        let moves: Vec<(u16, NodeId, NodeId)> = open
            .resume
            .into_iter()
            .map(|m| (m.slot, m.from, m.to))
            .collect();
        assert_eq!(
            moves,
            vec![
                (11, fixture_id(0), fixture_id(1)),
                (12, fixture_id(0), fixture_id(2))
            ]
        );
    }

    #[test]
    fn a_mark_only_a_replica_kept_is_found_with_its_master_and_a_mirrored_one_is_not() {
        // Replica 4 (of master 1) kept slot 11 importing after its master cleared it; replica 3
        // mirrors its master 0's migrating mark, which is an ordinary open slot.
        let view = Fixture::healthy(3, 1)
            .with(4, |n| n.importing = vec![(11, 0)])
            .with(0, |n| n.migrating = vec![(12, 1)])
            .with(3, |n| n.migrating = vec![(12, 1)])
            .view();
        assert_eq!(
            replica_marks(&view),
            vec![ReplicaMark {
                replica: fixture_id(4),
                master: fixture_id(1),
                slots: [11].into_iter().collect(),
            }]
        );
        assert!(replica_marks(&Fixture::healthy(3, 1).view()).is_empty());
    }

    #[test]
    fn crossed_markers_are_stuck_for_fix() {
        let view = Fixture::healthy(3, 0)
            .with(0, |n| n.migrating = vec![(10, 1)])
            .with(2, |n| n.importing = vec![(10, 0)])
            .view();
        let open = open_slots(&view);
        assert!(open.resume.is_empty());
        assert_eq!(open.stuck.len(), 1);
        assert!(
            open.stuck[0]
                .reason
                .contains("migrates it to 01aaaaaa but 02aaaaaa imports it from 00aaaaaa")
        );
    }

    #[test]
    fn a_slot_imported_by_two_masters_is_stuck_for_fix_whatever_the_node_order() {
        let view = Fixture::healthy(3, 0)
            .with(0, |n| n.migrating = vec![(10, 1)])
            .with(1, |n| n.importing = vec![(10, 0)])
            .with(2, |n| n.importing = vec![(10, 0)])
            .view();
        let open = open_slots(&view);
        assert!(open.resume.is_empty());
        assert_eq!(
            open.stuck,
            vec![StuckSlot {
                slot: 10,
                reason: "it is open on several masters: 00aaaaaa migrates it to 01aaaaaa, \
                         01aaaaaa imports it from 00aaaaaa, 02aaaaaa imports it from 00aaaaaa"
                    .into()
            }]
        );
    }

    #[test]
    fn projection_applies_resumed_moves() {
        let view = Fixture::healthy(3, 0).view();
        let moved = vec![SlotMove {
            slot: 0,
            from: fixture_id(0),
            to: fixture_id(2),
        }];
        let slots = projected_slots(&view, &moved);
        assert!(!slots[&fixture_id(0)].contains(0));
        assert!(slots[&fixture_id(2)].contains(0));
    }

    #[test]
    fn summaries_group_by_pair_with_ranges() {
        let moves: Vec<SlotMove> = [1u16, 2, 3, 9]
            .iter()
            .map(|s| SlotMove {
                slot: *s,
                from: fixture_id(0),
                to: fixture_id(1),
            })
            .collect();
        let groups = summarize(&moves);
        assert_eq!(groups.len(), 1);
        let name = |id: &NodeId| id.short().to_string();
        let line = MoveLine {
            from: &groups[0].0,
            to: &groups[0].1,
            slots: &groups[0].2,
            name: &name,
        };
        assert_eq!(
            line.to_string(),
            "move 4 slot(s) [1-3 9] from 00aaaaaa to 01aaaaaa"
        );
    }
}
