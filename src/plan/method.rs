//! How slots move: with Valkey's atomic slot migration (`CLUSTER MIGRATESLOTS`, Valkey ≥ 9.0),
//! where the source, the target and the target's replicas all have it, else key by key with
//! `MIGRATE`. Pure: it reads the engines the observation found.

use std::collections::BTreeMap;
use std::fmt;

use super::moves::SlotMove;
use crate::topology::{ClusterView, NodeId, SlotRange, SlotSet};

/// What the user asked for (`--migration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Migration {
    /// Atomic slot migration where every node involved has it, else keys.
    #[default]
    Auto,
    /// Atomic slot migration; refused where a node involved lacks it.
    Atomic,
    /// Key by key with MIGRATE, on every engine.
    Keys,
}

/// The way a plan's moves run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `CLUSTER MIGRATESLOTS`: the server streams the slots and hands them over itself.
    Atomic,
    /// `MIGRATE` key by key, then `SETSLOT … NODE`.
    Keys,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Atomic => "atomic slot migration (CLUSTER MIGRATESLOTS)",
            Self::Keys => "key by key (MIGRATE)",
        })
    }
}

/// `--migration atomic` where a node involved cannot do it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--migration atomic needs Valkey 9.0 or newer on every source, target and target replica; {0}: use --migration keys (or auto)"
)]
pub struct AtomicUnsupported(pub String);

/// The method for `moves`: atomic when asked for or allowed (`auto`) and every source, target
/// and replica of a target runs Valkey ≥ 9.0; keys otherwise, or with `--migration keys`.
pub fn choose_method(
    view: &ClusterView,
    moves: &[SlotMove],
    wanted: Migration,
) -> Result<Method, AtomicUnsupported> {
    if wanted == Migration::Keys || moves.is_empty() {
        return Ok(Method::Keys);
    }
    let lacking = lacking_atomic(view, moves);
    match (wanted, lacking) {
        (_, None) => Ok(Method::Atomic),
        (Migration::Atomic, Some(why)) => Err(AtomicUnsupported(why)),
        _ => Ok(Method::Keys),
    }
}

/// The first node a move involves that cannot take part in an atomic migration, said.
fn lacking_atomic(view: &ClusterView, moves: &[SlotMove]) -> Option<String> {
    let mut involved: Vec<&NodeId> = moves.iter().flat_map(|m| [&m.from, &m.to]).collect();
    let targets: Vec<&NodeId> = moves.iter().map(|m| &m.to).collect();
    involved.extend(
        view.replicas()
            .filter(|r| {
                r.myself()
                    .master_id
                    .as_ref()
                    .is_some_and(|m| targets.contains(&m))
            })
            .map(|r| r.id()),
    );
    involved.sort();
    involved.dedup();
    involved.into_iter().find_map(|id| match view.report(id) {
        None => Some(format!("node {} did not answer", id.short())),
        Some(r) => match r.engine() {
            Some(e) if e.has_atomic_slot_migration() => None,
            Some(e) => Some(format!("{} runs {e}", r.endpoint)),
            None => Some(format!("{} did not say its release", r.endpoint)),
        },
    })
}

/// One `CLUSTER MIGRATESLOTS` job: slot ranges of one source going to one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicJob {
    /// The source master (the command goes there).
    pub from: NodeId,
    /// The target master.
    pub to: NodeId,
    /// The slots, at most `chunk` of them.
    pub slots: SlotSet,
}

