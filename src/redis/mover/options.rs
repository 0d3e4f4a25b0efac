//! The mover's knobs.

use std::time::Duration;

/// Knobs of the mover.
#[derive(Clone, Debug)]
pub struct MoveOptions {
    /// Keys per MIGRATE (and per GETKEYSINSLOT).
    pub batch: usize,
    /// Slots per window: control commands are pipelined per window (so each node saves its
    /// nodes.conf once per window, not once per slot), and a window is the most work a re-run
    /// redoes after a kill.
    pub window: usize,
    /// MIGRATE's own timeout.
    pub migrate_timeout: Duration,
    /// Let the source's copy overwrite a different copy of the same key on the target.
    pub replace: bool,
    /// How slots move (`--migration`); the caller picks the mover from it.
    pub migration: crate::plan::method::Migration,
    /// How long a target's replicas may take to acknowledge the keys of a window before the
    /// target takes its slots ([`super::durability`]).
    pub replica_timeout: Duration,
}

impl Default for MoveOptions {
    fn default() -> Self {
        Self {
            // ~1000 keys per MIGRATE is where throughput flattens (research notes §7.2).
            batch: 1000,
            // Measured on the rebalance bench (3 → 4 masters, 200k keys): 128 → 0.91 s,
            // 1024 → 0.71 s; beyond that the one MIGRATE per slot dominates.
            window: 1024,
            migrate_timeout: Duration::from_secs(60),
            replace: false,
            migration: crate::plan::method::Migration::default(),
            replica_timeout: Duration::from_secs(60),
        }
    }
}
