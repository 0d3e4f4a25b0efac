//! What a set of moves will carry, before it runs: keys and bytes (keys counted per slot,
//! bytes from sampled key sizes), an ETA, whether each target's `maxmemory` has room for what
//! it receives, and the largest keys seen (one huge key blocks its source for a whole
//! MIGRATE). Pure: the samples come from [`crate::redis`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::moves::SlotMove;
use crate::topology::NodeId;

/// Keys moved per second, key by key, as `make bench` measures it (rebalance, 2 cores,
/// loopback: 50k keys in about 0.9 s).
pub const KEYS_PER_SECOND: f64 = 50_000.0;
/// Bytes moved per second, as `make bench` measures it (300 values of 1 MB in 0.56 s).
pub const BYTES_PER_SECOND: f64 = 500.0 * 1024.0 * 1024.0;
/// A key at least this large is named in the plan.
pub const BIG_KEY_BYTES: u64 = 64 * 1024 * 1024;

/// What was read from the cluster for an estimate.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Keys per slot, for every slot that moves (from its source).
    pub keys: BTreeMap<u16, u64>,
    /// Sizes of sampled keys (name, `MEMORY USAGE`), per sampled slot.
    pub sizes: BTreeMap<u16, Vec<(String, u64)>>,
    /// `used_memory` and `maxmemory` (0: no limit) of each target.
    pub memory: BTreeMap<NodeId, (u64, u64)>,
    /// Each target pod's memory limit, where it has one (Kubernetes mode).
    pub limits: BTreeMap<NodeId, u64>,
}

/// A target's memory after the moves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetRoom {
    /// The target.
    pub node: NodeId,
    /// `used_memory` now.
    pub used: u64,
    /// Bytes it receives (estimated).
    pub incoming: u64,
    /// `maxmemory` (0: no limit).
    pub max: u64,
    /// Its pod's memory limit (0: none, or no pod).
    pub limit: u64,
}

impl TargetRoom {
    /// Whether what it receives fits under its `maxmemory` and its pod's memory limit.
    pub fn fits(&self) -> bool {
        self.ceiling().is_none()
    }

    /// The first ceiling what it receives passes: `maxmemory` or the pod's memory limit,
    /// with its value.
    pub fn ceiling(&self) -> Option<(&'static str, u64)> {
        let after = self.used + self.incoming;
        [("maxmemory", self.max), ("pod memory limit", self.limit)]
            .into_iter()
            .find(|&(_, cap)| cap > 0 && after > cap)
    }
}

/// A key at least [`BIG_KEY_BYTES`] large.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BigKey {
    /// Its slot.
    pub slot: u16,
    /// Its name (lossy UTF-8).
    pub key: String,
    /// `MEMORY USAGE`.
    pub bytes: u64,
}

/// The estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Keys that move.
    pub keys: u64,
    /// Bytes that move (estimated from sampled sizes).
    pub bytes: u64,
    /// Seconds, at the throughput `make bench` measures on loopback.
    pub seconds: f64,
    /// Each target's memory.
    pub targets: Vec<TargetRoom>,
    /// Large keys seen among the sampled ones.
    pub big_keys: Vec<BigKey>,
}

impl Estimate {
    /// Targets that would pass their `maxmemory`.
    pub fn overflowing(&self) -> impl Iterator<Item = &TargetRoom> {
        self.targets.iter().filter(|t| !t.fits())
    }
}

