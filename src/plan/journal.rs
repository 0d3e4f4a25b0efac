//! The journal of a slot-moving run: the operation (its command line) and where each of its
//! slots goes. Saved before the first slot moves and cleared when the run finishes, it lets a
//! re-run of the same command after a kill continue *that* plan instead of reading its
//! arguments again against the half-changed cluster (a killed `reshard --slots N` run again
//! would otherwise move N more). Pure; where it is kept is [`crate::cmd`]'s business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::moves::SlotMove;
use crate::topology::{NodeId, SlotSet};

/// The journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The command line it was planned from (without `--yes`).
    pub operation: String,
    /// Each target's node id and the slots it receives, as ranges (`0-99 200`).
    pub targets: Vec<(String, String)>,
    /// Every slot moved and the cluster converged: kept until the run lets go of the lock,
    /// so a run stopped in between is not taken for an unfinished one, nor its command run
    /// again as a new one (a new `reshard --slots N` would move N more).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

/// Why a journal cannot be continued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    /// A target is no longer a master of the cluster (or it is another cluster's journal).
    #[error("node {0} of the interrupted run is not a master of this cluster")]
    UnknownTarget(String),
    /// The journal does not parse.
    #[error("the journal is damaged: {0}")]
    Damaged(String),
}

/// The command line as a journal names it, without the flags that do not change what the
/// command does: `--yes`, `--dry-run`, `--wait-lock`, `-o`/`--output`, `--color`.
pub fn operation_of(args: &[String]) -> String {
    const ALONE: [&str; 4] = ["--yes", "-y", "--dry-run", "--wait-lock"];
    const WITH_VALUE: [&str; 3] = ["-o", "--output", "--color"];
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if WITH_VALUE.contains(&arg.as_str()) {
            skip_value = true;
        } else {
            let dropped = ALONE.contains(&arg.as_str())
                || WITH_VALUE.iter().any(|f| arg.starts_with(&format!("{f}=")))
                || (arg.starts_with("-o") && arg.len() > 2 && !arg.starts_with("--"));
            if !dropped {
                kept.push(arg.as_str());
            }
        }
    }
    kept.join(" ")
}

impl Journal {
    /// The journal of `moves`, run as `operation`.
    pub fn of(operation: &str, moves: &[SlotMove]) -> Self {
        let mut by_target: BTreeMap<&NodeId, SlotSet> = BTreeMap::new();
        for m in moves {
            by_target.entry(&m.to).or_default().insert(m.slot);
        }
        Self {
            operation: operation.to_string(),
            targets: by_target
                .into_iter()
                .map(|(to, slots)| (to.0.clone(), slots.to_string()))
                .collect(),
            done: false,
        }
    }

    /// The moves still to do, given each master's `slots` now: every slot of the journal
    /// that its target does not own yet, from whoever owns it.
    pub fn remaining(
        &self,
        slots: &BTreeMap<NodeId, SlotSet>,
    ) -> Result<Vec<SlotMove>, JournalError> {
        let owner: BTreeMap<u16, &NodeId> = slots
            .iter()
            .flat_map(|(id, set)| set.iter().map(move |s| (s, id)))
            .collect();
        let mut moves = Vec::new();
        for (to, ranges) in &self.targets {
            let to = NodeId(to.clone());
            if !slots.contains_key(&to) {
                return Err(JournalError::UnknownTarget(to.0));
            }
            let wanted = if ranges == "-" {
                SlotSet::default()
            } else {
                let mut set = SlotSet::default();
                for r in ranges.split(' ') {
                    let range = crate::topology::SlotRange::parse(r)
                        .map_err(|e| JournalError::Damaged(e.to_string()))?;
                    set.insert_range(range);
                }
                set
            };
            // A slot its target claims is done, even while its source still claims it too
            // (the source had not been told yet when the run stopped).
            let done = &slots[&to];
            for slot in wanted.iter().filter(|s| !done.contains(*s)) {
                if let Some(from) = owner.get(&slot) {
                    moves.push(SlotMove {
                        slot,
                        from: (*from).clone(),
                        to: to.clone(),
                    });
                }
            }
        }
        moves.sort();
        Ok(moves)
    }

    /// The same journal, its plan done.
    pub fn finished(&self) -> Self {
        Self {
            done: true,
            ..self.clone()
        }
    }