impl AtomicJob {
    /// The ranges, as `CLUSTER GETSLOTMIGRATIONS` prints them: `0-10 20-29`.
    pub fn ranges_text(&self) -> String {
        self.slots
            .ranges()
            .iter()
            .map(|r: &SlotRange| format!("{}-{}", r.start, r.end))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Keys one atomic job carries at most: the source deletes a job's keys synchronously, in its
/// main thread, when it hands the slots over (measured on Valkey 9.1: 92k keys 0.10 s, 326k
/// keys 1.7 s), so a bounded job bounds how long its clients stall.
pub const MAX_JOB_KEYS: u64 = 100_000;

/// The jobs for `moves`, per source in slot order: each source and target pair cut into jobs
/// of at most `max_keys` keys by `keys` (keys per slot on its source; a slot heavier than the
/// bound goes alone).
pub fn atomic_jobs(
    moves: &[SlotMove],
    keys: &BTreeMap<u16, u64>,
    max_keys: u64,
) -> BTreeMap<NodeId, Vec<AtomicJob>> {
    let mut pairs: BTreeMap<(&NodeId, &NodeId), SlotSet> = BTreeMap::new();
    for m in moves {
        pairs.entry((&m.from, &m.to)).or_default().insert(m.slot);
    }
    let mut jobs: BTreeMap<NodeId, Vec<AtomicJob>> = BTreeMap::new();
    for ((from, to), slots) in pairs {
        let mut current = SlotSet::new();
        let mut weight = 0;
        let list = jobs.entry(from.clone()).or_default();
        for slot in slots.iter() {
            let k = keys.get(&slot).copied().unwrap_or(0);
            if !current.is_empty() && weight + k > max_keys {
                list.push(AtomicJob {
                    from: from.clone(),
                    to: to.clone(),
                    slots: std::mem::take(&mut current),
                });
                weight = 0;
            }
            current.insert(slot);
            weight += k;
        }
        if !current.is_empty() {
            list.push(AtomicJob {
                from: from.clone(),
                to: to.clone(),
                slots: current,
            });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};

    const VALKEY9: &str = "server_name:valkey\r\nvalkey_version:9.1.2";
    const VALKEY8: &str = "server_name:valkey\r\nvalkey_version:8.1.8";

    fn mv(slot: u16, from: usize, to: usize) -> SlotMove {
        SlotMove {
            slot,
            from: fixture_id(from),
            to: fixture_id(to),
        }
    }

    fn valkey9(masters: usize, replicas: usize) -> Fixture {
        let mut f = Fixture::healthy(masters, replicas);
        for n in &mut f.nodes {
            n.server = VALKEY9;
        }
        f
    }

    #[test]
    fn atomic_only_where_source_target_and_the_targets_replicas_run_valkey_9() {
        let moves = vec![mv(0, 0, 1)];
        let view = valkey9(3, 1).view();
        assert_eq!(
            choose_method(&view, &moves, Migration::Auto),
            Ok(Method::Atomic)
        );
        assert_eq!(
            choose_method(&view, &moves, Migration::Keys),
            Ok(Method::Keys)
        );

        // The target's replica (node 4) is on Valkey 8: auto falls back, atomic is refused.
        let mut f = valkey9(3, 1);
        f.nodes[4].server = VALKEY8;
        let view = f.view();
        assert_eq!(
            choose_method(&view, &moves, Migration::Auto),
            Ok(Method::Keys)
        );
        let err = choose_method(&view, &moves, Migration::Atomic).unwrap_err();
        assert!(
            err.to_string().contains("127.0.0.1:7004 runs valkey 8.1.8"),
            "{err}"
        );

        // Another master's replica on Valkey 8 does not matter.
        let mut f = valkey9(3, 1);
        f.nodes[5].server = VALKEY8;
        assert_eq!(
            choose_method(&f.view(), &moves, Migration::Auto),
            Ok(Method::Atomic)
        );

        // Redis never.
        let redis = Fixture::healthy(3, 0).view();
        assert_eq!(
            choose_method(&redis, &moves, Migration::Auto),
            Ok(Method::Keys)
        );
    }

    #[test]
    fn jobs_group_each_source_and_target_pair_and_are_cut_by_keys() {
        let moves: Vec<SlotMove> = (0..5)
            .map(|s| mv(s, 0, 1))
            .chain([mv(10, 0, 2), mv(20, 1, 2)])
            .collect();
        // 10 keys per slot, at most 20 per job: two slots a job; slot 4 alone.
        let keys: BTreeMap<u16, u64> = (0..=20).map(|s| (s, 10)).collect();
        let jobs = atomic_jobs(&moves, &keys, 20);
        let from0: Vec<String> = jobs[&fixture_id(0)]
            .iter()
            .map(|j| format!("{}→{} {}", j.from.short(), j.to.short(), j.ranges_text()))
            .collect();
        assert_eq!(from0.len(), 4, "{from0:?}");
        assert_eq!(jobs[&fixture_id(0)][0].ranges_text(), "0-1");
        assert_eq!(jobs[&fixture_id(0)][2].ranges_text(), "4-4");
        assert_eq!(jobs[&fixture_id(0)][3].ranges_text(), "10-10");
        assert_eq!(jobs[&fixture_id(1)].len(), 1);

        // One slot heavier than the bound is a job of its own, never split or dropped.
        let heavy: BTreeMap<u16, u64> = [(0, 500), (1, 1)].into_iter().collect();
        let jobs = atomic_jobs(&[mv(0, 0, 1), mv(1, 0, 1)], &heavy, 20);
        let texts: Vec<String> = jobs[&fixture_id(0)]
            .iter()
            .map(AtomicJob::ranges_text)
            .collect();
        assert_eq!(texts, vec!["0-0", "1-1"]);
    }
}