/// Estimates `moves` from `samples`: a slot's bytes are its keys times the mean size sampled
/// in it, else times the median of every sampled key (one huge key does not inflate the
/// slots that were not sampled).
pub fn estimate(moves: &[SlotMove], samples: &Samples) -> Estimate {
    let mean = |sizes: &[(String, u64)]| {
        (!sizes.is_empty()).then(|| sizes.iter().map(|(_, b)| *b).sum::<u64>() / sizes.len() as u64)
    };
    let mut all: Vec<u64> = samples.sizes.values().flatten().map(|(_, b)| *b).collect();
    all.sort_unstable();
    let overall = all.get(all.len() / 2).copied().unwrap_or(0);
    let mut keys = 0;
    let mut bytes = 0;
    let mut incoming: BTreeMap<&NodeId, u64> = BTreeMap::new();
    for m in moves {
        let n = samples.keys.get(&m.slot).copied().unwrap_or(0);
        let per_key = samples
            .sizes
            .get(&m.slot)
            .and_then(|s| mean(s))
            .unwrap_or(overall);
        keys += n;
        bytes += n * per_key;
        *incoming.entry(&m.to).or_default() += n * per_key;
    }
    let targets = incoming
        .into_iter()
        .map(|(node, incoming)| {
            let (used, max) = samples.memory.get(node).copied().unwrap_or((0, 0));
            TargetRoom {
                node: node.clone(),
                used,
                incoming,
                max,
                limit: samples.limits.get(node).copied().unwrap_or(0),
            }
        })
        .collect();
    let mut big_keys: Vec<BigKey> = samples
        .sizes
        .iter()
        .flat_map(|(slot, sizes)| {
            sizes
                .iter()
                .filter(|(_, b)| *b >= BIG_KEY_BYTES)
                .map(|(key, bytes)| BigKey {
                    slot: *slot,
                    key: key.clone(),
                    bytes: *bytes,
                })
        })
        .collect();
    big_keys.sort_by_key(|b| std::cmp::Reverse(b.bytes));
    Estimate {
        keys,
        bytes,
        seconds: keys as f64 / KEYS_PER_SECOND + bytes as f64 / BYTES_PER_SECOND,
        targets,
        big_keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::fixture_id;

    fn mv(slot: u16, from: usize, to: usize) -> SlotMove {
        SlotMove {
            slot,
            from: fixture_id(from),
            to: fixture_id(to),
        }
    }

    #[test]
    fn bytes_are_keys_times_the_mean_sampled_size_of_the_slot_else_of_all_samples() {
        let samples = Samples {
            keys: [(1, 10), (2, 4)].into(),
            sizes: [
                (1, vec![("a".into(), 100), ("b".into(), 300)]),
                (3, vec![("c".into(), 50), ("huge".into(), 1 << 30)]),
            ]
            .into(),
            memory: [(fixture_id(3), (1000, 0))].into(),
            limits: BTreeMap::new(),
        };
        let e = estimate(&[mv(1, 0, 3), mv(2, 0, 3)], &samples);
        // Slot 2 was not sampled: the median of the four samples (300), not their mean.
        assert_eq!((e.keys, e.bytes), (14, 10 * 200 + 4 * 300));
        assert_eq!(
            e.targets,
            [TargetRoom {
                node: fixture_id(3),
                used: 1000,
                incoming: 3200,
                max: 0,
                limit: 0,
            }]
        );
        assert!(e.targets[0].fits(), "no maxmemory, no limit");
        assert!(e.seconds > 0.0);
    }

    #[test]
    fn a_target_without_maxmemory_still_cannot_pass_its_pods_memory_limit() {
        let samples = Samples {
            keys: [(7, 10)].into(),
            sizes: [(7, vec![("k".into(), 100)])].into(),
            memory: [(fixture_id(1), (500, 0))].into(),
            limits: [(fixture_id(1), 1200)].into(),
        };
        let e = estimate(&[mv(7, 0, 1)], &samples);
        assert_eq!(e.targets[0].ceiling(), Some(("pod memory limit", 1200)));
        let roomy = Samples {
            limits: [(fixture_id(1), 1500)].into(),
            ..samples
        };
        assert!(estimate(&[mv(7, 0, 1)], &roomy).targets[0].fits());
    }

    #[test]
    fn a_target_whose_maxmemory_cannot_take_the_keys_overflows_and_big_keys_are_named() {
        let big = BIG_KEY_BYTES + 1;
        let samples = Samples {
            keys: [(7, 2)].into(),
            sizes: [(7, vec![("huge".into(), big), ("small".into(), 1)])].into(),
            memory: [(fixture_id(1), (100, big))].into(),
            limits: BTreeMap::new(),
        };
        let e = estimate(&[mv(7, 0, 1)], &samples);
        assert_eq!(e.overflowing().count(), 1);
        assert_eq!(e.targets[0].ceiling(), Some(("maxmemory", big)));
        assert_eq!(
            e.big_keys,
            [BigKey {
                slot: 7,
                key: "huge".into(),
                bytes: big
            }]
        );
    }
}
