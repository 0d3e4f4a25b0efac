//! Planning `fix`: nodes known under stale addresses (every pod came back with a new IP),
//! open slots and uncovered slots. Each decision carries the reason it is printed with.
//! Only decisions that cannot lose a key are made: keys spread over several masters are
//! merged on one owner (a conflicting copy stops the merge unless `--replace`), and only an
//! unreachable master, whose keys cannot be counted, makes `fix` refuse to merge or assign.

use std::cmp::Reverse;
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

/// What `fix` does about one slot; `-o json` names it in `fix` (`resume`, `assign`,
/// `stabilize`, `merge`, `refuse`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
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
    /// Gather a slot whose keys (or claims) are spread over several masters on one owner:
    /// the owner claims it where needed, every other holder's keys move to it, and every
    /// migrating/importing mark on the slot is cleared.
    Merge {
        /// The slot.
        slot: u16,
        /// The master that keeps the slot.
        owner: NodeId,
        /// Whether the owner must claim the slot first (it does not serve it yet).
        claim: bool,
        /// The other masters that hold keys in the slot or claim it, with their key counts.
        from: Vec<(NodeId, u64)>,
        /// Masters with a migrating or importing mark on the slot.
        marked: Vec<NodeId>,
        /// What was found, and why this owner.
        reason: String,
    },
    /// No safe decision: a master serving slots is unreachable (its keys cannot be counted and
    /// its slots look uncovered), or no master is reachable to take the slot.
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
            } => write!(
                f,
                "slot {slot}: clear the marks on {} ({reason})",
                names(nodes)
            ),
            Self::Merge {
                slot,
                owner,
                claim,
                from,
                marked,
                reason,
            } => {
                let mut steps = Vec::new();
                if *claim {
                    steps.push(format!("give it to {}", owner.short()));
                }
                if !from.is_empty() {
                    let from: Vec<(&NodeId, u64)> = from.iter().map(|(id, n)| (id, *n)).collect();
                    steps.push(format!(
                        "merge the keys of {} into {}",
                        describe(&from),
                        owner.short()
                    ));
                }
                let mut text = steps.join(", then ");
                if !marked.is_empty() {
                    let clear = format!("clear the marks on {}", names(marked));
                    text = if text.is_empty() {
                        clear
                    } else {
                        format!("{text}, {clear}")
                    };
                }
                write!(f, "slot {slot}: {text} ({reason})")
            }
            Self::Refuse { slot, reason } => write!(f, "slot {slot}: cannot fix safely: {reason}"),
        }
    }
}

/// Key counts per slot and master, for the slots in question.
pub type KeyCounts = BTreeMap<u16, BTreeMap<NodeId, u64>>;

/// Decides about every open and uncovered slot. `keys` must count every open slot (resumable
/// ones too) and every uncovered slot on every reachable master.
pub fn plan_slot_fixes(
    view: &ClusterView,
    open: &OpenSlots,
    uncovered: &SlotSet,
    keys: &KeyCounts,
) -> Vec<SlotFix> {
    let ctx = Decider {
        view,
        keys,
        blocked: unreachable_master(view),
    };
    let mut load = Load::new(view);
    let mut fixes = Vec::new();
    let mut decided = SlotSet::new();
    for m in &open.resume {
        decided.insert(m.slot);
        fixes.push(match ctx.resume_anomaly(m, uncovered) {
            None => SlotFix::Resume(m.clone()),
            Some(found) => ctx.merge(m.slot, Found::Open(&found), &mut load),
        });
    }
    for stuck in &open.stuck {
        decided.insert(stuck.slot);
        let fix = ctx
            .stabilize(stuck.slot)
            .unwrap_or_else(|| ctx.merge(stuck.slot, Found::Open(&stuck.reason), &mut load));
        fixes.push(fix);
    }
    for slot in uncovered.difference(&decided).iter() {
        let fix = match ctx.holders(slot).as_slice() {
            [] if ctx.blocked.is_none() => match load.least_loaded() {
                Some(to) => SlotFix::Assign {
                    slot,
                    to,
                    reason: "no master holds keys in it; this master serves the fewest slots"
                        .into(),
                },
                None => ctx.merge(slot, Found::Uncovered, &mut load),
            },
            [(holder, n)] if ctx.blocked.is_none() => SlotFix::Assign {
                slot,
                to: (*holder).clone(),
                reason: format!("it is the only master holding keys in it ({n})"),
            },
            _ => ctx.merge(slot, Found::Uncovered, &mut load),
        };
        fixes.push(fix);
    }
    fixes
}