    /// Slots the journal moves in all.
    pub fn slot_count(&self) -> usize {
        self.targets
            .iter()
            .filter(|(_, r)| r != "-")
            .flat_map(|(_, r)| r.split(' '))
            .filter_map(|r| crate::topology::SlotRange::parse(r).ok())
            .map(|r| usize::from(r.end - r.start) + 1)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::fixture_id;

    fn set(ranges: &[(u16, u16)]) -> SlotSet {
        let mut s = SlotSet::default();
        for (a, b) in ranges {
            for slot in *a..=*b {
                s.insert(slot);
            }
        }
        s
    }

    fn mv(slot: u16, from: usize, to: usize) -> SlotMove {
        SlotMove {
            slot,
            from: fixture_id(from),
            to: fixture_id(to),
        }
    }

    #[test]
    fn a_re_run_moves_only_the_slots_of_the_plan_its_target_does_not_own_yet() {
        let planned: Vec<SlotMove> = (0..10).map(|s| mv(s, 0, 1)).collect();
        let journal = Journal::of("reshard --from a --to b --slots 10", &planned);
        assert_eq!(journal.targets, [(fixture_id(1).0, "0-9".into())]);
        assert_eq!(journal.slot_count(), 10);
        // Slots 0-3 moved before the kill; slot 4 is still owned by the source.
        let now: BTreeMap<NodeId, SlotSet> = [
            (fixture_id(0), set(&[(4, 9), (10, 100)])),
            (fixture_id(1), set(&[(0, 3), (101, 200)])),
        ]
        .into();
        let rest = journal.remaining(&now).unwrap();
        assert_eq!(rest, (4..10).map(|s| mv(s, 0, 1)).collect::<Vec<_>>());
        // Slot 4's target already claims it while its source was not told yet: done.
        let told_target_only: BTreeMap<NodeId, SlotSet> = [
            (fixture_id(0), set(&[(4, 9), (10, 100)])),
            (fixture_id(1), set(&[(0, 4), (101, 200)])),
        ]
        .into();
        let rest = journal.remaining(&told_target_only).unwrap();
        assert_eq!(rest, (5..10).map(|s| mv(s, 0, 1)).collect::<Vec<_>>());
        // Once all moved, nothing is left: never N more.
        let done: BTreeMap<NodeId, SlotSet> = [
            (fixture_id(0), set(&[(10, 100)])),
            (fixture_id(1), set(&[(0, 9), (101, 200)])),
        ]
        .into();
        assert!(journal.remaining(&done).unwrap().is_empty());
    }

    #[test]
    fn a_finished_journal_says_so_and_one_saved_before_that_field_existed_is_unfinished() {
        let journal = Journal::of("reshard --slots 1", &[mv(1, 0, 1)]);
        let text = serde_json::to_string(&journal).unwrap();
        assert!(!text.contains("done"), "{text}");
        let finished = serde_json::to_string(&journal.finished()).unwrap();
        assert!(serde_json::from_str::<Journal>(&finished).unwrap().done);
        let older = r#"{"operation":"reshard --slots 1","targets":[["x","1"]]}"#;
        assert!(!serde_json::from_str::<Journal>(older).unwrap().done);
    }

    #[test]
    fn a_journal_naming_a_node_that_is_not_a_master_here_is_refused() {
        let journal = Journal::of("reshard", &[mv(1, 0, 5)]);
        let now: BTreeMap<NodeId, SlotSet> = [(fixture_id(0), set(&[(0, 16383)]))].into();
        assert_eq!(
            journal.remaining(&now),
            Err(JournalError::UnknownTarget(fixture_id(5).0))
        );
    }

    #[test]
    fn flags_that_do_not_change_what_runs_do_not_change_the_operation() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plain = operation_of(&args(&["reshard", "--slots", "10"]));
        assert_eq!(plain, "reshard --slots 10");
        for same in [
            &["reshard", "--slots", "10", "--yes"][..],
            &["-y", "reshard", "--slots", "10"],
            &["reshard", "--slots", "10", "--dry-run", "-o", "json"],
            &[
                "--output=json",
                "reshard",
                "--wait-lock",
                "--slots",
                "10",
                "-ojson",
            ],
            &["--color", "never", "reshard", "--slots", "10"],
        ] {
            assert_eq!(operation_of(&args(same)), plain, "{same:?}");
        }
        assert_ne!(operation_of(&args(&["reshard", "--slots", "11"])), plain);
    }
}