/// What is wrong with a slot `fix` gathers on one owner.
#[derive(Clone, Copy)]
enum Found<'a> {
    /// It is open (marked migrating or importing), as described.
    Open(&'a str),
    /// No master serves it.
    Uncovered,
}

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(what) => f.write_str(what),
            Self::Uncovered => f.write_str("no master serves it"),
        }
    }
}

/// What every slot decision reads.
struct Decider<'a> {
    view: &'a ClusterView,
    keys: &'a KeyCounts,
    /// Why no slot may be merged or assigned, if some master is unreachable.
    blocked: Option<String>,
}

impl Decider<'_> {
    /// Masters holding keys in `slot`, with how many.
    fn holders(&self, slot: u16) -> Vec<(&NodeId, u64)> {
        self.keys
            .get(&slot)
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(id, n)| (id, *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Masters that claim `slot` in their own configuration.
    fn claimers(&self, slot: u16) -> Vec<&NodeId> {
        self.view
            .masters()
            .filter(|r| r.myself().slots.contains(slot))
            .map(|r| r.id())
            .collect()
    }

    /// Masters with a migrating or importing mark on `slot`.
    fn marked(&self, slot: u16) -> Vec<NodeId> {
        self.view
            .masters()
            .filter(|r| {
                let me = r.myself();
                me.migrating
                    .iter()
                    .chain(me.importing.iter())
                    .any(|(s, _)| *s == slot)
            })
            .map(|r| r.id().clone())
            .collect()
    }

    /// Why a move that looks resumable must be merged instead, if it must: another master
    /// holds keys in the slot (finishing the move would strand them), no master serves it, or
    /// the target holds keys although the source is not migrating the slot to it — keys a
    /// restart or an interrupted merge left there, not a move in flight (redis-cli's "case 2").
    fn resume_anomaly(&self, m: &SlotMove, uncovered: &SlotSet) -> Option<String> {
        let holders = self.holders(m.slot);
        let (from, to) = (m.from.short(), m.to.short());
        let others: Vec<(&NodeId, u64)> = holders
            .iter()
            .filter(|(id, _)| **id != m.from && **id != m.to)
            .copied()
            .collect();
        if !others.is_empty() {
            return Some(format!(
                "{from} moves it to {to}, but keys are also on {}",
                describe(&others)
            ));
        }
        if uncovered.contains(m.slot) {
            return Some(format!("{from} moves it to {to}, but no master serves it"));
        }
        let migrating = self.view.report(&m.from).is_some_and(|r| {
            r.myself()
                .migrating
                .iter()
                .any(|(s, peer)| *s == m.slot && *peer == m.to)
        });
        let on_target = holders.iter().find(|(id, _)| **id == m.to);
        match on_target {
            Some((_, n)) if !migrating => Some(format!(
                "{to} imports it from {from} and holds {n} keys in it, but {from} is not migrating it"
            )),
            _ => None,
        }
    }

    /// Clears the marks of a stuck slot when its single claimer already holds every key.
    fn stabilize(&self, slot: u16) -> Option<SlotFix> {
        let reason = match (
            self.claimers(slot).as_slice(),
            self.holders(slot).as_slice(),
        ) {
            ([owner], []) => format!("{} owns it and no master holds keys in it", owner.short()),
            ([owner], [(holder, n)]) if holder == owner => {
                format!("{} owns it and holds all {n} of its keys", owner.short())
            }
            _ => return None,
        };
        Some(SlotFix::Stabilize {
            slot,
            nodes: self.marked(slot),
            reason,
        })
    }

    /// Gathers `slot` on one owner: for an open slot the master the cluster names
    /// ([`cluster_owner`]), else (and for an uncovered slot) the one with the most keys
    /// ([`most_keys`]), else the least loaded master.
    fn merge(&self, slot: u16, found: Found<'_>, load: &mut Load) -> SlotFix {
        if let Some(why) = &self.blocked {
            return SlotFix::Refuse {
                slot,
                reason: format!("{found}, and {why}"),
            };
        }
        let holders = self.holders(slot);
        let named = match found {
            Found::Open(_) => cluster_owner(self.view, slot),
            Found::Uncovered => None,
        };
        let chosen = named.or_else(|| most_keys(&holders)).or_else(|| {
            let to = load.least_loaded()?;
            let why = format!(
                "no master holds keys in it; {} serves the fewest slots",
                to.short()
            );
            Some((to, why))
        });
        let Some((owner, why)) = chosen else {
            return SlotFix::Refuse {
                slot,
                reason: format!("{found}, and no master is reachable to take it"),
            };
        };
        let claimers = self.claimers(slot);
        let mut from: Vec<(NodeId, u64)> = holders
            .iter()
            .map(|(id, n)| ((*id).clone(), *n))
            .chain(claimers.iter().map(|id| ((*id).clone(), 0)))
            .filter(|(id, _)| *id != owner)
            .collect();
        // A claimer that also holds keys is listed once, with its keys.
        from.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        from.dedup_by(|a, b| a.0 == b.0);
        SlotFix::Merge {
            slot,
            claim: !claimers.contains(&&owner),
            owner,
            from,
            marked: self.marked(slot),
            reason: format!("{found}; {why}"),
        }
    }
}

/// The master the cluster says owns an open slot, and why: the one a majority of the
/// reachable nodes' slot maps name, if it is a reachable master; else the one master marking
/// the slot migrating (only an owner can). `None` when neither exists.
pub fn cluster_owner(view: &ClusterView, slot: u16) -> Option<(NodeId, String)> {
    let is_master = |id: &NodeId| view.masters().any(|r| r.id() == id);
    let mut votes: BTreeMap<&NodeId, usize> = BTreeMap::new();
    for r in &view.reports {
        let owner = r
            .nodes
            .iter()
            .find(|l| l.flags.master && l.slots.contains(slot));
        if let Some(line) = owner {
            *votes.entry(&line.id).or_default() += 1;
        }
    }
    let total = view.reports.len();
    if let Some((id, n)) = votes.into_iter().max_by_key(|(id, n)| (*n, Reverse(*id)))
        && n * 2 > total
        && is_master(id)
    {
        let why = format!(
            "the cluster says {} owns it ({n} of {total} nodes)",
            id.short()
        );
        return Some((id.clone(), why));
    }
    let migrating: Vec<&NodeId> = view
        .masters()
        .filter(|r| r.myself().migrating.iter().any(|(s, _)| *s == slot))
        .map(|r| r.id())
        .collect();
    match migrating.as_slice() {
        [id] => Some(((*id).clone(), format!("{} is migrating it", id.short()))),
        _ => None,
    }
}

/// The master holding the most keys among `holders`, and why; ties go to the lowest node id,
/// so every run picks the same one. `None` without holders.
pub fn most_keys(holders: &[(&NodeId, u64)]) -> Option<(NodeId, String)> {
    let &(id, n) = holders.iter().max_by_key(|(id, n)| (*n, Reverse(*id)))?;
    let tied: Vec<&str> = holders
        .iter()
        .filter(|(other, m)| *m == n && *other != id)
        .map(|(other, _)| other.short())
        .collect();
    let why = if tied.is_empty() {
        format!("{} holds the most keys in it ({n})", id.short())
    } else {
        format!(
            "{} holds the most keys in it ({n}, as many as {}; the lowest node id wins)",
            id.short(),
            tied.join(", ")
        )
    };
    Some((id.clone(), why))
}

/// An unreachable master that serves slots, as the reason to decide nothing about spread or
/// uncovered slots: its keys cannot be counted, and its slots look uncovered, so giving them
/// to another master would make it delete its keys when it comes back.
fn unreachable_master(view: &ClusterView) -> Option<String> {
    let known = view.known_nodes();
    view.unreachable.iter().find_map(|u| {
        let line = known.get(u.id.as_ref()?)?;
        (line.flags.master && !line.slots.is_empty()).then(|| {
            format!(
                "master {} ({}) is unreachable: its keys cannot be counted; bring it back (or forget it) and run fix again",
                u.endpoint,
                line.id.short()
            )
        })
    })
}

/// Slots per master, counting those this plan already gave out: for least-loaded choices.
struct Load {
    slots: BTreeMap<NodeId, usize>,
}

impl Load {
    /// Each reachable master's own slot count.
    fn new(view: &ClusterView) -> Self {
        Self {
            slots: view
                .masters()
                .map(|r| (r.id().clone(), r.myself().slots.len()))
                .collect(),
        }
    }

    /// The master serving the fewest slots (lowest id on ties), which now serves one more;
    /// `None` when no master is reachable.
    fn least_loaded(&mut self) -> Option<NodeId> {
        let (id, n) = self
            .slots
            .iter_mut()
            .min_by_key(|(id, n)| (**n, (*id).clone()))?;
        *n += 1;
        Some(id.clone())
    }
}

/// `id (n keys), ...`.
fn describe(holders: &[(&NodeId, u64)]) -> String {
    holders
        .iter()
        .map(|(id, n)| format!("{} ({n} keys)", id.short()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `id, id, ...`.
fn names(nodes: &[NodeId]) -> String {
    nodes
        .iter()
        .map(NodeId::short)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
